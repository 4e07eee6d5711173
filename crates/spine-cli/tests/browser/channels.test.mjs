// Channels and the ingest ledger in real Chromium: an admin creates a generic channel (its
// secret shown once, with the provider's setup instructions) and sees what the server refuses
// beside each field; a delivery posted to it appears live in the feed with the provider's mark;
// the ledger lists it accepted and a bad key rejected, 50 at a time; a mapping changed in the
// page and a replay from the ledger correct a failed delivery; rotating shows a new secret;
// disabling and deleting work; a read session sees none of it.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api, eventually, problemsOf, signedIn, suite } from './harness.mjs';

const world = suite();

/** What the test learned about the channel the page made. */
const made = { id: null, url: null, secret: null };

/** Posts `body` to the channel as a generic sender would, with `key` in X-Ingestion-Key. */
async function deliver(body, key = made.secret, url = made.url) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'x-ingestion-key': key, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

const ledger = async (query = '') =>
  (await api(world.server, world.install.admin, 'GET', `/v1/ingest/requests${query}`)).body.items;

describe('channels', () => {
  it('an admin creates a generic channel and sees its secret once, with the setup instructions', async () => {
    const page = await signedIn(world, 'ana');
    await page.goto(`${world.server.url}/admin/channels`);
    await page.getByText('No channels yet').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('CRM notes');
    await page.getByLabel('Provider').selectOption('generic');
    await page.getByLabel('Event field of mapping row 1').selectOption('title');
    await page.getByLabel('Source of title').fill('/subject');
    await page.getByRole('button', { name: 'Add a field' }).click();
    await page.getByLabel('Event field of mapping row 2').selectOption('type');
    await page.getByLabel('Source of type').fill('crm.note');
    await page.getByRole('button', { name: 'Create channel' }).click();

    made.secret = await page.locator('.secret-value').inputValue();
    assert.match(made.secret, /^[0-9a-f]{64}$/);
    const { items } = (await api(world.server, world.install.admin, 'GET', '/v1/channels')).body;
    assert.equal(items.length, 1);
    assert.equal(items[0].name, 'CRM notes');
    assert.deepEqual(items[0].mapping, { title: '/subject', type: 'crm.note' });
    made.id = items[0].id;
    made.url = items[0].ingest_url;
    assert.equal(made.url, `${world.server.url}/v1/ingest/${made.id}`);

    const guide = await page.locator('.secret-panel .setup-guide').textContent();
    assert.match(guide, /Set up Generic JSON/);
    assert.match(guide, /X-Ingestion-Key/);
    assert.ok(guide.includes(made.url), 'the URL to paste');
    const row = page.locator(`.channels-table tr[data-id="${made.id}"]`);
    assert.match(await row.textContent(), /CRM notes.*Generic JSON.*Enabled/s);
    assert.ok((await row.textContent()).includes(made.url));

    await page.reload();
    await row.waitFor();
    assert.equal(await page.locator('.secret-value').count(), 0, 'the secret is never shown again');
    await page.getByRole('button', { name: 'Setup instructions for CRM notes' }).click();
    assert.match(await page.locator('.guide-panel').textContent(), /X-Ingestion-Key/);
    assert.ok(!(await page.locator('main').textContent()).includes(made.secret), 'nor inside the instructions');
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('what the server refuses is shown beside its field, mapping rows included', async () => {
    const page = await signedIn(world, 'abe');
    await page.goto(`${world.server.url}/admin/channels`);
    await page.getByLabel('Name', { exact: true }).fill('Broken');
    await page.getByLabel('Provider').selectOption('salesforce');
    assert.match(await page.locator('.channel-form').textContent(), /18-character Organization ID/);
    await page.getByLabel('Event type (optional)').fill('Not A Type!');
    await page.getByLabel('Event field of mapping row 1').selectOption('title');
    await page.getByLabel('Source of title').fill('/bad~2pointer');
    await page.getByRole('button', { name: 'Create channel' }).click();
    const errorOf = async (control) => {
      await eventually('marked invalid', async () => (await control.getAttribute('aria-invalid')) === 'true');
      return page.locator(`[id="${await control.getAttribute('id')}-error"]`).textContent();
    };
    assert.ok((await errorOf(page.getByLabel('Event type (optional)'))).length > 0, 'the event type\'s error');
    assert.match(await errorOf(page.getByLabel('Source of title')), /Pointer/);

    await page.getByLabel('Event type (optional)').fill('');
    await page.getByLabel('Source of title').fill('/subject');
    await page.getByRole('button', { name: 'Add a field' }).click();
    await page.getByLabel('Event field of mapping row 2').selectOption('title');
    await page.getByLabel('Source of title').nth(1).fill('/other');
    await page.getByRole('button', { name: 'Create channel' }).click();
    assert.match(await errorOf(page.getByLabel('Source of title').nth(1)), /mapped twice/);
    await page.getByRole('button', { name: 'Remove mapping row 2' }).click();
    await page.getByRole('button', { name: 'Create channel' }).click();
    assert.match(await errorOf(page.getByLabel('Secret', { exact: true })), /required/, 'Salesforce needs the org id');
    const names = (await api(world.server, world.install.admin, 'GET', '/v1/channels')).body.items.map((c) => c.name);
    assert.ok(!names.includes('Broken'), 'nothing made');
    assert.deepEqual(problemsOf(page, [/^http 422: POST .*\/v1\/channels$/]), []);
    await page.context().close();
  });

  it('a delivery appears live in the feed with the provider\'s mark, and in the ledger as accepted', async () => {
    const page = await signedIn(world, 'bea');
    const sent = await deliver({ subject: 'Called Globex about the renewal' });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    assert.equal(sent.body.verdict, 'accepted');
    const [eventId] = sent.body.event_ids;
    const item = page.locator(`.feed-item[data-id="${eventId}"]`);
    await item.waitFor();
    assert.match(await item.textContent(), /Called Globex about the renewal/);
    await item.locator('.feed-provider[data-provider="generic"] svg').waitFor();
    assert.match(await item.locator('.feed-provider').textContent(), /from Generic JSON/);

    await item.click();
    const detail = page.getByRole('dialog');
    await detail.locator('.provider-label[data-provider="generic"] svg').waitFor();
    await page.keyboard.press('Escape');
    await eventually('back on the feed', async () => page.url() === `${world.server.url}/`);

    await page.goto(`${world.server.url}/admin/ledger?channel=${made.id}`);
    const row = page.locator(`.ledger-table tr[data-id="${sent.body.request_id}"]`);
    await row.waitFor();
    assert.match(await row.locator('.verdict-badge').textContent(), /^accepted$/);
    assert.match(await row.textContent(), /CRM notes/);
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('a delivery with a wrong key is refused and shows in the ledger as rejected', async () => {
    const refused = await deliver({ subject: 'Forged' }, 'not-the-secret');
    assert.equal(refused.status, 401);
    const page = await signedIn(world, 'cat');
    await page.goto(`${world.server.url}/admin/ledger`);
    await page.locator('.ledger-table tbody tr').first().waitFor();
    await page.getByLabel('Verdict').selectOption('rejected');
    await eventually('only the rejected request', async () => {
      const badges = await page.locator('.ledger-table .verdict-badge').allTextContents();
      return badges.length === 1 && badges[0] === 'rejected';
    });
    assert.match(page.url(), /verdict=rejected/);
    const row = page.locator('.ledger-table tbody tr').first();
    assert.match(await row.textContent(), /invalid|mismatch|key|secret|signature/i);
    await row.getByRole('link', { name: /^Details/ }).click();
    await page.getByRole('heading', { name: /^Request/ }).waitFor();
    assert.ok(await page.getByRole('button', { name: 'Replay' }).isDisabled(), 'a rejected request is never replayed');
    assert.match(await page.locator('.ledger-body').textContent(), /Forged/);
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('the ledger shows 50 requests at a time, and "Load more" the rest', async () => {
    for (let i = 0; i < 50; i += 1) assert.equal((await deliver({ subject: `Forged ${i}` }, `wrong-${i}`)).status, 401);
    const page = await signedIn(world, 'cid');
    await page.goto(`${world.server.url}/admin/ledger?verdict=rejected`);
    const rows = page.locator('.ledger-table tbody tr');
    await eventually('the first page', async () => (await rows.count()) === 50);
    const first = await rows.first().getAttribute('data-id');
    await page.getByRole('button', { name: 'Load more' }).click();
    await eventually('the rest', async () => (await rows.count()) === 51);
    assert.equal(await rows.first().getAttribute('data-id'), first, 'newest first, kept on top');
    assert.equal(new Set(await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.id))).size, 51, 'no repeats');
    await eventually('nothing more', async () => !(await page.getByRole('button', { name: 'Load more' }).isVisible()));
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('after the mapping is changed in the page, a replay from the ledger makes the corrected event', async () => {
    const failed = await deliver({ headline: 'Renewal signed', account: 'Globex' });
    assert.equal(failed.status, 400, 'no title: the sender is told');
    const [entry] = await ledger('?verdict=failed');
    assert.ok(entry, 'kept in the ledger as failed');

    const page = await signedIn(world, 'dan');
    await page.goto(`${world.server.url}/admin/channels`);
    await page.getByRole('button', { name: 'Edit CRM notes' }).click();
    await eventually('the form holds the mapping', async () =>
      (await page.getByLabel('Source of title').inputValue()) === '/subject');
    await page.getByLabel('Source of title').fill('/headline');
    await page.getByRole('button', { name: 'Add a field' }).click();
    await page.getByLabel('Event field of mapping row 3').selectOption('entity.name');
    await page.getByLabel('Source of entity.name').fill('/account');
    await page.getByRole('button', { name: 'Add a field' }).click();
    await page.getByLabel('Event field of mapping row 4').selectOption('entity.type');
    await page.getByLabel('Source of entity.type').fill('account');
    await page.getByRole('button', { name: 'Add a field' }).click();
    await page.getByLabel('Event field of mapping row 5').selectOption('entity.id');
    await page.getByLabel('Source of entity.id').fill('/account');
    await page.getByRole('button', { name: 'Save channel' }).click();
    await eventually('saved', async () => {
      const channel = (await api(world.server, world.install.admin, 'GET', `/v1/channels/${made.id}`)).body;
      return channel.mapping.title === '/headline' && channel.mapping['entity.id'] === '/account';
    });

    await page.goto(`${world.server.url}/admin/ledger?verdict=failed`);
    const row = page.locator(`.ledger-table tr[data-id="${entry.id}"]`);
    await row.getByRole('link', { name: /^Details/ }).click();
    await eventually('the detail URL', async () => page.url().endsWith(`/admin/ledger?request=${entry.id}`));
    assert.match(await page.locator('.ledger-body').textContent(), /"headline":\s*"Renewal signed"/);
    await page.getByRole('button', { name: 'Replay' }).click();
    const result = page.locator('.replay-events');
    await result.waitFor();
    assert.match(await result.textContent(), /accepted/);
    const link = result.getByRole('link', { name: /Renewal signed/ });
    await link.waitFor();
    const events = (await api(world.server, world.install.read, 'GET', '/v1/events?limit=10')).body.items;
    const corrected = events.find((e) => e.title === 'Renewal signed');
    assert.ok(corrected, 'the corrected event is in the log');
    assert.equal(corrected.type, 'crm.note');
    assert.equal(corrected.entity.name, 'Globex');
    await eventually('the entry lists it', async () =>
      (await page.locator(`.ledger-events a[href="/events/${corrected.id}"]`).count()) === 1);
    await link.click();
    await eventually('the event page', async () => page.url().endsWith(`/events/${corrected.id}`));
    await page.getByRole('heading', { name: /Renewal signed/ }).waitFor();
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('rotating shows a new secret once; with no grace period the old one stops', async () => {
    const page = await signedIn(world, 'eve');
    await page.goto(`${world.server.url}/admin/channels`);
    await page.getByRole('button', { name: 'Rotate secret of CRM notes' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Grace period (hours)').fill('0');
    await dialog.getByRole('button', { name: 'Rotate secret' }).click();
    const fresh = await page.locator('.secret-value').inputValue();
    assert.match(fresh, /^[0-9a-f]{64}$/);
    assert.notEqual(fresh, made.secret);
    assert.equal((await deliver({ headline: 'With the new secret', account: 'Globex' }, fresh)).status, 200);
    assert.equal((await deliver({ headline: 'With the old secret', account: 'Globex' }, made.secret)).status, 401);
    made.secret = fresh;
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('disabling refuses deliveries until enabled again; deleting asks first', async () => {
    const page = await signedIn(world, 'fay');
    await page.goto(`${world.server.url}/admin/channels`);
    await page.getByRole('button', { name: 'Disable CRM notes' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Disable channel' }).click();
    const row = page.locator(`.channels-table tr[data-id="${made.id}"]`);
    await eventually('shown disabled', async () => /Disabled/.test(await row.textContent()));
    assert.equal((await deliver({ headline: 'While disabled', account: 'Globex' })).status, 404);
    await page.getByRole('button', { name: 'Enable CRM notes' }).click();
    await eventually('shown enabled', async () => /Enabled/.test(await row.textContent()));
    assert.equal((await deliver({ headline: 'Enabled again', account: 'Globex' })).status, 200);

    await page.getByRole('button', { name: 'Delete CRM notes' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await row.count(), 1, 'kept when cancelled');
    await page.getByRole('button', { name: 'Delete CRM notes' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete channel' }).click();
    await eventually('gone', async () => (await row.count()) === 0);
    assert.equal((await api(world.server, world.install.admin, 'GET', `/v1/channels/${made.id}`)).status, 404);
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('a read session sees no channel or ledger pages', async () => {
    const page = await signedIn(world, 'gil', 'read');
    assert.equal(await page.getByRole('link', { name: 'Admin' }).count(), 0);
    for (const path of ['/admin/channels', '/admin/ledger']) {
      await page.goto(`${world.server.url}${path}`);
      await page.getByRole('heading', { name: 'Admin pages need an admin session' }).waitFor();
      assert.equal(await page.getByRole('button', { name: 'Create channel' }).count(), 0);
      assert.equal(await page.locator('.ledger-table, .channels-table').count(), 0);
    }
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });
});
