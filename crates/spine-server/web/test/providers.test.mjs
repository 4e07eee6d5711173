import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROVIDERS, providerOf } from '../embed/lib/providers.js';
import { CHANNEL_PROVIDERS, SECRET_HINTS, codeParts, setupGuide, withBasicAuth } from '../ui/providers.js';

const URL = 'https://spine.example.com/v1/ingest/ch_0123456789abcdef01234567';

test('every provider a channel can be made for has a mark, a secret hint and setup instructions', () => {
  for (const provider of CHANNEL_PROVIDERS) {
    assert.ok(PROVIDERS[provider]?.label, `${provider}: label`);
    assert.ok(PROVIDERS[provider].paths.length > 0, `${provider}: drawing`);
    for (const d of PROVIDERS[provider].paths) assert.match(d, /^M[\d\s.,\-a-zA-Z]+$/, `${provider}: ${d}`);
    assert.ok(SECRET_HINTS[provider], `${provider}: secret hint`);
    const guide = setupGuide(provider, URL);
    assert.ok(guide, `${provider}: guide`);
    assert.ok(guide.steps.length >= 2, `${provider}: steps`);
    for (const step of guide.steps) assert.equal(step.split('`').length % 2, 1, `${provider}: unbalanced backticks in ${step}`);
    assert.ok(guide.values.some((v) => v.value.includes('/v1/ingest/ch_0123456789abcdef01234567')), `${provider}: the URL to paste`);
  }
  assert.ok(CHANNEL_PROVIDERS.includes('file'), 'file channels take uploads');
  assert.equal(setupGuide('no-such-provider', URL), null);
});

test('the instructions say where each provider takes the URL and the secret', () => {
  const text = (provider) => setupGuide(provider, URL).steps.join(' ');
  assert.match(text('github'), /Settings → Webhooks/);
  assert.match(text('github'), /application\/json/);
  assert.match(text('stripe'), /whsec_/);
  assert.match(text('twilio'), /Auth Token/);
  assert.match(text('hubspot'), /client secret/);
  assert.match(text('salesforce'), /Organization ID/);
  assert.match(text('salesforce'), /Outbound Message/);
  assert.match(text('postmark'), /basic auth/);
  for (const p of ['generic', 'cloudevents', 'claude-code', 'file']) assert.match(text(p), /Authorization: Bearer|X-Ingestion-Key/, p);
  const hook = JSON.parse(setupGuide('claude-code', URL).example);
  assert.equal(hook.hooks.PostToolUse[0].hooks[0].type, 'http');
  assert.equal(hook.hooks.PostToolUse[0].hooks[0].url, URL);
  assert.match(setupGuide('generic', URL).example, /X-Ingestion-Key/);
});

test('Postmark\'s URL carries the secret as the basic-auth password, escaped', () => {
  assert.equal(withBasicAuth(URL, 's3cr/t'), 'https://spine:s3cr%2Ft@spine.example.com/v1/ingest/ch_0123456789abcdef01234567');
  assert.equal(withBasicAuth('http://127.0.0.1:8080/v1/ingest/ch_1', null), 'http://spine:SECRET@127.0.0.1:8080/v1/ingest/ch_1');
  assert.equal(setupGuide('postmark', URL, 'pw').values[0].value, 'https://spine:pw@spine.example.com/v1/ingest/ch_0123456789abcdef01234567');
  for (const p of CHANNEL_PROVIDERS.filter((name) => name !== 'postmark')) {
    const guide = setupGuide(p, URL, 'the-secret');
    assert.ok(!JSON.stringify(guide).includes('the-secret'), `${p} does not spread the secret`);
  }
});

test('an event\'s source system is a provider only when it names one', () => {
  assert.equal(providerOf('github').label, 'GitHub');
  assert.equal(providerOf('claude-code').name, 'claude-code');
  assert.equal(providerOf('billing'), null);
  assert.equal(providerOf('constructor'), null, 'not an inherited property');
  assert.equal(providerOf(undefined), null);
});

test('backticks split text into code and plain parts', () => {
  assert.deepEqual(codeParts('Set `url` to it'), [
    { code: false, text: 'Set ' }, { code: true, text: 'url' }, { code: false, text: ' to it' }]);
  assert.deepEqual(codeParts('plain'), [{ code: false, text: 'plain' }]);
});
