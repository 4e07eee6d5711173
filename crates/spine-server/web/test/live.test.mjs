import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveConnection, backoffDelay, LIVE, RECONNECTING, OFFLINE, STOPPED, CONNECTING } from '../embed/lib/live.js';

// A stand-in for the browser's EventSource that the test drives by hand.
class FakeEventSource {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.listeners = {};
    this.closed = false;
    FakeEventSource.all.push(this);
  }
  addEventListener(type, fn) { (this.listeners[type] ??= []).push(fn); }
  close() { this.closed = true; this.readyState = 2; }
  emit(type, event = {}) { for (const fn of this.listeners[type] ?? []) fn(event); }
  open() { this.readyState = 1; this.emit('open'); }
  message(type, data, lastEventId = '') { this.emit(type, { data: typeof data === 'string' ? data : JSON.stringify(data), lastEventId }); }
  fail(readyState) { this.readyState = readyState; this.emit('error', {}); }
}

// Timers run when the test says so.
function fakeTimers() {
  const pending = new Map();
  let next = 1;
  return {
    pending,
    setTimeout(fn, ms) { pending.set(next, { fn, ms }); return next++; },
    clearTimeout(id) { pending.delete(id); },
    async runAll() {
      const due = [...pending.entries()];
      pending.clear();
      for (const [, { fn }] of due) await fn();
    },
    delays() { return [...pending.values()].map((t) => t.ms); },
  };
}

function setup({ probe = null } = {}) {
  FakeEventSource.all = [];
  const timers = fakeTimers();
  const log = { activity: [], status: [], reopened: 0, expired: [], unauthorized: [], reset: [], read: [] };
  const live = new LiveConnection({
    url: (after) => `/v1/stream?${after === null ? '' : `after=${after}&`}type=task.*`,
    EventSource: FakeEventSource,
    timers,
    random: () => 0.5,
    probe,
    on: {
      activity: (e) => log.activity.push(e.id),
      status: (s) => log.status.push(s),
      reopened: () => { log.reopened += 1; },
      expired: (d) => log.expired.push(d),
      unauthorized: (e) => log.unauthorized.push(e.status),
      reset: (d) => log.reset.push(d),
      read: (d) => log.read.push(d),
    },
  });
  const latest = () => FakeEventSource.all[FakeEventSource.all.length - 1];
  return { live, timers, log, latest };
}

test('backoff doubles from one second to a fifteen-second cap, with jitter', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 10].map((a) => backoffDelay(a, () => 0.5)), [1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  assert.equal(backoffDelay(0, () => 0), 800);
  assert.equal(backoffDelay(0, () => 1), 1200);
  assert.equal(backoffDelay(4, () => 1), 15000, 'jitter never passes the cap');
});

test('the stream resumes after the highest seq received once the browser gives up', async () => {
  const { live, timers, log, latest } = setup();
  live.start(40);
  assert.equal(latest().url, '/v1/stream?after=40&type=task.*');
  latest().open();
  latest().message('position', '40', '40');
  latest().message('activity', { id: 'a', seq: 41 }, '41');
  latest().message('activity', { id: 'b', seq: 45 }, '45');
  assert.deepEqual(log.activity, ['a', 'b']);
  assert.equal(live.after, 45);
  latest().fail(2); // CLOSED: the browser will not retry
  assert.equal(live.state, RECONNECTING);
  assert.deepEqual(timers.delays(), [1000]);
  await timers.runAll();
  assert.equal(FakeEventSource.all.length, 2);
  assert.equal(latest().url, '/v1/stream?after=45&type=task.*');
  latest().open();
  assert.equal(live.state, LIVE);
  assert.equal(log.reopened, 1, 'reopening is reported so the unread count is fetched again');
});

test('while the browser retries by itself, no second stream is opened', () => {
  const { live, timers, latest } = setup();
  live.start(1);
  latest().open();
  latest().fail(0); // CONNECTING
  assert.equal(live.state, RECONNECTING);
  assert.equal(timers.pending.size, 0);
  latest().fail(0);
  latest().fail(0);
  assert.equal(live.state, OFFLINE, 'after a few failed attempts it says so');
  assert.equal(FakeEventSource.all.length, 1);
});

test('backoff grows across failed attempts and resets once connected', async () => {
  const { live, timers, latest } = setup();
  live.start(7);
  const delays = [];
  for (let i = 0; i < 5; i += 1) {
    latest().fail(2);
    delays.push(...timers.delays());
    await timers.runAll();
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 15000]);
  assert.equal(live.state, OFFLINE);
  latest().open();
  latest().fail(2);
  assert.deepEqual(timers.delays(), [1000]);
});

test('"lagging" and "unavailable" close the stream and resume after a backoff', async () => {
  const { live, timers, latest } = setup();
  live.start(10);
  latest().open();
  latest().message('activity', { id: 'a', seq: 12 });
  const first = latest();
  first.message('error', { error: 'lagging', detail: 'too slow' });
  assert.equal(first.closed, true);
  assert.equal(timers.pending.size, 1);
  await timers.runAll();
  assert.equal(latest().url, '/v1/stream?after=12&type=task.*');
});

test('an expired token stops the stream and says so', () => {
  const { live, timers, log, latest } = setup();
  live.start(10);
  latest().open();
  latest().message('error', { error: 'token-expired', detail: 'the token expired' });
  assert.equal(latest().closed, true);
  assert.equal(live.state, STOPPED);
  assert.deepEqual(log.expired, ['the token expired']);
  assert.equal(timers.pending.size, 0);
});

test('a probe refused with 401 ends reconnecting; other failures keep backing off', async () => {
  let answer = () => Promise.reject(Object.assign(new Error('down'), { status: 0 }));
  const { live, timers, log, latest } = setup({ probe: () => answer() });
  live.start(3);
  latest().fail(2);
  await timers.runAll();
  assert.equal(FakeEventSource.all.length, 1, 'no stream while the server is unreachable');
  assert.deepEqual(timers.delays(), [2000]);
  answer = () => Promise.reject(Object.assign(new Error('signed out'), { status: 401 }));
  await timers.runAll();
  assert.deepEqual(log.unauthorized, [401]);
  assert.equal(live.state, STOPPED);
  assert.equal(timers.pending.size, 0);
});

test('a stream started without a position takes the server\'s', () => {
  const { live, latest } = setup();
  live.start(null);
  assert.equal(latest().url, '/v1/stream?type=task.*');
  latest().message('position', '900', '900');
  assert.equal(live.after, 900);
});

test('reset moves the position to the live end and asks for a reload', () => {
  const { live, log, latest } = setup();
  live.start(5);
  latest().message('reset', { reason: 'purged', position: 800, horizon: 600 }, '800');
  assert.equal(live.after, 800);
  assert.equal(log.reset[0].reason, 'purged');
});

test('messages from a replaced stream are ignored', () => {
  const { live, log, latest } = setup();
  live.start(5);
  const old = latest();
  live.retryNow();
  old.message('activity', { id: 'stale', seq: 6 });
  assert.deepEqual(log.activity, []);
  assert.equal(old.closed, true);
  latest().message('read', { user_id: 'ana', through_seq: 9 });
  assert.deepEqual(log.read, [{ user_id: 'ana', through_seq: 9 }]);
});

test('stop closes the stream and cancels a pending reconnect', () => {
  const { live, timers, log, latest } = setup();
  live.start(5);
  latest().fail(2);
  live.stop();
  assert.equal(timers.pending.size, 0);
  assert.equal(live.state, STOPPED);
  assert.deepEqual(log.status, [CONNECTING, RECONNECTING, STOPPED]);
});
