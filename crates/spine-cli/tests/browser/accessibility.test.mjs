// An automated accessibility check (axe-core) of the feed and entity pages, and of the channel
// and ledger admin pages, in both colour schemes, no console errors, and the README's
// screenshots (feed, light and dark).

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  api, eventually, postEvent, problemsOf, screenshotDir, signedIn, suite,
} from './harness.mjs';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const world = suite(async ({ install, server }) => {
  const types = {
    'task.created': { label: 'Task created', icon: 'plus', color: '#2563eb', summary_template: '{actor.name} created "{entity.name}"' },
    'deploy.failed': { label: 'Deploy failed', icon: 'alert', color: '#dc2626', important: true },
    'call.inbound': { label: 'Inbound call', icon: 'phone', color: '#0891b2' },
  };
  for (const [type, info] of Object.entries(types)) {
    const r = await api(server, install.admin, 'PUT', `/v1/types/${type}`, info);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  const task = { type: 'task', id: 'T-7', name: 'Ship the Activity Center' };
  await postEvent(server, install, { type: 'call.inbound', title: 'Call from Globex', tags: ['calls'], actor: { id: 'telephony', name: 'Telephony', kind: 'system' } });
  await postEvent(server, install, { type: 'task.created', action: 'created', title: 'Ship it', entity: task, tags: ['ui'], priority: 'high' });
  await postEvent(server, install, { type: 'deploy.failed', title: 'Deploy of api v2.4 failed', priority: 'urgent', tags: ['deploys'], actor: { id: 'ci', name: 'CI', kind: 'service' } });
  await postEvent(server, install, { type: 'agent.tool_call', title: 'Edit src/feed.js', entity: task, actor: { id: 'claude', name: 'Coding agent', kind: 'agent' } });

  // A channel whose ledger holds a failed and a rejected request: neither adds to the feed.
  const channel = await api(server, install.admin, 'POST', '/v1/channels', { name: 'CRM notes', provider: 'generic', mapping: { title: '/subject' } });
  assert.equal(channel.status, 201, JSON.stringify(channel.body));
  for (const key of [channel.body.secret, 'wrong']) {
    const r = await fetch(channel.body.ingest_url, { method: 'POST', headers: { 'x-ingestion-key': key, 'content-type': 'application/json' }, body: '{"note": "no subject"}' });
    assert.equal(r.status, key === 'wrong' ? 401 : 400);
  }
});

/** axe's serious and critical violations on the page, as readable lines. */
async function violations(page) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => globalThis.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

for (const colorScheme of ['light', 'dark']) {
  it(`the feed and entity pages have no serious accessibility violations (${colorScheme})`, async () => {
    // axe is injected as a script, which the pages' content security policy would refuse.
    const options = { colorScheme, bypassCSP: true, viewport: { width: 1200, height: 860 } };
    const page = await signedIn(world, 'ana', 'admin', options);
    await eventually('the feed', async () => (await page.locator('.feed-item').count()) === 4);
    await page.screenshot({ path: join(screenshotDir(), `feed-${colorScheme}.png`) });
    assert.deepEqual(await violations(page), [], 'feed page');

    await page.goto(`${world.server.url}/entities/task/T-7`);
    await eventually('the timeline', async () => (await page.locator('.feed-item').count()) === 2);
    assert.deepEqual(await violations(page), [], 'entity page');
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });
}

for (const colorScheme of ['light', 'dark']) {
  it(`the channel and ledger pages have no serious accessibility violations (${colorScheme})`, async () => {
    const options = { colorScheme, bypassCSP: true, viewport: { width: 1200, height: 860 } };
    const page = await signedIn(world, 'ana', 'admin', options);
    await page.goto(`${world.server.url}/admin/channels`);
    await page.locator('.channels-table').waitFor();
    await page.getByLabel('Name', { exact: true }).fill(`Tickets ${colorScheme}`);
    await page.getByLabel('Provider').selectOption('github');
    await page.getByRole('button', { name: 'Create channel' }).click();
    await page.locator('.secret-panel .setup-guide').waitFor();
    assert.deepEqual(await violations(page), [], 'channels page with a new secret and its setup');
    if (colorScheme === 'light') {
      await page.screenshot({ path: join(screenshotDir(), 'channel-setup.png'), fullPage: true });
    }

    await page.goto(`${world.server.url}/admin/ledger`);
    await eventually('the ledger', async () => (await page.locator('.ledger-table tbody tr').count()) === 2);
    assert.deepEqual(await violations(page), [], 'ledger page');

    await page.locator('.ledger-table tbody tr').first().getByRole('link', { name: /^Details/ }).click();
    await page.locator('.ledger-body').waitFor();
    assert.deepEqual(await violations(page), [], 'ledger request page');
    if (colorScheme === 'light') {
      await page.screenshot({ path: join(screenshotDir(), 'ledger-request.png') });
    }
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });
}
