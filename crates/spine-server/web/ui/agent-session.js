// One coding-agent session (`/agents?session=ID`): who ran it where, live or ended, its
// counts, and its timeline oldest first like a transcript: prompts, and each tool call as one
// row that starts "running" and turns into its duration, or a highlighted failure with its
// error. The latest 100 events come first ("Show earlier" reaches back); the session's live
// stream adds the rest as they happen. A row opens its event's details; the entity page has
// everything else (notes, jobs).

import { h, replace, throttle } from '../embed/lib/dom.js';
import { exactDateTime } from '../embed/lib/format.js';
import { entityPath, eventPath } from '../embed/lib/links.js';
import { LiveConnection } from '../embed/lib/live.js';
import { SessionTimeline, formatDuration } from './agent-model.js';
import { agentsApi, createToolsPanel, stateBadge, timeOf } from './agent-view.js';

const PAGE = 100;

export function mountSession(container, app, id) {
  const api = agentsApi(app);
  document.title = `Agent session ${id} · Spine`;
  let disposed = false;
  let cursor = null;
  let generation = 0;
  let live = null;
  let timeline = new SessionTimeline();
  const drawn = new Map();

  const name = h('span', {}, id);
  const state = h('span', { class: 'agent-state-slot' });
  const facts = h('dl', { class: 'agent-facts' });
  const list = h('ol', { class: 'agent-timeline', 'aria-label': 'Prompts and tool calls, oldest first' });
  const status = h('p', { class: 'page-loading', role: 'status' }, 'Loading the session…');
  const earlier = h('button', { type: 'button', class: 'button agent-more', hidden: true, onclick: () => loadEarlier() }, 'Show earlier');
  const tools = createToolsPanel(app, { session: id, id: 'agent-session-tools-title' });

  container.replaceChildren(h('div', { class: 'page agent-session-page' },
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: '/agents' }, '← Agents')),
    h('div', { class: 'page-head' },
      h('h1', {}, name, ' ', state),
      h('p', { class: 'page-note' }, h('code', {}, id), ' · ',
        h('a', { href: entityPath({ type: 'agent_session', id }) }, 'All its events, notes and jobs'))),
    facts,
    h('section', { 'aria-labelledby': 'agent-timeline-title' },
      h('h2', { id: 'agent-timeline-title' }, 'Timeline'),
      earlier, status, list),
    tools.element));

  async function refreshHead() {
    let page;
    try {
      page = await api.sessions({ session: id, limit: 1 });
    } catch {
      return;
    }
    const s = page?.items?.[0];
    if (disposed || !s) return;
    name.textContent = s.name || id;
    document.title = `${s.name || id} · Spine`;
    replace(state, stateBadge(s));
    const fact = (term, value, cls) => h('div', { class: cls }, h('dt', {}, term), h('dd', {}, value));
    replace(facts,
      fact('Project', s.project ?? '—'),
      fact('User', s.user ?? '—'),
      fact('Started', timeOf(s.started_at)),
      fact('Last activity', timeOf(s.last_event_at)),
      fact('Prompts', String(s.prompts)),
      fact('Tool calls', String(s.tool_calls)),
      fact('Failures', String(s.failures), s.failures > 0 ? 'has-failures' : null));
  }

  function add(event, { animate = false } = {}) {
    const added = timeline.add(event);
    if (!added) return;
    const { row, next } = added;
    drawn.get(row.key)?.remove();
    const el = rowElement(app, row);
    if (animate) el.classList.add('is-new');
    drawn.set(row.key, el);
    list.insertBefore(el, (next && drawn.get(next.key)) ?? null);
  }

  function settle() {
    status.hidden = timeline.size > 0;
    if (!timeline.size) status.textContent = 'No events for this session yet.';
    earlier.hidden = !cursor;
  }

  async function start() {
    const token = ++generation;
    live?.stop();
    let page;
    try {
      page = await app.api.timeline('agent_session', id, new URLSearchParams({ limit: String(PAGE) }));
    } catch (error) {
      if (!disposed && token === generation && error.status !== 401) status.textContent = error.message;
      return;
    }
    if (disposed || token !== generation) return;
    timeline = new SessionTimeline();
    drawn.clear();
    list.replaceChildren();
    for (const event of page?.items ?? []) add(event);
    cursor = page?.next_cursor ?? null;
    settle();
    live = new LiveConnection({
      url: (after) => app.api.streamUrl(new URLSearchParams({ entity_type: 'agent_session', entity_id: id }), after),
      probe: () => app.api.session(),
      on: {
        activity: (event) => {
          add(event, { animate: true });
          settle();
          soon();
        },
        status: (s) => app.header.setStatus(s),
        expired: () => app.sessionExpired(),
        reopened: () => soon(),
        reset: () => start(),
      },
    });
    // The head read before the page: the stream brings what committed since.
    live.start(Number.isInteger(page?.position) ? page.position : null);
  }

  async function loadEarlier() {
    earlier.disabled = true;
    try {
      const page = await app.api.timeline('agent_session', id, new URLSearchParams({ limit: String(PAGE), cursor }));
      if (disposed) return;
      for (const event of page?.items ?? []) add(event);
      cursor = page?.next_cursor ?? null;
      settle();
    } catch (error) {
      if (error.status !== 401) app.toast(error.message);
    } finally {
      earlier.disabled = false;
    }
  }

  const soon = throttle(() => {
    refreshHead();
    tools.refresh();
  }, 1000);
  refreshHead();
  start();

  return {
    key: location.pathname + location.search,
    hostsOverlay: true,
    dispose() {
      disposed = true;
      live?.stop();
      soon.cancel();
      tools.dispose();
    },
  };
}

/** One row of the timeline; its text opens the event's details over the page. */
function rowElement(app, row) {
  const open = (label) => h('a', {
    href: eventPath(row.event.id),
    class: 'agent-open',
    onclick: (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      app.openEvent(row.event);
    },
  }, label);
  const when = h('time', { class: 'agent-when', datetime: new Date(row.at).toISOString(), title: exactDateTime(row.at) },
    new Date(row.at).toLocaleTimeString('en-GB'));
  if (row.kind === 'prompt') {
    return h('li', { class: 'agent-row is-prompt', dataset: { key: row.key } },
      when, h('span', { class: 'agent-kind' }, 'Prompt'), open(h('span', { class: 'agent-prompt' }, row.text)));
  }
  if (row.kind === 'event') {
    return h('li', { class: 'agent-row is-event', dataset: { key: row.key, type: row.type } },
      when, h('span', { class: 'agent-kind' }, row.label), open(row.text));
  }
  const failed = row.status === 'failed';
  return h('li', { class: `agent-row is-tool is-${row.status}`, dataset: { key: row.key, status: row.status } },
    when,
    h('span', { class: 'agent-kind agent-tool' }, row.tool),
    open(h('code', { class: 'agent-input' }, row.input || row.tool)),
    row.status === 'running'
      ? h('span', { class: 'agent-duration is-running' }, h('span', { class: 'agent-spinner', 'aria-hidden': 'true' }), 'running')
      : h('span', { class: 'agent-duration' }, failed ? 'Failed' : '', failed && row.durationMs !== null ? ' after ' : '',
        formatDuration(row.durationMs)),
    failed && row.error && h('p', { class: 'agent-error pre-wrap' }, row.error));
}
