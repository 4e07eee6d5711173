import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAPPED_FIELDS, mappingFromRows, rowsFromMapping } from '../ui/mapping.js';
import { ledgerParams, ledgerPath } from '../ui/admin-ledger.js';
import { byteSize } from '../ui/values.js';

test('mapping rows become the mapping object; empty rows are left out', () => {
  const { mapping, errors } = mappingFromRows([
    { field: 'title', source: ' /subject ' },
    { field: '', source: '' },
    { field: 'type', source: 'crm.note' },
  ]);
  assert.deepEqual(errors, []);
  assert.deepEqual(mapping, { title: '/subject', type: 'crm.note' });
  assert.deepEqual(mappingFromRows([]).mapping, {});
});

test('mapping rows that cannot be a mapping say which row and why', () => {
  const { errors } = mappingFromRows([
    { field: 'title', source: '/a' },
    { field: 'title', source: '/b' },
    { field: '', source: '/c' },
    { field: 'entity.id', source: '  ' },
    { field: 'bogus', source: '/d' },
  ]);
  assert.deepEqual(errors.map((e) => e.row), [1, 2, 3, 4]);
  assert.match(errors[0].message, /twice/);
  assert.match(errors[2].message, /Pointer/);
});

test('a stored mapping reads back as rows in the fields\' order', () => {
  assert.deepEqual(rowsFromMapping({ 'entity.id': '/ref', title: '/subject', odd: 'x' }), [
    { field: 'title', source: '/subject' }, { field: 'entity.id', source: '/ref' }, { field: 'odd', source: 'x' }]);
  assert.deepEqual(rowsFromMapping(null), []);
  for (const f of ['title', 'type', 'actor.id', 'entity.type', 'idempotency_key', 'correlation_id']) assert.ok(MAPPED_FIELDS.includes(f));
});

test('the ledger\'s filters and one request live in its URL', () => {
  assert.deepEqual(ledgerParams('?channel=ch_1&verdict=rejected'), { channel: 'ch_1', verdict: 'rejected', request: null });
  assert.deepEqual(ledgerParams('?verdict=bogus'), { channel: null, verdict: null, request: null });
  assert.equal(ledgerParams('?request=r1').request, 'r1');
  assert.equal(ledgerPath(), '/admin/ledger');
  assert.equal(ledgerPath({ channel: 'ch_1', verdict: 'failed' }), '/admin/ledger?channel=ch_1&verdict=failed');
  assert.equal(ledgerPath({ request: 'r1', channel: 'ch_1' }), '/admin/ledger?request=r1');
});

test('sizes read well', () => {
  assert.equal(byteSize(812), '812 B');
  assert.equal(byteSize(3482), '3.4 KiB');
  assert.equal(byteSize(1024 * 1024 * 1.5), '1.5 MiB');
  assert.equal(byteSize(undefined), '—');
});
