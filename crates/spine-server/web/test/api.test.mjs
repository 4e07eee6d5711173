import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createApi, ApiError, loadTypes } from '../embed/lib/api.js';

function fakeFetch(respond) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, ...init });
    const { status = 200, body = null } = respond(url, init) ?? {};
    return new Response(body === null ? null : JSON.stringify(body), {
      status, headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json' },
    });
  };
  return { fetch, calls };
}

test('the Activity Center sends its cookie and a CSRF header on unsafe requests only', async () => {
  const { fetch, calls } = fakeFetch(() => ({ body: { id: 'e1', read: true } }));
  const api = createApi({ fetch });
  await api.events(new URLSearchParams('type=task.*&limit=30'));
  await api.markRead('e/1');
  assert.equal(calls[0].url, '/v1/events?type=task.*&limit=30'.replace('*', '%2A').replace('.%2A', '.*'));
  assert.equal(calls[0].credentials, 'same-origin');
  assert.equal(calls[0].headers['X-Spine-CSRF'], undefined);
  assert.equal(calls[1].url, '/v1/events/e%2F1/read');
  assert.equal(calls[1].method, 'POST');
  assert.equal(calls[1].headers['X-Spine-CSRF'], '1');
  assert.equal(calls[1].headers.Authorization, undefined);
});

test('a viewer token travels as a bearer, without cookies, to the configured server', async () => {
  const { fetch, calls } = fakeFetch(() => ({ body: { unread: 2, unseen: 1 } }));
  let token = 'svt.one.sig';
  const api = createApi({ base: 'https://spine.example/', token: () => token, fetch });
  assert.deepEqual(await api.unreadCount(), { unread: 2, unseen: 1 });
  token = 'svt.two.sig';
  await api.readAll();
  assert.equal(calls[0].url, 'https://spine.example/v1/unread-count');
  assert.equal(calls[0].credentials, 'omit');
  assert.equal(calls[0].headers.Authorization, 'Bearer svt.one.sig');
  assert.equal(calls[1].headers.Authorization, 'Bearer svt.two.sig', 'the current token, not the first');
  assert.equal(calls[1].headers['X-Spine-CSRF'], undefined);
  assert.equal(calls[1].body, '{}');
});

test('problems become ApiErrors that say what went wrong', async () => {
  const { fetch } = fakeFetch(() => ({
    status: 422,
    body: { type: 'about:blank', title: 'Invalid', status: 422, detail: 'name is too long', errors: [{ field: 'name', message: 'too long' }] },
  }));
  const api = createApi({ fetch });
  await assert.rejects(api.request('POST', '/v1/keys', { body: { role: 'read', name: 'x' } }), (err) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 422);
    assert.equal(err.message, 'name is too long');
    assert.deepEqual(err.fieldErrors, { name: 'too long' });
    return true;
  });
});

test('a 401 is reported, and tells an expired session from a missing one', async () => {
  const seen = [];
  const { fetch } = fakeFetch((url) => ({
    status: 401, body: { title: 'Unauthorized', status: 401, detail: url.includes('session') ? 'the session has expired' : 'sign in first' },
  }));
  const api = createApi({ fetch, onUnauthorized: (e) => seen.push(e.expired) });
  await assert.rejects(api.session(), (e) => e.expired === true);
  await assert.rejects(api.request('GET', '/v1/keys'), (e) => e.status === 401 && e.expired === false);
  assert.deepEqual(seen, [true, false]);
});

test('an unreachable server is status 0, and 204 answers are null', async () => {
  const api = createApi({ fetch: async () => { throw new TypeError('Failed to fetch'); } });
  await assert.rejects(api.session(), (e) => e.status === 0 && /can't be reached/.test(e.message));
  const { fetch } = fakeFetch(() => ({ status: 204 }));
  assert.equal(await createApi({ fetch }).request('DELETE', '/v1/keys/k1'), null);
});

test('stream URLs carry the token first, then the resume point, then the filters', () => {
  const api = createApi({ base: 'https://spine.example', token: () => 'svt.a+b.c' });
  assert.equal(api.streamUrl('type=task.*&archived=false', 41),
    'https://spine.example/v1/stream?token=svt.a%2Bb.c&after=41&type=task.*&archived=false');
  assert.equal(createApi().streamUrl(new URLSearchParams('tag=x'), null), '/v1/stream?tag=x');
});

test('types load as a map, and as an empty one when the server refuses', async () => {
  const ok = createApi({ fetch: fakeFetch(() => ({ body: { items: [{ type: 'task.created', icon: 'check' }, {}] } })).fetch });
  assert.deepEqual([...(await loadTypes(ok)).keys()], ['task.created']);
  const refused = createApi({ fetch: fakeFetch(() => ({ status: 403, body: { title: 'Forbidden' } })).fetch });
  assert.equal((await loadTypes(refused)).size, 0);
});
