// A live feed on a page: the first page, "Load more", the live stream and the read, seen and
// archive state, kept consistent with one another. One Feed is one query; a page that changes
// its filters stops this one and starts another. Shared by the Activity Center and
// <spine-feed>: what differs between them comes in as options and hooks.

import { h, replace, debounce, throttle } from './dom.js';
import { FeedModel } from './feed-model.js';
import { FeedView } from './feed-view.js';
import { LiveConnection } from './live.js';

const TIME_REFRESH_MS = 30_000;
const ANNOUNCE_EVERY_MS = 10_000;

// Hooks (all optional): unread({unread, unseen}), status(liveState), expired(detail),
// open(event) (already marked read), activity(event) (live, not shown before),
// archived(event, undo), failure(error) (an action failed), announce(text) (for a polite live
// region), loaded(items), empty() -> Node, error(error, retry) -> Node.

export class Feed {
  model;
  view;
  #o;
  #ctx;
  #live = null;
  #generation = 0;
  #stopped = false;
  #message;
  #more;
  #moreError;
  #timers = [];
  #seenThrough = 0;
  #newCount = 0;
  #lastNew = null;
  #announceTimer = null;
  #unreadSoon;
  #seenSoon;
  #onVisible = () => {
    if (document.visibilityState === 'visible') this.#markSeen();
  };

  /**
   * Options: root (element for the list, its messages and "Load more"), api, fetchPage(params)
   * (a page of the feed or a timeline), params (API filters, no limit or cursor), streamParams
   * (when the stream's differ: a timeline's entity is in its path), types (Map or its promise),
   * links (see FeedView), archivedView, markSeen (post what it shows as seen), acceptJoins (show
   * events archived or unarchived elsewhere; only right without filters the page cannot check),
   * limit, heading (tag of day headings), badges (see FeedView), hooks.
   */
  constructor(o) {
    this.#o = { limit: 30, links: {}, hooks: {}, heading: 'h2', ...o };
    this.model = new FeedModel();
    // The view reads the types through this context, filled in once they have loaded.
    this.#ctx = { types: new Map(), links: this.#o.links, archivedView: !!o.archivedView, heading: this.#o.heading, badges: o.badges };
    this.view = new FeedView(this.#ctx, { open: (id) => this.open(id), action: (id) => this.toggleArchive(id) });
    this.#message = h('div', { class: 'feed-message', hidden: true });
    this.#more = h('button', {
      class: 'feed-more', part: 'load-more', type: 'button', hidden: true, onclick: () => this.loadMore(),
    }, 'Load more');
    this.#moreError = h('p', { class: 'feed-more-error', role: 'alert', hidden: true });
    replace(o.root, this.#message, this.view.element, h('div', { class: 'feed-footer' }, this.#more, this.#moreError));
    // Throttled, not debounced: a steady stream of events must not keep the badge stale.
    this.#unreadSoon = throttle(() => this.refreshUnread(), 300);
    this.#seenSoon = debounce(() => this.#markSeen(), 1000);
  }

  get #hooks() {
    return this.#o.hooks;
  }

  /** Loads the first page, then follows the live stream. Also the way to reload. */
  async start() {
    const generation = ++this.#generation;
    this.#live?.stop();
    this.#show('status', h('p', {}, 'Loading activity…'));
    this.#more.hidden = true;
    this.refreshUnread();
    if (!this.#timers.length) {
      this.#timers.push(setInterval(() => this.view.refreshTimes(), TIME_REFRESH_MS));
      document.addEventListener('visibilitychange', this.#onVisible);
    }
    let page;
    try {
      const [types, first] = await Promise.all([this.#o.types, this.#fetch({})]);
      if (types instanceof Map) this.#ctx.types = types;
      page = first;
    } catch (error) {
      if (generation === this.#generation && !this.#stopped) this.#showError(error);
      return;
    }
    if (generation !== this.#generation || this.#stopped) return;
    this.view.clear();
    for (const item of this.model.reset(page)) this.view.place(item, null);
    this.#afterChange();
    this.#hooks.loaded?.(this.model.items);
    this.#markSeen();
    // The head read before the page: the stream then delivers whatever committed while the
    // page was on its way (duplicates of what the page holds are dropped by id).
    this.#startLive(Number.isInteger(page.position) ? page.position : this.model.maxSeq());
  }

  /** Stops the stream and the timers; the feed's DOM stays as it is. */
  stop() {
    this.#stopped = true;
    this.#live?.stop();
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    clearTimeout(this.#announceTimer);
    this.#unreadSoon.cancel();
    this.#seenSoon.cancel();
    document.removeEventListener('visibilitychange', this.#onVisible);
  }

  /** Reconnects the stream now (the Retry button, a fresh token). */
  retryLive() {
    if (this.#live) this.#live.retryNow();
    else this.start();
  }

  async loadMore() {
    const generation = this.#generation;
    this.#more.disabled = true;
    this.#more.textContent = 'Loading…';
    this.#moreError.hidden = true;
    try {
      // A page of nothing but items already shown (possible right after the list was trimmed)
      // is skipped rather than leaving the button to do nothing.
      let added = [];
      for (let round = 0; round < 5 && added.length === 0 && this.model.hasMore; round += 1) {
        const page = await this.#fetch(this.model.moreParams());
        if (generation !== this.#generation || this.#stopped) return;
        added = this.model.append(page);
      }
      for (const item of added) this.view.place(item, null);
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#moreError.textContent = error.message;
      this.#moreError.hidden = false;
    } finally {
      this.#more.disabled = false;
      this.#more.textContent = 'Load more';
      this.#afterChange();
    }
  }

  /** Opens an item: marks it read (at once on screen, then on the server) and tells the page. */
  open(id) {
    const item = this.model.get(id);
    if (!item) return;
    if (!item.read) {
      this.#setRead(item, true);
      this.#o.api.markRead(id).then(() => this.#unreadSoon(), (error) => {
        this.#setRead(item, false);
        this.#hooks.failure?.(error);
      });
    }
    this.#hooks.open?.(item);
  }

  /**
   * Archives an item (or, in the Archived view, puts it back in the feed). Resolves to whether
   * it worked; a failure puts the item back and goes to the `failure` hook.
   */
  async toggleArchive(id) {
    const item = this.model.get(id);
    if (!item) return false;
    const archiving = !this.#o.archivedView;
    this.#take(id);
    try {
      await (archiving ? this.#o.api.archive(id) : this.#o.api.unarchive(id));
    } catch (error) {
      this.#putBack(item);
      this.#hooks.failure?.(error);
      return false;
    }
    item.archived = archiving;
    this.#unreadSoon();
    const undo = async () => {
      await (archiving ? this.#o.api.unarchive(id) : this.#o.api.archive(id));
      item.archived = !archiving;
      this.#putBack(item);
      this.#unreadSoon();
    };
    this.#hooks.archived?.(item, undo);
    return true;
  }

  /** Marks everything read for this user, not only what this feed shows. */
  async markAllRead() {
    try {
      await this.#o.api.readAll();
    } catch (error) {
      this.#hooks.failure?.(error);
      return;
    }
    for (const item of this.model.markThrough('read', null)) this.view.update(item);
    this.refreshUnread();
  }

  async refreshUnread() {
    try {
      const counts = await this.#o.api.unreadCount();
      if (!this.#stopped && counts) this.#hooks.unread?.(counts);
    } catch {
      // The count is a nicety; the feed itself reports what matters when it fails.
    }
  }

  #fetch(extra) {
    const params = new URLSearchParams(this.#o.params);
    params.set('limit', String(this.#o.limit));
    for (const [key, value] of Object.entries(extra)) params.set(key, value);
    return this.#o.fetchPage(params);
  }

  #startLive(after) {
    const api = this.#o.api;
    const hooks = this.#hooks;
    this.#live = new LiveConnection({
      url: (seq) => api.streamUrl(this.#o.streamParams ?? this.#o.params, seq),
      probe: () => api.unreadCount().then((counts) => hooks.unread?.(counts)),
      on: {
        activity: (event) => this.#onActivity(event),
        read: (data) => this.#onRead(data),
        seen: (data) => {
          this.model.markThrough('seen', data.through_seq ?? null);
          this.#unreadSoon();
        },
        archive: (data) => this.#onArchive(data),
        reset: () => this.start(),
        status: (state) => hooks.status?.(state),
        expired: (detail) => hooks.expired?.(detail),
        reopened: () => this.#unreadSoon(),
      },
    });
    this.#live.start(after);
  }

  #onActivity(event) {
    if (!event?.id || this.model.has(event.id)) return;
    const { item, dropped } = this.model.insert(event);
    for (const old of dropped) this.view.remove(old.id);
    if (item) {
      this.view.place(item, this.model.next(item), { animate: true });
      this.#afterChange();
      this.#announce(item);
      this.#seenSoon();
    }
    if (!event.read) this.#unreadSoon();
    this.#hooks.activity?.(item ?? event);
  }

  #onRead(data) {
    if (data.resync) {
      this.#resyncFlags();
    } else if (data.event_id) {
      const item = this.model.patch(data.event_id, { read: true });
      if (item) this.view.update(item);
    } else if (data.through_seq !== undefined) {
      for (const item of this.model.markThrough('read', data.through_seq)) this.view.update(item);
    }
    this.#unreadSoon();
  }

  #onArchive({ event_id: id, archived }) {
    if (!id) return;
    if (archived !== !!this.#o.archivedView) {
      this.#take(id);
    } else if (!this.model.has(id) && this.#o.acceptJoins) {
      const generation = this.#generation;
      this.#o.api.event(id).then((event) => {
        if (generation !== this.#generation || this.#stopped) return;
        const { item, dropped } = this.model.insert(event);
        for (const old of dropped) this.view.remove(old.id);
        if (item) this.view.place(item, this.model.next(item));
        this.#afterChange();
      }, () => {});
    }
    this.#unreadSoon();
  }

  // Read flags changed while the stream could not say which: the first page tells again.
  async #resyncFlags() {
    try {
      const page = await this.#fetch({});
      for (const fresh of page.items ?? []) {
        const item = this.model.patch(fresh.id, { read: fresh.read === true, seen: fresh.seen === true });
        if (item) this.view.update(item);
      }
    } catch {
      // The next change or reload brings the flags back in line.
    }
  }

  #setRead(item, read) {
    item.read = read;
    this.view.update(item);
  }

  #take(id) {
    if (this.model.remove(id)) {
      this.view.remove(id);
      this.#afterChange();
    }
  }

  #putBack(item) {
    const { item: placed } = this.model.restore(item);
    if (placed) this.view.place(placed, this.model.next(placed), { animate: true });
    this.#afterChange();
  }

  // Opening the feed marks what it showed as seen: the highest seq displayed, posted only
  // while the page is visible and only when something shown was unseen.
  #markSeen() {
    if (!this.#o.markSeen || this.#stopped || document.visibilityState !== 'visible') return;
    const max = this.model.maxSeq();
    if (max === null || max <= this.#seenThrough) return;
    const unseen = this.model.items.some((item) => !item.seen);
    this.#seenThrough = max;
    if (!unseen) return;
    this.#o.api.markSeen(max).then(() => {
      this.model.markThrough('seen', max);
      this.#unreadSoon();
    }, () => {
      this.#seenThrough = 0;
    });
  }

  #announce(item) {
    this.#newCount += 1;
    this.#lastNew = item;
    if (this.#announceTimer === null) this.#flushAnnouncement();
  }

  // At most one announcement every ten seconds, so a busy feed does not talk over everything.
  #flushAnnouncement() {
    if (this.#newCount === 0 || this.#stopped) {
      this.#announceTimer = null;
      return;
    }
    const count = this.#newCount;
    this.#newCount = 0;
    const summary = this.#lastNew.summary || this.#lastNew.title || this.#lastNew.type;
    this.#hooks.announce?.(count === 1 ? `New activity: ${summary}` : `${count} new events`);
    this.#announceTimer = setTimeout(() => this.#flushAnnouncement(), ANNOUNCE_EVERY_MS);
  }

  #afterChange() {
    if (this.model.size === 0) this.#show('status', this.#hooks.empty?.() ?? h('p', {}, 'No activity yet.'));
    else this.#message.hidden = true;
    this.#more.hidden = !this.model.hasMore;
  }

  #showError(error) {
    this.view.clear();
    const retry = () => this.start();
    this.#show('alert', this.#hooks.error?.(error, retry) ?? [
      h('p', {}, error.message),
      h('button', { type: 'button', class: 'button', onclick: retry }, 'Retry'),
    ]);
  }

  #show(role, content) {
    this.#message.setAttribute('role', role);
    replace(this.#message, content);
    this.#message.hidden = false;
  }
}
