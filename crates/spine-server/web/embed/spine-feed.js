// <spine-feed>: the live activity feed as a custom element for any web page.
//
//   <script type="module" src="https://SPINE/embed/spine-feed.js"></script>
//   <spine-feed server="https://SPINE" token="VIEWER_TOKEN"></spine-feed>
//
// Attributes: server (default: where this script came from), token (a viewer token), filter
// (the feed's query syntax, "type=task.*&priority=high"), limit (page size, default 20),
// theme (light | dark | auto), entity-href (a link template such as "/tasks/{id}", with
// {type} and {id}). Property: tokenProvider, an async function returning a fresh token,
// asked a minute before the current one expires (or when the server refuses it).
// Events (bubbling, composed): spine-unread {unread, unseen}, spine-activity {event},
// spine-open {event}. Theming: the --spine-* custom properties and the parts header, badge,
// status, mark-all, list, item, unread, summary, time, load-more, toast.

import { createApi, loadTypes } from './lib/api.js';
import { Feed } from './lib/feed.js';
import { h, replace } from './lib/dom.js';
import { createStatusIndicator, createUnreadBadge, showToast } from './lib/indicators.js';
import { embedParams, templateLink } from './lib/attributes.js';
import { refreshDelay } from './lib/token.js';

const SCRIPT_ORIGIN = new URL(import.meta.url).origin;
const STYLESHEET_URL = new URL('./feed.css', import.meta.url);
const DEFAULT_LIMIT = 20;
const MAX_TIMEOUT = 2 ** 31 - 1; // setTimeout fires at once for anything longer
// A provider that keeps returning refused tokens is asked at most this often.
const RECOVER_EVERY_MS = 30_000;

// The element's own frame; the feed's look comes from feed.css, shared with the Activity Center.
const FRAME_CSS = `
:host {
  display: block;
  position: relative;
  font-family: var(--spine-font);
  font-size: 1rem;
  line-height: 1.4;
  color: var(--spine-fg);
  background: var(--spine-bg);
  border: 1px solid var(--spine-border);
  border-radius: var(--spine-radius);
}
.frame[hidden] { display: none; }
.header {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 0.5rem 0.75rem;
  padding: 0.75rem 1rem;
  border-bottom: 1px solid var(--spine-border);
}
.title { margin: 0; font-size: 1rem; font-weight: 650; margin-inline-end: auto; }
.body { padding: 0.25rem 0.5rem; }
.notice { padding: 1.5rem 1rem; text-align: center; color: var(--spine-muted); }
.notice strong { display: block; color: var(--spine-fg); margin-bottom: 0.25rem; }
.toasts { position: absolute; inset: auto 0.75rem 0.75rem auto; }
.feed-meta a, .feed-summary { color: inherit; }
`;

let feedSheet = null;

/** feed.css as a constructed stylesheet, fetched once for every <spine-feed> on the page. */
function loadFeedSheet() {
  feedSheet ??= fetch(STYLESHEET_URL, { credentials: 'omit' })
    .then((response) => (response.ok ? response.text() : ''))
    .catch(() => '')
    .then((css) => {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      return sheet;
    });
  return feedSheet;
}

export class SpineFeed extends HTMLElement {
  static observedAttributes = ['server', 'token', 'filter', 'limit', 'entity-href'];

  #token = null;
  #tokenProvider = null;
  #feed = null;
  #generation = 0;
  #refreshTimer = null;
  #restartQueued = false;
  #recovering = null;
  #lastRecovery = 0;
  #counts = null;
  #badge = createUnreadBadge();
  #status = createStatusIndicator({ onRetry: () => this.#feed?.retryLive() });
  #markAll;
  #body;
  #notice;
  #toasts;
  #announcer;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    const frameSheet = new CSSStyleSheet();
    frameSheet.replaceSync(FRAME_CSS);
    root.adoptedStyleSheets = [frameSheet];

    this.#markAll = h('button', {
      type: 'button', class: 'button', part: 'mark-all', onclick: () => this.#feed?.markAllRead(),
    }, 'Mark all read');
    this.#body = h('div', { class: 'body' });
    this.#notice = h('div', { class: 'notice', role: 'alert', hidden: true });
    this.#toasts = h('div', { class: 'toasts', 'aria-live': 'polite' });
    this.#announcer = h('div', { class: 'sr-only', 'aria-live': 'polite' });
    // Hidden until feed.css has arrived, so the feed never shows unstyled.
    const frame = h('div', { class: 'frame', hidden: true },
      h('header', { class: 'header', part: 'header' },
        h('h2', { class: 'title' }, h('slot', { name: 'title' }, 'Activity')),
        this.#badge.element, this.#status.element, this.#markAll),
      this.#notice, this.#body, this.#toasts, this.#announcer);
    root.append(frame);
    loadFeedSheet().then((sheet) => {
      root.adoptedStyleSheets = [sheet, frameSheet];
      frame.hidden = false;
    });
  }

  /** An async function returning a fresh viewer token; see the file's header. */
  get tokenProvider() {
    return this.#tokenProvider;
  }

  set tokenProvider(provider) {
    this.#tokenProvider = typeof provider === 'function' ? provider : null;
    if (this.isConnected) {
      if (this.#feed) this.#scheduleTokenRefresh();
      else this.#queueRestart();
    }
  }

  /** The current unread and unseen counts, once known. */
  get counts() {
    return this.#counts;
  }

  connectedCallback() {
    this.#queueRestart();
  }

  disconnectedCallback() {
    this.#stop();
  }

  attributeChangedCallback(name, oldValue, newValue) {
    if (oldValue === newValue || !this.isConnected) return;
    if (name === 'token') this.#token = null;
    this.#queueRestart();
  }

  // Several attributes set one after another restart the feed once.
  #queueRestart() {
    if (this.#restartQueued) return;
    this.#restartQueued = true;
    queueMicrotask(() => {
      this.#restartQueued = false;
      if (this.isConnected) this.#start();
    });
  }

  async #start() {
    this.#stop();
    const generation = ++this.#generation;
    this.#token ??= this.getAttribute('token');
    if (!this.#token && this.#tokenProvider) await this.#askForToken();
    if (generation !== this.#generation) return;
    if (!this.#token) {
      this.#showNotice('No viewer token', 'Give this element a token attribute or a tokenProvider.');
      return;
    }
    this.#notice.hidden = true;
    this.#markAll.hidden = false;
    const server = this.getAttribute('server') || SCRIPT_ORIGIN;
    const api = createApi({
      base: server,
      token: () => this.#token,
      onUnauthorized: () => this.#recover(() => this.#start()),
    });
    const params = embedParams(this.getAttribute('filter'));
    const limit = Math.min(100, Math.max(1, Number.parseInt(this.getAttribute('limit'), 10) || DEFAULT_LIMIT));
    const filtered = [...params.keys()].some((key) => key !== 'archived');
    this.#feed = new Feed({
      root: this.#body,
      api,
      fetchPage: (query) => api.events(query),
      params,
      limit,
      types: loadTypes(api),
      links: { entity: templateLink(this.getAttribute('entity-href'), document.baseURI) },
      archivedView: params.get('archived') === 'true',
      markSeen: true,
      acceptJoins: !filtered,
      heading: 'h3',
      hooks: {
        unread: (counts) => this.#setCounts(counts),
        status: (state) => this.#status.set(state),
        expired: () => this.#recover(() => this.#feed?.retryLive()),
        open: (event) => this.#emit('spine-open', { event }),
        activity: (event) => this.#emit('spine-activity', { event }),
        archived: (event, undo) => showToast(this.#toasts, event.archived ? 'Archived' : 'Moved back to the feed', {
          action: 'Undo', onAction: () => undo().catch((error) => showToast(this.#toasts, error.message)),
        }),
        failure: (error) => showToast(this.#toasts, error.message),
        announce: (text) => {
          this.#announcer.textContent = text;
        },
        empty: () => h('p', {}, filtered ? 'Nothing matches this feed\'s filter yet.' : 'No activity yet.'),
        error: (error, retry) => [
          h('p', {}, error.status === 0 ? "Spine can't be reached." : error.message),
          error.status !== 401 && h('button', { type: 'button', class: 'button', onclick: retry }, 'Retry'),
        ],
      },
    });
    this.#feed.start();
    this.#scheduleTokenRefresh();
  }

  #stop() {
    this.#generation += 1;
    this.#feed?.stop();
    this.#feed = null;
    this.#status.set('stopped');
    clearTimeout(this.#refreshTimer);
    this.#refreshTimer = null;
  }

  #setCounts(counts) {
    const changed = !this.#counts || this.#counts.unread !== counts.unread || this.#counts.unseen !== counts.unseen;
    this.#counts = { unread: counts.unread ?? 0, unseen: counts.unseen ?? 0 };
    this.#badge.set(this.#counts);
    if (changed) this.#emit('spine-unread', { ...this.#counts });
  }

  // A minute before the token expires, ask for a fresh one and move the stream over to it.
  // A token whose expiry cannot be read is replaced when the server refuses it instead.
  #scheduleTokenRefresh() {
    clearTimeout(this.#refreshTimer);
    if (!this.#tokenProvider) return;
    const delay = refreshDelay(this.#token);
    if (delay === null) return;
    this.#refreshTimer = setTimeout(async () => {
      if (refreshDelay(this.#token) > 1000) {
        this.#scheduleTokenRefresh();
        return;
      }
      if (await this.#askForToken()) {
        this.#feed?.retryLive();
        this.#scheduleTokenRefresh();
      } else {
        // Try again shortly; if the token runs out first, the server's refusal says so.
        this.#refreshTimer = setTimeout(() => this.#scheduleTokenRefresh(), 15_000);
      }
    }, Math.min(delay, MAX_TIMEOUT));
  }

  async #askForToken() {
    try {
      const token = await this.#tokenProvider?.();
      if (typeof token !== 'string' || !token) return false;
      this.#token = token;
      return true;
    } catch {
      return false;
    }
  }

  // The server refused the token: get a fresh one and carry on, or say the feed has expired.
  #recover(resume) {
    if (this.#recovering) return this.#recovering;
    const generation = this.#generation;
    const canAsk = this.#tokenProvider && Date.now() - this.#lastRecovery > RECOVER_EVERY_MS;
    this.#recovering = (async () => {
      this.#lastRecovery = Date.now();
      const refreshed = canAsk && (await this.#askForToken());
      if (generation !== this.#generation) return;
      if (refreshed) {
        resume();
        this.#scheduleTokenRefresh();
      } else {
        this.#stop();
        this.#showNotice('This feed has expired', 'Reload the page to see new activity.');
      }
    })().finally(() => {
      this.#recovering = null;
    });
    return this.#recovering;
  }

  #showNotice(title, text) {
    this.#body.replaceChildren();
    this.#markAll.hidden = true;
    replace(this.#notice, h('strong', {}, title), text);
    this.#notice.hidden = false;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }
}

if (!customElements.get('spine-feed')) customElements.define('spine-feed', SpineFeed);
