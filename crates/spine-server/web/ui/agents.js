// The agent view (`/agents`): coding agents' sessions, live ones first with a live marker,
// each with its project, user, start, latest activity and counts (failures stand out), and the
// per-tool statistics of a chosen period. `/agents?session=ID` shows one session instead
// (agent-session.js). Live: any agent_session event refreshes the list and the figures.

import { h, replace, throttle } from '../embed/lib/dom.js';
import { LiveConnection } from '../embed/lib/live.js';
import { agentsParams, agentsPath } from './agent-model.js';
import { agentStyles, agentsApi, createToolsPanel, stateBadge, timeOf } from './agent-view.js';
import { mountSession } from './agent-session.js';

const PAGE = 30;

export function mount(container, app) {
  agentStyles();
  const { session } = agentsParams(location.search);
  return session ? mountSession(container, app, session) : mountList(container, app);
}

function mountList(container, app) {
  const api = agentsApi(app);
  document.title = 'Agents · Spine';
  let disposed = false;
  let cursor = null;
  let shown = 0;
  let asking = 0;

  const rows = h('tbody');
  const table = h('div', { class: 'table-wrap', hidden: true }, h('table', { class: 'data-table agent-sessions' },
    h('caption', { class: 'sr-only' }, 'Agent sessions, live ones first'),
    h('thead', {}, h('tr', {},
      ['Session', 'Project', 'User', 'Started', 'Last activity'].map((t) => h('th', { scope: 'col' }, t)),
      ['Prompts', 'Tool calls', 'Failures'].map((t) => h('th', { scope: 'col', class: 'num' }, t)))),
    rows));
  const status = h('p', { class: 'page-loading', role: 'status' }, 'Loading sessions…');
  const more = h('button', { type: 'button', class: 'button agent-more', hidden: true, onclick: () => load(cursor) }, 'Load more');
  const tools = createToolsPanel(app, { id: 'agent-tools-title' });

  container.replaceChildren(h('div', { class: 'page agents-page' },
    h('div', { class: 'page-head' },
      h('h1', {}, 'Agents'),
      h('p', { class: 'page-note' }, 'Coding agents at work: their sessions, prompts and tool calls, as their hooks report them.')),
    h('section', { 'aria-labelledby': 'agent-sessions-title' },
      h('h2', { id: 'agent-sessions-title' }, 'Sessions'),
      status, table, more),
    tools.element));

  /** A page of sessions after `from`; without it, the first `count` again in place of all. */
  async function load(from, count = PAGE) {
    const token = ++asking;
    more.disabled = true;
    let page;
    try {
      page = await api.sessions({ cursor: from, limit: Math.min(100, Math.max(PAGE, count)) });
    } catch (error) {
      if (disposed || token !== asking || error.status === 401) return;
      status.hidden = false;
      status.textContent = error.message;
      more.disabled = false;
      return;
    }
    if (disposed || token !== asking) return;
    const items = page?.items ?? [];
    if (!from) {
      rows.replaceChildren();
      shown = 0;
    }
    rows.append(...items.map(sessionRow));
    shown += items.length;
    cursor = page?.next_cursor ?? null;
    more.hidden = !cursor;
    more.disabled = false;
    table.hidden = shown === 0;
    status.hidden = shown > 0;
    if (!shown) {
      replace(status, 'No agent sessions yet. Send Claude Code\'s hooks to Spine with ',
        h('code', {}, 'spine hook install claude-code'), ' and its sessions appear here as they work.');
    }
  }

  // Each answer reads up to 10,000 events: a busy tenant's stream refreshes at most every 2 s.
  const refresh = throttle(() => {
    load(null, shown);
    tools.refresh();
  }, 2000);
  const live = new LiveConnection({
    url: (after) => app.api.streamUrl(new URLSearchParams({ entity_type: 'agent_session' }), after),
    probe: () => app.api.session(),
    on: {
      activity: () => refresh(),
      status: (state) => app.header.setStatus(state),
      expired: () => app.sessionExpired(),
      reopened: () => refresh(),
      reset: () => refresh(),
    },
  });
  // Opened before the first request, so nothing that happens while it runs is missed.
  live.start(null);
  load(null);
  // A session stops being live after half an hour of quiet, without an event to say so.
  const clock = setInterval(() => load(null, shown), 60_000);

  return {
    key: location.pathname + location.search,
    dispose() {
      disposed = true;
      live.stop();
      refresh.cancel();
      tools.dispose();
      clearInterval(clock);
    },
  };
}

function sessionRow(s) {
  const classes = [s.live && 'is-live', s.failures > 0 && 'has-failed'].filter(Boolean).join(' ');
  return h('tr', { class: classes || null, dataset: { id: s.id } },
    h('td', { class: 'agent-session-cell' },
      h('a', { href: agentsPath({ session: s.id }) }, s.name || s.id), ' ', stateBadge(s)),
    h('td', {}, s.project ?? h('span', { class: 'muted' }, '—')),
    h('td', {}, s.user ?? h('span', { class: 'muted' }, '—')),
    h('td', {}, timeOf(s.started_at)),
    h('td', {}, timeOf(s.last_event_at)),
    h('td', { class: 'num' }, String(s.prompts)),
    h('td', { class: 'num' }, String(s.tool_calls)),
    h('td', { class: s.failures > 0 ? 'num has-failures' : 'num' }, String(s.failures)));
}
