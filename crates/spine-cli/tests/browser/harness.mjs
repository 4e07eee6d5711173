// The browser suites' harness: the real `spine` binary (path in SPINE_BIN, set by
// crates/spine-cli/tests/browser.rs) on a fresh SQLite file and a free port, provisioned through
// its own command line, and Debian's Chromium driven by playwright-core. Every page a test opens
// records console errors and uncaught exceptions; `checkedPage` fails the test on any.

import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

const run = promisify(execFile);
const BIN = process.env.SPINE_BIN;
if (!BIN) throw new Error('SPINE_BIN must name the spine binary (cargo test sets it)');
export const CHROMIUM = process.env.SPINE_TEST_CHROMIUM || '/usr/bin/chromium';

/** A clean SPINE_* environment for the child processes. */
function env(extra = {}) {
  const out = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SPINE_')) out[k] = v;
  return { ...out, SPINE_LOG: 'warn', ...extra };
}

/** Runs `spine ...args` to completion and answers its stdout. */
export async function spine(args, extraEnv = {}) {
  const { stdout } = await run(BIN, args, { env: env(extraEnv), maxBuffer: 16 << 20 });
  return stdout;
}

/** Runs `spine ...args --json` and parses the answer. */
export async function spineJson(args) {
  return JSON.parse(await spine([...args, '--json']));
}

/** A port nobody listens on now. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** A fresh installation: a database file with tenant `acme` and an ingest, read and admin key. */
export async function installation() {
  const dir = mkdtempSync(join(tmpdir(), 'spine-browser-'));
  const db = `sqlite://${join(dir, 'spine.db')}`;
  const tenant = await spineJson(['tenant', 'create', 'acme', '--db', db]);
  const key = async (role) =>
    (await spineJson(['key', 'create', '--tenant', 'acme', '--role', role, '--db', db])).key;
  return {
    dir,
    db,
    tenant: tenant.tenant_id,
    admin: tenant.admin_key,
    ingest: await key('ingest'),
    read: await key('read'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A `spine serve` process on `port` (0: any free port). */
export class Server {
  static async start(install, { port = 0, extraEnv = {} } = {}) {
    const child = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--db', install.db], {
      env: env(extraEnv),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const url = await new Promise((resolve, reject) => {
      let seen = '';
      const onData = (chunk) => {
        seen += chunk;
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
        if (match) {
          child.stdout.off('data', onData);
          child.stdout.resume();
          resolve(match[1]);
        }
      };
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', onData);
      child.once('exit', (code) => reject(new Error(`spine serve exited with ${code}: ${seen}`)));
    });
    const server = new Server();
    server.child = child;
    server.url = url;
    server.port = Number(new URL(url).port);
    return server;
  }

  /** Stops the process (SIGTERM, then SIGKILL after 5 s) and waits for it. */
  async stop() {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** A one-time sign-in URL for `user` (from `spine open`, on the database). */
export async function signinUrl(install, server, user = 'ana', role = 'admin', ttl = 600) {
  const out = await spineJson([
    'open', '--tenant', install.tenant, '--user', user, '--role', role,
    '--ttl-seconds', String(ttl), '--url', server.url, '--db', install.db,
  ]);
  return out.url;
}

/** Calls the API with an API key; answers `{status, body}`. */
export async function api(server, key, method, path, body, headers = {}) {
  const r = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** Posts one event and answers it; fails unless it was created. */
export async function postEvent(server, install, event) {
  // No entity and a custom action: the summary then reads "Ben: <title>".
  const r = await api(server, install.ingest, 'POST', '/v1/events', {
    actor: { id: 'ben', name: 'Ben', kind: 'user' },
    ...event,
  });
  if (r.status !== 201) throw new Error(`post failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Debian's Chromium, headless, with the flags this machine's closed network needs. */
export async function browser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/**
 * A page whose console errors, warnings about failed loads and uncaught exceptions are kept in
 * `page.problems`; `assertClean(page)` fails on any.
 */
export async function checkedPage(context) {
  const page = await context.newPage();
  page.problems = [];
  page.allowed = [];
  page.on('console', (m) => {
    if (m.type() === 'error') page.problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => page.problems.push(`exception: ${e.message}`));
  // The console says only "Failed to load resource"; this says which.
  page.on('response', (r) => {
    if (r.status() >= 400) page.problems.push(`http ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  page.on('dialog', (d) => {
    page.problems.push(`dialog: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  return page;
}

/**
 * The errors a page logged that nobody expected (`expected`: regexps). A failed response counts
 * once: the browser's own "Failed to load resource" line for it is folded into it.
 */
export function problemsOf(page, expected = []) {
  return page.problems
    .filter((p) => !/^console: Failed to load resource: the server responded/.test(p))
    .filter((p) => !expected.some((re) => re.test(p)));
}

/** Where screenshots go: docs/screenshots when SPINE_UPDATE_SCREENSHOTS=1, else target/. */
export function screenshotDir() {
  const root = new URL('../../../../', import.meta.url).pathname;
  const dir = process.env.SPINE_UPDATE_SCREENSHOTS === '1'
    ? join(root, 'docs', 'screenshots')
    : join(root, 'target', 'browser-screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Polls `check` (an async predicate) until it holds; fails after `ms` with `what`. */
export async function eventually(what, check, ms = 10000) {
  const until = Date.now() + ms;
  let last;
  while (Date.now() < until) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

/**
 * The usual test file's world: before its tests, a fresh installation, a server and Chromium,
 * then `setup(world)` if given; after them, all stopped. Tests read (and may replace)
 * `world.server`.
 */
export function suite(setup = async () => {}) {
  const world = {};
  before(async () => {
    world.install = await installation();
    world.server = await Server.start(world.install);
    world.chromium = await browser();
    await setup(world);
  });
  after(async () => {
    await world.chromium?.close();
    await world.server?.stop();
    world.install?.cleanup();
  });
  return world;
}

/** A new browser context signed in as `user` through a `spine open` link, on the live feed. */
export async function signedIn(world, user = 'ana', role = 'admin', contextOptions = {}) {
  const context = await world.chromium.newContext(contextOptions);
  const page = await checkedPage(context);
  await page.goto(await signinUrl(world.install, world.server, user, role));
  await page.waitForURL(`${world.server.url}/`);
  await page.locator('.live-status[data-state="live"]').waitFor();
  return page;
}

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** axe's serious and critical violations on the page, as readable lines. */
export async function violations(page) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => globalThis.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}
