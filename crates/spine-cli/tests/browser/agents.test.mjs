// The agent view in real Chromium against the real spine binary: two coding-agent sessions
// posted through the API as the claude-code provider writes them (one ended, one live). The
// list shows the live one first with its counts and the other's failure highlighted; a
// session's timeline has its prompts and tool calls in order with their durations, and a tool
// call posted later appears live, running and then timed; the tool statistics count calls and
// failures with the right median for each period. axe finds nothing serious, in both colour
// schemes; the README's screenshots come from here.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  api, eventually, problemsOf, screenshotDir, signedIn, suite, violations
} from './harness.mjs';

const MINUTE = 60_000;
const ago = (ms) => new Date(Date.now() - ms).toISOString();

/** An event of `session` as the claude-code provider writes it. */
function agentEvent(session, type, at, { title, toolUse, data = {}, description } = {}) {
  const { user, project } = SESSIONS[session];
  return {
    type,
    title,
    description,
    source: toolUse
      ? { system: 'claude-code', object_type: 'tool_use', object_id: toolUse }
      : { system: 'claude-code', object_type: 'session', object_id: session },
    actor: { id: 'claude-code', name: 'Claude Code', kind: 'agent' },
    entity: { type: 'agent_session', id: session, name: `Claude Code session in ${project}` },
    correlation_id: session,
    occurred_at: at,
    data: { cwd: `/home/${user}/${project}`, user, ...data },
  };
}

const SESSIONS = {
  'sess-ended': { user: 'ana', project: 'spine' },
  'sess-live': { user: 'bo', project: 'web' },
};

const post = async (event) => {
  const r = await api(world.server, world.install.ingest, 'POST', '/v1/events', event);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
};

/** A tool call: its start at `at`, and its end `ms` later (failed with `error`, or not at all). */
async function toolCall(session, id, tool, input, at, { ms = null, error = null } = {}) {
  const data = { tool_name: tool, input };
  const what = input.command ?? input.file_path;
  await post(agentEvent(session, 'agent.tool.started', at, { title: `${tool}: ${what}`, toolUse: id, data }));
  if (ms === null) return;
  const end = new Date(Date.parse(at) + ms).toISOString();
  const type = error ? 'agent.tool.failed' : 'agent.tool.finished';
  const outcome = error ? { success: false, error } : { success: true };
  await post(agentEvent(session, type, end, {
    title: error ? `Failed: ${tool}: ${what}` : `${tool}: ${what}`, toolUse: id, data: { ...data, ...outcome, duration_ms: ms },
  }));
}

const prompt = (session, at, text) =>
  post(agentEvent(session, 'agent.prompt', at, { title: `Prompt: ${text}`, description: text }));

const world = suite(async () => {
  // Ended an hour ago: one prompt, a Bash that worked (1.2 s) and one that failed (3 s).
  await post(agentEvent('sess-ended', 'agent.session.started', ago(120 * MINUTE), { title: 'Claude Code session started (startup) in spine', data: { source: 'startup' } }));
  await prompt('sess-ended', ago(119 * MINUTE), 'fix the failing tests');
  await toolCall('sess-ended', 'toolu_e1', 'Bash', { command: 'cargo build' }, ago(118 * MINUTE), { ms: 1200 });
  await toolCall('sess-ended', 'toolu_e2', 'Bash', { command: 'cargo test' }, ago(117 * MINUTE), { ms: 3000, error: 'exit code 101: 2 tests failed' });
  await post(agentEvent('sess-ended', 'agent.session.ended', ago(60 * MINUTE), { title: 'Claude Code session ended (logout) in spine', data: { reason: 'logout' } }));
  // Live: two prompts, an Edit (40 ms) and a Bash (2.3 s) between them.
  await post(agentEvent('sess-live', 'agent.session.started', ago(10 * MINUTE), { title: 'Claude Code session started (startup) in web', data: { source: 'startup' } }));
  await prompt('sess-live', ago(9 * MINUTE), 'add a pricing page');
  await toolCall('sess-live', 'toolu_l1', 'Edit', { file_path: '/home/bo/web/src/pricing.html' }, ago(8 * MINUTE), { ms: 40 });
  await toolCall('sess-live', 'toolu_l2', 'Bash', { command: 'npm test' }, ago(7 * MINUTE), { ms: 2300 });
  await prompt('sess-live', ago(5 * MINUTE), 'now deploy it');
});

const cells = (row) => row.locator('td, th').allTextContents();

/** The tool statistics as {tool: [calls, failures, p50, p95]}. */
async function toolStats(page) {
  const out = {};
  for (const row of await page.locator('.agent-tools-table tbody tr').all()) {
    const [tool, ...rest] = (await cells(row)).map((t) => t.trim());
    out[tool] = rest;
  }
  return out;
}

/** The timeline's rows as [kind, text] in order. */
async function timelineRows(page) {
  return page.locator('.agent-timeline .agent-row').evaluateAll((rows) => rows.map((r) => [
    r.classList.contains('is-tool') ? `tool:${r.dataset.status}` : r.classList.contains('is-prompt') ? 'prompt' : 'event',
    r.querySelector('.agent-open')?.textContent.trim() + (r.querySelector('.agent-duration') ? ` | ${r.querySelector('.agent-duration').textContent.trim()}` : ''),
  ]));
}

describe('the agent view', () => {
  it('lists sessions live first with their counts, and a failure stands out', async () => {
    const page = await signedIn(world, 'ana');
    await page.getByRole('link', { name: 'Agents' }).click();
    await page.waitForURL(`${world.server.url}/agents`);
    const rows = page.locator('.agent-sessions tbody tr');
    await eventually('two sessions', async () => (await rows.count()) === 2);
    assert.equal(await page.getByRole('link', { name: 'Agents' }).getAttribute('aria-current'), 'page');

    const [live, ended] = [rows.nth(0), rows.nth(1)];
    assert.equal(await live.getAttribute('data-id'), 'sess-live', 'the live session first');
    assert.match(await live.getAttribute('class'), /is-live/);
    assert.equal((await live.locator('.agent-state').textContent()).trim(), 'Live');
    const liveCells = (await cells(live)).map((t) => t.trim());
    assert.equal(liveCells[0], 'Claude Code session in web Live');
    assert.deepEqual([liveCells[1], liveCells[2]], ['web', 'bo']);
    assert.deepEqual(liveCells.slice(5), ['2', '2', '0'], 'prompts, tool calls, failures');

    assert.equal(await ended.getAttribute('data-id'), 'sess-ended');
    assert.equal((await ended.locator('.agent-state').textContent()).trim(), 'Ended');
    const endedCells = (await cells(ended)).map((t) => t.trim());
    assert.deepEqual(endedCells.slice(5), ['1', '2', '1']);
    assert.equal(await ended.locator('td.has-failures').textContent(), '1', 'the failure highlighted');
    assert.equal(await live.locator('.has-failures').count(), 0);
    const color = (el) => el.evaluate((e) => getComputedStyle(e).color);
    assert.notEqual(await color(ended.locator('td.has-failures')), await color(live.locator('td.num').last()));

    // The last 24 hours by default: Bash 3 calls (1.2 s, 2.3 s, 3 s), one failed.
    await eventually('the tool statistics', async () => (await page.locator('.agent-tools-table tbody tr').count()) === 2);
    assert.deepEqual(await toolStats(page), {
      Bash: ['3', '1', '2.3 s', '3.0 s'],
      Edit: ['1', '0', '40 ms', '40 ms'],
    });
    assert.match(await page.locator('.agent-tools-table td.has-failures').textContent(), /1/);
    // The last hour holds only the live session's calls.
    await page.getByRole('button', { name: 'Last hour' }).click();
    await eventually('the last hour', async () => (await toolStats(page)).Bash?.[0] === '1');
    assert.deepEqual(await toolStats(page), { Edit: ['1', '0', '40 ms', '40 ms'], Bash: ['1', '0', '2.3 s', '2.3 s'] });
    assert.equal(await page.getByRole('button', { name: 'Last hour' }).getAttribute('aria-pressed'), 'true');
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('shows a session\'s prompts and tool calls in order with durations, and new calls live', async () => {
    const page = await signedIn(world, 'bo');
    await page.goto(`${world.server.url}/agents`);
    await page.getByRole('link', { name: /Claude Code session in web/ }).click();
    await page.waitForURL(`${world.server.url}/agents?session=sess-live`);
    await eventually('the timeline', async () => (await page.locator('.agent-row').count()) === 5);
    assert.deepEqual(await timelineRows(page), [
      ['event', 'Claude Code session started (startup) in web'],
      ['prompt', 'add a pricing page'],
      ['tool:finished', 'src/pricing.html | 40 ms'],
      ['tool:finished', 'npm test | 2.3 s'],
      ['prompt', 'now deploy it'],
    ]);
    assert.equal((await page.locator('h1').textContent()).trim(), 'Claude Code session in web Live');
    const facts = await page.locator('.agent-facts').textContent();
    assert.match(facts, /Projectweb/);
    assert.match(facts, /Tool calls2/);
    await page.locator('.live-status[data-state="live"]').waitFor();

    // A call posted now shows at once as running, then with its duration.
    const at = ago(0);
    const start = agentEvent('sess-live', 'agent.tool.started', at, { title: 'Bash: npm run deploy', toolUse: 'toolu_l3', data: { tool_name: 'Bash', input: { command: 'npm run deploy' } } });
    await post(start);
    const row = page.locator('.agent-row[data-key="tool:toolu_l3"]');
    await eventually('the new call, running', async () => (await row.getAttribute('data-status')) === 'running');
    assert.match(await row.locator('.agent-duration').textContent(), /running/);
    await post({ ...start, type: 'agent.tool.finished', occurred_at: new Date(Date.parse(at) + 800).toISOString(), data: { ...start.data, success: true, duration_ms: 800 } });
    await eventually('the call, done', async () => (await row.getAttribute('data-status')) === 'finished');
    assert.equal((await row.locator('.agent-duration').textContent()).trim(), '800 ms');
    assert.equal(await page.locator('.agent-row').count(), 6, 'one row per call');
    assert.deepEqual((await timelineRows(page)).at(-1), ['tool:finished', 'npm run deploy | 800 ms']);
    await eventually('the counts follow', async () => /Tool calls3/.test(await page.locator('.agent-facts').textContent()));
    await eventually('the statistics follow', async () => (await toolStats(page)).Bash?.[0] === '2');
    assert.equal((await toolStats(page)).Bash[2], '800 ms', 'the median of 800 ms and 2.3 s');

    // A row opens its event's details over the page.
    await row.locator('.agent-open').click();
    await page.getByRole('dialog').waitFor();
    assert.match(await page.getByRole('dialog').textContent(), /agent\.tool\.finished/);
    await page.keyboard.press('Escape');
    await eventually('back on the session', async () => page.url().endsWith('/agents?session=sess-live'));
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });

  it('highlights a failed call with its error', async () => {
    const page = await signedIn(world, 'cy');
    await page.goto(`${world.server.url}/agents?session=sess-ended`);
    await eventually('the timeline', async () => (await page.locator('.agent-row').count()) === 5);
    const failed = page.locator('.agent-row.is-failed');
    assert.equal(await failed.count(), 1);
    assert.equal((await failed.locator('.agent-duration').textContent()).trim(), 'Failed after 3.0 s');
    assert.equal((await failed.locator('.agent-error').textContent()).trim(), 'exit code 101: 2 tests failed');
    assert.equal((await page.locator('.agent-row[data-status="finished"] .agent-duration').textContent()).trim(), '1.2 s');
    assert.equal((await page.locator('h1 .agent-state').textContent()).trim(), 'Ended');
    assert.equal(await page.locator('.agent-facts .has-failures dd').textContent(), '1');
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });
});


for (const colorScheme of ['light', 'dark']) {
  it(`the agent pages have no serious accessibility violations (${colorScheme})`, async () => {
    // axe is injected as a script, which the pages' content security policy would refuse.
    const options = { colorScheme, bypassCSP: true, viewport: { width: 1200, height: 860 } };
    const page = await signedIn(world, 'ana', 'read', options);
    await page.goto(`${world.server.url}/agents`);
    await eventually('the sessions', async () => (await page.locator('.agent-sessions tbody tr').count()) === 2);
    await eventually('the tool statistics', async () => (await page.locator('.agent-tools-table tbody tr').count()) >= 2);
    assert.deepEqual(await violations(page), [], 'agents page');
    if (colorScheme === 'light') await page.screenshot({ path: join(screenshotDir(), 'agents.png'), fullPage: true });

    await page.goto(`${world.server.url}/agents?session=sess-ended`);
    await eventually('the timeline', async () => (await page.locator('.agent-row').count()) === 5);
    await page.locator('.agent-facts dd').first().waitFor();
    assert.deepEqual(await violations(page), [], 'a session\'s page');
    if (colorScheme === 'light') await page.screenshot({ path: join(screenshotDir(), 'agent-session.png'), fullPage: true });
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
  });
}
