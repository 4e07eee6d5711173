// The events a feed shows, newest first, each once. It decides where a live event goes,
// which items fall off the bottom when the list grows past its bound, and how "Load more"
// continues from the oldest item still kept. Pure: the view follows what it reports.

import { toMillis } from './format.js';

/** Newest first: by occurred_at, then by seq, as the API orders the feed. */
export function compareEvents(a, b) {
  const byTime = toMillis(b.occurred_at) - toMillis(a.occurred_at);
  return byTime !== 0 && !Number.isNaN(byTime) ? byTime : b.seq - a.seq;
}

/**
 * An event as the feed keeps it: live events carry `read` but may lack `seen` and `archived`,
 * which then mean false.
 */
export function normalizeEvent(event) {
  return {
    ...event,
    tags: Array.isArray(event.tags) ? event.tags : [],
    read: event.read === true,
    seen: event.seen === true,
    archived: event.archived === true,
  };
}

export class FeedModel {
  /** Newest first. */
  items = [];
  /** The API's opaque cursor for the page after the last one loaded; null at the end. */
  nextCursor = null;
  #byId = new Map();
  #max;
  // Once items were dropped from the bottom, the API's cursor points past them, so "Load
  // more" asks instead for everything before the oldest kept item (`until`), dedupes by id,
  // and follows the cursors of that query from then on.
  #until = null;
  #untilPending = false;

  /** @param {{max?: number}} options  `max`: how many items live events may grow the list to */
  constructor({ max = 500 } = {}) {
    this.#max = max;
  }

  get size() {
    return this.items.length;
  }

  get hasMore() {
    return this.nextCursor !== null || this.#untilPending;
  }

  has(id) {
    return this.#byId.has(id);
  }

  get(id) {
    return this.#byId.get(id);
  }

  /** The highest seq shown: where a live stream resumes. null when the list is empty. */
  maxSeq() {
    let max = null;
    for (const item of this.items) if (max === null || item.seq > max) max = item.seq;
    return max;
  }

  /** Replaces everything with a first page. Returns the items kept. */
  reset(page) {
    this.items = [];
    this.#byId.clear();
    this.#until = null;
    this.#untilPending = false;
    return this.append(page);
  }

  /** Adds a further page at the bottom, skipping events already shown. Returns those added. */
  append(page) {
    const added = [];
    for (const raw of page?.items ?? []) {
      if (!raw || this.#byId.has(raw.id)) continue;
      const item = normalizeEvent(raw);
      this.items.push(item);
      this.#byId.set(item.id, item);
      added.push(item);
    }
    this.nextCursor = page?.next_cursor ?? null;
    this.#untilPending = false;
    return added;
  }

  /** Query parameters for the next page ({cursor} and/or {until}). */
  moreParams() {
    const params = {};
    if (this.#until) params.until = this.#until;
    if (this.nextCursor !== null && !this.#untilPending) params.cursor = this.nextCursor;
    return params;
  }

  /**
   * Places a live event. Returns {item, index, dropped}: `item` null when it was not placed
   * (already shown, or older than everything loaded while older pages remain: "Load more" will
   * bring it), `dropped` the items that fell off the bottom to keep the bound.
   */
  insert(raw) {
    if (!raw || this.#byId.has(raw.id)) return { item: null, index: -1, dropped: [] };
    const item = normalizeEvent(raw);
    let index = this.items.findIndex((other) => compareEvents(item, other) < 0);
    if (index === -1) {
      if (this.hasMore) return { item: null, index: -1, dropped: [] };
      index = this.items.length;
    }
    this.items.splice(index, 0, item);
    this.#byId.set(item.id, item);
    const dropped = this.#trim();
    if (dropped.includes(item)) return { item: null, index: -1, dropped: dropped.filter((d) => d !== item) };
    return { item, index, dropped };
  }

  /** Puts back an item that was removed (an archive undone), where it belongs. */
  restore(item) {
    if (this.#byId.has(item.id)) return { item: null, index: -1, dropped: [] };
    let index = this.items.findIndex((other) => compareEvents(item, other) < 0);
    if (index === -1) index = this.items.length;
    this.items.splice(index, 0, item);
    this.#byId.set(item.id, item);
    return { item, index, dropped: [] };
  }

  /** Removes one item; returns it, or null when it was not shown. */
  remove(id) {
    const item = this.#byId.get(id);
    if (!item) return null;
    this.items.splice(this.items.indexOf(item), 1);
    this.#byId.delete(id);
    return item;
  }

  /** The item after this one (older), or null: where the view inserts it. */
  next(item) {
    const index = this.items.indexOf(item);
    return index === -1 ? null : this.items[index + 1] ?? null;
  }

  /** Sets flags on one item; returns it when something changed. */
  patch(id, flags) {
    const item = this.#byId.get(id);
    if (!item) return null;
    let changed = false;
    for (const [key, value] of Object.entries(flags)) {
      if (item[key] !== value) {
        item[key] = value;
        changed = true;
      }
    }
    return changed ? item : null;
  }

  /** Marks every item with seq <= throughSeq (every item when null); returns those changed. */
  markThrough(flag, throughSeq) {
    const changed = [];
    for (const item of this.items) {
      if (!item[flag] && (throughSeq === null || item.seq <= throughSeq)) {
        item[flag] = true;
        changed.push(item);
      }
    }
    return changed;
  }

  #trim() {
    if (this.items.length <= this.#max) return [];
    const dropped = this.items.splice(this.#max);
    for (const item of dropped) this.#byId.delete(item.id);
    const oldestKept = this.items[this.items.length - 1];
    // One millisecond past the oldest kept item, in case `until` is exclusive: events sharing
    // its time then come back, and the id check above drops the ones already shown.
    this.#until = new Date(toMillis(oldestKept.occurred_at) + 1).toISOString();
    this.#untilPending = true;
    this.nextCursor = null;
    return dropped;
  }
}
