import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeClaims, refreshDelay } from '../embed/lib/token.js';

const token = (claims) => `svt.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

test('a viewer token\'s claims are read from its middle part', () => {
  assert.deepEqual(decodeClaims(token({ exp: 1800000000, u: 'ana', t: 'demo' })), { exp: 1800000000, u: 'ana', t: 'demo' });
  assert.deepEqual(decodeClaims(token({ u: 'zoë' })), { u: 'zoë' }, 'UTF-8 survives');
});

test('anything else has no claims', () => {
  for (const bad of [undefined, '', 'spk_abc', 'svt.!!!.sig', 'svt.e30', 'jwt.e30.sig', token(null)]) {
    assert.equal(decodeClaims(bad), null, String(bad));
  }
});

test('a fresh token is asked for a minute before expiry', () => {
  const now = 1_800_000_000_000;
  assert.equal(refreshDelay(token({ exp: now / 1000 + 600 }), now), 540_000);
  assert.equal(refreshDelay(token({ exp: now / 1000 + 30 }), now), 0);
  assert.equal(refreshDelay(token({ u: 'ana' }), now), null);
  assert.equal(refreshDelay('opaque', now), null);
});
