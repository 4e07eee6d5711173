// The work pipeline in the Activity Center, in real Chromium against the real spine binary,
// with jobs driven through the HTTP Work API by a worker key: status badges on feed items that
// change live (pending -> processing -> completed; failed -> dead), also on events that arrive
// live (whose jobs the page asks for), the work page's counts, dead jobs and Retry (and what a
// refused retry says), and the entity page's dual timeline: notes as
// Markdown (a hostile note stays text and runs nothing), notes arriving live from the API and
// from a job's completion, superseded notes, and writing a note through the form.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, eventually, postEvent, problemsOf, signedIn, suite,
} from './harness.mjs';

const world = suite(async ({ install, server }) => {
  const key = await api(server, install.admin, 'POST', '/v1/keys', { role: 'worker', name: 'browser worker' });
  assert.equal(key.status, 201, JSON.stringify(key.body));
  install.worker = key.body.key;
  const rules = {
    calls: { filter: { type: 'call.*' }, queue: 'calls', max_attempts: 2 },
    imports: { filter: { type: 'import.*' }, queue: 'imports', max_attempts: 1 },
  };
  for (const [name, rule] of Object.entries(rules)) {
    const r = await api(server, install.admin, 'PUT', `/v1/work/rules/${name}`, rule);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
});

const worker = (method, path, body) => api(world.server, world.install.worker, method, path, body);

/** Claims the one job ready in `queue`. */
async function claim(queue) {
  const r = await worker('POST', '/v1/work/claim', { queue, lease_seconds: 120, limit: 1, worker: 'browser-test' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.jobs.length, 1, `one job ready in ${queue}`);
  return r.body.jobs[0];
}

async function settle(job, action, body) {
  const r = await worker('POST', `/v1/work/${job.id}/${action}`, { lease_token: job.lease_token, ...body });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

const badgeOf = (page, eventId) => page.locator(`.feed-item[data-id="${eventId}"] .job-badge`);
const statusOf = async (page, eventId) => {
  const badge = badgeOf(page, eventId);
  return (await badge.count()) === 1 ? badge.getAttribute('data-status') : null;
};

describe('job status badges', () => {
  it('show each event\'s job status and change live: pending, processing, completed; failed, dead', async () => {
    const call = await postEvent(world.server, world.install, {
      type: 'call.received', title: 'Call from +15550100', entity: { type: 'call', id: 'C-1' },
    });
    const page = await signedIn(world, 'ana');
    await eventually('a pending badge', async () => (await statusOf(page, call.id)) === 'pending');

    const job = await claim('calls');
    await eventually('processing, live', async () => (await statusOf(page, call.id)) === 'processing');
    assert.equal(await badgeOf(page, call.id).locator('.job-spinner').count(), 1, 'a spinner while processing');
    assert.match(await badgeOf(page, call.id).getAttribute('title'), /queue calls, attempt 1 of 2/);
    await settle(job, 'complete', { result: { summary: 'wants a quote' } });
    await eventually('completed, live', async () => (await statusOf(page, call.id)) === 'completed');
    assert.equal(await badgeOf(page, call.id).locator('.job-spinner').count(), 0);

    // An event that arrives live carries no jobs: the page asks for them (a moment after, for
    // all the events that came meanwhile), so its pending badge shows before any worker moves
    // it; then its transitions move it.
    const asked = [];
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname === '/v1/work') asked.push(url.searchParams.get('event_id'));
    });
    const live = await postEvent(world.server, world.install, {
      type: 'call.received', title: 'Call from +15550123', entity: { type: 'call', id: 'C-3' },
    });
    const quiet = await postEvent(world.server, world.install, { type: 'task.created', title: 'No rule matches this one' });
    await eventually('a pending badge on the live event, no worker involved', async () => (await statusOf(page, live.id)) === 'pending', 5000);
    assert.equal(await badgeOf(page, quiet.id).count(), 0, 'an event without jobs gets no badge');
    const askedFor = (id) => asked.some((ids) => ids?.split(',').includes(id));
    await eventually('the event without jobs asked about too', async () => askedFor(quiet.id));
    assert.ok(askedFor(live.id), `asked: ${asked}`);
    const liveJob = await claim('calls');
    await eventually('processing', async () => (await statusOf(page, live.id)) === 'processing');
    await settle(liveJob, 'complete', { result: { summary: 'call back tomorrow' } });
    await eventually('completed', async () => (await statusOf(page, live.id)) === 'completed');
    await page.waitForTimeout(700);
    assert.equal(await statusOf(page, live.id), 'completed', 'the lookups of the job.* events did not move it back');
    assert.ok(asked.every((ids) => !ids?.split(',').some((id) => id !== live.id && id !== quiet.id)),
      `job.* events are never asked about: ${asked}`);

    const second = await postEvent(world.server, world.install, {
      type: 'call.received', title: 'Call from +15550199', entity: { type: 'call', id: 'C-2' },
    });
    await eventually('the live event, pending', async () => (await statusOf(page, second.id)) === 'pending');
    const first = await claim('calls');
    await eventually('processing', async () => (await statusOf(page, second.id)) === 'processing');
    await settle(first, 'fail', { error: 'transcription timed out', retry_in_seconds: 0 });
    await eventually('failed, to be retried', async () => (await statusOf(page, second.id)) === 'failed');
    const again = await claim('calls');
    await settle(again, 'fail', { error: 'transcription timed out again' });
    await eventually('dead after its last attempt', async () => (await statusOf(page, second.id)) === 'dead');
    assert.match(await badgeOf(page, second.id).textContent(), /Dead/);
    // The job.* events themselves are in the feed, and carry no badge of their own.
    assert.ok(await page.locator('.feed-item .feed-type', { hasText: 'job.dead' }).count() >= 1);
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });
});

describe('the work page', () => {
  it('shows queue counts and dead jobs live; Retry revives one and the counts follow', async () => {
    const item = await postEvent(world.server, world.install, {
      type: 'import.started', title: 'Import contacts.csv', entity: { type: 'import', id: 'I-1' },
    });
    const job = await claim('imports');
    await settle(job, 'fail', { error: "CSV row 12: unknown column 'emial'" });

    const page = await signedIn(world, 'bo');
    await page.getByRole('link', { name: 'Work', exact: true }).click();
    await page.waitForURL(`${world.server.url}/work`);
    const row = page.locator(`.jobs-table tr[data-id="${job.id}"]`);
    await row.waitFor();
    assert.equal(await row.locator('.job-badge').getAttribute('data-status'), 'dead');
    const text = await row.textContent();
    assert.ok(text.includes("CSV row 12: unknown column 'emial'"), 'the last error');
    assert.ok(text.includes('1 of 1'), 'the attempt');
    assert.equal(await row.getByRole('link', { name: 'Import contacts.csv' }).getAttribute('href'), `/events/${item.id}`);
    const count = (status) => page.locator(`.queues-table tr[data-queue="imports"] td[data-status="${status}"]`).textContent();
    await eventually('one dead import', async () => (await count('dead')) === '1');
    assert.equal(await count('pending'), '0');
    assert.equal(await page.locator('.app-nav a[aria-current="page"]').textContent(), 'Work');

    // Another job dies while the page is open: its row and the count arrive live.
    const later = await postEvent(world.server, world.install, {
      type: 'import.started', title: 'Import leads.csv', entity: { type: 'import', id: 'I-2' },
    });
    const laterJob = await claim('imports');
    await settle(laterJob, 'fail', { error: 'file is empty' });
    await eventually('the new dead job, live', async () => (await page.locator(`.jobs-table tr[data-id="${laterJob.id}"]`).count()) === 1);
    await eventually('two dead imports', async () => (await count('dead')) === '2');
    assert.ok(later.id);

    await row.getByRole('button', { name: /^Retry/ }).click();
    await eventually('pending again', async () =>
      (await page.locator(`.jobs-table tr[data-id="${job.id}"] .job-badge`).getAttribute('data-status')) === 'pending');
    // The live change can arrive before the answer to the click (which waits for the retry's
    // audit event), so the answer's notice may follow the badge.
    await eventually('the notice', async () =>
      /Moved back to pending/.test(await page.locator(`.jobs-table tr[data-id="${job.id}"]`).textContent()));
    await eventually('the counts follow', async () => (await count('dead')) === '1' && (await count('pending')) === '1');
    const fresh = await worker('GET', `/v1/work/${job.id}`);
    assert.equal(fresh.body.status, 'pending', 'the API agrees');
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('says in words why a retry was refused, and offers none to a read session', async () => {
    const page = await signedIn(world, 'cy');
    await page.goto(`${world.server.url}/work`);
    const row = page.locator('.jobs-table tbody tr').first();
    await row.waitFor();
    // The server refuses a retry to anyone but an admin; an admin session whose role was
    // taken away in between is the case this stands for.
    await page.route('**/v1/work/*/retry', (route) => route.fulfill({
      status: 403,
      contentType: 'application/problem+json',
      body: JSON.stringify({ type: 'about:blank', title: 'Forbidden', status: 403, detail: 'this read session may not do this; it needs the admin role' }),
    }));
    await row.getByRole('button', { name: /^Retry/ }).click();
    await eventually('the reason', async () => /Only an admin may retry jobs/.test(await row.locator('.retry-result').textContent()));
    assert.deepEqual(problemsOf(page, [/http 403: POST .*\/retry/]), []);
    await page.context().close();

    const reader = await signedIn(world, 'dee', 'read');
    await reader.goto(`${world.server.url}/work`);
    await reader.locator('.jobs-table tbody tr').first().waitFor();
    assert.equal(await reader.getByRole('button', { name: /^Retry/ }).count(), 0);
    assert.match(await reader.locator('main').textContent(), /needs an admin session/);
    assert.deepEqual(problemsOf(reader), []);
    await reader.context().close();
  });
});

describe('the entity page\'s dual timeline', () => {
  it('shows notes as Markdown beside the activity, hostile notes as text, and new notes live', async () => {
    const entity = { type: 'contact', id: 'C-42', name: 'Ann Lee' };
    const call = await postEvent(world.server, world.install, { type: 'call.received', title: 'Inbound call from Ann Lee', entity });
    const note = (body, extra = {}) => worker('POST', '/v1/entities/contact/C-42/notes', { body, ...extra });
    const summary = await note('**Ann** wants a quote.\n\n- ten seats\n- before Friday\n\nSee [the quote](https://example.com/q/1).', {
      author: { id: 'summariser', name: 'Call summariser', kind: 'agent' }, event_id: call.id,
    });
    assert.equal(summary.status, 201, JSON.stringify(summary.body));
    const hostile = await note([
      '<script>window.__pwned = 1</script>',
      '<img src=x onerror="window.__pwned = 2">',
      '[click me](javascript:window.__pwned=3)',
    ].join('\n\n'), { author: { id: 'mallory', kind: 'system' } });
    assert.equal(hostile.status, 201);

    const page = await signedIn(world, 'eve');
    await page.goto(`${world.server.url}/entities/contact/C-42`);
    const notes = page.locator('.entity-notes .note');
    await eventually('two notes', async () => (await notes.count()) === 2);
    const rendered = page.locator(`.note[data-id="${summary.body.id}"]`);
    assert.equal(await rendered.locator('.note-body strong').textContent(), 'Ann');
    assert.equal(await rendered.locator('.note-body ul > li').count(), 2);
    const link = rendered.locator('.note-body a');
    assert.equal(await link.getAttribute('href'), 'https://example.com/q/1');
    assert.equal(await link.getAttribute('rel'), 'noopener noreferrer nofollow');
    assert.equal(await rendered.locator('.note-kind').textContent(), 'Agent');
    assert.match(await rendered.locator('.note-name').textContent(), /Call summariser/);
    assert.equal(await rendered.locator('.note-source').getAttribute('href'), `/events/${call.id}`);

    const bad = page.locator(`.note[data-id="${hostile.body.id}"]`);
    assert.equal(await bad.locator('.note-kind').textContent(), 'System');
    const badText = await bad.locator('.note-body').textContent();
    assert.ok(badText.includes('<script>window.__pwned = 1</script>'), 'the script shows as text');
    assert.ok(badText.includes('<img src=x onerror='), 'the image shows as text');
    assert.equal(await bad.locator('script, img, a').count(), 0);
    assert.equal(await page.evaluate(() => globalThis.__pwned), undefined, 'nothing ran');

    // The activity column has the event with its job's badge (a pending call job).
    await eventually('the badge on the timeline', async () =>
      (await page.locator(`.entity-timeline .feed-item[data-id="${call.id}"] .job-badge`).getAttribute('data-status')) === 'pending');
    const jobRow = page.locator('.entity-work .entity-job').first();
    await eventually('the job in the work column', async () => (await jobRow.getAttribute('data-status')) === 'pending');

    // A note through the API arrives live, correcting the first: that one reads "Superseded".
    const correction = await note('Correction: **twelve** seats.', {
      author: { id: 'summariser', name: 'Call summariser', kind: 'agent' }, supersedes: summary.body.id,
    });
    assert.equal(correction.status, 201, JSON.stringify(correction.body));
    await eventually('the correction, live', async () => (await notes.count()) === 3);
    assert.equal(await notes.first().getAttribute('data-id'), correction.body.id, 'newest first');
    await eventually('the old one superseded', async () => (await rendered.getAttribute('class')).includes('is-superseded'));
    assert.equal(await rendered.locator('.note-superseded').getAttribute('href'), `#note-${correction.body.id}`);
    assert.match(await notes.first().locator('.note-corrects').textContent(), /Corrects an earlier note/);

    // A job completed with a note: the badge, the job and the note all move without a reload.
    const job = await claim('calls');
    await eventually('processing on the timeline', async () =>
      (await page.locator(`.entity-timeline .feed-item[data-id="${call.id}"] .job-badge`).getAttribute('data-status')) === 'processing');
    await settle(job, 'complete', { note: { body: 'Sent the quote: _ten seats_.' } });
    await eventually('the completion note, live', async () => (await notes.count()) === 4);
    assert.equal(await notes.first().locator('.note-body em').textContent(), 'ten seats');
    await eventually('completed on the timeline', async () =>
      (await page.locator(`.entity-timeline .feed-item[data-id="${call.id}"] .job-badge`).getAttribute('data-status')) === 'completed');
    await eventually('completed in the work column', async () => (await jobRow.getAttribute('data-status')) === 'completed');
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('writes a note through the form, as the signed-in user', async () => {
    await postEvent(world.server, world.install, { type: 'task.created', title: 'Follow up', entity: { type: 'contact', id: 'C-77' } });
    const page = await signedIn(world, 'fay');
    await page.goto(`${world.server.url}/entities/contact/C-77`);
    await page.locator('.entity-notes .page-loading', { hasText: 'No notes yet' }).waitFor();
    await page.getByLabel('New note').fill('Called back: **done**.\n\n1. quote sent\n2. meeting booked');
    await page.getByRole('button', { name: 'Add note' }).click();
    const written = page.locator('.entity-notes .note').first();
    await written.waitFor();
    assert.equal(await written.locator('.note-body strong').textContent(), 'done');
    assert.equal(await written.locator('.note-body ol > li').count(), 2);
    assert.equal(await written.locator('.note-kind').textContent(), 'User');
    assert.equal(await page.getByLabel('New note').inputValue(), '', 'the form is cleared');
    const listed = await worker('GET', '/v1/entities/contact/C-77/notes');
    assert.equal(listed.body.items.length, 1, 'once, though it also arrived on the stream');
    assert.deepEqual(listed.body.items[0].author, { id: 'fay', name: null, kind: 'user' });
    // Its note.created event reaches the page too; the note is still shown once.
    await eventually('the note\'s event in the activity', async () =>
      (await page.locator('.entity-timeline .feed-item', { hasText: 'fay wrote a note' }).count()) === 1);
    assert.equal(await page.locator('.entity-notes .note').count(), 1, 'the live copy did not double it');

    // An empty note is refused in the form, before any request.
    await page.getByRole('button', { name: 'Add note' }).click();
    await eventually('the reason', async () => /Write something first/.test(await page.locator('.note-form').textContent()));
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();

    const reader = await signedIn(world, 'gil', 'read');
    await reader.goto(`${world.server.url}/entities/contact/C-77`);
    await reader.locator('.entity-notes .note').first().waitFor();
    assert.equal(await reader.getByLabel('New note').count(), 0, 'no form for a read session');
    assert.deepEqual(problemsOf(reader), []);
    await reader.context().close();
  });
});
