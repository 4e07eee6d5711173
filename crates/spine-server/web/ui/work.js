// The work page (`/work`, SPEC section 7): the tenant's queues with their jobs counted by
// status, and the jobs of one status (dead by default; `?status=failed&queue=calls` in the URL)
// newest first, each with its attempt, last error and source event, "Load more", and Retry for
// admins. Live: the stream's job.* events move the rows and refresh the counts. Also exports
// the Retry button, which the entity page's jobs use too.

import { h, replace, srOnly, throttle } from '../embed/lib/dom.js';
import { exactDateTime, relativeTime, toMillis } from '../embed/lib/format.js';
import { entityPath, eventPath } from '../embed/lib/links.js';
import { LiveConnection } from '../embed/lib/live.js';
import { STATUSES, jobBadge, jobStyles, transitionOf } from './jobs.js';
import { workApi } from './work-api.js';

/** The statuses the list can show, in the order the filter offers them. */
export const LIST_STATUSES = ['dead', 'failed', 'processing', 'pending', 'completed'];

const TITLES = {
  dead: 'Dead jobs', failed: 'Failed jobs, waiting to retry', processing: 'Jobs processing now',
  pending: 'Pending jobs', completed: 'Completed jobs',
};

/** The page's query: {status (dead unless another is named), queue (or null)}. */
export function workParams(search) {
  const q = new URLSearchParams(search);
  const status = q.get('status');
  return { status: LIST_STATUSES.includes(status) ? status : 'dead', queue: q.get('queue') || null };
}

/** The page's path for these filters. */
export function workPath({ status = 'dead', queue = null } = {}) {
  const q = new URLSearchParams();
  if (status && status !== 'dead') q.set('status', status);
  if (queue) q.set('queue', queue);
  const query = q.toString();
  return query ? `/work?${query}` : '/work';
}

/** A job's id as a person reads it: its last 8 characters (UUIDv7s differ at the end). */
export function shortId(id) {
  return String(id ?? '').slice(-8);
}

/** What a failed retry says, in words a person can act on. */
export function retryProblem(error) {
  if (error.status === 403) return 'Only an admin may retry jobs: sign in with spine open --role admin.';
  if (error.status === 404) return 'This job no longer exists.';
  if (error.status === 409) return `Not retried: ${error.message}`;
  return `Not retried: ${error.message}`;
}

/**
 * Retry for a dead or failed job: calls the API and says what happened beside the button.
 * `onRetried(job)` gets the job as the API answered it (pending again).
 */
export function retryButton(app, job, onRetried) {
  const result = h('span', { class: 'retry-result', role: 'status' });
  const button = h('button', {
    type: 'button',
    class: 'button',
    'aria-label': `Retry job ${shortId(job.id)}`,
    onclick: async () => {
      button.disabled = true;
      result.textContent = 'Retrying…';
      try {
        const fresh = await workApi(app).retry(job.id);
        result.textContent = 'Moved back to pending.';
        onRetried?.(fresh);
      } catch (error) {
        if (error.status === 401) return;
        result.textContent = retryProblem(error);
        result.classList.add('is-error');
        button.disabled = false;
      }
    },
  }, 'Retry');
  return h('span', { class: 'retry' }, button, result);
}

export function mount(container, app) {
  jobStyles();
  const api = workApi(app);
  const params = workParams(location.search);
  const admin = app.session.role === 'admin';
  document.title = 'Work · Spine';
  let disposed = false;
  let cursor = null;
  let generation = 0;
  /** The rows shown, by job id: {job, row}. */
  const shown = new Map();
  /** What Retry said, by job id, kept when the row is drawn again. */
  const notices = new Map();

  const queuesBody = h('div', { class: 'table-wrap' }, h('p', { class: 'page-loading', role: 'status' }, 'Loading queues…'));
  const rows = h('tbody');
  const table = h('div', { class: 'table-wrap', hidden: true }, h('table', { class: 'data-table jobs-table' },
    h('thead', {}, h('tr', {}, ['Job', 'Status', 'Attempt', 'Last error', 'Event', 'Updated', ''].map((t, i) =>
      h('th', { scope: 'col' }, i === 6 ? srOnly('Actions') : t)))),
    rows));
  const status = h('p', { class: 'page-loading', role: 'status' }, 'Loading jobs…');
  const more = h('button', { type: 'button', class: 'button', hidden: true, onclick: () => loadPage() }, 'Load more');
  const statusSelect = h('select', { name: 'status', id: 'work-status' },
    LIST_STATUSES.map((s) => h('option', { value: s, selected: s === params.status }, s[0].toUpperCase() + s.slice(1))));
  const queueSelect = h('select', { name: 'queue', id: 'work-queue' }, h('option', { value: '' }, 'All queues'),
    params.queue && h('option', { value: params.queue, selected: true }, params.queue));
  const onFilter = () => app.navigate(workPath({ status: statusSelect.value, queue: queueSelect.value || null }), { replace: true });
  statusSelect.addEventListener('change', onFilter);
  queueSelect.addEventListener('change', onFilter);

  container.replaceChildren(h('div', { class: 'page work-page' },
    h('div', { class: 'page-head' },
      h('h1', {}, 'Work'),
      h('p', { class: 'page-note' }, 'Jobs that process events under leases: claimed by workers, completed, failed and retried, or dead once out of attempts.')),
    h('section', { 'aria-labelledby': 'queues-title' }, h('h2', { id: 'queues-title' }, 'Queues'), queuesBody),
    h('section', { 'aria-labelledby': 'jobs-title' },
      h('h2', { id: 'jobs-title' }, TITLES[params.status], params.queue && ` in ${params.queue}`),
      h('form', { class: 'work-filters', 'aria-label': 'Which jobs', onsubmit: (e) => e.preventDefault() },
        h('div', { class: 'form-row' },
          h('div', { class: 'field' }, h('label', { for: statusSelect.id }, 'Status'), statusSelect),
          h('div', { class: 'field' }, h('label', { for: queueSelect.id }, 'Queue'), queueSelect))),
      !admin && h('p', { class: 'hint' }, 'Retrying a dead or failed job needs an admin session.'),
      status, table, h('p', { class: 'form-actions' }, more))));

  const refreshQueues = async () => {
    let result;
    try {
      result = await api.queues();
    } catch (error) {
      if (!disposed && error.status !== 401) replace(queuesBody, h('p', { class: 'form-error', role: 'alert' }, error.message));
      return;
    }
    if (disposed) return;
    const items = result?.items ?? [];
    replace(queuesBody, items.length ? queuesTable(items) : h('p', { class: 'muted' },
      'No jobs yet. Events become jobs when they match a queue rule (PUT /v1/work/rules/{name}) or come through a channel with processing on; workers claim them with POST /v1/work/claim or spine work.'));
    replace(queueSelect, h('option', { value: '' }, 'All queues'),
      items.map((q) => h('option', { value: q.queue, selected: q.queue === params.queue }, q.queue)),
      params.queue && !items.some((q) => q.queue === params.queue) && h('option', { value: params.queue, selected: true }, params.queue));
  };
  const countsSoon = throttle(refreshQueues, 300);

  const draw = (job) => {
    const row = jobRow(app, job, {
      admin,
      notice: notices.get(job.id),
      onRetried: (fresh) => {
        notices.set(fresh.id, 'Moved back to pending.');
        draw({ ...job, ...fresh });
        countsSoon();
      },
    });
    const old = shown.get(job.id)?.row;
    shown.set(job.id, { job, row });
    if (old) old.replaceWith(row);
    return row;
  };

  async function loadPage() {
    const token = ++generation;
    const first = cursor === null;
    more.disabled = true;
    status.hidden = false;
    status.textContent = 'Loading jobs…';
    let result;
    try {
      result = await api.jobs({ status: params.status, queue: params.queue, cursor });
    } catch (error) {
      if (token !== generation || disposed) return;
      status.textContent = error.message;
      more.disabled = false;
      return;
    }
    if (token !== generation || disposed) return;
    const items = (result?.items ?? []).filter((job) => !shown.has(job.id));
    rows.append(...items.map(draw));
    cursor = result?.next_cursor ?? null;
    more.hidden = !cursor;
    more.disabled = false;
    settle();
    if (items.length && !first) app.announce(`${items.length} more jobs loaded`);
  }

  function settle() {
    table.hidden = shown.size === 0;
    status.hidden = shown.size > 0;
    if (shown.size === 0) status.textContent = `No ${params.status} jobs${params.queue ? ` in ${params.queue}` : ''}.`;
  }

  // Jobs that came to this status since the page loaded: the first page again, the new ones
  // put in their place (newest first: UUIDv7 ids sort by creation).
  const mergeHead = throttle(async () => {
    let result;
    try {
      result = await api.jobs({ status: params.status, queue: params.queue });
    } catch {
      return;
    }
    if (disposed) return;
    for (const job of result?.items ?? []) {
      if (shown.has(job.id)) continue;
      const row = draw(job);
      row.classList.add('is-new');
      const after = [...rows.children].find((r) => r.dataset.id < job.id);
      rows.insertBefore(row, after ?? null);
    }
    settle();
  }, 300);

  const onTransition = (event) => {
    const transition = transitionOf(event);
    if (!transition) return;
    countsSoon();
    const { job } = transition;
    const known = shown.get(job.id);
    if (known) {
      const data = event.data ?? {};
      draw({
        ...known.job,
        status: job.status,
        attempt: job.attempt ?? known.job.attempt,
        max_attempts: data.max_attempts ?? known.job.max_attempts,
        worker: data.worker ?? known.job.worker,
        last_error: data.error !== undefined ? data.error : known.job.last_error,
        updated_at: event.occurred_at ?? known.job.updated_at,
      });
    } else if (job.status === params.status && (!params.queue || job.queue === params.queue)) {
      mergeHead();
    }
  };

  const live = new LiveConnection({
    url: (after) => app.api.streamUrl(new URLSearchParams({ type: 'job.*' }), after),
    probe: () => app.api.session(),
    on: {
      activity: onTransition,
      status: (state) => app.header.setStatus(state),
      expired: () => app.sessionExpired(),
      reopened: () => {
        countsSoon();
        mergeHead();
      },
      reset: () => countsSoon(),
    },
  });
  // Opened before the first requests, so nothing that happens while they run is missed.
  live.start(null);
  refreshQueues();
  loadPage();

  return {
    key: location.pathname + location.search,
    dispose() {
      disposed = true;
      live.stop();
      countsSoon.cancel();
      mergeHead.cancel();
    },
  };
}

function queuesTable(items) {
  return h('table', { class: 'data-table queues-table' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Queue'),
      STATUSES.map((s) => h('th', { scope: 'col', class: 'num' }, s[0].toUpperCase() + s.slice(1))))),
    h('tbody', {}, items.map((q) => h('tr', { dataset: { queue: q.queue } },
      h('th', { scope: 'row' }, q.queue),
      STATUSES.map((s) => h('td', { class: `num count-${s}`, dataset: { status: s } },
        q[s] > 0 && LIST_STATUSES.includes(s)
          ? h('a', { href: workPath({ status: s, queue: q.queue }), 'aria-label': `${q[s]} ${s} in ${q.queue}` }, String(q[s]))
          : String(q[s] ?? 0)))))));
}

/** One job as a row of the jobs table. */
function jobRow(app, job, { admin, notice, onRetried }) {
  const retryable = job.status === 'dead' || job.status === 'failed';
  const event = job.event;
  const updated = toMillis(job.updated_at);
  return h('tr', { dataset: { id: job.id, status: job.status } },
    h('td', {}, h('code', { title: job.id }, shortId(job.id)), h('span', { class: 'muted' }, ` ${job.queue}`)),
    h('td', {}, jobBadge(job)),
    h('td', {}, `${job.attempt} of ${job.max_attempts}`),
    h('td', { class: 'job-error' }, job.last_error ? h('span', { class: 'pre-wrap' }, job.last_error) : h('span', { class: 'muted' }, '—')),
    h('td', {},
      h('a', { href: eventPath(job.event_id) }, event?.title || event?.type || 'The event'),
      job.entity && [h('br'), h('span', { class: 'feed-entity-type' }, job.entity.type), ' ',
        h('a', { href: entityPath(job.entity) }, job.entity.id)]),
    h('td', {}, h('time', { datetime: job.updated_at, title: exactDateTime(updated) }, relativeTime(updated))),
    h('td', { class: 'job-actions' },
      admin && retryable ? retryButton(app, job, onRetried) : null,
      notice && !(admin && retryable) && h('span', { class: 'retry-result', role: 'status' }, notice)));
}
