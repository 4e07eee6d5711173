// An entity's page (`/entities/{type}/{id}`): the dual timeline. Its activity, live, with each
// event's processing status as badges (what is happening now), beside its notes (what came of
// it: the permanent record, notes.js) and its jobs. One live stream, the timeline's, feeds all
// three: job.* events move badges and job rows, note.created events bring notes, and any other
// event may have made a job, so the jobs' first page is asked for again.

import { h, throttle } from '../embed/lib/dom.js';
import { eventPath } from '../embed/lib/links.js';
import { createActivityFeed } from './feed.js';
import { createNotesPanel } from './notes.js';
import { briefOf, jobBadge, jobStyles, setJob, transitionOf } from './jobs.js';
import { retryButton, shortId } from './work.js';
import { workApi } from './work-api.js';

export function mount(container, app, [type, id]) {
  jobStyles();
  const name = h('span', { class: 'entity-name' }, id);
  const root = h('div', { class: 'feed-root' });
  document.title = `${type} ${id} · Spine`;

  const notes = createNotesPanel(app, type, id);
  let jobs = null;
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
    onActivity: (event) => {
      notes.onEvent(event);
      jobs?.onEvent(event);
    },
  });
  jobs = createJobsPanel(app, type, id, feed);

  container.replaceChildren(h('div', { class: 'page entity-page' },
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: '/' }, '← Feed')),
    h('div', { class: 'page-head' },
      h('h1', {}, h('span', { class: 'feed-entity-type' }, type), ' ', name),
      h('p', { class: 'page-note' }, h('code', {}, `${type} ${id}`))),
    h('div', { class: 'entity-layout' },
      h('section', { class: 'entity-timeline', 'aria-labelledby': 'timeline-title' },
        h('h2', { id: 'timeline-title' }, 'Activity'),
        h('p', { class: 'page-note' }, 'What happened, and what is being processed now.'),
        root),
      h('div', { class: 'entity-side' }, notes.element, jobs.element))));

  return {
    key: location.pathname + location.search,
    hostsOverlay: true,
    feed,
    dispose: () => {
      feed.stop();
      notes.dispose();
      jobs.dispose();
    },
  };
}

/**
 * The entity's jobs, newest first, with status, attempt, source event, last error and (for
 * admins) Retry. `onEvent(event)` hears the entity's live events.
 */
function createJobsPanel(app, type, id, feed) {
  const api = workApi(app);
  const admin = app.session.role === 'admin';
  const shown = new Map();
  let cursor = null;
  let disposed = false;
  const list = h('ul', { class: 'entity-jobs' });
  const status = h('p', { class: 'page-loading', role: 'status' }, 'Loading jobs…');
  const more = h('button', { type: 'button', class: 'button', hidden: true, onclick: () => load(cursor) }, 'Load more jobs');
  const element = h('section', { class: 'entity-work', 'aria-labelledby': 'work-title' },
    h('h2', { id: 'work-title' }, 'Work'),
    status, list, h('p', { class: 'form-actions' }, more));

  const draw = (job) => {
    const item = jobItem(app, job, admin, (fresh) => draw({ ...job, ...fresh }));
    const old = shown.get(job.id)?.element;
    shown.set(job.id, { job, element: item });
    if (old) old.replaceWith(item);
    return item;
  };

  const settle = () => {
    status.hidden = shown.size > 0;
    if (!shown.size) status.textContent = 'No jobs for this entity.';
  };

  async function load(from) {
    more.disabled = true;
    try {
      const page = await api.jobs({ entity_type: type, entity_id: id, cursor: from, limit: 10 });
      if (disposed) return;
      for (const job of page?.items ?? []) {
        // Events shown without their jobs (they arrived live) get their badges here.
        setJob(feed, job.event_id, briefOf(job), { onlyNew: true });
        if (shown.has(job.id)) continue;
        const item = draw(job);
        const after = from ? null : [...list.children].find((el) => el.dataset.id < job.id);
        list.insertBefore(item, after ?? null);
      }
      if (from || cursor === null) {
        cursor = page?.next_cursor ?? null;
        more.hidden = !cursor;
      }
      settle();
    } catch (error) {
      if (disposed || error.status === 401) return;
      status.hidden = false;
      status.textContent = error.message;
    } finally {
      more.disabled = false;
    }
  }
  const refreshHead = throttle(() => load(null), 300);

  load(null);
  return {
    element,
    onEvent(event) {
      const transition = transitionOf(event);
      const known = transition && shown.get(transition.job.id);
      if (!known) {
        if (event?.type !== 'note.created') refreshHead();
        return;
      }
      const data = event.data ?? {};
      draw({
        ...known.job,
        status: transition.job.status,
        attempt: transition.job.attempt ?? known.job.attempt,
        last_error: data.error !== undefined ? data.error : known.job.last_error,
      });
    },
    dispose() {
      disposed = true;
      refreshHead.cancel();
    },
  };
}

function jobItem(app, job, admin, onRetried) {
  const retryable = job.status === 'dead' || job.status === 'failed';
  return h('li', { class: 'entity-job', dataset: { id: job.id, status: job.status } },
    h('div', { class: 'entity-job-head' },
      jobBadge(job),
      h('span', {}, job.queue),
      h('span', { class: 'muted' }, `attempt ${job.attempt} of ${job.max_attempts}`),
      h('code', { class: 'muted', title: job.id }, shortId(job.id))),
    h('p', { class: 'entity-job-event' }, 'For ',
      h('a', { href: eventPath(job.event_id) }, job.event?.title || job.event?.type || 'its event')),
    job.last_error && retryable && h('p', { class: 'job-error pre-wrap' }, job.last_error),
    admin && retryable && retryButton(app, job, onRetried));
}

