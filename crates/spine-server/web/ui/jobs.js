// Job status badges (SPEC section 7): pending, processing (with a spinner), completed, failed
// and dead, drawn from a feed item's `jobs`, and moved live by the job.* events a job's
// transitions append (on the source event's entity, with `causation_id` naming the source
// event). Events that arrive live carry no `jobs`: once this module is loaded, their ids are
// gathered and their jobs asked for (`GET /v1/work?event_id=...`), a few at a time. Loaded by
// feed.js with the first item that has jobs or the first job.* event, with its own small
// stylesheet, so the feed's first view carries neither (and a tenant that never had jobs never
// asks). The entity and work pages use the same badges. Importing it touches no DOM, so Node
// can test the pure parts.

import { h, replace, srOnly } from '../embed/lib/dom.js';
import { loadStyles } from './styles.js';
import { workApi } from './work-api.js';

export const STATUSES = ['pending', 'processing', 'completed', 'failed', 'dead'];

const LABELS = {
  pending: 'Pending',
  processing: 'Processing',
  completed: 'Completed',
  failed: 'Failed',
  dead: 'Dead',
};

/** A job's status as a badge may show it: one of STATUSES, anything else as pending. */
export function statusOf(job) {
  return STATUSES.includes(job?.status) ? job.status : 'pending';
}

/**
 * What a job.* event says: the id of the event the job processes (`source`) and the job as it
 * now stands ({id, queue, status, attempt, max_attempts, seq}); null for any other event.
 */
export function transitionOf(event) {
  if (typeof event?.type !== 'string' || !event.type.startsWith('job.')) return null;
  const data = event.data ?? {};
  const source = event.causation_id || data.event_id;
  if (!source || !data.job_id || !STATUSES.includes(data.status)) return null;
  return {
    source: String(source),
    job: {
      id: data.job_id, queue: data.queue, status: data.status, attempt: data.attempt, max_attempts: data.max_attempts, seq: event.seq,
    },
  };
}

// How far a job is within one attempt: a claim starts an attempt, a settlement ends it.
const STAGE = { pending: 0, processing: 1, completed: 2, failed: 2, dead: 2 };

/**
 * Whether the transition `job` is one that `held` (a job as a page or a lookup listed it, with
 * no seq to compare) has already gone past: an earlier attempt, or an earlier stage of the same
 * one. A retry (back to pending, attempts from 0) is never behind: it is the one way back.
 */
export function isBehind(job, held) {
  if (job.status === 'pending') return false;
  const [a, b] = [job.attempt ?? 0, held.attempt ?? 0];
  return a < b || (a === b && STAGE[job.status] < STAGE[statusOf(held)]);
}

/**
 * `jobs` with `job` in it: replacing the job of the same id, or added. A transition older than
 * one already applied (both carry the seq of their event) changes nothing, so an event the
 * stream delivers twice or late cannot move a badge backwards; nor does one that a listed job
 * (no seq: a page or a lookup fetched it) has gone past. Answers the same array when nothing
 * changed.
 */
export function withJob(jobs, job) {
  const list = Array.isArray(jobs) ? jobs : [];
  const old = list.find((j) => j.id === job.id);
  if (!old) return [...list, job];
  if (Number.isInteger(old.seq) && Number.isInteger(job.seq) && old.seq >= job.seq) return list;
  if (!Number.isInteger(old.seq) && isBehind(job, old)) return list;
  if (old.status === job.status && old.attempt === job.attempt && old.seq === job.seq) return list;
  return list.map((j) => (j.id === job.id ? { ...j, ...job } : j));
}

/** The words a badge's tooltip says: queue and attempt. */
export function badgeTitle(job) {
  const parts = [`Job in queue ${job.queue ?? 'default'}`];
  if (job.attempt) parts.push(`attempt ${job.attempt}${job.max_attempts ? ` of ${job.max_attempts}` : ''}`);
  if (job.status === 'failed') parts.push('will be retried');
  return parts.join(', ');
}

/** One job's badge; `data-status` says the status to tests and styles alike. */
export function jobBadge(job) {
  const status = statusOf(job);
  return h('span', {
    class: `job-badge is-${status}`,
    title: badgeTitle(job),
    dataset: { job: job.id, status },
  },
  status === 'processing' && h('span', { class: 'job-spinner', 'aria-hidden': 'true' }),
  srOnly(`Job in ${job.queue ?? 'default'}: `),
  LABELS[status]);
}

/** The stylesheet of the badges, added to the page once. */
export const jobStyles = () => loadStyles('/ui/jobs.css');

/** Fills `slot` (a feed item's span) with the badges of `jobs`. */
export function drawBadges(slot, jobs) {
  jobStyles();
  replace(slot, jobs.map(jobBadge));
}

/**
 * A job.* event arrived on `feed`'s stream: the item it is about (when the feed shows it) gets
 * the job's new status.
 */
export function moveBadge(feed, event) {
  const transition = transitionOf(event);
  if (transition) setJob(feed, transition.source, transition.job);
}

/**
 * Puts `job` into the badges of the item `eventId` on `feed`, if it is shown. `onlyNew`: only
 * a job the item does not show yet (a list fetched a moment ago may be older than the stream).
 */
export function setJob(feed, eventId, job, { onlyNew = false } = {}) {
  const item = feed.model.get(eventId);
  if (!item || (onlyNew && item.jobs?.some((j) => j.id === job.id))) return;
  const jobs = withJob(item.jobs, job);
  if (jobs !== item.jobs && feed.model.patch(eventId, { jobs })) feed.view.update(item);
}

/** A job as the Work API lists it, in the shape of a feed item's `jobs` entry. */
export function briefOf(job) {
  return { id: job.id, queue: job.queue, status: job.status, attempt: job.attempt };
}

/**
 * Gathers event ids and asks for their jobs in batches: `fetch(ids)` (answers the jobs) runs
 * `wait` ms after the last id came (but no later than `maxWait` after the first one waiting, so
 * a steady stream is not starved), for at most `max` ids, never two at a time; `apply(job)`
 * hears each job found. A refusal (4xx but 429: a server without the parameter, a session gone)
 * stops the asking; other failures drop that batch. Badges are decoration: nothing is logged.
 * `timers` (setTimeout, clearTimeout) and `now` are there for tests.
 */
export function createJobLookup({
  fetch, apply, wait = 300, maxWait = 1000, max = 100, timers = globalThis, now = Date.now,
}) {
  const queue = new Set();
  let timer = null;
  let first = 0;
  let busy = false;
  let stopped = false;

  const flush = () => {
    timer = null;
    if (busy || stopped || !queue.size) return;
    const ids = [...queue].slice(0, max);
    for (const id of ids) queue.delete(id);
    busy = true;
    Promise.resolve()
      .then(() => fetch(ids))
      .then((jobs) => {
        if (!stopped) for (const job of jobs ?? []) apply(job);
      }, (error) => {
        if (error?.status >= 400 && error.status < 500 && error.status !== 429) stop();
      })
      .catch(() => {})
      .finally(() => {
        busy = false;
        if (queue.size) schedule(queue.size >= max);
      });
  };

  function schedule(full = false) {
    if (stopped || busy) return;
    const at = now();
    if (timer === null) first = at;
    else timers.clearTimeout(timer);
    const delay = full ? 0 : Math.max(0, Math.min(wait, first + maxWait - at));
    timer = timers.setTimeout(flush, delay);
  }

  function stop() {
    stopped = true;
    queue.clear();
    if (timer !== null) timers.clearTimeout(timer);
    timer = null;
  }

  return {
    add(id) {
      if (stopped || !id) return;
      queue.add(String(id));
      schedule(queue.size >= max);
    },
    get pending() {
      return queue.size;
    },
    stop,
  };
}

const lookups = new WeakMap();

/**
 * A live event arrived on `feed` (the feed page or a timeline) once badges are in use: a job.*
 * event moves its badge; any other event but a note may have made jobs, which are asked for
 * (with the feed's other new events) and drawn unless the item already shows them.
 */
export function onLive(feed, event, app) {
  if (event?.type?.startsWith('job.')) {
    moveBadge(feed, event);
    return;
  }
  if (!event?.id || event.type === 'note.created' || !feed.model.has(event.id)) return;
  let lookup = lookups.get(feed);
  if (!lookup) {
    const api = workApi(app);
    lookup = createJobLookup({
      // Every page of those events' jobs (a page holds the server's default number); a feed
      // that was replaced (filters changed, page left) asks nothing more.
      fetch: async (ids) => {
        const found = [];
        let cursor = null;
        for (let pages = 0; pages < 20 && feed.view.element.isConnected; pages += 1) {
          const page = await api.jobs({ event_id: ids.join(','), cursor });
          found.push(...(page?.items ?? []));
          cursor = page?.next_cursor;
          if (!cursor) break;
        }
        return found;
      },
      apply: (job) => setJob(feed, job.event_id, briefOf(job), { onlyNew: true }),
    });
    lookups.set(feed, lookup);
  }
  lookup.add(event.id);
}
