import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attemptExcerpt, attemptFailed, filterFromTypes, filterText, newAttempts, webhookHealth, webhookParams, webhookPath,
} from '../ui/admin-webhooks.js';

test('the endpoint shown lives in the URL', () => {
  assert.deepEqual(webhookParams('?id=wh_1'), { id: 'wh_1' });
  assert.deepEqual(webhookParams(''), { id: null });
  assert.equal(webhookPath(), '/admin/webhooks');
  assert.equal(webhookPath('wh_1&x'), '/admin/webhooks?id=wh_1%26x');
  assert.deepEqual(webhookParams(webhookPath('wh_1&x').split('?')[1]), { id: 'wh_1&x' });
});

test('event types typed in the form become the filter; nothing is every event', () => {
  assert.deepEqual(filterFromTypes(''), {});
  assert.deepEqual(filterFromTypes('  '), {});
  assert.deepEqual(filterFromTypes(' invoice.* '), { type: 'invoice.*' });
  assert.deepEqual(filterFromTypes('invoice.*, deal.won  task.created,'), { type: ['invoice.*', 'deal.won', 'task.created'] });
});

test('a filter reads as its parameters', () => {
  assert.equal(filterText({}), 'every event');
  assert.equal(filterText(null), 'every event');
  assert.equal(filterText({ type: ['invoice.*', 'deal.won'], priority: 'high' }), 'type=invoice.*, type=deal.won, priority=high');
});

test('an endpoint is active, failing or disabled', () => {
  assert.equal(webhookHealth({ status: 'active', failing_since: null }), 'active');
  assert.equal(webhookHealth({ status: 'active', failing_since: '2026-01-01T00:00:00Z' }), 'failing');
  assert.equal(webhookHealth({ status: 'disabled', failing_since: '2026-01-01T00:00:00Z' }), 'disabled');
});

test('failed attempts are told apart, test sends by their answer', () => {
  assert.equal(attemptFailed({ outcome: 'delivered', status_code: 200 }), false);
  for (const outcome of ['retrying', 'failed', 'disabled']) assert.equal(attemptFailed({ outcome }), true);
  assert.equal(attemptFailed({ outcome: 'test', status_code: 204 }), false);
  assert.equal(attemptFailed({ outcome: 'test', status_code: 500 }), true);
  assert.equal(attemptFailed({ outcome: 'test', status_code: null, error: 'connection refused' }), true);
});

test('a log row shows the error, else the start of the answer, on one line', () => {
  assert.equal(attemptExcerpt({ error: 'timed out', response: 'x' }), 'timed out');
  assert.equal(attemptExcerpt({ error: null, response: '{\n  "ok": true\n}' }), '{ "ok": true }');
  assert.equal(attemptExcerpt({}), '');
  const long = attemptExcerpt({ response: 'a'.repeat(500) }, 10);
  assert.equal(long, `${'a'.repeat(9)}…`);
});

test('a refresh adds only the attempts not shown, and starts over after a gap', () => {
  const page = [{ id: 'c' }, { id: 'b' }, { id: 'a' }];
  assert.deepEqual(newAttempts(page, new Set(['a']), false), { fresh: [{ id: 'c' }, { id: 'b' }], gap: false });
  assert.deepEqual(newAttempts(page, new Set(['c', 'b', 'a']), true), { fresh: [], gap: false });
  assert.deepEqual(newAttempts(page, new Set(), false), { fresh: page, gap: false });
  assert.equal(newAttempts(page, new Set(['z']), true).gap, true, 'a full page of new ones: some may be missing');
  assert.equal(newAttempts(page, new Set(['z']), false).gap, false, 'the whole log fits: nothing missing');
});
