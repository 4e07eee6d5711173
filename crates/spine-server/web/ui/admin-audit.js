// The audit trail (`/admin/audit`): every administrative action in the tenant, newest first
// (`GET /v1/audit`), filtered by what it was about and who did it (in the URL:
// `/admin/audit?kind=key&actor=key:abc`), with "Load more". Each row says when, who, what, on
// what, and the details that changed; secrets never reach the trail.

import { h, replace } from '../embed/lib/dom.js';
import { exactDateTime, relativeTime, toMillis } from '../embed/lib/format.js';

/** What an audit event can be about: the word after `audit.`, and how the page names it. */
export const KINDS = [
  ['key', 'API keys'],
  ['viewer_token', 'Viewer tokens'],
  ['type', 'Event types'],
  ['channel', 'Channels'],
  ['ingest', 'Ledger replays'],
  ['webhook', 'Webhooks'],
  ['queue_rule', 'Queue rules'],
  ['job', 'Jobs'],
  ['consumer', 'Consumers'],
  ['retention', 'Retention'],
  ['limits', 'Limits'],
  ['phone_region', 'Phone region'],
  ['session', 'Sign-ins'],
  ['signin_link', 'Sign-in links'],
  ['events', 'Purges'],
  ['tenant', 'Tenant'],
];

/** The page's query: {kind, actor}, each a string or null (an unknown kind is dropped). */
export function auditParams(search) {
  const q = new URLSearchParams(search);
  const kind = q.get('kind');
  return {
    kind: KINDS.some(([k]) => k === kind) ? kind : null,
    actor: q.get('actor') || null,
  };
}

/** The page's path for these filters. */
export function auditPath({ kind = null, actor = null } = {}) {
  const q = new URLSearchParams();
  if (kind) q.set('kind', kind);
  if (actor) q.set('actor', actor);
  const query = q.toString();
  return query ? `/admin/audit?${query}` : '/admin/audit';
}

/** The API query for these filters and a cursor. */
export function auditQuery({ kind = null, actor = null } = {}, cursor = null) {
  const query = { type: kind ? `audit.${kind}.*` : 'audit.*', limit: 50 };
  if (actor) query.actor = actor;
  if (cursor) query.cursor = cursor;
  return query;
}

/** The details of an event's data as `name: value` pairs, values as compact text. */
export function details(data) {
  if (!data || typeof data !== 'object') return [];
  return Object.entries(data)
    .filter(([, v]) => v !== null && v !== undefined && !(typeof v === 'object' && Object.keys(v).length === 0))
    .map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]);
}

export function mount(body, app, page) {
  const state = { disposed: false };
  const filters = auditParams(location.search);
  let cursor = null;
  let generation = 0;

  const kind = h('select', { id: 'audit-kind', name: 'kind' }, h('option', { value: '' }, 'Everything'),
    KINDS.map(([k, label]) => h('option', { value: k, selected: k === filters.kind }, label)));
  const actor = h('input', { id: 'audit-actor', name: 'actor', type: 'search', value: filters.actor ?? '', placeholder: 'key:abc or a user id', autocomplete: 'off' });
  const rows = h('tbody');
  const table = h('table', { class: 'data-table audit-table' },
    h('thead', {}, h('tr', {}, ['When', 'Who', 'What', 'On', 'Details'].map((t) => h('th', { scope: 'col' }, t)))),
    rows);
  const status = h('p', { class: 'page-loading', role: 'status' }, 'Loading the audit trail…');
  const more = h('button', { type: 'button', class: 'button', hidden: true, onclick: () => loadPage() }, 'Load more');
  const wrap = h('div', { class: 'table-wrap', hidden: true }, table);

  const onFilter = () => {
    filters.kind = kind.value || null;
    filters.actor = actor.value.trim() || null;
    history.replaceState(history.state, '', auditPath(filters));
    page.key = location.pathname + location.search;
    restart();
  };
  kind.addEventListener('change', onFilter);
  actor.addEventListener('change', onFilter);

  replace(body,
    h('p', { class: 'page-note' }, 'Every administrative action in this tenant, newest first: keys, tokens, channels, webhooks, rules, settings, limits and sign-ins. Secrets are never recorded.'),
    h('form', { class: 'audit-filters', 'aria-label': 'Filter the audit trail', onsubmit: (e) => { e.preventDefault(); onFilter(); } },
      h('div', { class: 'form-row' },
        h('div', { class: 'field' }, h('label', { for: 'audit-kind' }, 'About'), kind),
        h('div', { class: 'field' }, h('label', { for: 'audit-actor' }, 'Who'), actor))),
    status, wrap, h('p', { class: 'form-actions' }, more));

  function restart() {
    cursor = null;
    replace(rows);
    wrap.hidden = true;
    loadPage();
  }

  async function loadPage() {
    const token = ++generation;
    more.disabled = true;
    status.hidden = false;
    status.textContent = 'Loading the audit trail…';
    let result;
    try {
      result = await app.api.request('GET', '/v1/audit', { query: auditQuery(filters, cursor) });
    } catch (error) {
      if (token !== generation || state.disposed) return;
      status.textContent = error.message;
      more.disabled = false;
      return;
    }
    if (token !== generation || state.disposed) return;
    const items = result?.items ?? [];
    rows.append(...items.map(auditRow));
    cursor = result?.next_cursor ?? null;
    more.hidden = !cursor;
    more.disabled = false;
    wrap.hidden = rows.childElementCount === 0;
    status.hidden = rows.childElementCount > 0;
    if (rows.childElementCount === 0) {
      status.textContent = filters.kind || filters.actor
        ? 'No administrative actions match these filters.'
        : 'No administrative actions yet.';
    }
    if (items.length) app.announce(`${items.length} audit entries loaded`);
  }

  restart();
  return () => {
    state.disposed = true;
  };
}

function auditRow(event) {
  const ms = toMillis(event.occurred_at);
  const who = event.actor ?? {};
  const on = event.entity ? `${event.entity.type} ${event.entity.id}` : '';
  const pairs = details(event.data);
  return h('tr', { dataset: { id: event.id, type: event.type } },
    h('td', {}, h('time', { datetime: event.occurred_at, title: exactDateTime(ms) }, relativeTime(ms))),
    h('td', {}, h('span', { title: who.id ?? '' }, who.name ?? who.id ?? '')),
    h('td', {}, event.title),
    h('td', { class: 'audit-target' }, on),
    h('td', { class: 'audit-details' }, pairs.length
      ? h('dl', {}, pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))
      : ''));
}
