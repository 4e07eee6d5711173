import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FeedModel, compareEvents, normalizeEvent } from '../embed/lib/feed-model.js';

// Event n occurred n minutes after a base time, with seq n.
const base = Date.UTC(2026, 10, 30, 8);
const ev = (n, extra = {}) => ({
  id: `e${n}`, seq: n, occurred_at: new Date(base + n * 60_000).toISOString(), summary: `event ${n}`, ...extra,
});
const page = (ns, next = null) => ({ items: ns.map((n) => ev(n)), next_cursor: next });
const ids = (model) => model.items.map((i) => i.id);

test('newest first by occurred_at, then by seq', () => {
  const a = ev(1);
  const b = { ...ev(1), id: 'x', seq: 9 };
  assert.ok(compareEvents(ev(2), a) < 0);
  assert.ok(compareEvents(b, a) < 0);
  assert.ok(compareEvents(a, ev(2)) > 0);
});

test('live events missing seen/archived count as false', () => {
  const item = normalizeEvent({ id: 'a', seq: 1, read: true });
  assert.deepEqual([item.read, item.seen, item.archived, item.tags], [true, false, false, []]);
});

test('pages append without repeats and the cursor follows', () => {
  const model = new FeedModel();
  model.reset(page([5, 4, 3], 'c1'));
  assert.equal(model.hasMore, true);
  assert.deepEqual(model.moreParams(), { cursor: 'c1' });
  const added = model.append(page([3, 2, 1]));
  assert.deepEqual(added.map((i) => i.id), ['e2', 'e1']);
  assert.deepEqual(ids(model), ['e5', 'e4', 'e3', 'e2', 'e1']);
  assert.equal(model.hasMore, false);
  assert.equal(model.maxSeq(), 5);
});

test('a live event goes where it belongs, once', () => {
  const model = new FeedModel();
  model.reset(page([5, 3, 1]));
  assert.equal(model.insert(ev(6)).index, 0);
  assert.equal(model.insert(ev(4)).index, 2);
  assert.equal(model.insert(ev(6)).item, null, 'a repeat is not inserted');
  assert.deepEqual(ids(model), ['e6', 'e5', 'e4', 'e3', 'e1']);
  assert.equal(model.next(model.get('e4')).id, 'e3');
  assert.equal(model.maxSeq(), 6);
});

test('a live event older than everything loaded waits for "Load more" when more remain', () => {
  const model = new FeedModel();
  model.reset(page([9, 8], 'c1'));
  assert.equal(model.insert(ev(2)).item, null);
  model.append(page([7]));
  assert.equal(model.insert(ev(2)).index, 3, 'at the end once the end is loaded');
});

test('past the bound the oldest items drop and "Load more" continues from the oldest kept', () => {
  const model = new FeedModel({ max: 3 });
  model.reset(page([5, 4, 3], 'c1'));
  const { item, dropped } = model.insert(ev(6));
  assert.equal(item.id, 'e6');
  assert.deepEqual(dropped.map((d) => d.id), ['e3']);
  assert.deepEqual(ids(model), ['e6', 'e5', 'e4']);
  assert.equal(model.hasMore, true);
  const more = model.moreParams();
  assert.equal(more.cursor, undefined, 'the old cursor points past the dropped items');
  assert.equal(more.until, new Date(base + 4 * 60_000 + 1).toISOString());
  // The server answers with e4 again (until is one millisecond past it), then older ones.
  const added = model.append({ items: [ev(4), ev(3), ev(2)], next_cursor: 'u1' });
  assert.deepEqual(added.map((i) => i.id), ['e3', 'e2']);
  assert.deepEqual(model.moreParams(), { until: more.until, cursor: 'u1' });
  model.append({ items: [ev(1)], next_cursor: null });
  assert.equal(model.hasMore, false);
  assert.deepEqual(ids(model), ['e6', 'e5', 'e4', 'e3', 'e2', 'e1']);
});

test('a live event that would land past the bound is not kept', () => {
  const model = new FeedModel({ max: 2 });
  model.reset(page([5, 4]));
  const result = model.insert({ ...ev(1) });
  assert.equal(result.item, null);
  assert.deepEqual(ids(model), ['e5', 'e4']);
});

test('read and seen flags apply one by one or through a seq', () => {
  const model = new FeedModel();
  model.reset(page([5, 4, 3, 2]));
  assert.equal(model.patch('e4', { read: true }).id, 'e4');
  assert.equal(model.patch('e4', { read: true }), null, 'no change, nothing reported');
  assert.deepEqual(model.markThrough('read', 3).map((i) => i.id), ['e3', 'e2']);
  assert.deepEqual(model.markThrough('read', null).map((i) => i.id), ['e5']);
  assert.deepEqual(model.markThrough('seen', 4).map((i) => i.id), ['e4', 'e3', 'e2']);
});

test('an item removed and restored returns to its place', () => {
  const model = new FeedModel();
  model.reset(page([5, 4, 3]));
  const item = model.remove('e4');
  assert.deepEqual(ids(model), ['e5', 'e3']);
  assert.equal(model.remove('e4'), null);
  assert.equal(model.restore(item).index, 1);
  assert.deepEqual(ids(model), ['e5', 'e4', 'e3']);
});
