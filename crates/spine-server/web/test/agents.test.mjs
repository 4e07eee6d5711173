// The agent view's pure parts: its paths, periods, durations, and a session's timeline with
// each tool call as one row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PERIODS, SessionTimeline, agentsParams, agentsPath, formatDuration, inputOf, periodSince, toolUseOf,
} from '../ui/agent-model.js';

let seq = 0;
function event(type, second, extra = {}) {
  seq += 1;
  return {
    id: `e${seq}`,
    seq,
    type,
    occurred_at: new Date(Date.UTC(2026, 0, 1, 12, 0, second)).toISOString(),
    summary: `${type} at ${second}`,
    ...extra,
  };
}

function call(type, second, toolUse, data = {}) {
  return event(type, second, {
    source: { system: 'claude-code', object_type: 'tool_use', object_id: toolUse },
    data: { tool_name: 'Bash', input: { command: 'cargo  test' }, ...data },
  });
}

test('the page keeps the session it shows in the URL', () => {
  assert.deepEqual(agentsParams(''), { session: null });
  assert.deepEqual(agentsParams('?session=abc%201'), { session: 'abc 1' });
  assert.equal(agentsPath(), '/agents');
  assert.equal(agentsPath({ session: 'abc 1' }), '/agents?session=abc+1');
});

test('periods end now and default to the last 24 hours', () => {
  const now = Date.UTC(2026, 0, 8);
  assert.deepEqual(PERIODS.map((p) => p.key), ['1h', '24h', '7d']);
  assert.equal(periodSince('1h', now), '2026-01-07T23:00:00.000Z');
  assert.equal(periodSince('7d', now), '2026-01-01T00:00:00.000Z');
  assert.equal(periodSince('bogus', now), '2026-01-07T00:00:00.000Z');
});

test('durations read like the summaries', () => {
  assert.equal(formatDuration(240), '240 ms');
  assert.equal(formatDuration(0), '0 ms');
  assert.equal(formatDuration(2300), '2.3 s');
  assert.equal(formatDuration(245_000), '4 min 5 s');
  assert.equal(formatDuration(null), '');
  assert.equal(formatDuration(-1), '');
});

test('a call\'s input reads as one line, paths relative to the session\'s directory', () => {
  assert.equal(inputOf({ data: { input: { command: 'cargo\n  test' } } }), 'cargo test');
  assert.equal(inputOf({ data: { cwd: '/home/ana/spine/', input: { file_path: '/home/ana/spine/src/lib.rs' } } }), 'src/lib.rs');
  assert.equal(inputOf({ data: { cwd: '/home/ana/spine', input: { file_path: '/etc/hosts' } } }), '/etc/hosts');
  assert.equal(inputOf({ data: { input: { pattern: 'fn main', description: 'x' } } }), 'fn main');
  assert.equal(inputOf({}), '');
  assert.equal(toolUseOf({ source: { object_type: 'session', object_id: 's1' } }), null);
  assert.equal(toolUseOf({ source: { object_type: 'tool_use', object_id: 't1' } }), 't1');
});

test('a session\'s timeline: prompts and calls in order, each call one row with its outcome', () => {
  const timeline = new SessionTimeline();
  const events = [
    event('agent.session.started', 0, { title: 'Session began' }),
    event('agent.prompt', 1, { title: 'Prompt: fix it', description: 'fix it\nplease' }),
    call('agent.tool.started', 2, 't1'),
    call('agent.tool.finished', 4, 't1', { duration_ms: 2300, success: true }),
    call('agent.tool.started', 5, 't2', { tool_name: 'Edit', input: { file_path: 'src/a.rs' } }),
    call('agent.tool.failed', 6, 't2', { tool_name: 'Edit', error: 'no such file' }),
    call('agent.tool.started', 7, 't3'),
  ];
  for (const e of events) timeline.add(e);
  assert.equal(timeline.add(events[0]), null, 'an event it has is not added twice');
  const rows = timeline.rows.map((r) => [r.kind, r.text ?? r.tool, r.status ?? null, r.durationMs ?? null]);
  assert.deepEqual(rows, [
    ['event', 'Session began', null, null],
    ['prompt', 'fix it\nplease', null, null],
    ['tool', 'Bash', 'finished', 2300],
    ['tool', 'Edit', 'failed', 1000],
    ['tool', 'Bash', 'running', null],
  ]);
  assert.equal(timeline.rows[3].error, 'no such file');
  assert.equal(timeline.rows[0].label, 'Started');
  assert.equal(timeline.rows[2].input, 'cargo test');
  assert.equal(timeline.rows[2].event.type, 'agent.tool.finished', 'a call opens as its latest event');
});

test('a call\'s end arriving before its start, or live, lands in its place', () => {
  const timeline = new SessionTimeline();
  const prompt = event('agent.prompt', 1, { title: 'Prompt: go' });
  const end = call('agent.tool.finished', 9, 't1', { success: false });
  const start = call('agent.tool.started', 3, 't1');
  const later = event('agent.stopped', 10);
  assert.equal(timeline.add(later).next, null);
  const first = timeline.add(end);
  assert.equal(first.created, true);
  assert.equal(first.next, timeline.rows[1]);
  assert.equal(timeline.add(prompt).next.key, 'tool:t1');
  const merged = timeline.add(start);
  assert.equal(merged.created, false);
  assert.equal(merged.row.status, 'failed', 'a start does not undo an end');
  assert.equal(merged.row.durationMs, 6000, 'timed from the start when the server said nothing');
  assert.equal(merged.next.type, 'agent.stopped');
  assert.deepEqual(timeline.rows.map((r) => r.kind), ['prompt', 'tool', 'event']);
  assert.equal(timeline.size, 3);
});
