// How a feed looks: items grouped under day headings, each with its type's icon and colour,
// summary, actor, entity, tags, priority and time. Shared by the Activity Center and
// <spine-feed>, which differ only in the links they pass (`ctx.links`). The view is told
// where each item goes by the model; it never sorts or dedupes on its own.

import { h, srOnly } from './dom.js';
import { createIcon, iconName } from './icons.js';
import { dayKey, dayLabel, exactDateTime, priorityBadge, relativeTime, toMillis } from './format.js';

// The view's context: types (registered info by type), links ({entity, actor, tag}: each
// returns an href for its value, or null to show it as text), archivedView (items offer
// "Unarchive" rather than "Archive"), heading (the tag of day headings), badges (event -> a
// node or null, drawn in the item's head).

/** "#2f9e44" when it is one, else null: colours go into CSS, so only this shape is let in. */
export function safeColor(color) {
  return typeof color === 'string' && /^#[0-9a-f]{6}$/i.test(color) ? color : null;
}

/** The one-line label of an event's type: its registered label, else the type itself. */
export function typeLabel(event, types) {
  return types.get(event.type)?.label || event.type;
}

/** One feed item. */
export function renderItem(event, ctx) {
  const info = ctx.types.get(event.type) ?? {};
  const unread = !event.read;
  const classes = ['feed-item'];
  if (unread) classes.push('is-unread');
  if (info.important) classes.push('is-important');
  if (event.priority === 'high' || event.priority === 'urgent') classes.push(`is-${event.priority}`);

  const icon = h('span', { class: 'feed-icon' }, createIcon(iconName(event, info)));
  const color = safeColor(info.color);
  if (color) icon.style.setProperty('--type-color', color);

  const summary = event.summary || event.title || event.type;
  const time = h('time', {
    class: 'feed-time', part: 'time', datetime: event.occurred_at, title: exactDateTime(toMillis(event.occurred_at)),
  }, relativeTime(toMillis(event.occurred_at)));
  const priority = priorityBadge(event.priority);

  return h('li', {
    class: classes.join(' '),
    part: unread ? 'item unread' : 'item',
    tabindex: '0',
    dataset: { id: event.id },
  },
  icon,
  h('div', { class: 'feed-body' },
    h('div', { class: 'feed-head' },
      h('span', { class: 'feed-type' }, typeLabel(event, ctx.types)),
      event.source?.system && providerMark(event.source.system),
      ctx.badges?.(event),
      info.important && h('span', { class: 'feed-badge feed-important' }, createIcon('star'), 'Important'),
      priority && h('span', { class: `feed-badge feed-priority is-${event.priority}` }, priority)),
    h('p', { class: 'feed-summary', part: 'summary' }, unread && srOnly('Unread: '), summary),
    h('div', { class: 'feed-meta' },
      event.actor && renderActor(event.actor, ctx),
      event.entity && renderEntity(event.entity, ctx),
      event.tags?.length > 0 && renderTags(event.tags, ctx),
      time)),
  unread && h('span', { class: 'feed-unread-dot', 'aria-hidden': 'true' }),
  renderAction(summary, ctx));
}

/** The provider's mark, drawn by providers.js (loaded on first use). */
function providerMark(system) {
  const mark = h('span', { class: 'feed-provider', dataset: { provider: system } });
  import('./providers.js').then((p) => p.drawMark(mark), () => mark.remove());
  return mark;
}

function renderActor(actor, ctx) {
  const name = actor.name || actor.id;
  const href = ctx.links.actor?.(actor);
  const kind = ['agent', 'system', 'service'].includes(actor.kind) ? actor.kind : null;
  return h('span', { class: 'feed-actor' },
    href ? h('a', { href, title: `Activity by ${name}` }, name) : name,
    kind && h('span', { class: 'feed-kind' }, kind));
}

function renderEntity(entity, ctx) {
  const href = ctx.links.entity?.(entity);
  const name = entity.name || entity.id;
  return h('span', { class: 'feed-entity' },
    h('span', { class: 'feed-entity-type' }, entity.type),
    ' ',
    href ? h('a', { href }, name) : name);
}

function renderTags(tags, ctx) {
  return h('ul', { class: 'feed-tags', 'aria-label': 'Tags' },
    tags.map((tag) => {
      const href = ctx.links.tag?.(tag);
      return h('li', {}, href ? h('a', { class: 'feed-tag', href }, tag) : h('span', { class: 'feed-tag' }, tag));
    }));
}

function renderAction(summary, ctx) {
  const label = ctx.archivedView ? 'Unarchive' : 'Archive';
  return h('button', {
    class: 'feed-action', type: 'button', title: label, 'aria-label': `${label}: ${summary}`,
  }, createIcon(ctx.archivedView ? 'inbox' : 'archive'));
}

export class FeedView {
  /** The element holding the day groups. */
  element;
  #ctx;
  #groups = new Map();
  #items = new Map();

  /** `on.open(id)` opens an item; `on.action(id)` archives or unarchives it. */
  constructor(ctx, on) {
    this.#ctx = ctx;
    this.element = h('div', { class: 'feed-days', part: 'list' });
    this.element.addEventListener('click', (e) => {
      const item = e.target.closest('.feed-item');
      if (!item) return;
      if (e.target.closest('.feed-action')) on.action(item.dataset.id);
      // Links inside an item go where they say; a click that ends a text selection is not
      // a request to open the item.
      else if (!e.target.closest('a, button') && !String(globalThis.getSelection?.() ?? '')) on.open(item.dataset.id);
    });
    this.element.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && e.target.classList?.contains('feed-item')) {
        e.preventDefault();
        on.open(e.target.dataset.id);
      }
    });
  }

  clear() {
    this.element.replaceChildren();
    this.#groups.clear();
    this.#items.clear();
  }

  /**
   * Shows `item` just before `next` (the item after it in the model, or null at the end),
   * under its day's heading, creating the heading when it is the day's first item.
   */
  place(item, next, { animate = false } = {}) {
    this.#items.get(item.id)?.remove();
    const el = renderItem(item, this.#ctx);
    if (animate) {
      el.classList.add('is-new');
      el.addEventListener('animationend', () => el.classList.remove('is-new'), { once: true });
    }
    this.#items.set(item.id, el);
    const day = dayKey(toMillis(item.occurred_at));
    const nextEl = next && this.#items.get(next.id);
    if (nextEl && nextEl.closest('.feed-day')?.dataset.day === day) {
      nextEl.before(el);
      return;
    }
    let group = this.#groups.get(day);
    if (!group) {
      group = this.#createGroup(day, toMillis(item.occurred_at));
      const nextGroup = nextEl?.closest('.feed-day');
      if (nextGroup) nextGroup.before(group.section);
      else this.element.append(group.section);
    }
    group.list.append(el);
  }

  /** Removes an item; keyboard focus inside it moves to its neighbour rather than to nowhere. */
  remove(id) {
    const el = this.#items.get(id);
    if (!el) return;
    const hadFocus = el.contains(el.getRootNode().activeElement);
    const all = [...this.element.querySelectorAll('.feed-item')];
    const index = all.indexOf(el);
    const neighbour = all[index + 1] ?? all[index - 1] ?? null;
    const section = el.closest('.feed-day');
    el.remove();
    this.#items.delete(id);
    if (section && !section.querySelector('.feed-item')) {
      section.remove();
      this.#groups.delete(section.dataset.day);
    }
    if (hadFocus) neighbour?.focus();
  }

  /** Redraws an item whose flags changed, keeping keyboard focus on it. */
  update(item) {
    const old = this.#items.get(item.id);
    if (!old) return;
    const hadFocus = old.contains(old.getRootNode().activeElement);
    const el = renderItem(item, this.#ctx);
    old.replaceWith(el);
    this.#items.set(item.id, el);
    if (hadFocus) el.focus();
  }

  /** Rewrites relative times and day headings ("Today" becomes "Yesterday" at midnight). */
  refreshTimes(now = Date.now()) {
    for (const time of this.element.querySelectorAll('time.feed-time')) {
      time.textContent = relativeTime(toMillis(time.dateTime), now);
    }
    for (const { heading, time } of this.#groups.values()) heading.textContent = dayLabel(time, now);
  }

  #createGroup(day, time) {
    const heading = h(this.#ctx.heading ?? 'h2', { class: 'feed-day-title' }, dayLabel(time));
    const list = h('ul', { class: 'feed-items' });
    const section = h('section', { class: 'feed-day', dataset: { day } }, heading, list);
    const group = { section, heading, list, time };
    this.#groups.set(day, group);
    return group;
  }
}
