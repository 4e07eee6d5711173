// An entity's page (`/entities/{type}/{id}`): its live timeline, and the places kept for its
// notes and work once the work pipeline exists.

import { h } from '../embed/lib/dom.js';
import { createActivityFeed } from './feed.js';

export function mount(container, app, [type, id]) {
  const name = h('span', { class: 'entity-name' }, id);
  const root = h('div', { class: 'feed-root' });
  document.title = `${type} ${id} · Spine`;

  const feed = createActivityFeed(app, {
    root,
    params: new URLSearchParams({ archived: 'false' }),
    // The timeline's path names the entity; its live stream names it as filters.
    streamParams: new URLSearchParams({ archived: 'false', entity_type: type, entity_id: id }),
    fetchPage: (params) => app.api.timeline(type, id, params),
    heading: 'h3',
    empty: () => h('p', {}, h('strong', {}, 'No activity for this entity'),
      'Events that name it as their entity appear here as they are posted.'),
    onLoaded: (items) => {
      const named = items.find((item) => item.entity?.name);
      if (named) {
        name.textContent = named.entity.name;
        document.title = `${named.entity.name} · Spine`;
      }
    },
  });

  container.replaceChildren(h('div', { class: 'page entity-page' },
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: '/' }, '← Feed')),
    h('div', { class: 'page-head' },
      h('h1', {}, h('span', { class: 'feed-entity-type' }, type), ' ', name),
      h('p', { class: 'page-note' }, h('code', {}, `${type} ${id}`))),
    h('div', { class: 'entity-layout' },
      h('section', { class: 'entity-timeline', 'aria-labelledby': 'timeline-title' },
        h('h2', { id: 'timeline-title' }, 'Timeline'), root),
      h('aside', { class: 'entity-side', 'aria-label': 'Notes and work' },
        placeholder('notes-title', 'Notes'),
        placeholder('work-title', 'Work')))));

  return {
    key: location.pathname + location.search,
    hostsOverlay: true,
    feed,
    dispose: () => feed.stop(),
  };
}

function placeholder(id, title) {
  return h('section', { class: 'placeholder', 'aria-labelledby': id },
    h('h2', { id }, title),
    h('p', {}, 'Notes and job status appear here once the work pipeline is enabled.'));
}
