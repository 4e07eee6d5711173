// The Activity Center in real Chromium against the real spine binary: sign-in, the live feed,
// unread counts in both directions, resuming across a world.server restart, filters in the URL,
// "Load more", friendly pages for spent codes and expired sessions, and user text as text.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, checkedPage, eventually, postEvent, problemsOf, Server, signedIn, signinUrl, suite,
} from './harness.mjs';

const world = suite();

const summaries = (page) => page.locator('.feed-item .feed-summary').allTextContents();
const badge = (page) => page.locator('.unread-badge').textContent();
const unreadFromApi = async (user) =>
  (await api(world.server, world.install.read, 'GET', '/v1/unread-count', undefined, { 'x-spine-user': user })).body;

describe('the live feed', () => {
  it('shows the tenant\'s events, new ones live, and keeps the unread count with the API', async () => {
    for (const n of [1, 2, 3]) await postEvent(world.server, world.install, { type: 'task.created', title: `Existing ${n}` });
    const page = await signedIn(world, 'ana');
    const paths = [];
    page.on('request', (r) => paths.push(new URL(r.url()).pathname));
    await eventually('three events', async () => (await summaries(page)).length === 3);
    assert.match(await badge(page), /3/);

    const fresh = await postEvent(world.server, world.install, { type: 'task.created', title: 'Arrives live' });
    await eventually('the live event', async () => (await summaries(page)).some((s) => s.includes('Arrives live')));
    const items = await summaries(page);
    assert.match(items[0], /Arrives live/, 'newest first');
    await eventually('the badge counting it', async () => /4/.test(await badge(page)));

    await page.getByRole('button', { name: 'Mark all read' }).click();
    await eventually('a zero badge', async () => /No unread/.test(await badge(page)));
    assert.equal((await unreadFromApi('ana')).unread, 0, 'the API agrees');
    assert.equal(await page.locator('.feed-item.is-unread').count(), 0);

    const another = await postEvent(world.server, world.install, { type: 'task.created', title: 'Read elsewhere' });
    await eventually('one unread', async () => /1/.test(await badge(page)));
    const r = await api(world.server, world.install.read, 'POST', `/v1/events/${another.id}/read`, {}, { 'x-spine-user': 'ana' });
    assert.equal(r.status, 200);
    await eventually('the read mark made through the API', async () => /No unread/.test(await badge(page)));
    const item = page.locator(`.feed-item[data-id="${another.id}"]`);
    await eventually('the item no longer marked unread', async () => !(await item.getAttribute('class')).includes('is-unread'));
    assert.ok(fresh.id);
    // A tenant that never had jobs: the job badges are never loaded, nor jobs asked for.
    assert.deepEqual(paths.filter((p) => p.startsWith('/v1/work') || p === '/ui/jobs.js'), []);
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('resumes after the world.server restarts on the same port, with nothing lost or doubled', async () => {
    const page = await signedIn(world, 'ben');
    const before = await summaries(page);
    const port = world.server.port;
    await world.server.stop();
    await eventually('the page noticing', async () =>
      (await page.locator('.live-status').getAttribute('data-state')) !== 'live');
    world.server = await Server.start(world.install, { port });
    const posted = [];
    for (const n of [1, 2, 3]) posted.push((await postEvent(world.server, world.install, { type: 'task.created', title: `While away ${n}` })).id);
    await eventually('the page live again', async () =>
      (await page.locator('.live-status').getAttribute('data-state')) === 'live', 30000);
    await eventually('the three events', async () => {
      const ids = await page.locator('.feed-item').evaluateAll((els) => els.map((e) => e.dataset.id));
      return posted.every((id) => ids.includes(id));
    }, 30000);
    const ids = await page.locator('.feed-item').evaluateAll((els) => els.map((e) => e.dataset.id));
    assert.equal(new Set(ids).size, ids.length, 'no event twice');
    assert.equal(ids.length, before.length + 3);
    // The browser logs the refused reconnections itself; nothing else may be logged.
    assert.deepEqual(problemsOf(page, [/ERR_CONNECTION_REFUSED|Failed to load resource|EventSource/]), []);
    await page.context().close();
  });
});

describe('finding things', () => {
  it('filters and search narrow the list and survive a reload', async () => {
    await postEvent(world.server, world.install, { type: 'deploy.finished', title: 'Deployed zebra build', tags: ['ops'], priority: 'high' });
    await postEvent(world.server, world.install, { type: 'deploy.started', title: 'Deploying zebra build', tags: ['ops'] });
    const page = await signedIn(world, 'cleo');
    await page.getByLabel('Type', { exact: true }).fill('deploy.*');
    await page.getByRole('button', { name: 'Apply' }).click();
    await eventually('only deploys', async () => {
      const items = await summaries(page);
      return items.length === 2 && items.every((s) => /zebra/.test(s));
    });
    assert.match(page.url(), /type=deploy\.\*/);
    await page.getByLabel('Priority').selectOption('high');
    await page.getByRole('button', { name: 'Apply' }).click();
    await eventually('only the high one', async () => (await summaries(page)).length === 1);
    await page.reload();
    await eventually('the same view after a reload', async () => {
      const items = await summaries(page);
      return items.length === 1 && /Deployed zebra/.test(items[0]);
    });
    assert.equal(await page.getByLabel('Priority').inputValue(), 'high');

    await page.goto(`${world.server.url}/`);
    await page.getByLabel('Search').fill('Deploying');
    await page.getByRole('button', { name: 'Apply' }).click();
    await eventually('one match', async () => {
      const items = await summaries(page);
      return items.length === 1 && /Deploying zebra/.test(items[0]);
    });
    assert.match(page.url(), /q=Deploying/);
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('"Load more" reaches the oldest event without repeats', async () => {
    const batch = Array.from({ length: 75 }, (_, i) => ({
      type: 'bulk.item', title: `Bulk ${String(i).padStart(3, '0')}`, action: 'custom',
      occurred_at: new Date(Date.UTC(2025, 0, 1, 0, i)).toISOString(),
    }));
    const r = await api(world.server, world.install.ingest, 'POST', '/v1/events/batch', { events: batch });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const page = await signedIn(world, 'dora');
    await page.goto(`${world.server.url}/?type=bulk.item`);
    await eventually('the first page', async () => (await summaries(page)).length === 30);
    const more = page.getByRole('button', { name: 'Load more' });
    for (let i = 0; i < 10 && (await more.isVisible()); i++) {
      await more.click();
      await page.waitForTimeout(150);
    }
    await eventually('every bulk event', async () => (await summaries(page)).length === 75);
    const items = await summaries(page);
    assert.equal(new Set(items).size, 75, 'no repeats');
    assert.match(items.at(-1), /Bulk 000/, 'the oldest is last');
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });
});

describe('what goes wrong', () => {
  it('a spent sign-in link and an expired session get friendly pages', async () => {
    const url = await signinUrl(world.install, world.server, 'erin', 'read');
    const context = await world.chromium.newContext();
    const page = await checkedPage(context);
    await page.goto(url);
    await page.waitForURL(`${world.server.url}/`);
    const again = await context.newPage();
    const answer = await again.goto(url);
    assert.equal(answer.status(), 410);
    assert.match(await again.locator('h1').textContent(), /already been used/);
    assert.match(await again.locator('body').textContent(), /spine open/);
    await again.close();

    // The session ends (signed out elsewhere): the page says so and how to come back.
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'spine_session');
    assert.ok(session && session.httpOnly && session.sameSite === 'Strict');
    const out = await fetch(`${world.server.url}/v1/session/signout`, {
      method: 'POST', headers: { cookie: `spine_session=${session.value}`, 'x-spine-csrf': '1' },
    });
    assert.equal(out.status, 204);
    await page.reload();
    await eventually('the signed-out page', async () => /spine open/.test(await page.locator('main').textContent()));
    assert.deepEqual(problemsOf(page, [/401/]), []);
    await context.close();

    const expired = await world.chromium.newContext();
    const late = await checkedPage(expired);
    const shortUrl = await signinUrl(world.install, world.server, 'erin', 'read', 1);
    await new Promise((r) => setTimeout(r, 1500));
    const res = await late.goto(shortUrl);
    assert.equal(res.status(), 410);
    assert.match(await late.locator('h1').textContent(), /expired/);
    await expired.close();
  });

  it('shows a title with markup as text and runs nothing', async () => {
    const hostile = '<img src=x onerror=alert(1)> <script>alert(2)</script>';
    const e = await postEvent(world.server, world.install, { type: 'task.created', title: hostile, actor: { id: 'x', name: '<b>Mallory</b>' } });
    const page = await signedIn(world, 'fay');
    const item = page.locator(`.feed-item[data-id="${e.id}"]`);
    await item.waitFor();
    assert.match(await item.locator('.feed-summary').textContent(), /<img src=x onerror=alert\(1\)>/);
    assert.equal(await page.locator('.feed-item img, .feed-item script, .feed-item b').count(), 0);
    await item.click();
    await page.waitForTimeout(500);
    assert.deepEqual(problemsOf(page), [], 'no dialog, no error');
    await page.context().close();
  });
});
