// Notes' Markdown: the subset parses to the expected tree, renders through h() only (checked on a
// small stand-in for `document` that records what is made), and hostile input stays text, never
// becomes a link it should not, and does not blow up however deep or large.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_CHARS, MAX_DEPTH, parseInline, parseMarkdown, renderMarkdown, safeUrl } from '../ui/markdown.js';

// Just enough of the DOM for h(): elements with attributes, classes, children and text.
class FakeElement {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.attributes = {};
    this.children = [];
    this.dataset = {};
    this.className = '';
  }

  setAttribute(name, value) {
    this.attributes[name] = String(value);
  }

  addEventListener() {}

  append(...nodes) {
    this.children.push(...nodes);
  }

  get textContent() {
    return this.children.map((c) => (typeof c === 'string' ? c : c.textContent)).join('');
  }
}

before(() => {
  globalThis.document = { createElement: (tag) => new FakeElement(tag) };
});

const render = (text) => renderMarkdown(parseMarkdown(text));
/** Every element made, depth first. */
function elements(nodes) {
  const out = [];
  const walk = (node) => {
    if (!node || typeof node === 'string') return;
    out.push(node);
    node.children.forEach(walk);
  };
  [nodes].flat(Infinity).forEach(walk);
  return out;
}
const tags = (nodes) => elements(nodes).map((e) => e.tagName.toLowerCase());
const links = (nodes) => elements(nodes).filter((e) => e.tagName === 'A');
const text = (nodes) => [nodes].flat(Infinity).map((n) => (typeof n === 'string' ? n : n.textContent)).join('');

test('paragraphs, line breaks, headings, emphasis, strong and code', () => {
  assert.deepEqual(parseMarkdown('Hello **big** *world*, _you_ and `a < b`\nnext line\n\nSecond'), [
    { type: 'paragraph', children: [
      { type: 'text', text: 'Hello ' },
      { type: 'strong', children: [{ type: 'text', text: 'big' }] },
      { type: 'text', text: ' ' },
      { type: 'em', children: [{ type: 'text', text: 'world' }] },
      { type: 'text', text: ', ' },
      { type: 'em', children: [{ type: 'text', text: 'you' }] },
      { type: 'text', text: ' and ' },
      { type: 'code', text: 'a < b' },
      { type: 'break' },
      { type: 'text', text: 'next line' },
    ] },
    { type: 'paragraph', children: [{ type: 'text', text: 'Second' }] },
  ]);
  assert.deepEqual(parseMarkdown('## Outcome ##'), [{ type: 'heading', level: 2, children: [{ type: 'text', text: 'Outcome' }] }]);
  assert.deepEqual(parseMarkdown('#hashtag'), [{ type: 'paragraph', children: [{ type: 'text', text: '#hashtag' }] }]);
  assert.deepEqual(parseInline('snake_case_name stays, 2 * 3 * 4 too'), [{ type: 'text', text: 'snake_case_name stays, 2 * 3 * 4 too' }]);
  assert.deepEqual(parseInline('\\*not em\\*'), [{ type: 'text', text: '*not em*' }]);
  assert.deepEqual(parseInline('**a *b* c**'), [{ type: 'strong', children: [
    { type: 'text', text: 'a ' }, { type: 'em', children: [{ type: 'text', text: 'b' }] }, { type: 'text', text: ' c' }] }]);
});

test('fenced code keeps its text as it is, markup included', () => {
  const [block] = parseMarkdown('```js\nconst a = "<b>**not bold**</b>";\n\n  indented\n```\nafter');
  assert.deepEqual(block, { type: 'code', text: 'const a = "<b>**not bold**</b>";\n\n  indented', lang: 'js' });
  const unclosed = parseMarkdown('~~~\nno end');
  assert.deepEqual(unclosed, [{ type: 'code', text: 'no end', lang: null }]);
});

test('bulleted and numbered lists, nested by indentation, and block quotes', () => {
  const [list, numbered] = parseMarkdown('- one\n- two\n  - two a\n* three\n\n3. c\n4. d');
  assert.equal(list.type, 'list');
  assert.equal(list.ordered, false);
  assert.equal(list.items.length, 3);
  assert.equal(list.items[1][1].type, 'list', 'nested list in the second item');
  assert.deepEqual(numbered, { type: 'list', ordered: true, start: 3, items: [
    [{ type: 'paragraph', children: [{ type: 'text', text: 'c' }] }],
    [{ type: 'paragraph', children: [{ type: 'text', text: 'd' }] }],
  ] });
  const [quote] = parseMarkdown('> said **this**\n> - and a list');
  assert.equal(quote.type, 'quote');
  assert.deepEqual(quote.children.map((b) => b.type), ['paragraph', 'list']);
  assert.deepEqual(parseMarkdown('---'), [{ type: 'rule' }]);
});

test('links: [text](url), <url> and bare URLs, only http, https and mailto', () => {
  assert.deepEqual(parseInline('[the call](https://example.com/calls/7?x=1 "title")'), [
    { type: 'link', href: 'https://example.com/calls/7?x=1', children: [{ type: 'text', text: 'the call' }] }]);
  assert.deepEqual(parseInline('mail [us](mailto:ops@example.com)')[1].href, 'mailto:ops@example.com');
  assert.deepEqual(parseInline('see https://example.com/a_(b). Done'), [
    { type: 'text', text: 'see ' },
    { type: 'link', href: 'https://example.com/a_(b)', children: [{ type: 'text', text: 'https://example.com/a_(b)' }] },
    { type: 'text', text: '. Done' }]);
  assert.deepEqual(parseInline('(at https://example.com/x)')[1].href, 'https://example.com/x');
  assert.deepEqual(parseInline('<https://example.com>')[0].href, 'https://example.com/');
  // A link's text cannot hold another link.
  assert.deepEqual(parseInline('[https://a.example](https://b.example)'), [
    { type: 'link', href: 'https://b.example/', children: [{ type: 'text', text: 'https://a.example' }] }]);

  for (const url of ['javascript:alert(1)', 'JAVASCRIPT:alert(1)', ' javascript:alert(1)', 'java\tscript:alert(1)',
    'data:text/html,<script>alert(1)</script>', 'vbscript:x', '/relative', '//evil.example', 'file:///etc/passwd',
    'http://exa mple.com', 'https://\u0000x']) {
    assert.equal(safeUrl(url), null, url);
    // (In [text](url "title") a space ends the URL, so that one is a link to http://exa.)
    if (url.includes(' ')) continue;
    const nodes = parseInline(`[click](${url})`);
    assert.ok(nodes.every((n) => n.type !== 'link'), `no link for ${JSON.stringify(url)}`);
  }
  assert.equal(safeUrl('HTTPS://Example.com/a'), 'https://example.com/a');
});

test('rendering goes through h(): HTML in a note is text, links get rel and safe hrefs only', () => {
  const hostile = [
    '<script>alert(1)</script>',
    '<img src=x onerror=alert(1)>',
    '[x](javascript:alert(1)) [y](https://ok.example/ "t")',
    '**<b>bold?</b>** `<i>`',
    '<a href="javascript:alert(1)">a</a>',
  ].join('\n\n');
  const nodes = render(hostile);
  assert.deepEqual(tags(nodes), ['p', 'p', 'p', 'a', 'p', 'strong', 'code', 'p']);
  const rendered = text(nodes);
  assert.ok(rendered.includes('<script>alert(1)</script>'), 'the script is shown as text');
  assert.ok(rendered.includes('<img src=x onerror=alert(1)>'));
  assert.ok(rendered.includes('[x](javascript:alert(1))'));
  const [link] = links(nodes);
  assert.equal(link.attributes.href, 'https://ok.example/');
  assert.equal(link.attributes.rel, 'noopener noreferrer nofollow');
  for (const el of elements(nodes)) {
    for (const name of Object.keys(el.attributes)) assert.ok(['href', 'rel', 'start'].includes(name), `attribute ${name}`);
  }
});

test('rendering: headings sit under the page\'s, lists are lists, code is pre', () => {
  const nodes = render('# Title\n\n1. **one**\n2. two\n\n```\n<x>\n```\n\n> quoted');
  assert.deepEqual(tags(nodes), ['h3', 'ol', 'li', 'strong', 'li', 'pre', 'code', 'blockquote', 'p']);
  assert.equal(nodes[0].className, 'md-heading md-h1');
  assert.equal(nodes[2].children[0].textContent, '<x>');
  assert.deepEqual(tags(renderMarkdown(parseMarkdown('###### six'), { headingBase: 3 })), ['h6']);
  assert.equal(render('5. five')[0].attributes.start, '5');
});

test('nesting is bounded: deeper quotes, lists and emphasis stay text', () => {
  const deepQuote = parseMarkdown('>'.repeat(5000) + ' bottom');
  let depth = 0;
  for (let block = deepQuote[0]; block?.type === 'quote'; block = block.children[0]) depth += 1;
  assert.equal(depth, MAX_DEPTH);
  const deepList = parseMarkdown(Array.from({ length: 50 }, (_, i) => `${'  '.repeat(i)}- level ${i}`).join('\n'));
  let lists = 0;
  for (let block = deepList[0]; block?.type === 'list'; block = block.items[0].at(-1)) lists += 1;
  assert.ok(lists <= MAX_DEPTH + 1, `${lists} levels`);
  const deepEm = parseInline('**_'.repeat(100) + 'x' + '_**'.repeat(100));
  let em = 0;
  for (let node = deepEm[0]; node && node.children; node = node.children[0]) em += 1;
  assert.ok(em <= MAX_DEPTH + 1, `${em} levels`);
});

// A guard against a parser that hangs (quadratic or worse) on hostile input, not a measure of
// speed: each of these takes milliseconds; the timeout only stops a runaway test.
test('huge and pathological input is parsed in bounded time and size', { timeout: 30_000 }, () => {
  const cases = [
    '*a '.repeat(40_000), '_a '.repeat(40_000), '**a '.repeat(30_000), '['.repeat(90_000) + '](http://x)',
    '[a]('.repeat(25_000), '`a'.repeat(50_000), '``a`'.repeat(25_000), '>'.repeat(90_000), '- '.repeat(45_000) + 'x',
    `${' '.repeat(50_000)}x\n`.repeat(2), `http://a${')'.repeat(90_000)}`, 'http://a.b/ '.repeat(9_000), '<'.repeat(90_000),
    '<http://'.repeat(12_000), '```\n'.repeat(30_000), '#'.repeat(90_000), '**_'.repeat(20_000) + 'x' + '_**'.repeat(20_000),
  ];
  for (const input of cases) {
    const tree = parseMarkdown(input);
    assert.ok(Array.isArray(tree));
  }
  const huge = 'word '.repeat(MAX_CHARS);
  const tree = parseMarkdown(huge);
  const last = tree.at(-1);
  assert.equal(last.plain, true, 'the rest past MAX_CHARS is kept as plain text');
  assert.equal(text(renderMarkdown(tree)), huge, 'nothing is lost');
  assert.deepEqual(parseMarkdown(''), []);
  assert.deepEqual(parseMarkdown(null), []);
});
