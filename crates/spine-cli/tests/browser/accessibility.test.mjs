// An automated accessibility check (axe-core) of the feed and entity pages, of the channel,
// ledger and webhook admin pages, and of the work page and an entity's dual timeline with jobs
// and notes, in both colour schemes, no console errors, and the README's screenshots (the
// webhook page's, with real deliveries, comes from webhooks.test.mjs).

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  api, eventually, postEvent, problemsOf, screenshotDir, signedIn, suite, violations
} from './harness.mjs';

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

it('the webhook pages have no serious accessibility violations (light, dark)', async () => {
  // A host under .invalid never resolves, so the server (which refuses private targets here)
  // accepts it and the test send fails: the log holds a highlighted failed row.
  const made = await api(world.server, world.install.admin, 'POST', '/v1/webhooks', {
    url: 'https://hooks.example.invalid/spine', filter: { type: 'invoice.*' }, description: 'Billing',
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const test = await api(world.server, world.install.admin, 'POST', `/v1/webhooks/${made.body.id}/test`);
  assert.equal(test.body.outcome, 'test');
  assert.ok(test.body.error, 'no answer from an unresolvable host');
  for (const colorScheme of ['light', 'dark']) {
    const options = { colorScheme, bypassCSP: true, viewport: { width: 1200, height: 860 } };
    const page = await signedIn(world, 'ana', 'admin', options);
    await page.goto(`${world.server.url}/admin/webhooks`);
    await page.locator('.webhooks-table tbody tr').waitFor();
    assert.deepEqual(await violations(page), [], 'webhooks page');

    await page.getByRole('link', { name: 'Details of Billing' }).click();
    await page.locator('.deliveries-table tr.is-problem').waitFor();
    assert.deepEqual(await violations(page), [], 'endpoint page with its delivery log');
    await page.getByRole('button', { name: 'Replay…' }).click();
    await page.getByRole('dialog', { name: 'Replay deliveries' }).waitFor();
    assert.deepEqual(await violations(page), [], 'replay dialog');
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  }
});

/** Jobs in two queues (completed, processing, dead) and notes by an agent, a person and the system. */
async function pipeline({ install, server }) {
  const call = (method, key, path, body) => api(server, key, method, path, body).then((r) => {
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  });
  const worker = (await call('POST', install.admin, '/v1/keys', { role: 'worker', name: 'summariser' })).key;
  await call('PUT', install.admin, '/v1/work/rules/calls', { filter: { type: 'call.*' }, queue: 'calls', max_attempts: 3 });
  await call('PUT', install.admin, '/v1/work/rules/imports', { filter: { type: 'import.*' }, queue: 'imports', max_attempts: 1 });
  const claim = async (queue) => (await call('POST', worker, '/v1/work/claim', { queue, worker: `${queue}-worker` })).jobs[0];
  const settle = (job, action, body) => call('POST', worker, `/v1/work/${job.id}/${action}`, { lease_token: job.lease_token, ...body });

  const ann = { type: 'contact', id: 'C-42', name: 'Ann Lee' };
  await postEvent(server, install, { type: 'email.received', title: 'Pricing for ten seats?', entity: ann, actor: { id: 'ann', name: 'Ann Lee', kind: 'user' } });
  const inbound = await postEvent(server, install, { type: 'call.inbound', title: 'Call from Ann Lee', entity: ann, actor: { id: 'telephony', name: 'Telephony', kind: 'system' } });
  await settle(await claim('calls'), 'complete', {
    result: { summary: 'wants a quote' },
    note: { body: '**Ann** wants a quote for ten seats.\n\n- needs single sign-on\n- decides by Friday\n\nPricing page: https://example.com/pricing', author: { id: 'summariser', name: 'Call summariser', kind: 'agent' } },
  });
  await call('POST', install.admin, '/v1/entities/contact/C-42/notes', { body: 'Contact created in the CRM from the call.', author: { id: 'crm-sync', name: 'CRM sync', kind: 'system' }, event_id: inbound.id });
  await call('POST', install.admin, '/v1/entities/contact/C-42/notes', { body: 'Sent the quote. Follow up on **Thursday**.', author: { id: 'ana', name: 'Ana Silva', kind: 'user' } });
  await postEvent(server, install, { type: 'call.inbound', title: 'Voicemail from Ann Lee', entity: ann, actor: { id: 'telephony', name: 'Telephony', kind: 'system' } });
  await claim('calls');

  await postEvent(server, install, { type: 'import.started', title: 'Import leads.csv', entity: { type: 'import', id: 'I-1' } });
  await settle(await claim('imports'), 'complete', {});
  await postEvent(server, install, { type: 'import.started', title: 'Import contacts.csv', entity: { type: 'import', id: 'I-2' } });
  await settle(await claim('imports'), 'fail', { error: "CSV row 12: unknown column 'emial'" });
}

it('the work page and an entity\'s dual timeline have no serious accessibility violations', async () => {
  await pipeline(world);
  for (const colorScheme of ['light', 'dark']) {
    const options = { colorScheme, bypassCSP: true, viewport: { width: 1200, height: 860 } };
    const page = await signedIn(world, 'ana', 'admin', options);
    await page.goto(`${world.server.url}/work`);
    await page.locator('.jobs-table tbody tr').first().waitFor();
    await page.locator('.queues-table').waitFor();
    assert.deepEqual(await violations(page), [], 'work page');
    if (colorScheme === 'light') await page.screenshot({ path: join(screenshotDir(), 'work.png'), fullPage: true });

    await page.goto(`${world.server.url}/entities/contact/C-42`);
    await eventually('the notes', async () => (await page.locator('.entity-notes .note').count()) === 3);
    await eventually('the jobs', async () => (await page.locator('.entity-work .entity-job').count()) === 2);
    await eventually('the badges', async () => (await page.locator('.entity-timeline .job-badge').count()) === 2);
    assert.deepEqual(await violations(page), [], 'entity page with notes and jobs');
    if (colorScheme === 'light') await page.screenshot({ path: join(screenshotDir(), 'entity-dual-timeline.png'), fullPage: true });
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  }
});
