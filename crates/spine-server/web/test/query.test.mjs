import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseFilters, filtersToParams, filtersToApiParams, hasFilters, emptyFilters, toInstant, splitList,
} from '../embed/lib/query.js';

test('a query string becomes filters, and back, without loss', () => {
  const search = '?type=task.*&type=deploy.finished&tag=docs&tag=blue&actor=u1&entity_type=task'
    + '&entity_id=T-1&priority=high&since=2026-11-01&until=2026-11-23&q=update+docs&unread=true&archived=true';
  const filters = parseFilters(search);
  assert.deepEqual(filters.type, ['task.*', 'deploy.finished']);
  assert.deepEqual(filters.tag, ['docs', 'blue']);
  assert.equal(filters.q, 'update docs');
  assert.equal(filters.unread, true);
  assert.equal(filters.archived, true);
  assert.equal(`?${filtersToParams(filters)}`, search.replace('q=update+docs', 'q=update+docs'));
  assert.deepEqual(parseFilters(filtersToParams(filters)), filters);
});

test('unknown parameters and bad values are dropped, since the API refuses them', () => {
  const filters = parseFilters('utm_source=mail&priority=extreme&unread=yes&cursor=abc');
  assert.deepEqual(filters, emptyFilters());
  assert.equal(filtersToParams(filters).toString(), '');
});

test('a box may hold several types or tags, separated by commas or spaces', () => {
  assert.deepEqual(parseFilters('type=task.*,%20deploy.*&type=task.*').type, ['task.*', 'deploy.*']);
  assert.deepEqual(splitList(' a, b  c,,'), ['a', 'b', 'c']);
});

test('API parameters always say archived, and turn dates into instants', () => {
  const params = filtersToApiParams(parseFilters('since=2026-11-01&until=2026-11-23&type=task.*'));
  assert.equal(params.get('archived'), 'false');
  assert.equal(params.get('since'), new Date(2026, 10, 1).toISOString());
  assert.equal(params.get('until'), new Date(2026, 10, 24).toISOString());
  assert.equal(params.get('type'), 'task.*');
  assert.equal(filtersToApiParams(parseFilters('archived=true')).get('archived'), 'true');
});

test('instants given in full are passed on as written', () => {
  assert.equal(toInstant('2026-11-01T10:00:00Z', false), '2026-11-01T10:00:00Z');
  assert.equal(toInstant('2026-12-31', true), new Date(2027, 0, 1).toISOString());
});

test('the Archived view alone is not a filter', () => {
  assert.equal(hasFilters(parseFilters('archived=true')), false);
  assert.equal(hasFilters(parseFilters('q=x')), true);
  assert.equal(hasFilters(parseFilters('unread=true')), true);
});
