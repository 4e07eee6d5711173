// The Audit page in real Chromium: administrative actions made through the API and a sign-in
// are listed newest first with who did them, filtered by what they were about and by who,
// with no secret on the page; the feed does not show them; no serious accessibility violations
// in either colour scheme; the README's screenshot.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { api, eventually, problemsOf, screenshotDir, signedIn, suite, violations } from './harness.mjs';

const secrets = [];

const world = suite(async ({ install, server }) => {
  secrets.push(install.admin, install.ingest);
  const key = await api(server, install.admin, 'POST', '/v1/keys', { role: 'read', name: 'dashboard' });
  assert.equal(key.status, 201, JSON.stringify(key.body));
  secrets.push(key.body.key);
  const channel = await api(server, install.admin, 'POST', '/v1/channels', { name: 'GitHub', provider: 'github' });
  assert.equal(channel.status, 201, JSON.stringify(channel.body));
  secrets.push(channel.body.secret);
  const rotated = await api(server, install.admin, 'POST', `/v1/channels/${channel.body.id}/rotate-secret`, {});
  assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
  secrets.push(rotated.body.secret);
  const retention = await api(server, install.admin, 'PUT', '/v1/retention', { max_age_days: 365 });
  assert.equal(retention.status, 200);
  const limits = await api(server, install.admin, 'PUT', '/v1/limits', { writes_per_second: 2000, max_events: 5000000 });
  assert.equal(limits.status, 200, JSON.stringify(limits.body));
  const revoked = await api(server, install.admin, 'DELETE', `/v1/keys/${key.body.id}`);
  assert.equal(revoked.status, 204);
});

for (const colorScheme of ['light', 'dark']) {
  it(`the audit page lists every administrative action and filters it (${colorScheme})`, async () => {
    const options = { colorScheme, bypassCSP: true, viewport: { width: 1200, height: 860 } };
    const page = await signedIn(world, 'ana', 'admin', options);
    // The feed leaves the trail out: nothing was posted, so it is empty.
    await page.getByText('No activity yet').waitFor();
    assert.equal(await page.locator('.feed-item').count(), 0, 'audit events stay out of the feed');

    await page.goto(`${world.server.url}/admin/audit`);
    const rows = page.locator('.audit-table tbody tr');
    await eventually('the audit rows', async () => (await rows.count()) >= 7);
    const types = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.type));
    assert.equal(types[0], 'audit.session.signed_in', 'newest first: ana signing in');
    for (const t of ['audit.key.created', 'audit.channel.created', 'audit.channel.secret_rotated', 'audit.retention.set', 'audit.limits.set', 'audit.key.revoked']) {
      assert.ok(types.includes(t), `${t} in ${types}`);
    }
    const text = await page.locator('.audit-table').innerText();
    for (const s of secrets) assert.ok(!text.includes(s), 'no secret on the page');
    assert.match(text, /signed in to the Activity Center/);
    assert.match(text, /writes_per_second/);
    assert.deepEqual(await violations(page), [], 'audit page');
    if (colorScheme === 'light') {
      await page.screenshot({ path: join(screenshotDir(), 'audit.png'), fullPage: true });
    }

    // About: API keys only; the URL keeps the filter.
    await page.getByLabel('About').selectOption('key');
    await eventually('only key rows', async () => {
      const now = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.type));
      // The API's key created and revoked, and the installation's keys made by `spine key create`.
      return now.length >= 4 && now.every((t) => t.startsWith('audit.key.'));
    });
    assert.match(page.url(), /\/admin\/audit\?kind=key$/);
    // Who: ana alone signed in.
    await page.getByLabel('About').selectOption('');
    await page.getByLabel('Who').fill('ana');
    await page.getByLabel('Who').press('Enter');
    await eventually('only ana', async () => {
      const now = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.type));
      return now.length >= 1 && now.every((t) => t === 'audit.session.signed_in');
    });
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });
}
