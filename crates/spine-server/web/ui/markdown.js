// Notes' Markdown (SPEC section 7), rendered safely: `parseMarkdown` turns text into a plain
// tree of blocks and inlines, and `renderMarkdown` turns the tree into elements through h(), so
// nothing in a note is ever read as HTML: `<script>` is five characters of text. The subset is
// a practical one: paragraphs (a newline is a line break), `#` headings, emphasis, strong,
// code spans, fenced code blocks, bulleted and numbered lists, block quotes, rules, and links
// (`[text](url)`, `<url>` and bare http(s) URLs), of which only http:, https: and mailto: URLs
// become links. Hostile input is bounded: nesting stops at a fixed depth (deeper markup stays
// text), only the first MAX_CHARS characters are parsed (the rest is shown as plain text), and
// every search for a closing delimiter is done at most once per delimiter, so no input costs
// more than linear time per nesting level. Pure: importing it touches no DOM.

import { h } from '../embed/lib/dom.js';

/** Characters parsed as Markdown; a note is at most 64 KiB, so only hostile input goes past. */
export const MAX_CHARS = 100_000;
/** How deep quotes and lists nest, and inlines (emphasis in a link in strong ...) nest. */
export const MAX_DEPTH = 8;

const LINK_REL = 'noopener noreferrer nofollow';
const SAFE_PROTOCOLS = ['http:', 'https:', 'mailto:'];

/** The URL as a link may carry it, or null: only http:, https: and mailto: URLs, absolute. */
export function safeUrl(raw) {
  if (typeof raw !== 'string') return null;
  const text = raw.trim();
  // A URL must say its scheme itself; no relative paths, no schemes hidden behind whitespace.
  if (!/^(https?:\/\/|mailto:)/i.test(text) || /[\s\u0000-\u001f\u007f]/.test(text)) return null;
  try {
    const url = new URL(text);
    return SAFE_PROTOCOLS.includes(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Blocks

/**
 * The tree of `text`: an array of blocks, each one of
 * {type: 'paragraph', children}, {type: 'heading', level, children}, {type: 'code', text, lang},
 * {type: 'list', ordered, start, items: [blocks]}, {type: 'quote', children: blocks},
 * {type: 'rule'}; inlines are {type: 'text', text}, {type: 'break'}, {type: 'em' | 'strong',
 * children}, {type: 'code', text}, {type: 'link', href, children}.
 */
export function parseMarkdown(text) {
  const source = typeof text === 'string' ? text : '';
  const head = source.length > MAX_CHARS ? source.slice(0, MAX_CHARS) : source;
  const blocks = parseBlocks(head.replace(/\r\n?/g, '\n').split('\n'), 0);
  if (head.length < source.length) {
    blocks.push({ type: 'paragraph', children: [{ type: 'text', text: source.slice(MAX_CHARS) }], plain: true });
  }
  return blocks;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/;
const LIST_ITEM = /^( {0,3})([-*+]|\d{1,9}[.)])( {1,4}|$)/;

function parseBlocks(lines, depth) {
  const blocks = [];
  let paragraph = [];
  const flush = () => {
    if (paragraph.length) blocks.push({ type: 'paragraph', children: parseInline(paragraph.join('\n'), 0) });
    paragraph = [];
  };
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') {
      flush();
      i += 1;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      flush();
      const marker = fence[1];
      const body = [];
      i += 1;
      while (i < lines.length && !closesFence(lines[i], marker)) body.push(lines[i++]);
      i += 1; // the closing fence, or past the end
      blocks.push({ type: 'code', text: body.join('\n'), lang: fence[2] || null });
      continue;
    }
    const heading = headingOf(line);
    if (heading) {
      flush();
      blocks.push({ type: 'heading', level: heading.level, children: parseInline(heading.text, 0) });
      i += 1;
      continue;
    }
    if (isRule(line)) {
      flush();
      blocks.push({ type: 'rule' });
      i += 1;
      continue;
    }
    if (depth < MAX_DEPTH && /^ {0,3}>/.test(line)) {
      flush();
      const quoted = [];
      while (i < lines.length && /^ {0,3}>/.test(lines[i])) {
        quoted.push(lines[i].replace(/^ {0,3}> ?/, ''));
        i += 1;
      }
      blocks.push({ type: 'quote', children: parseBlocks(quoted, depth + 1) });
      continue;
    }
    const item = depth < MAX_DEPTH && LIST_ITEM.exec(line);
    if (item) {
      flush();
      i = parseList(lines, i, depth, blocks);
      continue;
    }
    paragraph.push(line);
    i += 1;
  }
  flush();
  return blocks;
}

function closesFence(line, marker) {
  const trimmed = line.trim();
  if (!trimmed.startsWith(marker[0].repeat(marker.length)) || line.search(/\S/) > 3) return false;
  for (const c of trimmed) if (c !== marker[0]) return false;
  return true;
}

function headingOf(line) {
  const match = /^ {0,3}(#{1,6})(?=\s|$)/.exec(line);
  if (!match) return null;
  let text = line.slice(match[0].length).trim();
  // A closing run of #s (after a space) is decoration, not text.
  let end = text.length;
  while (end > 0 && text[end - 1] === '#') end -= 1;
  if (end === 0 || text[end - 1] === ' ') text = text.slice(0, end).trim();
  return { level: match[1].length, text };
}

function isRule(line) {
  const compact = line.replace(/[ \t]/g, '');
  if (compact.length < 3 || line.search(/\S/) > 3 || !'-*_'.includes(compact[0])) return false;
  for (const c of compact) if (c !== compact[0]) return false;
  return true;
}

// A list: items of one kind (bulleted, or numbered), each its first line's text and the lines
// indented under it (blank lines included when more indented text follows), parsed as blocks.
function parseList(lines, start, depth, blocks) {
  const first = LIST_ITEM.exec(lines[start]);
  const ordered = /\d/.test(first[2]);
  const list = { type: 'list', ordered, start: ordered ? Number.parseInt(first[2], 10) : null, items: [] };
  let i = start;
  while (i < lines.length) {
    const match = LIST_ITEM.exec(lines[i]);
    if (!match || /\d/.test(match[2]) !== ordered || isRule(lines[i])) break;
    const indent = match[1].length + match[2].length + Math.max(1, match[3].length);
    const body = [lines[i].slice(match[0].length)];
    i += 1;
    while (i < lines.length) {
      const line = lines[i];
      if (line.trim() === '') {
        // A blank line belongs to the item only if indented text follows it.
        let next = i + 1;
        while (next < lines.length && lines[next].trim() === '') next += 1;
        if (next < lines.length && leadingSpaces(lines[next]) >= indent) {
          for (; i < next; i += 1) body.push('');
          continue;
        }
        break;
      }
      if (leadingSpaces(line) >= indent) body.push(line.slice(indent));
      else if (!LIST_ITEM.exec(line) && !body[body.length - 1].match(/^\s*$/) && !startsBlock(line)) body.push(line);
      else break;
      i += 1;
    }
    list.items.push(parseBlocks(body, depth + 1));
  }
  blocks.push(list);
  return i;
}

function leadingSpaces(line) {
  const n = line.search(/\S/);
  return n === -1 ? line.length : n;
}

// A line that starts a block of its own, so it cannot continue an item's paragraph lazily.
function startsBlock(line) {
  return FENCE.test(line) || !!headingOf(line) || /^ {0,3}>/.test(line) || isRule(line);
}

// ---------------------------------------------------------------------------------------------
// Inlines

const PUNCTUATION = /[!-/:-@[-`{-~]/;
const WORD = /[\p{L}\p{N}]/u;
const AUTOLINK = /<((?:https?:\/\/|mailto:)[^\s<>]*)>/iy;
const BARE_URL = /https?:\/\/[^\s<>]*/iy;

/**
 * The inlines of `text` (a paragraph's or heading's text, newlines included). `links: false`
 * inside a link's text, which cannot hold another link.
 */
export function parseInline(text, depth = 0, { links = true } = {}) {
  return new InlineParser(text, depth, links).parse();
}

class InlineParser {
  constructor(text, depth, links) {
    this.s = text;
    this.depth = depth;
    this.links = links;
    this.out = [];
    this.buffer = '';
    // The last search for each delimiter: {from, found}. "The first match at or after `from`"
    // answers the same for any later `from` up to `found` (or any at all when nothing was
    // found), so a run of openers without closers costs one scan, not one each.
    this.searches = new Map();
  }

  parse() {
    const { s } = this;
    let i = 0;
    while (i < s.length) {
      const c = s[i];
      let next = null;
      if (c === '\\' && i + 1 < s.length && PUNCTUATION.test(s[i + 1])) {
        this.buffer += s[i + 1];
        i += 2;
        continue;
      }
      if (c === '\n') {
        this.buffer = this.buffer.trimEnd();
        this.emit({ type: 'break' });
        i += 1;
        while (s[i] === ' ' || s[i] === '\t') i += 1;
        continue;
      }
      if (c === '`') next = this.codeSpan(i);
      else if ((c === '*' || c === '_') && this.depth < MAX_DEPTH) next = this.emphasis(i);
      else if (!this.links) next = null;
      else if (c === '[' && this.depth < MAX_DEPTH) next = this.link(i);
      else if (c === '<') next = this.autolink(i);
      else if ((c === 'h' || c === 'H') && (i === 0 || !WORD.test(s[i - 1]))) next = this.bareUrl(i);
      if (next === null) {
        this.buffer += c;
        i += 1;
      } else {
        i = next;
      }
    }
    this.flushText();
    return this.out;
  }

  emit(node) {
    this.flushText();
    this.out.push(node);
  }

  flushText() {
    if (this.buffer) this.out.push({ type: 'text', text: this.buffer });
    this.buffer = '';
  }

  // `find(from)`: the first index >= from where `key` (a closer) is, or -1; remembered.
  search(key, from, find) {
    const last = this.searches.get(key);
    if (last && from >= last.from && (last.found === -1 || from <= last.found)) return last.found;
    const found = find(from);
    this.searches.set(key, { from, found });
    return found;
  }

  codeSpan(i) {
    const { s } = this;
    let n = 1;
    while (s[i + n] === '`') n += 1;
    const fence = '`'.repeat(n);
    const close = this.search(`code${n}`, i + n, (from) => {
      for (let at = s.indexOf(fence, from); at !== -1; at = s.indexOf(fence, at + 1)) {
        // Exactly n backticks: a longer run is not this span's end.
        if (s[at + n] !== '`' && s[at - 1] !== '`') return at;
        while (s[at] === '`') at += 1;
      }
      return -1;
    });
    if (close === -1) {
      this.buffer += fence;
      return i + n;
    }
    let code = s.slice(i + n, close).replace(/\n/g, ' ');
    if (code.length > 2 && code.startsWith(' ') && code.endsWith(' ') && code.trim()) code = code.slice(1, -1);
    this.emit({ type: 'code', text: code });
    return close + n;
  }

  emphasis(i) {
    const { s } = this;
    const c = s[i];
    const strong = s[i + 1] === c;
    const delim = strong ? c + c : c;
    const after = s[i + delim.length];
    // An opener is followed by text; an underscore inside a word (snake_case) is text.
    if (after === undefined || /\s/.test(after) || after === c) return null;
    if (c === '_' && i > 0 && WORD.test(s[i - 1])) return null;
    const close = this.search(delim, i + delim.length, (from) => {
      for (let at = s.indexOf(delim, from); at !== -1; at = s.indexOf(delim, at + 1)) {
        const before = s[at - 1];
        const following = s[at + delim.length];
        const runs = following === c || (!strong && before === c);
        if (!/\s/.test(before) && !runs && !(c === '_' && following !== undefined && WORD.test(following))) return at;
      }
      return -1;
    });
    if (close === -1 || close === i + delim.length) return null;
    const children = parseInline(s.slice(i + delim.length, close), this.depth + 1);
    this.emit({ type: strong ? 'strong' : 'em', children });
    return close + delim.length;
  }

  link(i) {
    const { s } = this;
    const middle = this.search('](', i + 1, (from) => s.indexOf('](', from));
    if (middle === -1) return null;
    // The text may not hold another '[' (no nested brackets in this subset).
    const bracket = this.search('[', i + 1, (from) => s.indexOf('[', from));
    if (bracket !== -1 && bracket < middle) return null;
    const label = s.slice(i + 1, middle);
    if (!label.trim()) return null;
    const end = this.search(')', middle + 2, (from) => s.indexOf(')', from));
    if (end === -1) return null;
    let target = s.slice(middle + 2, end).trim();
    // An optional title ("url "title"") is dropped; <url> is the url.
    const space = target.search(/\s/);
    if (space !== -1) target = target.slice(0, space);
    if (target.startsWith('<') && target.endsWith('>')) target = target.slice(1, -1);
    const href = safeUrl(target);
    if (!href) {
      // Not a link this renderer makes (javascript:, a relative path, ...): shown as written.
      this.buffer += s.slice(i, end + 1);
      return end + 1;
    }
    this.emit({ type: 'link', href, children: parseInline(label, this.depth + 1, { links: false }) });
    return end + 1;
  }

  autolink(i) {
    AUTOLINK.lastIndex = i;
    const match = AUTOLINK.exec(this.s);
    const href = match && safeUrl(match[1]);
    if (!href) return null;
    this.emit({ type: 'link', href, children: [{ type: 'text', text: match[1] }] });
    return i + match[0].length;
  }

  bareUrl(i) {
    BARE_URL.lastIndex = i;
    const match = BARE_URL.exec(this.s);
    if (!match) return null;
    // Sentence punctuation after a URL is not part of it, nor is a ')' it did not open.
    const url = match[0];
    let open = count(url, '(');
    let close = count(url, ')');
    let end = url.length;
    while (end > 0 && '.,:;!?\'"*_)]'.includes(url[end - 1])) {
      if (url[end - 1] === ')') {
        if (open >= close) break;
        close -= 1;
      }
      end -= 1;
    }
    const text = url.slice(0, end);
    const href = /^https?:\/\/[^/?#]/i.test(text) && safeUrl(text);
    if (!href) return null;
    this.emit({ type: 'link', href, children: [{ type: 'text', text }] });
    return i + text.length;
  }
}

function count(text, char) {
  let n = 0;
  for (const c of text) if (c === char) n += 1;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Rendering

/**
 * The elements of a parsed note (an array of nodes for h() or append). Headings start at
 * `<h{headingBase}>`, so a note's "#" sits under the page's own headings.
 */
export function renderMarkdown(blocks, { headingBase = 3 } = {}) {
  return blocks.map((block) => renderBlock(block, headingBase));
}

function renderBlock(block, base) {
  switch (block.type) {
    case 'heading':
      return h(`h${Math.min(6, base + block.level - 1)}`, { class: `md-heading md-h${block.level}` }, renderInlines(block.children));
    case 'code':
      return h('pre', { class: 'md-code' }, h('code', { dataset: block.lang ? { lang: block.lang } : null }, block.text));
    case 'list':
      return h(block.ordered ? 'ol' : 'ul', { start: block.ordered && block.start !== 1 ? String(block.start) : null },
        block.items.map((item) => h('li', {}, item.length === 1 && item[0].type === 'paragraph'
          ? renderInlines(item[0].children)
          : item.map((b) => renderBlock(b, base)))));
    case 'quote':
      return h('blockquote', {}, block.children.map((b) => renderBlock(b, base)));
    case 'rule':
      return h('hr');
    default:
      return h('p', { class: block.plain ? 'md-plain' : null }, renderInlines(block.children));
  }
}

function renderInlines(nodes) {
  return nodes.map((node) => {
    switch (node.type) {
      case 'text':
        return node.text;
      case 'break':
        return h('br');
      case 'em':
        return h('em', {}, renderInlines(node.children));
      case 'strong':
        return h('strong', {}, renderInlines(node.children));
      case 'code':
        return h('code', {}, node.text);
      case 'link':
        return h('a', { href: node.href, rel: LINK_REL }, renderInlines(node.children));
      default:
        return null;
    }
  });
}
