// Outbound webhooks in real Chromium, against the real spine binary (private targets allowed) and
// a receiver on 127.0.0.1 started here: an admin adds an endpoint and sees its `whsec_` secret
// once; events posted through the API are delivered, signed, and appear in the endpoint's
// delivery log; a test send shows its answer and a `test` row; a receiver that fails once shows
// a highlighted retrying row and then the delivery; a replay sends events again; disabling stops
// deliveries until enabling resumes them where they stopped; a 410 disables the endpoint and the
// page says why; deleting asks first. On a server that refuses private targets, the form shows
// the refusal beside the URL field. axe finds nothing serious on the endpoint page with its log
// (both pages in both colour schemes: accessibility.test.mjs); docs/screenshots/webhooks.png
// comes from here.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { join } from 'node:path';
import {
  Server, api, eventually, installation, postEvent, problemsOf, screenshotDir, signedIn, suite, violations
} from './harness.mjs';


/** The receiver: every request kept; answers 200 unless `answers` holds other statuses to give first. */
const receiver = { url: null, received: [], answers: [], server: null };

const world = suite(async (w) => {
  // The endpoint lives on 127.0.0.1, which Spine refuses unless told otherwise.
  await w.server.stop();
  w.server = await Server.start(w.install, { extraEnv: { SPINE_WEBHOOK_ALLOW_PRIVATE: 'true' } });
  receiver.server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      let event = null;
      try {
        event = JSON.parse(body);
      } catch {
        // Kept as text.
      }
      receiver.received.push({ path: req.url, headers: req.headers, body, event });
      const status = receiver.answers.shift() ?? 200;
      res.writeHead(status, { 'content-type': status === 200 ? 'application/json' : 'text/plain' });
      res.end(status === 200 ? '{"ok": true, "stored": "in the billing service"}' : status === 410 ? 'gone for good' : 'not now, the database is down');
    });
  });
  await new Promise((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${receiver.server.address().port}/hooks/spine`;
});

after(async () => {
  receiver.server?.closeAllConnections();
  await new Promise((resolve) => (receiver.server ? receiver.server.close(resolve) : resolve()));
});

/** What the test learned about the endpoint the page made. */
const made = { id: null, secret: null, invoices: [] };

/** The Standard Webhooks signature check, written here from the scheme (not Spine's code). */
function verified({ headers, body }) {
  const key = Buffer.from(made.secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key)
    .update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`).digest('base64');
  return String(headers['webhook-signature'] ?? '').split(' ').includes(`v1,${expected}`);
}

const deliveriesOf = (eventId) => receiver.received.filter((r) => r.event?.id === eventId);
const webhook = async () => (await api(world.server, world.install.admin, 'GET', `/v1/webhooks/${made.id}`)).body;

async function invoice(n) {
  const event = await postEvent(world.server, world.install, {
    type: 'invoice.paid', title: `Invoice ${n} paid`, entity: { type: 'invoice', id: `inv-${n}` },
  });
  made.invoices.push(event);
  return event;
}

/** The delivery log's rows on the page, as {outcome, seq, status}. */
async function logRows(page) {
  return page.locator('.deliveries-table tbody tr').evaluateAll((trs) => trs.map((tr) => ({
    outcome: tr.dataset.outcome,
    seq: tr.dataset.seq ? Number(tr.dataset.seq) : null,
    status: tr.querySelector('.status-code').textContent,
    problem: tr.classList.contains('is-problem'),
  })));
}


describe('webhooks', () => {
  it('an admin adds an endpoint and sees its secret once, with a copy button', async () => {
    const page = await signedIn(world, 'ana', 'admin', { permissions: ['clipboard-read', 'clipboard-write'] });
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Webhooks' }).click();
    await eventually('the webhooks page', async () => page.url() === `${world.server.url}/admin/webhooks`);
    await page.getByText('No endpoints yet').waitFor();
    await page.getByLabel('URL', { exact: true }).fill(receiver.url);
    await page.getByLabel('Event types (optional)').fill('invoice.*');
    await page.getByLabel('Description (optional)').fill('Billing service');
    await page.getByRole('button', { name: 'Create endpoint' }).click();

    made.secret = await page.locator('.secret-value').inputValue();
    assert.match(made.secret, /^whsec_[A-Za-z0-9+/=]{20,}$/);
    await page.locator('.secret-panel').getByRole('button', { name: 'Copy' }).click();
    await eventually('the secret copied', async () => (await page.evaluate(() => navigator.clipboard.readText())) === made.secret);
    const { items } = (await api(world.server, world.install.admin, 'GET', '/v1/webhooks')).body;
    assert.equal(items.length, 1);
    assert.equal(items[0].url, receiver.url);
    assert.deepEqual(items[0].filter, { type: 'invoice.*' });
    assert.equal(items[0].description, 'Billing service');
    made.id = items[0].id;

    const row = page.locator(`.webhooks-table tr[data-id="${made.id}"]`);
    await row.waitFor();
    assert.match(await row.textContent(), /127\.0\.0\.1.*Billing service.*type=invoice\.\*.*Active/s);
    await page.reload();
    await row.waitFor();
    assert.equal(await page.locator('.secret-value').count(), 0, 'the secret is never shown again');
    assert.ok(!(await page.locator('main').textContent()).includes(made.secret));
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('posted events are delivered, signed, and appear in the delivery log', async () => {
    const page = await signedIn(world, 'ben');
    await page.goto(`${world.server.url}/admin/webhooks`);
    await page.getByRole('link', { name: 'Details of Billing service' }).click();
    await eventually('the endpoint page', async () => page.url().endsWith(`/admin/webhooks?id=${made.id}`));
    await page.getByRole('heading', { name: /^Endpoint/ }).waitFor();
    await page.getByText('No deliveries yet').waitFor();

    await invoice(1);
    await postEvent(world.server, world.install, { type: 'task.created', title: 'Not for billing' });
    await invoice(2);
    await invoice(3);
    await eventually('three deliveries received', async () => receiver.received.length === 3, 20000);
    assert.deepEqual(receiver.received.map((r) => r.event.title), ['Invoice 1 paid', 'Invoice 2 paid', 'Invoice 3 paid']);
    assert.ok(receiver.received.every(verified), 'every delivery carries a valid signature');
    assert.ok(receiver.received.every((r) => r.path === '/hooks/spine'));

    await eventually('three delivered rows', async () => {
      const rows = await logRows(page);
      return rows.length === 3 && rows.every((r) => r.outcome === 'delivered' && r.status === '200' && !r.problem);
    }, 20000);
    const seqs = (await logRows(page)).map((r) => r.seq);
    assert.deepEqual(seqs, made.invoices.map((e) => e.seq).reverse(), 'newest first, by event position');
    const first = page.locator('.deliveries-table tbody tr').last();
    assert.match(await first.textContent(), /"ok": true/, 'the start of the answer');
    await first.getByRole('link', { name: `Event ${made.invoices[0].seq}` }).waitFor();
    await eventually('caught up', async () => /0 positions behind/.test(await page.locator('.webhook-summary').textContent()));
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('a test send shows its answer and adds a test row', async () => {
    const page = await signedIn(world, 'cat');
    await page.goto(`${world.server.url}/admin/webhooks?id=${made.id}`);
    await eventually('the log', async () => (await logRows(page)).length === 3);
    await page.getByRole('button', { name: 'Test send' }).click();
    const result = page.locator('.test-result');
    await eventually('the answer', async () => /Delivered: answered 200/.test(await result.textContent()));
    const test = receiver.received.at(-1);
    assert.equal(test.event.type, 'spine.webhook.test');
    assert.equal(test.event.data.webhook_id, made.id);
    assert.ok(verified(test), 'signed like any delivery');
    await eventually('a test row on top', async () => {
      const [top] = await logRows(page);
      return top?.outcome === 'test' && top.status === '200' && top.seq === null;
    });
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('a receiver that fails shows a highlighted retrying row, then the delivery', async () => {
    // axe is injected as a script, which the pages' content security policy would refuse.
    const page = await signedIn(world, 'dan', 'admin', { bypassCSP: true, viewport: { width: 1200, height: 860 } });
    await page.goto(`${world.server.url}/admin/webhooks?id=${made.id}`);
    await eventually('the log', async () => (await logRows(page)).length === 4);
    receiver.answers.push(500);
    const fourth = await invoice(4);
    await eventually('a retrying row', async () => {
      const [top] = await logRows(page);
      return top?.outcome === 'retrying' && top.status === '500' && top.problem && top.seq === fourth.seq;
    }, 20000);
    const retrying = page.locator('.deliveries-table tr[data-outcome="retrying"]');
    assert.match(await retrying.textContent(), /not now, the database is down/);
    assert.match(await retrying.textContent(), /next attempt/);
    // The first retry comes 5 s later, with the same message.
    await eventually('delivered on the retry', async () => {
      const rows = await logRows(page);
      return rows[0]?.outcome === 'delivered' && rows[0].seq === fourth.seq;
    }, 30000);
    const tries = deliveriesOf(fourth.id);
    assert.equal(tries.length, 2);
    assert.equal(tries[0].headers['webhook-id'], tries[1].headers['webhook-id'], 'a retry is the same message');

    assert.deepEqual(await violations(page), [], 'endpoint page with its delivery log');
    await page.screenshot({ path: join(screenshotDir(), 'webhooks.png'), fullPage: true });
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('a replay from a position sends those events again', async () => {
    const page = await signedIn(world, 'eve');
    await page.goto(`${world.server.url}/admin/webhooks?id=${made.id}`);
    await eventually('the log', async () => (await logRows(page)).length === 6);
    const from = made.invoices[1];
    const sentBefore = new Map(made.invoices.map((e) => [e.id, deliveriesOf(e.id).length]));
    await page.getByRole('button', { name: 'Replay…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Replay deliveries' });
    await dialog.getByLabel('Start at event (seq)').fill(String(from.seq));
    await dialog.getByRole('button', { name: 'Replay' }).click();
    await eventually('dialog closed', async () => (await dialog.count()) === 0);
    for (const event of made.invoices.slice(1)) {
      await eventually(`${event.title} sent again`, async () => deliveriesOf(event.id).length === sentBefore.get(event.id) + 1, 20000);
    }
    assert.equal(deliveriesOf(made.invoices[0].id).length, 1, 'what came before stays sent once');
    assert.ok(receiver.received.every(verified));
    await eventually('the re-deliveries in the log', async () => {
      const rows = await logRows(page);
      return rows.filter((r) => r.outcome === 'delivered' && r.seq === from.seq).length === 2;
    }, 20000);
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('a disabled endpoint gets nothing until it is enabled, then resumes where it stopped', async () => {
    const page = await signedIn(world, 'fay');
    await page.goto(`${world.server.url}/admin/webhooks?id=${made.id}`);
    await page.getByRole('button', { name: 'Disable' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Disable endpoint' }).click();
    const alert = page.locator('.webhook-alert.is-disabled');
    await alert.waitFor();
    assert.match(await alert.textContent(), /Disabled: disabled by an admin/);
    assert.equal((await webhook()).status, 'disabled');

    const held = await invoice(5);
    await eventually('the lag shows it waiting', async () => (await webhook()).lag >= 1);
    assert.equal(deliveriesOf(held.id).length, 0);
    await page.goto(`${world.server.url}/admin/webhooks`);
    const row = page.locator(`.webhooks-table tr[data-id="${made.id}"]`);
    await row.waitFor();
    assert.match(await row.getAttribute('class'), /is-disabled/);
    assert.match(await row.locator('.webhook-status').textContent(), /Disabled/);

    await row.getByRole('link', { name: 'Details of Billing service' }).click();
    await page.getByRole('button', { name: 'Enable' }).click();
    await eventually('enabled', async () => (await page.locator('.webhook-alert').count()) === 0);
    await eventually('the held event delivered', async () => deliveriesOf(held.id).length === 1, 20000);
    await eventually('in the log', async () => (await logRows(page))[0]?.seq === held.seq);
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('a 410 disables the endpoint and the page says why', async () => {
    const page = await signedIn(world, 'gus');
    await page.goto(`${world.server.url}/admin/webhooks?id=${made.id}`);
    await page.locator('.deliveries-table').waitFor();
    receiver.answers.push(410);
    const gone = await invoice(6);
    const alert = page.locator('.webhook-alert.is-disabled');
    await eventually('the disabled alert', async () => /410 Gone/.test(await alert.textContent()), 20000);
    await eventually('a disabled row', async () => {
      const [top] = await logRows(page);
      return top?.outcome === 'disabled' && top.status === '410' && top.problem && top.seq === gone.seq;
    });
    assert.match(await page.locator('.webhook-summary .webhook-status').textContent(), /Disabled/);
    await page.getByRole('button', { name: 'Enable' }).click();
    await eventually('enabled again', async () => (await webhook()).status === 'active');
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('deleting asks first', async () => {
    const page = await signedIn(world, 'hal');
    await page.goto(`${world.server.url}/admin/webhooks?id=${made.id}`);
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await api(world.server, world.install.admin, 'GET', `/v1/webhooks/${made.id}`)).status, 200, 'kept when cancelled');
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete endpoint' }).click();
    await eventually('back on the list', async () => page.url() === `${world.server.url}/admin/webhooks`);
    await page.getByText('No endpoints yet').waitFor();
    assert.equal((await api(world.server, world.install.admin, 'GET', `/v1/webhooks/${made.id}`)).status, 404);
    await page.goto(`${world.server.url}/admin/webhooks?id=${made.id}`);
    await page.getByText('There is no such endpoint').waitFor();
    assert.deepEqual(problemsOf(page, [/^http 404: GET .*\/v1\/webhooks\/wh_/]), []);
    await page.context().close();
  });

  it('a read session sees no webhook pages; an unknown admin page is not found', async () => {
    const page = await signedIn(world, 'jon', 'read');
    await page.goto(`${world.server.url}/admin/webhooks`);
    await page.getByRole('heading', { name: 'Admin pages need an admin session' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Create endpoint' }).count(), 0);
    await page.goto(`${world.server.url}/admin/nowhere`);
    await page.getByRole('heading', { name: 'There is no page here' }).waitFor();
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });
});

describe('webhooks on a server that refuses private targets', () => {
  const strict = {};
  before(async () => {
    strict.install = await installation();
    strict.server = await Server.start(strict.install);
    strict.chromium = world.chromium;
  });
  after(async () => {
    await strict.server?.stop();
    strict.install?.cleanup();
  });

  it('the form shows what the server refuses beside the URL field', async () => {
    const page = await signedIn(strict, 'ana');
    await page.goto(`${strict.server.url}/admin/webhooks`);
    await page.getByText('No endpoints yet').waitFor();
    const url = page.getByLabel('URL', { exact: true });
    const errorOf = async () => {
      await eventually('marked invalid', async () => (await url.getAttribute('aria-invalid')) === 'true');
      return page.locator(`[id="${await url.getAttribute('id')}-error"]`).textContent();
    };
    await url.fill('http://127.0.0.1:1/');
    await page.getByRole('button', { name: 'Create endpoint' }).click();
    assert.match(await errorOf(), /loopback/);
    assert.ok(await page.locator('.webhook-form .form-error').isVisible(), 'and the problem on top');

    await url.fill('ftp://example.com/hook');
    await page.getByRole('button', { name: 'Create endpoint' }).click();
    await eventually('the new error', async () => /http or https/.test(await errorOf()));
    assert.equal((await api(strict.server, strict.install.admin, 'GET', '/v1/webhooks')).body.items.length, 0, 'nothing made');
    assert.deepEqual(problemsOf(page, [/^http 422: POST .*\/v1\/webhooks$/]), []);
    await page.context().close();
  });
});
