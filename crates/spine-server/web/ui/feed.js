// The feed page (`/`, and `/?archived=true` for the Archived view): the filter bar and the
// live list. Filters live in the URL, so a filtered view can be bookmarked and survives a
// reload. Also exports `createActivityFeed`, the shared Feed wired to the Activity Center,
// which the entity page uses for its timeline.

import { h } from '../embed/lib/dom.js';
import { Feed } from '../embed/lib/feed.js';
import { entityPath, filterPath } from '../embed/lib/links.js';
import { filtersToApiParams, filtersToParams, hasFilters, parseFilters } from '../embed/lib/query.js';
import { createFilterBar } from './filters.js';

// Job status badges, drawn by jobs.js: loaded with the first item that has jobs or the first
// job.* event; from then on it hears every live event (see onLive).
let used;
const jobs = () => (used = import('./jobs.js'));

function badges(event) {
  if (!event.jobs?.length) return null;
  const span = h('span', { class: 'job-badges' });
  jobs().then((m) => m.drawBadges(span, event.jobs), () => span.remove());
  return span;
}

const LINKS = {
  entity: (entity) => entityPath(entity),
  actor: (actor) => filterPath('actor', actor.id),
  tag: (tag) => filterPath('tag', tag),
};

/**
 * A Feed with the Activity Center's links, header, toasts and messages.
 * @param {object} app  see main.js
 * @param {object} o  Feed options (root, params, fetchPage, ...) plus the `empty`, `error`,
 *   `onLoaded` and `onActivity` hooks
 */
export function createActivityFeed(app, { empty, error, onLoaded, onActivity, ...options }) {
  const feed = new Feed({
    api: app.api,
    types: app.types,
    links: LINKS,
    badges,
    ...options,
    hooks: {
      unread: (counts) => app.header.setUnread(counts),
      status: (state) => app.header.setStatus(state),
      expired: () => app.sessionExpired(),
      open: (event) => app.openEvent(event),
      archived: (event, undo) => app.toast(event.archived ? 'Archived' : 'Moved back to the feed', {
        action: 'Undo',
        onAction: () => undo().catch((error) => app.toast(error.message)),
      }),
      failure: (error) => {
        if (error.status !== 401) app.toast(error.message);
      },
      announce: (text) => app.announce(text),
      activity: (event) => {
        if (used || event.type?.startsWith('job.')) jobs().then((m) => m.onLive(feed, event, app), () => {});
        onActivity?.(event);
      },
      empty,
      loaded: onLoaded,
      error: error ?? ((problem, retry) => errorMessage(problem, retry)),
    },
  });
  feed.start();
  return feed;
}

export function mount(container, app) {
  const filters = parseFilters(location.search);
  const archived = filters.archived === true;
  const title = archived ? 'Archived' : 'Activity';
  document.title = `${title} · Spine`;

  const root = h('div', { class: 'feed-root' });
  let feed = null;
  const page = {
    key: location.pathname + location.search,
    hostsOverlay: true,
    get feed() {
      return feed;
    },
    dispose() {
      feed?.stop();
      bar.dispose();
    },
  };

  const start = (f) => {
    feed?.stop();
    const filtered = hasFilters(f);
    feed = createActivityFeed(app, {
      root,
      params: filtersToApiParams(f),
      fetchPage: (params) => app.takePrefetched(params) ?? app.api.events(params),
      archivedView: archived,
      // "Seen" is a watermark through a seq, so only the whole feed may move it: a filtered
      // view would mark events it never showed.
      markSeen: !archived && !filtered,
      acceptJoins: !filtered,
      empty: () => emptyMessage({ archived, filtered, clear: () => bar.clear() }),
      error: (error, retry) => errorMessage(error, retry, () => bar.clear()),
    });
  };

  const bar = createFilterBar({
    filters,
    onChange: (next) => {
      const query = filtersToParams(next).toString();
      history.replaceState(history.state, '', query ? `/?${query}` : '/');
      page.key = location.pathname + location.search;
      start(next);
    },
  });

  container.replaceChildren(h('div', { class: 'page feed-page' },
    h('div', { class: 'page-head' },
      h('h1', {}, title),
      archived && h('p', { class: 'page-note' }, 'Archived items are hidden from the feed and not counted as unread.'),
      bar.toggle),
    bar.form,
    root));
  start(filters);
  return page;
}

function emptyMessage({ archived, filtered, clear }) {
  if (filtered) {
    return [
      h('p', {}, h('strong', {}, 'Nothing matches these filters')),
      h('button', { type: 'button', class: 'button', onclick: clear }, 'Clear filters'),
    ];
  }
  if (archived) {
    return h('p', {}, h('strong', {}, 'Nothing archived'), 'Archive an item from the feed to keep it out of the way.');
  }
  return [
    h('p', {}, h('strong', {}, 'No activity yet'), 'Events appear here the moment they are posted. Try one with an ingest key:'),
    h('pre', {}, h('code', {}, [
      `curl ${location.origin}/v1/events \\`,
      '  -H "Authorization: Bearer $INGEST_KEY" -H "Content-Type: application/json" \\',
      `  -d '{"type": "task.created", "action": "created", "title": "Update docs"}'`,
    ].join('\n'))),
  ];
}

function errorMessage(error, retry, clear = null) {
  if (clear && (error.status === 422 || error.status === 400)) {
    return [
      h('p', {}, h('strong', {}, 'These filters cannot be used'), error.message),
      h('button', { type: 'button', class: 'button', onclick: clear }, 'Clear filters'),
    ];
  }
  return [
    h('p', {}, h('strong', {}, error.status === 0 ? "Spine can't be reached" : 'The feed could not be loaded'),
      error.status === 0 ? 'Check that the server is running, then try again.' : error.message),
    h('button', { type: 'button', class: 'button is-primary', onclick: retry }, 'Retry'),
  ];
}
