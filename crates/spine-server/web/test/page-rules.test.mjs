// Rules the pages must keep for the content security policy, for safety and for weight:
// checked on the source, since a browser is not at hand in every test run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const WEB = path.resolve(import.meta.dirname, '..');
const files = (dir, ext) => fs.readdirSync(path.join(WEB, dir), { recursive: true })
  .filter((f) => f.endsWith(ext)).map((f) => path.join(WEB, dir, f));
const served = (ext) => [...files('ui', ext), ...files('embed', ext)];
const read = (f) => fs.readFileSync(f, 'utf8');
const rel = (f) => path.relative(WEB, f);

test('data never becomes markup: no innerHTML and friends', () => {
  for (const f of served('.js')) {
    assert.doesNotMatch(read(f), /\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write)\b/, rel(f));
  }
});

test('pages carry no inline script, style element or style attribute (the CSP refuses them)', () => {
  for (const f of served('.html')) {
    const html = read(f).replace(/<!--[\s\S]*?-->/g, '');
    assert.doesNotMatch(html, /<style[\s>]/i, rel(f));
    assert.doesNotMatch(html, /\sstyle\s*=/i, rel(f));
    for (const [, attrs, body] of html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/gi)) {
      assert.match(attrs, /\ssrc=/, `${rel(f)}: a script without src`);
      assert.equal(body.trim(), '', `${rel(f)}: inline script`);
    }
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i, `${rel(f)}: inline event handler`);
  }
  for (const f of served('.js')) {
    assert.doesNotMatch(read(f), /setAttribute\(\s*['"]style['"]/, rel(f));
  }
});

test('nothing is loaded from another host', () => {
  for (const f of served('.html')) {
    const html = read(f).replace(/<!--[\s\S]*?-->/g, '');
    assert.doesNotMatch(html, /<(script|link|img|iframe)[^>]+(src|href)="(https?:)?\/\//i, rel(f));
  }
  for (const f of served('.css')) {
    assert.doesNotMatch(read(f), /@import|url\(\s*['"]?(https?:)?\/\//i, rel(f));
  }
  for (const f of served('.js')) {
    for (const [, spec] of read(f).matchAll(/(?:import|from)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      assert.ok(spec.startsWith('.'), `${rel(f)} imports ${spec}`);
      assert.ok(fs.existsSync(path.resolve(path.dirname(f), spec)), `${rel(f)} imports missing ${spec}`);
    }
  }
});

// The page, its stylesheets and every module main.js imports statically; pages beyond the
// feed are dynamic imports and load on first use.
function firstView() {
  const seen = new Set();
  const walk = (f) => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const [, spec] of read(f).matchAll(/^\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]/gms)) {
      walk(path.resolve(path.dirname(f), spec));
    }
  };
  walk(path.join(WEB, 'ui/main.js'));
  const index = read(path.join(WEB, 'ui/index.html'));
  for (const [, href] of index.matchAll(/<link rel="stylesheet" href="\/([^"]+)"/g)) seen.add(path.join(WEB, href));
  seen.add(path.join(WEB, 'ui/index.html'));
  return [...seen];
}

test('the feed\'s first view stays under 95 KiB uncompressed', () => {
  const view = firstView();
  assert.ok(view.some((f) => f.endsWith('embed/feed.css')) && view.some((f) => f.endsWith('embed/lib/live.js')));
  assert.ok(!view.some((f) => /admin|detail|entity|states|agent/.test(f)), 'pages beyond the feed load on demand');
  const bytes = view.reduce((sum, f) => sum + fs.statSync(f).size, 0);
  assert.ok(bytes < 95 * 1024, `${(bytes / 1024).toFixed(1)} KiB`);
});

test('index.html preloads every module of the first view, and nothing else', () => {
  // Without the hints the browser finds the modules one import level at a time (five round
  // trips before the feed can be asked for); with them it asks for all of them at once.
  const modules = firstView().filter((f) => f.endsWith('.js') && !f.endsWith('ui/main.js'));
  const wanted = modules.map((f) => `/${path.relative(WEB, f)}`).sort();
  const index = read(path.join(WEB, 'ui/index.html'));
  const preloaded = [...index.matchAll(/<link rel="modulepreload" href="([^"]+)">/g)].map((m) => m[1]).sort();
  assert.deepEqual(preloaded, wanted);
});
