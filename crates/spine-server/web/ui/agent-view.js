// What both agent pages share: the calls (GET /v1/agents/sessions and /v1/agents/tools, on
// the app's client), a session's state badge and times, and the per-tool statistics panel:
// calls, failures and the median and 95th percentile durations of each tool over a chosen
// period (last hour, 24 hours, 7 days), for the tenant or one session.

import { h, replace } from '../embed/lib/dom.js';
import { exactDateTime, relativeTime, toMillis } from '../embed/lib/format.js';
import { loadStyles } from './styles.js';
import { PERIODS, formatDuration, periodSince } from './agent-model.js';

/** The agent pages' styles. */
export const agentStyles = () => loadStyles('/ui/agents.css');

/** @param {object} app  see main.js */
export function agentsApi(app) {
  const call = app.api.request;
  const query = (params) => Object.fromEntries(Object.entries(params ?? {})
    .filter(([, v]) => v !== undefined && v !== null && v !== ''));
  return {
    /** {items, next_cursor, events_scanned, truncated}: live first (session, limit, cursor). */
    sessions: (params) => call('GET', '/v1/agents/sessions', { query: query(params) }),
    /** {items: [{tool, calls, failures, p50_ms, p95_ms}], period, events_scanned, truncated}. */
    tools: (params) => call('GET', '/v1/agents/tools', { query: query(params) }),
  };
}

/** A time as a relative <time> with the exact one as its tooltip. */
export function timeOf(rfc3339) {
  const at = toMillis(rfc3339);
  return h('time', { datetime: rfc3339, title: exactDateTime(at) }, relativeTime(at));
}

/** "Live" with a pulsing dot, "Ended", or nothing (quiet, not ended). */
export function stateBadge(session) {
  if (session.live) return h('span', { class: 'agent-state is-live' }, h('span', { class: 'agent-live-dot', 'aria-hidden': 'true' }), 'Live');
  if (session.ended) return h('span', { class: 'agent-state is-ended' }, 'Ended');
  return null;
}

/**
 * The statistics panel. `refresh()` asks again (a live event came); `dispose()` stops it.
 * @param {object} app  see main.js
 * @param {{session?: string, id: string}} o  `id` names the panel's heading
 */
export function createToolsPanel(app, { session = null, id }) {
  const api = agentsApi(app);
  let period = PERIODS[1].key;
  let disposed = false;
  let asking = 0;
  const buttons = PERIODS.map((p) => h('button', {
    type: 'button',
    class: 'button',
    'aria-pressed': String(p.key === period),
    dataset: { period: p.key },
    onclick: () => {
      period = p.key;
      for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.period === period));
      refresh();
    },
  }, p.label));
  const body = h('div', { class: 'table-wrap' }, h('p', { class: 'page-loading', role: 'status' }, 'Loading tool statistics…'));
  const note = h('p', { class: 'page-note agent-tools-note' });
  const element = h('section', { class: 'agent-tools', 'aria-labelledby': id },
    h('div', { class: 'agent-section-head' },
      h('h2', { id }, session ? 'Tools in this session' : 'Tools'),
      h('div', { class: 'period-picker', role: 'group', 'aria-label': 'Period' }, buttons)),
    body, note);

  async function refresh() {
    const token = ++asking;
    let stats;
    try {
      stats = await api.tools({ since: periodSince(period), session });
    } catch (error) {
      if (!disposed && token === asking && error.status !== 401) {
        replace(body, h('p', { class: 'form-error', role: 'alert' }, error.message));
      }
      return;
    }
    if (disposed || token !== asking) return;
    const items = stats?.items ?? [];
    const label = PERIODS.find((p) => p.key === period).label.toLowerCase();
    replace(body, items.length ? toolsTable(items, label) : h('p', { class: 'muted' }, `No tool calls in the ${label}.`));
    const from = toMillis(stats?.period?.since);
    note.title = `${exactDateTime(from)} to ${exactDateTime(toMillis(stats?.period?.until))}`;
    note.textContent = `From ${stats?.events_scanned ?? 0} finished or failed calls${stats?.truncated ? ' (the latest 10,000 of the period)' : ''}. Percentiles by nearest rank.`;
  }

  refresh();
  return {
    element,
    refresh,
    dispose() {
      disposed = true;
    },
  };
}

function toolsTable(items, label) {
  const ms = (value) => (value === null || value === undefined ? '—' : formatDuration(value));
  return h('table', { class: 'data-table agent-tools-table' },
    h('caption', { class: 'sr-only' }, `Tool calls in the ${label}`),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Tool'),
      ['Calls', 'Failures', 'Median (p50)', 'p95'].map((t) => h('th', { scope: 'col', class: 'num' }, t)))),
    h('tbody', {}, items.map((t) => h('tr', { dataset: { tool: t.tool } },
      h('th', { scope: 'row' }, t.tool),
      h('td', { class: 'num' }, String(t.calls)),
      h('td', { class: t.failures > 0 ? 'num has-failures' : 'num' }, String(t.failures)),
      h('td', { class: 'num', dataset: { ms: t.p50_ms ?? '' } }, ms(t.p50_ms)),
      h('td', { class: 'num', dataset: { ms: t.p95_ms ?? '' } }, ms(t.p95_ms))))));
}
