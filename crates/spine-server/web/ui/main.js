// The Activity Center's entry: checks the session, draws the header, and routes between the
// pages (feed, entity, event, work, agents, admin) with history.pushState. Each page module exports
// `mount(container, app, params)` returning {key, dispose(), feed?, hostsOverlay?}.
// `app` is what pages share: the API client, the session, the types and the header.

import { createApi, loadTypes } from '../embed/lib/api.js';
import { filtersToApiParams, parseFilters } from '../embed/lib/query.js';
import { showToast } from '../embed/lib/indicators.js';
import { eventPath } from '../embed/lib/links.js';
import { createHeader } from './header.js';
import { pageStyles } from './styles.js';
import * as feedPage from './feed.js';

// Loaded when first needed, so the feed's first view stays light.
const states = () => withStyles(import('./states.js'));
const detail = () => withStyles(import('./detail.js'));
let detailLoaded = null;

const ROUTES = [
  { pattern: /^\/$/, load: async () => feedPage },
  { pattern: /^\/entities\/([^/]+)\/([^/]+)\/?$/, load: () => withStyles(import('./entity.js')) },
  { pattern: /^\/events\/([^/]+)\/?$/, load: () => detail() },
  { pattern: /^\/work\/?$/, load: () => withStyles(import('./work.js')) },
  { pattern: /^\/agents\/?$/, load: () => withStyles(import('./agents.js')) },
  { pattern: /^\/admin(?:\/([a-z]+))?\/?$/, load: () => withStyles(import('./admin.js')) },
];

const main = document.getElementById('main');
const headerSlot = document.getElementById('app-header');
const toasts = document.getElementById('toasts');
const announcer = document.getElementById('announcer');

let current = null;
let routing = 0;
let signedOut = false;
let expiryTimer = null;

const app = {
  api: createApi({ onUnauthorized: (error) => signOutPage({ expired: error.expired }) }),
  session: null,
  /** @type {Promise<Map<string, object>>} */
  types: Promise.resolve(new Map()),
  header: null,
  navigate,
  toast: (text, options) => showToast(toasts, text, options),
  announce(text) {
    // Cleared first, so the same words twice in a row are still read out.
    announcer.textContent = '';
    setTimeout(() => {
      announcer.textContent = text;
    }, 50);
  },
  /** Shows an event over the current list, with its own URL, without leaving the list. */
  async openEvent(event) {
    history.pushState({ overlay: true }, '', eventPath(event.id));
    try {
      (await loadDetail()).openDialog(app, event.id, event, () => {
        if (history.state?.overlay) history.back();
      });
    } catch {
      history.back();
      app.toast("The event could not be opened: Spine can't be reached.");
    }
  },
  /** The feed on screen, if the page has one. */
  get feed() {
    return current?.feed ?? null;
  },
  async refreshUnread() {
    if (app.feed) return app.feed.refreshUnread();
    try {
      app.header?.setUnread(await app.api.unreadCount());
    } catch {
      // The badge keeps its last count; a 401 has already shown the signed-out page.
    }
  },
  /** The live stream reported the session expired. */
  sessionExpired: () => signOutPage({ expired: true }),
  /**
   * A feed page asked for while the session was being checked, if it is the one `params`
   * name (once): the feed then need not wait for a second round trip.
   */
  takePrefetched(params) {
    const ahead = prefetched;
    prefetched = null;
    return ahead && ahead.key === canonical(params) ? ahead.page : null;
  },
};

/** The first page of the feed at `/`, requested beside the session check. */
let prefetched = null;

/** Query parameters in one order, to compare two requests. */
function canonical(params) {
  const sorted = new URLSearchParams(params);
  sorted.sort();
  return sorted.toString();
}

function prefetchFirstPage() {
  if (location.pathname !== '/') return;
  const params = filtersToApiParams(parseFilters(location.search));
  // The same page the feed asks for first (see Feed's #fetch: its params plus the limit).
  params.set('limit', String(FIRST_PAGE));
  const page = app.api.events(params);
  // Signed out or unreachable: the session check says so; this answer is simply not used.
  page.catch(() => {});
  prefetched = { key: canonical(params), page };
}

/** Feed's default page size. */
const FIRST_PAGE = 30;

async function boot() {
  let session;
  // The feed's first page and the registered types are asked for beside the session check:
  // the first items wait for both, and neither depends on who is signed in.
  prefetchFirstPage();
  const types = loadTypes(app.api);
  try {
    session = await app.api.session();
  } catch (error) {
    if (error.status !== 401) (await states()).showUnreachable(main, error, boot);
    return;
  }
  signedOut = false;
  app.session = session;
  app.types = types;
  app.header = createHeader(app, {
    signOut: async () => {
      try {
        await app.api.signOut();
      } catch {
        // Signed out or not, this page stops showing the session.
      }
      signOutPage({ byUser: true });
    },
  });
  headerSlot.replaceChildren(app.header.element);
  headerSlot.hidden = false;
  watchExpiry(session.expires_at);
  route();
}

async function route() {
  if (signedOut) return;
  const path = location.pathname;
  const eventMatch = /^\/events\/([^/]+)\/?$/.exec(path);
  if (eventMatch && history.state?.overlay && current?.hostsOverlay) {
    const module = await loadDetail().catch(() => null);
    module?.openDialog(app, decodeURIComponent(eventMatch[1]), null, () => history.back());
    return;
  }
  detailLoaded?.closeDialog();
  if (current && current.key === path + location.search) return;

  const token = ++routing;
  current?.dispose();
  current = null;
  app.header.setStatus('stopped');
  app.header.setActive(path, location.search);
  const found = findRoute(path);
  let module;
  try {
    module = found ? await found.route.load() : await states();
  } catch (error) {
    if (token === routing) (await states().catch(() => null))?.showUnreachable(main, error, route);
    return;
  }
  if (!found) {
    module.showNotFound(main);
    return;
  }
  if (token !== routing || signedOut) return;
  current = module.mount(main, app, found.params.map((p) => (p === undefined ? p : decodeURIComponent(p))));
  if (!current.feed) app.refreshUnread();
}

function findRoute(path) {
  for (const route of ROUTES) {
    const match = route.pattern.exec(path);
    if (match) return { route, params: match.slice(1) };
  }
  return null;
}

function navigate(url, { replace = false } = {}) {
  history[replace ? 'replaceState' : 'pushState']({}, '', url);
  route();
  if (!replace) main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

function signOutPage({ expired = false, byUser = false } = {}) {
  if (signedOut) return;
  signedOut = true;
  current?.dispose();
  current = null;
  detailLoaded?.closeDialog();
  clearTimeout(expiryTimer);
  headerSlot.hidden = true;
  states().then((module) => module.showSignedOut(main, { expired, byUser, session: app.session }), () => {
    main.textContent = 'Signed out. Run spine open to get a sign-in link.';
  });
}

async function loadDetail() {
  detailLoaded ??= await detail();
  return detailLoaded;
}

async function withStyles(module) {
  const [loaded] = await Promise.all([module, pageStyles()]);
  return loaded;
}

// Checks again when the session says it ends, so an idle page shows "expired" by itself.
function watchExpiry(expiresAt) {
  clearTimeout(expiryTimer);
  const ms = Date.parse(expiresAt) - Date.now();
  if (!Number.isFinite(ms)) return;
  expiryTimer = setTimeout(() => {
    app.api.session().then((session) => watchExpiry(session.expires_at), () => {});
  }, Math.min(Math.max(ms + 1000, 1000), 2 ** 31 - 1));
}

// Links to the Activity Center's own pages change the page in place; everything else
// (other origins, /embed/, /docs, new tabs) is left to the browser.
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const link = e.target.closest?.('a[href]');
  if (!link || link.target || link.hasAttribute('download')) return;
  const url = new URL(link.href);
  if (url.origin !== location.origin || !findRoute(url.pathname)) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});

addEventListener('popstate', route);
boot();
