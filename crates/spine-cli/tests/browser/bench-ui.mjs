// Benchmark of the Activity Center in real Chromium (not a test: nothing here asserts a timing).
//
//   cargo build --release -p spine-cli
//   SPINE_BIN=target/release/spine node crates/spine-cli/tests/browser/bench-ui.mjs [--events 1000000]
//
// One run, one server, one database file, two tenants: `acme` filled with `--events` events
// (1,000,000 by default) and `small` with `--small` (1,000), the same-run baseline. Measures:
//
// 1. First view of `/` (signed in): time from navigation start to the first `.feed-item` in the
//    DOM (a MutationObserver installed by an init script records `performance.now()`), warm
//    (same context, HTTP cache in use: the UI's files answer 304) and cold (a fresh context
//    signed in with its own `spine open` link, then `/` again with the cache disabled through
//    CDP), plus the bytes the page received until then (CDP `Network.loadingFinished`
//    `encodedDataLength`, response headers included, the long-lived `/v1/stream` left out).
//    "Painted": handled after the next frame's style, layout and paint. Floor: the page's API
//    calls timed from Node with the same session cookie. Where the time goes: Resource Timing
//    of every load, and one more warm load traced (the renderer main thread's work by kind).
// 2. Page memory while 10,000 live events arrive (on the small tenant): after a forced GC,
//    `Runtime.getHeapUsage`, `Performance.getMetrics` and the count of `.feed-item`, right after
//    the first load (baseline) and after 2,000, 5,000 and 10,000 live events.
//
// Options: --events N, --small N, --warm N (15), --cold N (5), --live N (10000),
// --api-samples N (50), --fill-concurrency N (4), --dir DIR (keep the database there),
// --json (also print the raw results as JSON).

import { mkdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { performance as nodePerf } from 'node:perf_hooks';
import {
  api, browser, installation, Server, signinUrl, spine, spineJson,
} from './harness.mjs';

// ---------------------------------------------------------------------------------------------
// Options

const opts = {
  events: 1_000_000, small: 1000, warm: 15, cold: 5, live: 10_000, apiSamples: 50,
  fillConcurrency: 4, dir: null, json: false,
};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const num = () => Number(process.argv[++i].replace(/_/g, ''));
  if (a === '--events') opts.events = num();
  else if (a === '--small') opts.small = num();
  else if (a === '--warm') opts.warm = num();
  else if (a === '--cold') opts.cold = num();
  else if (a === '--live') opts.live = num();
  else if (a === '--api-samples') opts.apiSamples = num();
  else if (a === '--fill-concurrency') opts.fillConcurrency = num();
  else if (a === '--dir') opts.dir = process.argv[++i];
  else if (a === '--json') opts.json = true;
  else {
    console.error(`unknown option ${a}`);
    process.exit(2);
  }
}

const LIVE_BATCH = 50;
const LIVE_BATCHES_PER_SECOND = 20;
const LIVE_CHECKPOINTS = [2000, 5000, 10_000].filter((n) => n < opts.live).concat([opts.live]);

const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

// ---------------------------------------------------------------------------------------------
// Statistics and formatting

function quantile(values, q) {
  const s = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  // Nearest rank: with 15 samples p95 is the largest, with 5 samples too.
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}
const median = (v) => quantile(v, 0.5);
const ms = (v) => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) : '-');
const kib = (v) => (Number.isFinite(v) ? (v / 1024).toFixed(1) : '-');
const mib = (v) => (Number.isFinite(v) ? (v / 1048576).toFixed(2) : '-');
const int = (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-');

function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join(' | ')} |`;
  return [line(headers), `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`,
    ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Data: the demo's registered types and a deterministic generator of realistic events

const TYPES = {
  'task.created': { label: 'Task created', icon: 'plus', color: '#2563eb', important: false, summary_template: '{actor.name} created task "{entity.name}"' },
  'task.updated': { label: 'Task updated', icon: 'edit', color: '#0284c7', important: false, summary_template: '{actor.name} updated "{entity.name}"' },
  'task.completed': { label: 'Task completed', icon: 'check', color: '#16a34a', important: false, summary_template: '{actor.name} completed "{entity.name}"' },
  'comment.created': { label: 'Comment', icon: 'message', color: '#64748b', important: false, summary_template: '{actor.name} commented on "{entity.name}"' },
  'lead.created': { label: 'New lead', icon: 'users', color: '#c2410c', important: false, summary_template: '{actor.name} added lead {entity.name}' },
  'lead.high_intent': { label: 'High-intent lead', icon: 'star', color: '#ea580c', important: true, summary_template: '{entity.name} is showing high intent' },
  'deploy.succeeded': { label: 'Deployed', icon: 'rocket', color: '#0d9488', important: false, summary_template: '{actor.name} deployed {entity.name} {data.version}' },
  'deploy.failed': { label: 'Deploy failed', icon: 'alert', color: '#dc2626', important: true, summary_template: 'Deploy of {entity.name} {data.version} failed' },
  'call.inbound': { label: 'Inbound call', icon: 'phone', color: '#0891b2', important: false, summary_template: 'Inbound call from {entity.name}' },
  'agent.tool_call': { label: 'Agent tool call', icon: 'bot', color: '#9333ea', important: false, summary_template: '{actor.name} ran {data.tool} on {data.target}' },
};

const PEOPLE = ['Ana Lima', 'Ben Okafor', 'Chen Wei', 'Dara Novak', 'Eli Brooks', 'Fay Haddad', 'Gus Moreau',
  'Hana Sato', 'Ivo Petrov', 'Jun Park', 'Kemi Adeyemi', 'Lars Berg', 'Mira Kapoor', 'Noor Aziz', 'Omar Diaz'];
const TASK_WORDS = ['Fix', 'Write', 'Review', 'Migrate', 'Refactor', 'Document', 'Test', 'Ship'];
const TASK_THINGS = ['billing export', 'onboarding emails', 'search ranking', 'invoice PDF', 'SSO login',
  'rate limits', 'mobile layout', 'audit log', 'webhook retries', 'dark mode'];
const COMPANIES = ['Acme Corp', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark Industries', 'Wayne Enterprises',
  'Soylent', 'Tyrell', 'Cyberdyne'];
const SERVICES = ['api', 'web', 'worker', 'billing', 'search', 'notifier'];
const TAGS = ['billing', 'docs', 'urgent', 'frontend', 'backend', 'sales', 'ops', 'ai'];
const TOOLS = ['web.search', 'sql.query', 'github.create_issue', 'slack.post', 'crm.update'];
const PRIORITIES = ['low', 'normal', 'normal', 'normal', 'high', 'urgent'];
const TYPE_MIX = ['task.created', 'task.updated', 'task.updated', 'task.completed', 'comment.created', 'comment.created',
  'lead.created', 'lead.high_intent', 'deploy.succeeded', 'deploy.failed', 'call.inbound', 'agent.tool_call', 'agent.tool_call'];

/** mulberry32: deterministic, fast, 32-bit. */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { below: (n) => Math.floor(next() * n), pick: (list) => list[Math.floor(next() * list.length)] };
}

const DAY_MS = 86_400_000;

/**
 * The `i`-th of `n` events: types and actors mixed, 2,000 entities, 1-2 tags, priorities, and
 * occurred_at from 30 days ago (i = 0) to `end` (i = n - 1), so seq roughly follows time, as it
 * would in a tenant that posts as things happen. `end` null: no occurred_at (receipt time).
 */
function makeEvent(r, i, n, end) {
  const type = r.pick(TYPE_MIX);
  const who = r.below(PEOPLE.length + 3);
  const actor = who < PEOPLE.length
    ? { id: `user-${who}`, name: PEOPLE[who], kind: 'user' }
    : { id: `agent-${who}`, name: `Agent ${who - PEOPLE.length + 1}`, kind: 'agent' };
  const e = { type, actor, priority: r.pick(PRIORITIES), tags: [r.pick(TAGS)], source: { system: 'bench' } };
  if (r.below(3) === 0) {
    const t = r.pick(TAGS);
    if (t !== e.tags[0]) e.tags.push(t);
  }
  const k = r.below(2000);
  if (type.startsWith('task.') || type === 'comment.created') {
    const name = `${TASK_WORDS[k % TASK_WORDS.length]} ${TASK_THINGS[(k >> 3) % TASK_THINGS.length]} #${k}`;
    e.entity = { type: 'task', id: `task-${k}`, name };
    if (type === 'task.created') { e.action = 'created'; e.title = `Created ${name}`; }
    if (type === 'task.updated') {
      e.action = 'updated';
      e.title = `Updated ${name}`;
      e.changes = [{ field: 'assignee', old: PEOPLE[(who + 1) % PEOPLE.length], new: actor.name }];
    }
    if (type === 'task.completed') {
      e.action = 'state_changed';
      e.title = `Completed ${name}`;
      e.changes = [{ field: 'state', old: 'in_progress', new: 'done' }];
    }
    if (type === 'comment.created') {
      e.action = 'created';
      e.title = `Comment on ${name}`;
      e.description = `Looks good to me, but ${r.pick(TASK_THINGS)} needs another look before we ship.`;
    }
    e.data = { points: r.below(13), estimate_hours: r.below(40) };
  } else if (type.startsWith('lead.')) {
    const company = `${COMPANIES[k % COMPANIES.length]} ${Math.floor(k / COMPANIES.length)}`;
    e.entity = { type: 'lead', id: `lead-${k}`, name: company };
    e.action = type === 'lead.created' ? 'created' : 'custom';
    e.title = type === 'lead.created' ? `New lead ${company}` : `${company} visited pricing 5 times`;
    e.data = { score: r.below(100), source: r.pick(['web', 'referral', 'ads']) };
  } else if (type.startsWith('deploy.')) {
    const service = SERVICES[k % SERVICES.length];
    const version = `v1.${Math.floor(i / 1000) % 100}.${i % 1000}`;
    e.entity = { type: 'service', id: `svc-${service}`, name: service };
    e.title = `${type === 'deploy.failed' ? 'Deploy failed' : 'Deployed'}: ${service} ${version}`;
    e.data = { version, duration_s: 30 + r.below(600) };
  } else if (type === 'call.inbound') {
    const company = COMPANIES[k % COMPANIES.length];
    e.entity = { type: 'contact', id: `contact-${k}`, name: `${r.pick(PEOPLE)} (${company})` };
    e.title = `Inbound call from ${company}`;
    e.data = { duration_s: 20 + r.below(1200) };
  } else {
    const target = `${r.pick(TASK_THINGS)}`;
    e.entity = { type: 'session', id: `session-${Math.floor(i / 20)}`, name: `Agent session ${Math.floor(i / 20)}` };
    e.title = `Tool call ${r.pick(TOOLS)}`;
    e.data = { tool: r.pick(TOOLS), target, tokens: 100 + r.below(4000) };
  }
  if (end !== null) {
    const span = 30 * DAY_MS;
    const at = end - span + Math.floor((i / Math.max(1, n - 1)) * span) - r.below(60_000);
    e.occurred_at = new Date(at).toISOString();
  }
  return e;
}

// ---------------------------------------------------------------------------------------------
// Filling a tenant

async function postBatch(server, key, events) {
  const r = await fetch(`${server.url}/v1/events/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ events }),
  });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`batch failed: ${r.status} ${text.slice(0, 500)}`);
  // Counting is cheaper than parsing a megabyte of answer on the server's two cores.
  const created = (text.match(/"status":201/g) ?? []).length;
  if (created !== events.length) throw new Error(`batch: ${created} of ${events.length} created: ${text.slice(0, 500)}`);
  return text;
}

/** Posts `n` events in batches of 1,000, `concurrency` requests in flight; answers seconds. */
async function fill(server, key, n, seed, concurrency) {
  const r = rng(seed);
  const end = Date.now() - 60_000;
  let next = 0;
  let done = 0;
  let lastReport = nodePerf.now();
  const t0 = nodePerf.now();
  const worker = async () => {
    while (next < n) {
      const start = next;
      const count = Math.min(1000, n - start);
      next += count;
      const events = [];
      for (let i = start; i < start + count; i++) events.push(makeEvent(r, i, n, end));
      await postBatch(server, key, events);
      done += count;
      if (nodePerf.now() - lastReport > 15_000) {
        lastReport = nodePerf.now();
        const s = (lastReport - t0) / 1000;
        log(`  ${int(done)} / ${int(n)} events, ${int(done / s)}/s`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return (nodePerf.now() - t0) / 1000;
}

// ---------------------------------------------------------------------------------------------
// The page

/** Records when the first feed item enters the DOM, in the page's own clock. */
/** `ready` resolves once the first items have been painted, with both times. */
function initScript() {
  const mark = { firstItem: null, firstFrame: null };
  mark.ready = new Promise((resolve) => {
    const observer = new MutationObserver(() => {
      if (mark.firstItem === null && document.querySelector('.feed-item')) {
        mark.firstItem = performance.now();
        observer.disconnect();
        // A message posted from the next animation frame is handled after that frame's
        // style, layout and paint: roughly when the items are on screen.
        requestAnimationFrame(() => {
          const channel = new MessageChannel();
          channel.port1.onmessage = () => {
            mark.firstFrame = performance.now();
            resolve({ firstItem: mark.firstItem, firstFrame: mark.firstFrame });
          };
          channel.port2.postMessage(0);
        });
      }
    });
    observer.observe(document, { childList: true, subtree: true });
  });
  Object.defineProperty(window, '__spineBench', { value: mark });
}

/**
 * Waits for the first item through a bare CDP `Runtime.evaluate`: Playwright's own waiting
 * (waitForFunction, evaluate) first injects its script into the page, which costs the page's
 * main thread 10-15 ms in the middle of the load being measured.
 */
async function firstItem(cdp) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await cdp.send('Runtime.evaluate', {
      expression: 'window.__spineBench && window.__spineBench.ready', awaitPromise: true, returnByValue: true,
    }).catch(() => null);
    if (r?.result?.value?.firstItem) return r.result.value;
    if (Date.now() > deadline) throw new Error('no feed item within 60 s');
    await new Promise((res) => setTimeout(res, 20));
  }
}

const problems = [];
function watch(page, label) {
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${label}: console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${label}: exception: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`${label}: HTTP ${r.status()} for ${r.request().method()} ${new URL(r.url()).pathname}`);
  });
}

/** A context signed in to `tenant` (its own `spine open` link); answers {context, cookie}. */
async function signedInContext(chromium, tenant, server, user) {
  const context = await chromium.newContext();
  await context.addInitScript(initScript);
  const page = await context.newPage();
  watch(page, `${tenant.name} sign-in`);
  await page.goto(await signinUrl(tenant, server, user, 'admin', 3600));
  await page.waitForURL(`${server.url}/`);
  await page.waitForFunction(() => window.__spineBench?.firstItem !== null, null, { timeout: 60_000 });
  await page.close();
  const cookie = (await context.cookies()).find((c) => c.name === 'spine_session');
  if (!cookie) throw new Error('no session cookie after sign-in');
  return { context, cookie: `${cookie.name}=${cookie.value}` };
}

/**
 * Opens `/` in a new page of `context` and measures the first view. Answers the timings (ms
 * from navigation start) and the requests with their encoded bytes.
 */
async function measureLoad(context, server, { cold, label }) {
  const page = await context.newPage();
  watch(page, label);
  const cdp = await context.newCDPSession(page);
  const requests = new Map();
  cdp.on('Network.requestWillBeSent', (e) => {
    requests.set(e.requestId, {
      url: e.request.url, method: e.request.method, type: e.type, start: e.timestamp,
      status: null, bytes: 0, finished: false, fromCache: false,
    });
  });
  cdp.on('Network.responseReceived', (e) => {
    const r = requests.get(e.requestId);
    if (r) {
      r.status = e.response.status;
      r.fromCache = !!(e.response.fromDiskCache || e.response.fromMemoryCache);
    }
  });
  // The status on the wire: a revalidated cache entry is reported as its cached 200 above,
  // while the server answered 304.
  // (It may arrive before the request's own events: kept aside and joined at the end.)
  const wireStatus = new Map();
  cdp.on('Network.responseReceivedExtraInfo', (e) => wireStatus.set(e.requestId, e.statusCode));
  cdp.on('Network.dataReceived', (e) => {
    const r = requests.get(e.requestId);
    if (r) r.streamed = (r.streamed ?? 0) + e.encodedDataLength;
  });
  cdp.on('Network.loadingFinished', (e) => {
    const r = requests.get(e.requestId);
    if (r) {
      r.bytes = e.encodedDataLength;
      r.finished = true;
      r.end = e.timestamp;
    }
  });
  cdp.on('Network.loadingFailed', (e) => {
    const r = requests.get(e.requestId);
    if (r) r.failed = e.errorText;
  });
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: cold });

  await page.goto(`${server.url}/`, { waitUntil: 'commit' });
  await firstItem(cdp);
  // Let what the first view started finish (the unread count, the seen mark): until no request
  // but the stream is open for 300 ms, at most 5 s.
  await page.waitForLoadState('load');
  const pending = () => [...requests.values()].filter((r) => r.url.startsWith('http') && !r.finished && !r.failed
    && !new URL(r.url).pathname.startsWith('/v1/stream')).length;
  for (let quiet = 0, until = Date.now() + 5000; quiet < 3 && Date.now() < until;) {
    await page.waitForTimeout(100);
    quiet = pending() === 0 ? quiet + 1 : 0;
  }
  const timing = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource').map((r) => ({
      name: new URL(r.name).pathname + new URL(r.name).search, start: r.startTime, end: r.responseEnd,
    }));
    return {
      firstItem: window.__spineBench.firstItem,
      firstFrame: window.__spineBench.firstFrame,
      documentEnd: nav.responseEnd,
      domContentLoaded: nav.domContentLoadedEventEnd,
      items: document.querySelectorAll('.feed-item').length,
      resources: res,
    };
  });
  await cdp.detach().catch(() => {});
  await page.close();

  for (const [id, status] of wireStatus) if (requests.has(id)) requests.get(id).wireStatus = status;
  const all = [...requests.values()].filter((r) => r.url.startsWith('http'));
  const doc = all.find((r) => r.type === 'Document');
  const firstItemAt = doc.start + timing.firstItem / 1000;
  const counted = all.filter((r) => !new URL(r.url).pathname.startsWith('/v1/stream'));
  const firstView = counted.filter((r) => r.start <= firstItemAt);
  const sum = (list) => list.reduce((a, r) => a + (r.finished ? r.bytes : (r.streamed ?? 0)), 0);
  const apiEnd = (path) => timing.resources.find((r) => r.name.startsWith(path))?.end ?? NaN;
  const modules = timing.resources.filter((r) => /\.(js|css)$/.test(r.name));
  return {
    firstItem: timing.firstItem,
    firstFrame: timing.firstFrame,
    documentEnd: timing.documentEnd,
    domContentLoaded: timing.domContentLoaded,
    lastModuleEnd: Math.max(...modules.filter((r) => r.start < timing.firstItem).map((r) => r.end)),
    session: apiEnd('/v1/session'),
    types: apiEnd('/v1/types'),
    events: apiEnd('/v1/events'),
    unread: apiEnd('/v1/unread-count'),
    items: timing.items,
    waterfall: [{ name: '/ (document)', start: 0, end: timing.documentEnd }, ...timing.resources],
    firstViewRequests: firstView.length,
    firstViewBytes: sum(firstView),
    totalBytes: sum(counted),
    totalRequests: counted.length,
    notModified: firstView.filter((r) => r.wireStatus === 304).length,
    requests: counted.map((r) => ({
      path: new URL(r.url).pathname + new URL(r.url).search, method: r.method, status: r.wireStatus ?? r.status,
      bytes: r.finished ? r.bytes : (r.streamed ?? 0), firstView: r.start <= firstItemAt,
    })),
  };
}

/** Times `path` from Node with the session cookie: `samples` sequential requests after 5 untimed. */
async function timeApi(server, cookie, path, samples) {
  const once = async () => {
    const t = nodePerf.now();
    const r = await fetch(server.url + path, { headers: { cookie, accept: 'application/json' } });
    const body = await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
    return { ms: nodePerf.now() - t, bytes: body.byteLength };
  };
  for (let i = 0; i < 5; i++) await once();
  const out = [];
  for (let i = 0; i < samples; i++) out.push(await once());
  return { p50: median(out.map((o) => o.ms)), p95: quantile(out.map((o) => o.ms), 0.95), bytes: out[0].bytes };
}

/**
 * One more warm load of `/`, traced (Chromium's devtools.timeline categories): the renderer's
 * main-thread work from navigation start to the painted first items, to see where the time
 * goes besides the network. Answers the work items of 2 ms or more and the sums by kind.
 */
async function traceLoad(chromium, context, server) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await chromium.startTracing(page, { categories: ['devtools.timeline', 'blink.user_timing', 'v8.execute', 'loading', 'toplevel'] });
  await page.goto(`${server.url}/`, { waitUntil: 'commit' });
  const mark = await firstItem(cdp);
  await page.waitForTimeout(200);
  const { traceEvents } = JSON.parse((await chromium.stopTracing()).toString('utf8'));
  await page.close();
  const nav = traceEvents.find((e) => e.name === 'navigationStart' && e.args?.data?.documentLoaderURL === `${server.url}/`);
  if (!nav) {
    log(`trace: no navigation to ${server.url}/ among ${traceEvents.length} events`);
    return null;
  }
  const until = nav.ts + mark.firstFrame * 1000;
  const KINDS = {
    ParseHTML: 'parse HTML', 'v8.evaluateModule': 'evaluate modules', EvaluateScript: 'evaluate script',
    RunMicrotasks: 'script (promise jobs)', FunctionCall: 'script (callbacks)', TimerFire: 'script (timers)',
    EventDispatch: 'script (events)', UpdateLayoutTree: 'style', Layout: 'layout', Paint: 'paint',
    'v8.compileModule': 'compile modules',
  };
  const picked = traceEvents
    .filter((e) => e.pid === nav.pid && e.tid === nav.tid && e.ph === 'X' && KINDS[e.name] && e.ts >= nav.ts && e.ts <= until)
    .sort((a, b) => a.ts - b.ts || b.dur - a.dur);
  const kept = [];
  for (const e of picked) {
    const outer = kept.at(-1);
    if (outer && e.ts + e.dur <= outer.ts + outer.dur) continue; // inside one already counted
    kept.push(e);
  }
  const sums = {};
  for (const e of kept) sums[KINDS[e.name]] = (sums[KINDS[e.name]] ?? 0) + e.dur / 1000;
  return {
    firstItem: mark.firstItem,
    painted: mark.firstFrame,
    busy: kept.reduce((a, e) => a + e.dur / 1000, 0),
    sums,
    steps: kept.filter((e) => e.dur >= 2000).map((e) => ({
      at: (e.ts - nav.ts) / 1000, ms: e.dur / 1000, what: KINDS[e.name],
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// Memory

async function pageMemory(page, cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('HeapProfiler.collectGarbage');
  const heap = await cdp.send('Runtime.getHeapUsage');
  const { metrics } = await cdp.send('Performance.getMetrics');
  const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
  const dom = await page.evaluate(() => ({
    items: document.querySelectorAll('.feed-item').length,
    elements: document.getElementsByTagName('*').length,
  }));
  return {
    usedSize: heap.usedSize,
    totalSize: heap.totalSize,
    jsHeapUsed: m.JSHeapUsedSize,
    nodes: m.Nodes,
    documents: m.Documents,
    listeners: m.JSEventListeners,
    items: dom.items,
    elements: dom.elements,
  };
}

async function liveMemory(chromium, server, tenant) {
  const { context } = await signedInContext(chromium, tenant, server, 'mem');
  const page = await context.newPage();
  watch(page, 'live memory');
  let pageFetches = 0;
  let unreadFetches = 0;
  page.on('request', (r) => {
    const path = new URL(r.url()).pathname;
    if (path === '/v1/events') pageFetches += 1;
    if (path === '/v1/unread-count') unreadFetches += 1;
  });
  await page.goto(`${server.url}/`);
  await page.locator('.live-status[data-state="live"]').waitFor({ timeout: 30_000 });
  await page.waitForTimeout(1500);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  const rows = [{ after: 0, ...(await pageMemory(page, cdp)), lagMs: null, postSeconds: null }];
  log(`  baseline: ${mib(rows[0].usedSize)} MiB heap, ${rows[0].items} items, ${rows[0].nodes} nodes`);
  const fetchesAtStart = pageFetches;
  const unreadAtStart = unreadFetches;
  const liveStart = nodePerf.now();

  const r = rng(99);
  let posted = 0;
  for (const target of LIVE_CHECKPOINTS) {
    const t0 = nodePerf.now();
    let lastId = null;
    let batchNo = 0;
    while (posted < target) {
      const due = t0 + (batchNo * 1000) / LIVE_BATCHES_PER_SECOND;
      const wait = due - nodePerf.now();
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
      const count = Math.min(LIVE_BATCH, target - posted);
      const events = Array.from({ length: count }, (_, k) => makeEvent(r, posted + k, 0, null));
      const text = await postBatch(server, tenant.ingest, events);
      lastId = JSON.parse(text).items.at(-1).event.id;
      posted += count;
      batchNo += 1;
    }
    const postSeconds = (nodePerf.now() - t0) / 1000;
    const tPosted = nodePerf.now();
    await page.locator(`.feed-item[data-id="${lastId}"]`).waitFor({ state: 'attached', timeout: 120_000 });
    const lagMs = nodePerf.now() - tPosted;
    // The unread count is debounced (300 ms) and the seen mark (1 s): let them settle.
    await page.waitForTimeout(2000);
    const row = { after: posted, ...(await pageMemory(page, cdp)), lagMs, postSeconds };
    rows.push(row);
    log(`  after ${int(posted)}: ${mib(row.usedSize)} MiB heap, ${row.items} items, ${row.nodes} nodes, `
      + `posted in ${postSeconds.toFixed(1)} s, last seen ${ms(lagMs)} ms after its post`);
  }
  const reloads = pageFetches - fetchesAtStart;
  const unreadCalls = unreadFetches - unreadAtStart;
  const liveSeconds = (nodePerf.now() - liveStart) / 1000;
  await context.close();
  return { rows, reloads, unreadCalls, liveSeconds };
}

// ---------------------------------------------------------------------------------------------
// The run

/** SIGTERM, then waits for the process to exit by itself (SIGKILL only after `ms`). */
async function stopPatiently(server, ms = 600_000) {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), ms);
  await exited;
  clearTimeout(timer);
}

async function registerTypes(server, adminKey) {
  for (const [type, info] of Object.entries(TYPES)) {
    const r = await api(server, adminKey, 'PUT', `/v1/types/${type}`, info);
    if (r.status !== 200) throw new Error(`type ${type}: ${r.status} ${JSON.stringify(r.body)}`);
  }
}

async function main() {
  const runStart = nodePerf.now();
  const install = await installation();
  if (opts.dir) {
    mkdirSync(opts.dir, { recursive: true });
    if (existsSync(join(opts.dir, 'spine.db'))) throw new Error(`${opts.dir}/spine.db exists: give an empty --dir`);
    install.cleanup();
    install.dir = opts.dir;
    install.db = `sqlite://${join(opts.dir, 'spine.db')}`;
    const t = await spineJson(['tenant', 'create', 'acme', '--db', install.db]);
    install.tenant = t.tenant_id;
    install.admin = t.admin_key;
    install.ingest = (await spineJson(['key', 'create', '--tenant', 'acme', '--role', 'ingest', '--db', install.db])).key;
    install.cleanup = () => {};
  }
  const smallTenant = await spineJson(['tenant', 'create', 'small', '--db', install.db]);
  const big = { name: `${int(opts.events)} events`, db: install.db, tenant: install.tenant, admin: install.admin, ingest: install.ingest };
  const small = {
    name: `${int(opts.small)} events`, db: install.db, tenant: smallTenant.tenant_id, admin: smallTenant.admin_key,
    ingest: (await spineJson(['key', 'create', '--tenant', 'small', '--role', 'ingest', '--db', install.db])).key,
  };
  log(`database ${install.db}`);

  let server = await Server.start(install);
  let chromium = null;
  const results = {
    options: opts, started: new Date().toISOString(), spine: (await spine(['--version'])).trim(),
    cpus: cpus().length, loadStart: loadavg()[0],
  };
  try {
    await registerTypes(server, big.admin);
    await registerTypes(server, small.admin);
    log(`filling ${small.name} (baseline tenant)`);
    await fill(server, small.ingest, opts.small, 2, opts.fillConcurrency);
    log(`filling ${big.name}: batches of 1,000, ${opts.fillConcurrency} in flight, durable server`);
    const fillSeconds = await fill(server, big.ingest, opts.events, 1, opts.fillConcurrency);
    results.fill = { events: opts.events, seconds: fillSeconds, perSecond: opts.events / fillSeconds };
    log(`filled in ${fillSeconds.toFixed(1)} s (${int(opts.events / fillSeconds)} events/s)`);

    // A fresh server process for the measurements, the fill's write load and its WAL behind us:
    // stopped with SIGTERM and given the time it needs to checkpoint the WAL and close (the
    // harness's stop() kills it after 5 s, which can leave gigabytes of WAL behind).
    const dbPath = install.db.replace('sqlite://', '');
    const walSize = () => (existsSync(`${dbPath}-wal`) ? statSync(`${dbPath}-wal`).size : 0);
    results.walAfterFill = walSize();
    const stopStart = nodePerf.now();
    await stopPatiently(server);
    results.stopSeconds = (nodePerf.now() - stopStart) / 1000;
    log(`WAL after the fill ${mib(results.walAfterFill)} MiB; the server took ${results.stopSeconds.toFixed(1)} s to stop`);
    server = await Server.start(install);
    results.dbBytes = statSync(dbPath).size;
    results.walBytes = walSize();
    log(`server restarted on ${server.url}; database ${mib(results.dbBytes)} MiB, WAL ${mib(results.walBytes)} MiB`);

    chromium = await browser();
    results.chromium = chromium.version();
    const tenants = [small, big];
    const sessions = new Map();
    for (const t of tenants) sessions.set(t, await signedInContext(chromium, t, server, 'ana'));

    // The floor: the page's API calls from Node with the same session cookie.
    results.api = {};
    for (const t of tenants) {
      const { cookie } = sessions.get(t);
      const out = {};
      for (const path of ['/v1/events?limit=30&archived=false', '/v1/session', '/v1/types', '/v1/unread-count']) {
        out[path] = await timeApi(server, cookie, path, opts.apiSamples);
      }
      results.api[t.name] = out;
      log(`API from Node, ${t.name}: events p50 ${ms(out['/v1/events?limit=30&archived=false'].p50)} ms, `
        + `unread-count p50 ${ms(out['/v1/unread-count'].p50)} ms`);
    }

    // Warm loads: alternating tenants so drift on the machine hits both alike; two untimed first.
    const warm = new Map(tenants.map((t) => [t, []]));
    for (let i = -2; i < opts.warm; i++) {
      for (const t of tenants) {
        const m = await measureLoad(sessions.get(t).context, server, { cold: false, label: `${t.name} warm` });
        if (i >= 0) warm.get(t).push(m);
      }
    }
    log('warm loads done');
    results.trace = await traceLoad(chromium, sessions.get(big).context, server);
    // Cold loads: a fresh context each, signed in with its own link, then `/` without cache.
    const cold = new Map(tenants.map((t) => [t, []]));
    for (let i = 0; i < opts.cold; i++) {
      for (const t of tenants) {
        const { context } = await signedInContext(chromium, t, server, `cold-${i}`);
        cold.get(t).push(await measureLoad(context, server, { cold: true, label: `${t.name} cold` }));
        await context.close();
      }
    }
    log('cold loads done');
    for (const { context } of sessions.values()) await context.close();

    results.loads = {};
    for (const t of tenants) {
      results.loads[t.name] = { warm: warm.get(t), cold: cold.get(t) };
    }

    log(`live memory on ${small.name}: ${int(opts.live)} events, batches of ${LIVE_BATCH}, ${LIVE_BATCHES_PER_SECOND} batches/s`);
    results.memory = await liveMemory(chromium, server, small);
  } finally {
    await chromium?.close();
    await server.stop();
    if (!opts.dir) install.cleanup();
  }
  results.runSeconds = (nodePerf.now() - runStart) / 1000;
  results.loadEnd = loadavg()[0];
  results.problems = problems;
  report(results);
}

function summarize(loads) {
  const pick = (f) => loads.map(f);
  return {
    p50: median(pick((l) => l.firstItem)),
    p95: quantile(pick((l) => l.firstItem), 0.95),
    frame: median(pick((l) => l.firstFrame)),
    doc: median(pick((l) => l.documentEnd)),
    modules: median(pick((l) => l.lastModuleEnd)),
    session: median(pick((l) => l.session)),
    types: median(pick((l) => l.types)),
    events: median(pick((l) => l.events)),
    unread: median(pick((l) => l.unread)),
    bytes: median(pick((l) => l.firstViewBytes)),
    total: median(pick((l) => l.totalBytes)),
    requests: median(pick((l) => l.firstViewRequests)),
    notModified: median(pick((l) => l.notModified)),
    items: median(pick((l) => l.items)),
  };
}

function report(results) {
  const out = [];
  out.push('');
  out.push(`${results.spine}, Chromium ${results.chromium}, ${results.cpus} CPUs, load average (1 min) `
    + `${results.loadStart.toFixed(2)} at the start, ${results.loadEnd.toFixed(2)} at the end`);
  out.push(`Fill: ${int(results.fill.events)} events in ${results.fill.seconds.toFixed(1)} s `
    + `(${int(results.fill.perSecond)} events/s); database file ${mib(results.dbBytes)} MiB `
    + `(WAL ${mib(results.walBytes)} MiB) when the measurements began; WAL after the fill ${mib(results.walAfterFill)} MiB, `
    + `server stop ${results.stopSeconds.toFixed(1)} s; run ${(results.runSeconds / 60).toFixed(1)} min`);
  out.push('');
  out.push('First view of / (ms from navigation start; bytes received until the first item is in the DOM, /v1/stream excluded)');
  out.push('');
  const rows = [];
  for (const [name, { warm, cold }] of Object.entries(results.loads)) {
    for (const [kind, loads] of [['warm', warm], ['cold', cold]]) {
      const s = summarize(loads);
      rows.push([`${name}, ${kind} (${loads.length})`, ms(s.p50), ms(s.p95), ms(s.frame), ms(s.events),
        `${kib(s.bytes)} KiB`, int(s.requests), int(s.notModified), int(s.items)]);
    }
  }
  out.push(table(['case (loads)', 'first item p50', 'p95', 'painted p50', '/v1/events end p50', 'bytes p50', 'requests', '304s', 'items'], rows));
  out.push('');
  out.push('Where the time goes (medians, ms from navigation start: when each response ended)');
  out.push('');
  const rows2 = [];
  for (const [name, { warm, cold }] of Object.entries(results.loads)) {
    for (const [kind, loads] of [['warm', warm], ['cold', cold]]) {
      const s = summarize(loads);
      rows2.push([`${name}, ${kind}`, ms(s.doc), ms(s.modules), ms(s.session), ms(s.types), ms(s.events), ms(s.unread), ms(s.p50)]);
    }
  }
  out.push(table(['case', 'document', 'last module', '/v1/session', '/v1/types', '/v1/events', '/v1/unread-count', 'first item'], rows2));
  out.push('');
  out.push('The same API calls from Node with the session cookie (sequential, ms)');
  out.push('');
  const rows3 = [];
  for (const [name, calls] of Object.entries(results.api)) {
    for (const [path, s] of Object.entries(calls)) rows3.push([`${name}: GET ${path}`, ms(s.p50), ms(s.p95), `${kib(s.bytes)} KiB`]);
  }
  out.push(table(['call', 'p50', 'p95', 'body'], rows3));
  out.push('');
  const biggest = Object.entries(results.loads).at(-1);
  for (const kind of ['cold', 'warm']) {
    const sample = biggest[1][kind][0];
    out.push(`Biggest responses of the first view, ${biggest[0]}, ${kind} (one load; bytes with headers)`);
    out.push('');
    const list = sample.requests.filter((r) => r.firstView).sort((a, b) => b.bytes - a.bytes).slice(0, 8);
    out.push(table(['request', 'status', 'bytes'], list.map((r) => [`${r.method} ${r.path}`, String(r.status), int(r.bytes)])));
    const later = sample.requests.filter((r) => !r.firstView);
    if (later.length) out.push(`after the first item: ${later.map((r) => `${r.method} ${r.path} (${int(r.bytes)} B)`).join(', ')}`);
    out.push('');
    // The load whose first item time is the median: its requests in the order they started.
    const byTime = [...biggest[1][kind]].sort((a, b) => a.firstItem - b.firstItem);
    const mid = byTime[Math.floor((byTime.length - 1) / 2)];
    out.push(`Waterfall of the median ${kind} load (${ms(mid.firstItem)} ms to the first item): start-end in ms, resource timing`);
    out.push('');
    out.push(mid.waterfall.filter((r) => r.start <= mid.firstItem)
      .map((r) => `  ${ms(r.start).padStart(5)}-${ms(r.end).padEnd(5)} ${r.name}`).join('\n'));
    out.push('');
  }
  if (results.trace) {
    const t = results.trace;
    out.push(`Renderer main thread during one traced warm load of ${Object.keys(results.loads).at(-1)} (first item `
      + `${ms(t.firstItem)} ms, painted ${ms(t.painted)} ms; busy ${ms(t.busy)} ms of it)`);
    out.push('');
    out.push(`  by kind: ${Object.entries(t.sums).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${ms(v)}`).join(', ')}`);
    out.push(`  steps of 2 ms or more (start, duration): ${t.steps.map((x) => `${ms(x.at)} +${ms(x.ms)} ${x.what}`).join('; ')}`);
    out.push('');
  }
  out.push(`Page memory while live events arrive (${Object.keys(results.loads)[0]} tenant; after a forced GC)`);
  out.push('');
  out.push(table(['live events received', 'JS heap used (MiB)', 'JSHeapUsedSize (MiB)', 'DOM nodes', 'elements', '.feed-item', 'listeners', 'documents', 'last event shown after (ms)'],
    results.memory.rows.map((r) => [int(r.after), mib(r.usedSize), mib(r.jsHeapUsed), int(r.nodes), int(r.elements), int(r.items),
      int(r.listeners), int(r.documents), r.lagMs === null ? '-' : ms(r.lagMs)])));
  out.push(`while events arrived the page reloaded its first page ${results.memory.reloads} time(s) and asked `
    + `for /v1/unread-count ${results.memory.unreadCalls} times in ${results.memory.liveSeconds.toFixed(1)} s`);
  out.push('');
  out.push(problems.length ? `Console errors and warnings (${problems.length}):\n  ${[...new Set(problems)].join('\n  ')}` : 'No console errors or warnings.');
  console.log(out.join('\n'));
  if (opts.json) console.log(JSON.stringify(results, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
