import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entityPath, eventPath, filterPath } from '../embed/lib/links.js';
import { embedParams, templateLink } from '../embed/lib/attributes.js';

test('Activity Center paths encode what they carry', () => {
  assert.equal(entityPath({ type: 'task', id: 'T-1' }), '/entities/task/T-1');
  assert.equal(entityPath({ type: 'a/b', id: '1 2?' }), '/entities/a%2Fb/1%202%3F');
  assert.equal(eventPath('0193-abc'), '/events/0193-abc');
  assert.equal(filterPath('actor', 'ana & co'), '/?actor=ana+%26+co');
});

test('entity-href templates make http(s) links only', () => {
  const link = templateLink('/tasks/{id}?kind={type}', 'https://app.example/home');
  assert.equal(link({ type: 'task', id: 'T 1/2' }), 'https://app.example/tasks/T%201%2F2?kind=task');
  assert.equal(templateLink('javascript:alert({id})', 'https://app.example/')({ id: '1' }), null);
  assert.equal(templateLink('', 'https://app.example/'), null);
  assert.equal(templateLink('{id}', 'https://app.example/x/')({ id: 'javascript:alert(1)' }),
    'https://app.example/x/javascript%3Aalert(1)', 'an id cannot change the scheme');
});

test('the filter attribute keeps its filters, loses paging, and hides archived items by default', () => {
  const params = embedParams('type=task.*&source=github&cursor=x&limit=5&order=seq&after=3&token=t&since=2026-11-01');
  assert.deepEqual([...params.keys()], ['type', 'source', 'since', 'archived']);
  assert.equal(params.get('since'), new Date(2026, 10, 1).toISOString());
  assert.equal(params.get('archived'), 'false');
  assert.equal(embedParams('archived=true').get('archived'), 'true');
  assert.equal(embedParams(null).toString(), 'archived=false');
});
