// Job status badges' pure parts: what a job.* event says, and how a feed item's jobs change
// with it (never backwards).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  STATUSES, badgeTitle, briefOf, isBehind, statusOf, transitionOf, withJob,
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
