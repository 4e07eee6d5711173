import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relativeTime, dayLabel, dayKey, exactDateTime, toMillis, priorityBadge } from '../embed/lib/format.js';
import { dataRows, changeRows, formatValue } from '../ui/values.js';

// A fixed local "now": 30 November 2026, 15:00.
const now = new Date(2026, 10, 30, 15, 0, 0).getTime();
const ago = (ms) => now - ms;
const MIN = 60_000;
const HOUR = 60 * MIN;

test('relative time reads like a person would say it', () => {
  assert.equal(relativeTime(ago(5_000), now), 'just now');
  assert.equal(relativeTime(ago(44_000), now), 'just now');
  assert.equal(relativeTime(ago(50_000), now), '1 minute ago');
  assert.equal(relativeTime(ago(2 * MIN), now), '2 minutes ago');
  assert.equal(relativeTime(ago(59 * MIN), now), '59 minutes ago');
  assert.equal(relativeTime(ago(HOUR), now), '1 hour ago');
  assert.equal(relativeTime(ago(3 * HOUR + 20 * MIN), now), '3 hours ago');
  assert.equal(relativeTime(ago(23 * HOUR), now), '23 hours ago');
  assert.equal(relativeTime(new Date(2026, 10, 29, 1, 0).getTime(), now), 'yesterday');
  assert.equal(relativeTime(new Date(2026, 10, 20, 9, 0).getTime(), now), '20 Nov');
  assert.equal(relativeTime(new Date(2025, 0, 2, 9, 0).getTime(), now), '2 Jan 2025');
});

test('a time slightly in the future reads as just now', () => {
  assert.equal(relativeTime(now + 90_000, now), 'just now');
});

test('an unparseable time reads as nothing', () => {
  assert.equal(relativeTime('not a time', now), '');
  assert.equal(exactDateTime('not a time'), '');
});

test('days are labelled Today, Yesterday, then in full', () => {
  assert.equal(dayLabel(new Date(2026, 10, 30, 0, 1), now), 'Today');
  assert.equal(dayLabel(new Date(2026, 10, 29, 23, 59), now), 'Yesterday');
  assert.equal(dayLabel(new Date(2026, 10, 23, 12), now), 'Monday, 23 November 2026');
  assert.equal(dayLabel(new Date(2026, 11, 1, 0, 30), new Date(2026, 11, 1, 0, 40)), 'Today');
  assert.equal(dayLabel(new Date(2026, 10, 30, 23, 0), new Date(2026, 11, 1, 0, 40)), 'Yesterday');
});

test('day keys follow the local calendar', () => {
  assert.equal(dayKey(new Date(2026, 0, 5, 23, 59)), '2026-01-05');
  assert.equal(dayKey(new Date(2026, 0, 6, 0, 0)), '2026-01-06');
});

test('exact times name the day and the second', () => {
  assert.match(exactDateTime(new Date(2026, 10, 23, 14, 3, 12)), /Monday, 23 November 2026.*14:03:12/);
});

test('times with more than millisecond precision parse', () => {
  assert.equal(toMillis('2026-11-23T10:00:00.123456789Z'), Date.UTC(2026, 10, 23, 10, 0, 0, 123));
  assert.equal(toMillis('2026-11-23T10:00:00Z'), Date.UTC(2026, 10, 23, 10));
  assert.ok(Number.isNaN(toMillis(undefined)));
});

test('data becomes key/value rows with nested objects indented and arrays as JSON', () => {
  const rows = dataRows({
    branch: 'main', attempts: 3, ok: true, none: null,
    build: { id: 'b-1', runner: { os: 'linux' } },
    files: ['a.rs', 'b.rs'],
  });
  assert.deepEqual(rows, [
    { key: 'branch', value: 'main', depth: 0 },
    { key: 'attempts', value: '3', depth: 0 },
    { key: 'ok', value: 'true', depth: 0 },
    { key: 'none', value: 'null', depth: 0 },
    { key: 'build', value: null, depth: 0 },
    { key: 'id', value: 'b-1', depth: 1 },
    { key: 'runner', value: null, depth: 1 },
    { key: 'os', value: 'linux', depth: 2 },
    { key: 'files', value: '["a.rs","b.rs"]', depth: 0 },
  ]);
  assert.deepEqual(dataRows(null), []);
  assert.deepEqual(dataRows([1, 2]), []);
});

test('changes read field | old -> new, with missing sides as a dash', () => {
  assert.deepEqual(changeRows([
    { field: 'status', old: 'open', new: 'done' },
    { field: 'assignee', new: { id: 'u1' } },
    { field: 'points', old: 3, new: null },
  ]), [
    { field: 'status', old: 'open', new: 'done' },
    { field: 'assignee', old: '—', new: '{"id":"u1"}' },
    { field: 'points', old: '3', new: 'null' },
  ]);
  assert.deepEqual(changeRows(undefined), []);
});

test('values and priorities', () => {
  assert.equal(formatValue('text "as is"'), 'text "as is"');
  assert.equal(formatValue(undefined), '—');
  assert.equal(priorityBadge('urgent'), 'Urgent');
  assert.equal(priorityBadge('high'), 'High');
  assert.equal(priorityBadge('normal'), null);
  assert.equal(priorityBadge('low'), null);
});
