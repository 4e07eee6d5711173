// <spine-feed> on a page served from another origin, with a viewer token scoped to one
// entity: it shows only that entity's events, live too, and tells the page its unread count.

import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import {
  api, browser, checkedPage, eventually, installation, postEvent, problemsOf, Server,
} from './harness.mjs';

let install;
let server;
let chromium;
let site;
let siteUrl;
let minted = 0;

before(async () => {
  install = await installation();
  // The product's own site, on another origin (localhost, not 127.0.0.1), allowed by CORS.
  site = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname === '/token') {
      // The product's backend: mints a short-lived viewer token with a key the browser never sees.
      minted += 1;
      const r = await api(server, install.read, 'POST', '/v1/viewer-tokens', {
        user_id: 'viv', ttl_seconds: 62, scope: { entity_type: 'task', entity_id: 'T-1' },
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: r.body.token }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(url.pathname === '/provider' ? providerPage() : productPage(url.searchParams.get('token')));
  });
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteUrl = `http://localhost:${site.address().port}`;
  server = await Server.start(install, { extraEnv: { SPINE_CORS_ORIGINS: siteUrl } });
  chromium = await browser();
});

after(async () => {
  await chromium?.close();
  await server?.stop();
  site?.close();
  install?.cleanup();
});

/** A product page that gives the element no token, only a `tokenProvider` calling its backend. */
function providerPage() {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Product</title>
<script type="module" src="${server.url}/embed/spine-feed.js"></script></head>
<body><main><h1>Task T-1</h1><spine-feed id="feed" server="${server.url}"></spine-feed></main>
<script type="module">
  const feed = document.getElementById('feed');
  feed.tokenProvider = async () => (await (await fetch('/token')).json()).token;
</script></body></html>`;
}

/** A product page embedding the feed: the three lines of the README, plus a listener. */
function productPage(token) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Product</title>
<script type="module" src="${server.url}/embed/spine-feed.js"></script></head>
<body><main><h1>Task T-1</h1>
<spine-feed server="${server.url}" token="${token}"></spine-feed>
<output id="unread"></output></main>
<script>
  window.activity = [];
  document.addEventListener('spine-unread', (e) => { document.getElementById('unread').textContent = String(e.detail.unread); });
  document.addEventListener('spine-activity', (e) => { window.activity.push(e.detail.event.id); });
</script></body></html>`;
}

it('shows only the scoped entity\'s events, live, and emits spine-unread', async () => {
  const on = (id) => ({ entity: { type: 'task', id, name: `Task ${id}` } });
  const mine = await postEvent(server, install, { type: 'task.created', title: 'Mine', ...on('T-1') });
  await postEvent(server, install, { type: 'task.created', title: 'Not mine', ...on('T-2') });
  const minted = await api(server, install.read, 'POST', '/v1/viewer-tokens', {
    user_id: 'viv', ttl_seconds: 600, scope: { entity_type: 'task', entity_id: 'T-1' },
  });
  assert.equal(minted.status, 200, JSON.stringify(minted.body));

  const context = await chromium.newContext();
  const page = await checkedPage(context);
  await page.goto(`${siteUrl}/?token=${encodeURIComponent(minted.body.token)}`);
  const items = page.locator('spine-feed .feed-item');
  await eventually('the scoped event', async () => (await items.count()) === 1);
  assert.equal(await items.first().getAttribute('data-id'), mine.id);
  await eventually('spine-unread', async () => (await page.locator('#unread').textContent()) === '1');

  await postEvent(server, install, { type: 'task.updated', title: 'Still not mine', ...on('T-2') });
  const live = await postEvent(server, install, { type: 'task.updated', title: 'Mine, live', ...on('T-1') });
  await eventually('the live scoped event', async () => (await items.count()) === 2);
  const ids = await items.evaluateAll((els) => els.map((e) => e.dataset.id));
  assert.deepEqual(ids, [live.id, mine.id]);
  await eventually('spine-activity for it', async () =>
    (await page.evaluate(() => window.activity)).includes(live.id));
  await eventually('two unread', async () => (await page.locator('#unread').textContent()) === '2');
  assert.deepEqual(problemsOf(page), []);
  await context.close();
});

it('asks its tokenProvider for a token, and for a fresh one before it expires', async () => {
  const on = { entity: { type: 'task', id: 'T-1', name: 'Task T-1' } };
  const context = await chromium.newContext();
  const page = await checkedPage(context);
  const before = minted;
  await page.goto(`${siteUrl}/provider`);
  const items = page.locator('spine-feed .feed-item');
  await eventually('the feed', async () => (await items.count()) >= 1);
  // The 62-second tokens are renewed a minute before they expire: within about two seconds.
  await eventually('a renewed token', async () => minted >= before + 2, 15000);
  const count = await items.count();
  const live = await postEvent(server, install, { type: 'task.updated', title: 'After renewal', ...on });
  await eventually('live with the new token', async () =>
    (await items.evaluateAll((els) => els.map((e) => e.dataset.id))).includes(live.id));
  assert.equal(await items.count(), count + 1);
  assert.deepEqual(problemsOf(page), []);
  await context.close();
});

it('the example page embeds the feed with a token from its fragment', async () => {
  const viewer = await api(server, install.read, 'POST', '/v1/viewer-tokens', { user_id: 'wes', ttl_seconds: 600, scope: {} });
  const context = await chromium.newContext();
  const page = await checkedPage(context);
  await page.goto(`${server.url}/embed/example.html#token=${encodeURIComponent(viewer.body.token)}`);
  await eventually('the example feed', async () => (await page.locator('spine-feed .feed-item').count()) > 0);
  assert.deepEqual(problemsOf(page), []);
  await context.close();
});
