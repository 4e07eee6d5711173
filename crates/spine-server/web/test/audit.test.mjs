import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auditParams, auditPath, auditQuery, details, KINDS } from '../ui/admin-audit.js';

test('the filters live in the URL, and an unknown kind is dropped', () => {
  assert.deepEqual(auditParams(''), { kind: null, actor: null });
  assert.deepEqual(auditParams('?kind=key&actor=key%3Aabc'), { kind: 'key', actor: 'key:abc' });
  assert.deepEqual(auditParams('?kind=nope'), { kind: null, actor: null });
  assert.equal(auditPath(), '/admin/audit');
  assert.equal(auditPath({ kind: 'channel', actor: 'ana' }), '/admin/audit?kind=channel&actor=ana');
  assert.deepEqual(auditParams(auditPath({ kind: 'webhook', actor: 'a&b' }).split('?')[1]), { kind: 'webhook', actor: 'a&b' });
});

test('the API query always stays inside the audit trail', () => {
  assert.deepEqual(auditQuery(), { type: 'audit.*', limit: 50 });
  assert.deepEqual(auditQuery({ kind: 'key', actor: 'ana' }, 'c1'), { type: 'audit.key.*', limit: 50, actor: 'ana', cursor: 'c1' });
  for (const [kind] of KINDS) assert.match(auditQuery({ kind }).type, /^audit\.[a-z_]+\.\*$/);
});

test('details show what changed, compactly, and leave out what is empty', () => {
  assert.deepEqual(details(null), []);
  assert.deepEqual(details({ role: 'read', name: null, scope: {}, limits: { a: 1 }, n: 3 }),
    [['role', 'read'], ['limits', '{"a":1}'], ['n', '3']]);
});
