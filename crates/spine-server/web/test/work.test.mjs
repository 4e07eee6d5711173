// The work page's pure parts: its URL and what a refused retry says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retryProblem, shortId, workParams, workPath } from '../ui/work.js';

test('the work page keeps its filters in the URL, dead jobs by default', () => {
  assert.deepEqual(workParams(''), { status: 'dead', queue: null });
  assert.deepEqual(workParams('?status=failed&queue=calls'), { status: 'failed', queue: 'calls' });
  assert.deepEqual(workParams('?status=bogus'), { status: 'dead', queue: null });
  assert.equal(workPath({ status: 'dead' }), '/work');
  assert.equal(workPath({ status: 'completed', queue: 'a b' }), '/work?status=completed&queue=a+b');
  assert.equal(shortId('0193a8c2-7d3e-7f00-8000-00000000abcd'), '0000abcd');
});

test('a refused retry says why in words', () => {
  assert.match(retryProblem({ status: 403, message: 'this read session may not do this' }), /Only an admin may retry/);
  assert.match(retryProblem({ status: 409, message: 'only dead or failed jobs can be retried; this one is pending' }), /this one is pending/);
  assert.match(retryProblem({ status: 404 }), /no longer exists/);
});
