// Building elements without markup strings: every piece of text becomes a text node, so data
// from events can never turn into HTML. Touches `document` only when called.

/**
 * h('a', {class: 'x', href: url, onclick: fn}, 'text', child, [more, children]).
 * Props: `class`, `text`, `dataset` ({...}), `on<event>` listeners; `true` sets an empty
 * attribute and null/undefined/false leave it out. Children: nodes, strings (as text), arrays;
 * null, undefined and false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Appends children as h() takes them. */
export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
  }
  return parent;
}

/** Replaces everything inside `parent`. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** Text for screen readers only (the class is styled in feed.css). */
export function srOnly(text) {
  return h('span', { class: 'sr-only' }, text);
}

/**
 * Calls `fn` `ms` after the first of a burst of calls; calls made while it waits are folded
 * into that one. At most one call per `ms`, and, unlike `debounce`, never put off forever by a
 * steady stream of calls.
 */
export function throttle(fn, ms) {
  let timer = null;
  const throttled = (...args) => {
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      fn(...args);
    }, ms);
  };
  throttled.cancel = () => {
    clearTimeout(timer);
    timer = null;
  };
  return throttled;
}

/** Calls `fn` once `ms` after the last of a burst of calls. */
export function debounce(fn, ms) {
  let timer = null;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}
