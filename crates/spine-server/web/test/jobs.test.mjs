// Job status badges' pure parts: what a job.* event says, and how a feed item's jobs change
// with it (never backwards).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  STATUSES, badgeTitle, briefOf, createJobLookup, isBehind, statusOf, transitionOf, withJob,
} from '../ui/jobs.js';

const transition = (type, status, seq, extra = {}) => ({
  id: `e${seq}`, type, seq, causation_id: 'src-1',
  data: { job_id: 'j1', queue: 'calls', status, attempt: 1, max_attempts: 3, event_id: 'src-1', ...extra },
});

test('a job.* event names the event it is about and the job as it now stands', () => {
  assert.deepEqual(transitionOf(transition('job.processing', 'processing', 10)), {
    source: 'src-1', job: { id: 'j1', queue: 'calls', status: 'processing', attempt: 1, max_attempts: 3, seq: 10 },
  });
  const noCause = { ...transition('job.dead', 'dead', 11), causation_id: null };
  assert.equal(transitionOf(noCause).source, 'src-1', 'data.event_id when there is no causation_id');
  assert.equal(transitionOf(transition('job.retried', 'pending', 12)).job.status, 'pending');
  assert.equal(transitionOf({ type: 'note.created', causation_id: 'src-1', data: {} }), null);
  assert.equal(transitionOf({ type: 'job.processing', data: { job_id: 'j1', status: 'exploded', event_id: 'x' } }), null);
  assert.equal(transitionOf(null), null);
});

test('a job\'s transitions replace its entry, in order, and a late one changes nothing', () => {
  const fromPage = [{ id: 'j1', queue: 'calls', status: 'pending', attempt: 0 }, { id: 'j2', queue: 'mail', status: 'completed', attempt: 1 }];
  const processing = withJob(fromPage, transitionOf(transition('job.processing', 'processing', 10)).job);
  assert.deepEqual(processing.map((j) => j.status), ['processing', 'completed']);
  const completed = withJob(processing, transitionOf(transition('job.completed', 'completed', 12)).job);
  assert.equal(completed[0].status, 'completed');
  assert.equal(withJob(completed, transitionOf(transition('job.processing', 'processing', 10)).job), completed, 'older: unchanged');
  const added = withJob(undefined, { id: 'j9', status: 'processing', seq: 3 });
  assert.deepEqual(added, [{ id: 'j9', status: 'processing', seq: 3 }]);
  assert.equal(withJob(added, { id: 'j9', status: 'processing', seq: 3 }), added, 'the same transition twice');
});

test('badges know five statuses and say queue and attempt', () => {
  assert.deepEqual(STATUSES, ['pending', 'processing', 'completed', 'failed', 'dead']);
  assert.equal(statusOf({ status: 'weird' }), 'pending');
  assert.equal(badgeTitle({ queue: 'calls', attempt: 2, max_attempts: 5, status: 'failed' }), 'Job in queue calls, attempt 2 of 5, will be retried');
  assert.deepEqual(briefOf({ id: 'j', queue: 'q', status: 'dead', attempt: 3, event: {}, last_error: 'x' }), { id: 'j', queue: 'q', status: 'dead', attempt: 3 });
});

test('a listed job (no seq) is not moved back by a transition it has gone past', () => {
  const listed = [{ id: 'j1', queue: 'calls', status: 'completed', attempt: 1 }];
  const late = (status, attempt, seq) => ({ id: 'j1', queue: 'calls', status, attempt, seq });
  assert.equal(withJob(listed, late('processing', 1, 10)), listed, 'an earlier stage of the same attempt');
  const failed = [{ id: 'j1', queue: 'calls', status: 'failed', attempt: 2 }];
  assert.equal(withJob(failed, late('failed', 1, 10)), failed, 'an earlier attempt');
  assert.equal(withJob(failed, late('processing', 3, 11))[0].status, 'processing', 'the next attempt');
  assert.equal(withJob(failed, late('dead', 2, 11))[0].status, 'dead', 'the same stage: applied, with its seq');
  assert.equal(withJob(failed, late('dead', 2, 11))[0].seq, 11);
  const dead = [{ id: 'j1', queue: 'calls', status: 'dead', attempt: 2 }];
  assert.equal(withJob(dead, late('pending', 0, 12))[0].status, 'pending', 'a retry is the one way back');
  const pending = [{ id: 'j1', queue: 'calls', status: 'pending', attempt: 0 }];
  assert.equal(withJob(pending, late('processing', 1, 10))[0].status, 'processing');
  assert.equal(isBehind({ status: 'processing', attempt: 1 }, { status: 'weird', attempt: 1 }), false, 'an unknown status reads as pending');
});

// Fake timers: `run()` fires what is due up to a time; fetches resolve when told.
function clock() {
  let t = 0;
  let next = 1;
  const due = new Map();
  return {
    now: () => t,
    timers: {
      setTimeout: (fn, ms) => { due.set(next, { fn, at: t + ms }); return next++; },
      clearTimeout: (id) => due.delete(id),
    },
    async advance(ms) {
      const until = t + ms;
      for (;;) {
        const [id, first] = [...due].sort((a, b) => a[1].at - b[1].at)[0] ?? [];
        if (!first || first.at > until) break;
        due.delete(id);
        t = first.at;
        first.fn();
        await settled();
      }
      t = until;
      await settled();
    },
  };
}
const settled = () => new Promise((resolve) => setImmediate(resolve));

function lookupWith(c, answer = (ids) => ids.map((id) => ({ id: `job-${id}`, event_id: id }))) {
  const calls = [];
  const applied = [];
  const waiting = [];
  const lookup = createJobLookup({
    fetch: (ids) => {
      calls.push(ids);
      return new Promise((resolve, reject) => waiting.push(() => {
        try { resolve(answer(ids)); } catch (e) { reject(e); }
      }));
    },
    apply: (job) => applied.push(job.event_id),
    wait: 300,
    maxWait: 1000,
    max: 3,
    timers: c.timers,
    now: c.now,
  });
  const answerAll = async () => { while (waiting.length) waiting.shift()(); await settled(); };
  return { lookup, calls, applied, answerAll };
}

test('live event ids are gathered and asked for together once the stream pauses', async () => {
  const c = clock();
  const { lookup, calls, applied, answerAll } = lookupWith(c);
  lookup.add('e1');
  await c.advance(200);
  lookup.add('e2');
  await c.advance(200);
  assert.deepEqual(calls, [], 'still gathering: 300 ms after the last one');
  await c.advance(100);
  assert.deepEqual(calls, [['e1', 'e2']]);
  await answerAll();
  assert.deepEqual(applied, ['e1', 'e2']);
  assert.equal(lookup.pending, 0);
});

test('a steady stream is asked for at least every maxWait, max ids at a time, one request at a time', async () => {
  const c = clock();
  const { lookup, calls, answerAll } = lookupWith(c);
  lookup.add('a');
  await c.advance(250);
  lookup.add('b');
  await c.advance(250);
  lookup.add('a');
  await c.advance(250);
  assert.deepEqual(calls, [], 'a repeated id waits once');
  lookup.add('c');
  assert.deepEqual(calls, [], 'the batch is full: asked at once');
  await c.advance(0);
  assert.deepEqual(calls, [['a', 'b', 'c']]);
  // While that request is out, more arrive: they wait for it, however long it takes.
  for (const id of ['d', 'e', 'f', 'g']) lookup.add(id);
  await c.advance(5000);
  assert.equal(calls.length, 1, 'never two at a time');
  await answerAll();
  await c.advance(0);
  assert.deepEqual(calls[1], ['d', 'e', 'f'], 'a full batch right after');
  await answerAll();
  await c.advance(299);
  assert.equal(calls.length, 2);
  await c.advance(1);
  assert.deepEqual(calls[2], ['g']);

  // Without pauses, maxWait bounds the wait.
  await answerAll();
  const d = clock();
  const steady = lookupWith(d);
  for (let i = 0; i < 2; i += 1) {
    steady.lookup.add(`s${i}`);
    await d.advance(250);
  }
  steady.lookup.add('s1');
  await d.advance(250);
  steady.lookup.add('s0');
  await d.advance(250);
  assert.deepEqual(steady.calls, [['s0', 's1']], 'asked 1000 ms after the first, though ids kept coming');
});

test('a refusal stops the asking; a failure drops only its batch; nothing is thrown', async () => {
  const c = clock();
  let status = 503;
  const { lookup, calls, applied, answerAll } = lookupWith(c, () => {
    throw Object.assign(new Error('no'), { status });
  });
  lookup.add('x');
  await c.advance(300);
  await answerAll();
  lookup.add('y');
  await c.advance(300);
  assert.deepEqual(calls, [['x'], ['y']], 'a 503 drops that batch only');
  status = 400;
  await answerAll();
  lookup.add('z');
  await c.advance(1000);
  assert.deepEqual(calls, [['x'], ['y']], 'a 400 (a server without event_id) stops it');
  assert.deepEqual(applied, []);

  const d = clock();
  let asked = 0;
  const throwing = createJobLookup({
    fetch: async (ids) => { asked += 1; return ids.map((id) => ({ event_id: id })); },
    apply: () => { throw new Error('boom'); },
    timers: d.timers,
    now: d.now,
  });
  throwing.add('k');
  await d.advance(300);
  throwing.add('l');
  await d.advance(300);
  assert.equal(asked, 2, 'still asking after a throwing apply');
  const stopped = lookupWith(d);
  stopped.lookup.stop();
  stopped.lookup.add('m');
  await d.advance(1000);
  assert.deepEqual(stopped.calls, [], 'stopped: asks nothing');
});
