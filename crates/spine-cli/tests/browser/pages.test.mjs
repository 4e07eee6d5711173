// The Activity Center's other pages in real Chromium: an event's detail (data and changes as
// tables), archive with undo and the Archived view, seen marking on open, and the admin pages
// (keys with the secret shown once, viewer tokens, types with a live summary preview).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, eventually, postEvent, problemsOf, signedIn, suite,
} from './harness.mjs';

const world = suite();

const userCounts = async (user) =>
  (await api(world.server, world.install.read, 'GET', '/v1/unread-count', undefined, { 'x-spine-user': user })).body;

describe('reading', () => {
  it('opening an event shows every field, data and changes as tables, and marks it read', async () => {
    const e = await postEvent(world.server, world.install, {
      type: 'task.updated', action: 'updated', title: 'Moved the launch',
      entity: { type: 'task', id: 'T-9', name: 'Launch' },
      changes: [{ field: 'due', old: '2026-12-01', new: '2026-12-15' }],
      data: { reason: 'waiting for legal', owners: ['ana', 'ben'], budget: { eur: 1200 } },
      tags: ['launch'], correlation_id: 'flow-7',
    });
    const page = await signedIn(world, 'gus');
    await page.locator(`.feed-item[data-id="${e.id}"]`).click();
    await eventually('the detail URL', async () => page.url().endsWith(`/events/${e.id}`));
    const detail = page.getByRole('dialog');
    await detail.waitFor();
    const text = await detail.textContent();
    for (const expected of ['2026-12-01', '2026-12-15', 'due', 'waiting for legal', '1200', 'flow-7', 'task.updated', e.id]) {
      assert.ok(text.includes(expected), `${expected} in the detail`);
    }
    assert.ok(await detail.locator('table').count() >= 2, 'data and changes are tables');
    await eventually('read through the API', async () => (await userCounts('gus')).unread === 0);
    await page.keyboard.press('Escape');
    await eventually('back on the feed', async () => page.url() === `${world.server.url}/`);
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('opening the feed marks what it showed as seen; archive hides, undo restores, Archived lists', async () => {
    const a = await postEvent(world.server, world.install, { type: 'note.added', title: 'Keep me' });
    const b = await postEvent(world.server, world.install, { type: 'note.added', title: 'Archive me' });
    const page = await signedIn(world, 'hal');
    await eventually('nothing unseen', async () => (await userCounts('hal')).unseen === 0);

    const item = page.locator(`.feed-item[data-id="${b.id}"]`);
    await item.getByRole('button', { name: /^Archive/ }).click();
    await eventually('gone from the feed', async () => (await item.count()) === 0);
    await eventually('archived through the API', async () => {
      const r = await api(world.server, world.install.read, 'GET', '/v1/events?archived=true', undefined, { 'x-spine-user': 'hal' });
      return r.body.items.some((i) => i.id === b.id);
    });
    await page.getByRole('button', { name: 'Undo' }).click();
    await eventually('back in the feed', async () => (await item.count()) === 1);

    await item.getByRole('button', { name: /^Archive/ }).click();
    await eventually('gone again', async () => (await item.count()) === 0);
    await page.getByRole('link', { name: 'Archived' }).click();
    await eventually('listed under Archived', async () =>
      (await page.locator(`.feed-item[data-id="${b.id}"]`).count()) === 1);
    assert.equal(await page.locator(`.feed-item[data-id="${a.id}"]`).count(), 0);
    await page.locator(`.feed-item[data-id="${b.id}"]`).getByRole('button', { name: /^Unarchive/ }).click();
    await eventually('restored', async () => {
      const r = await api(world.server, world.install.read, 'GET', '/v1/events?archived=true', undefined, { 'x-spine-user': 'hal' });
      return r.body.items.length === 0;
    });
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });
});

describe('administration', () => {
  it('creates a key shown once, which works, then revokes it', async () => {
    const page = await signedIn(world, 'ivy');
    await page.goto(`${world.server.url}/admin/keys`);
    await page.getByLabel('Name').fill('from the browser');
    await page.getByLabel('Role').selectOption('read');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = await page.locator('.secret-value').inputValue();
    assert.match(secret, /^spk_/);
    const works = await api(world.server, secret, 'GET', '/v1/events?limit=1');
    assert.equal(works.status, 200);
    page.once('dialog', () => {});
    await page.getByRole('button', { name: 'Revoke from the browser' }).click();
    const confirm = page.getByRole('dialog');
    await confirm.getByRole('button', { name: /Revoke/ }).click();
    await eventually('the key refused', async () => (await api(world.server, secret, 'GET', '/v1/events?limit=1')).status === 401);
    await page.reload();
    assert.equal(await page.locator('.secret-value').count(), 0, 'the secret is never shown again');
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('mints a viewer token for a scope, with the embed snippet', async () => {
    const page = await signedIn(world, 'jon');
    await page.goto(`${world.server.url}/admin/tokens`);
    await page.getByLabel('User id').fill('kim');
    await page.getByLabel('Entity type').fill('task');
    await page.getByLabel('Entity id').fill('T-9');
    await page.getByRole('button', { name: 'Create token' }).click();
    const token = await page.locator('.secret-value').first().inputValue();
    assert.match(token, /^svt\./);
    const feed = await api(world.server, token, 'GET', '/v1/events');
    assert.equal(feed.status, 200);
    assert.ok(feed.body.items.every((i) => i.entity?.id === 'T-9'), 'scoped to the entity');
    assert.match(await page.locator('main').textContent(), /<spine-feed/);
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('registers a type with a live preview of its summary, and the feed uses it', async () => {
    await postEvent(world.server, world.install, { type: 'invoice.paid', title: 'Invoice 7 paid', entity: { type: 'account', id: 'A-1', name: 'Globex' } });
    const page = await signedIn(world, 'lea');
    await page.goto(`${world.server.url}/admin/types`);
    await page.getByLabel('Type', { exact: true }).fill('invoice.paid');
    await page.getByLabel('Label').fill('Invoice paid');
    await page.getByLabel(/Summary template/).fill('{entity.name} paid: {title}');
    await eventually('the server-rendered preview', async () =>
      (await page.locator('.template-preview').textContent()) === 'Globex paid: Invoice 7 paid');
    await page.getByRole('button', { name: 'Save type' }).click();
    await eventually('stored', async () => (await api(world.server, world.install.read, 'GET', '/v1/types/invoice.paid')).status === 200);
    const stored = await api(world.server, world.install.read, 'GET', '/v1/types/invoice.paid');
    assert.equal(stored.body.summary_template, '{entity.name} paid: {title}');
    const next = await postEvent(world.server, world.install, { type: 'invoice.paid', title: 'Invoice 8 paid', entity: { type: 'account', id: 'A-2', name: 'Initech' } });
    assert.equal(next.summary, 'Initech paid: Invoice 8 paid');
    await page.goto(`${world.server.url}/`);
    const item = page.locator(`.feed-item[data-id="${next.id}"]`);
    await item.waitFor();
    assert.match(await item.textContent(), /Invoice paid/);
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('a read session sees no admin pages', async () => {
    const page = await signedIn(world, 'max', 'read');
    assert.equal(await page.getByRole('link', { name: 'Admin' }).count(), 0);
    await page.goto(`${world.server.url}/admin/keys`);
    await eventually('the admin-only page', async () => /admin/i.test(await page.locator('main').textContent()));
    assert.equal(await page.getByRole('button', { name: 'Create key' }).count(), 0);
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });
});
