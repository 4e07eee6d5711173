// The ingest ledger (SPEC section 6): every request providers made, newest first, filtered by
// channel and verdict (in the URL: `/admin/ledger?channel=ch_..&verdict=rejected`), with "Load
// more"; and one request (`/admin/ledger?request=ID`): its stored headers and body as text, the
// events it produced, and Replay, which re-reads it with the channel as it is now.

import { h, replace, srOnly } from '../embed/lib/dom.js';
import { exactDateTime, relativeTime, toMillis } from '../embed/lib/format.js';
import { eventPath } from '../embed/lib/links.js';
import { adminApi } from './admin-api.js';
import { byteSize } from './values.js';
import { PROVIDERS, createProviderIcon } from './providers.js';

export const VERDICTS = ['accepted', 'duplicate', 'rejected', 'failed'];

/** The page's query: {channel, verdict, request}, each a string or null. */
export function ledgerParams(search) {
  const q = new URLSearchParams(search);
  const verdict = q.get('verdict');
  return {
    channel: q.get('channel') || null,
    verdict: VERDICTS.includes(verdict) ? verdict : null,
    request: q.get('request') || null,
  };
}

/** The page's path for these filters (or one request). */
export function ledgerPath({ channel = null, verdict = null, request = null } = {}) {
  const q = new URLSearchParams();
  if (request) q.set('request', request);
  else {
    if (channel) q.set('channel', channel);
    if (verdict) q.set('verdict', verdict);
  }
  const query = q.toString();
  return query ? `/admin/ledger?${query}` : '/admin/ledger';
}

export function mount(body, app, page) {
  const api = adminApi(app);
  const state = { disposed: false };
  const params = ledgerParams(location.search);
  if (params.request) showRequest(body, app, api, params.request, state);
  else showList(body, app, api, params, page, state);
  return () => {
    state.disposed = true;
  };
}

function showList(body, app, api, params, page, state) {
  const filters = { channel: params.channel, verdict: params.verdict };
  let cursor = null;
  let generation = 0;
  const names = new Map();

  const channel = h('select', { name: 'channel' }, h('option', { value: '' }, 'All channels'),
    filters.channel && h('option', { value: filters.channel, selected: true }, filters.channel));
  const verdict = h('select', { name: 'verdict' }, h('option', { value: '' }, 'Any verdict'),
    VERDICTS.map((v) => h('option', { value: v, selected: v === filters.verdict }, v)));
  const rows = h('tbody');
  const table = h('table', { class: 'data-table ledger-table' },
    h('thead', {}, h('tr', {}, ['Received', 'Channel', 'Verdict', 'Reason', 'Delivery id', 'Size', 'Events', ''].map((t, i) =>
      h('th', { scope: 'col' }, i === 7 ? srOnly('Details') : t)))),
    rows);
  const status = h('p', { class: 'page-loading', role: 'status' }, 'Loading requests…');
  const more = h('button', { type: 'button', class: 'button', hidden: true, onclick: () => loadPage() }, 'Load more');
  const wrap = h('div', { class: 'table-wrap', hidden: true }, table);

  const onFilter = () => {
    filters.channel = channel.value || null;
    filters.verdict = verdict.value || null;
    history.replaceState(history.state, '', ledgerPath(filters));
    page.key = location.pathname + location.search;
    restart();
  };
  channel.addEventListener('change', onFilter);
  verdict.addEventListener('change', onFilter);

  replace(body,
    h('p', { class: 'page-note' }, 'Every request providers made to a channel, newest first: its verdict, and the events it produced. Rejected requests failed their signature or key check and are never replayed.'),
    h('form', { class: 'ledger-filters', 'aria-label': 'Filter the ledger', onsubmit: (e) => e.preventDefault() },
      h('div', { class: 'form-row' },
        h('div', { class: 'field' }, h('label', { for: 'ledger-channel' }, 'Channel'), Object.assign(channel, { id: 'ledger-channel' })),
        h('div', { class: 'field' }, h('label', { for: 'ledger-verdict' }, 'Verdict'), Object.assign(verdict, { id: 'ledger-verdict' })))),
    status, wrap, h('p', { class: 'form-actions' }, more));

  api.channels().then(({ items = [] }) => {
    if (state.disposed) return;
    for (const c of items) names.set(c.id, c);
    replace(channel, h('option', { value: '' }, 'All channels'),
      items.map((c) => h('option', { value: c.id, selected: c.id === filters.channel }, c.name)),
      filters.channel && !names.has(filters.channel) && h('option', { value: filters.channel, selected: true }, filters.channel));
    for (const cell of rows.querySelectorAll('td[data-channel]')) replace(cell, channelLabel(cell.dataset.channel, names));
  }, () => {
    // The list still reads with channel ids.
  });

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
    status.textContent = 'Loading requests…';
    let result;
    try {
      result = await api.requests({ channel: filters.channel, verdict: filters.verdict, cursor });
    } catch (error) {
      if (token !== generation || state.disposed) return;
      status.textContent = error.message;
      more.disabled = false;
      return;
    }
    if (token !== generation || state.disposed) return;
    const items = result?.items ?? [];
    rows.append(...items.map((entry) => entryRow(entry, names)));
    cursor = result?.next_cursor ?? null;
    more.hidden = !cursor;
    more.disabled = false;
    wrap.hidden = rows.childElementCount === 0;
    status.hidden = rows.childElementCount > 0;
    if (rows.childElementCount === 0) {
      status.textContent = filters.channel || filters.verdict
        ? 'No requests match these filters.'
        : 'No requests yet: they appear here as soon as a provider calls a channel.';
    }
    if (items.length) app.announce(`${items.length} requests loaded`);
  }

  restart();
}

function entryRow(entry, names) {
  return h('tr', { dataset: { id: entry.id } },
    h('td', {}, timeText(entry.received_at)),
    h('td', { dataset: { channel: entry.channel_id } }, channelLabel(entry.channel_id, names, entry.provider)),
    h('td', {}, verdictBadge(entry.verdict)),
    h('td', { class: 'ledger-reason' }, entry.reason ?? ''),
    h('td', {}, entry.delivery_id ? h('code', {}, entry.delivery_id) : h('span', { class: 'muted' }, 'none')),
    h('td', {}, byteSize(entry.body_bytes)),
    h('td', {}, String(entry.event_ids?.length ?? 0)),
    h('td', {}, h('a', { href: ledgerPath({ request: entry.id }), 'aria-label': `Details of request ${entry.id}` }, 'Details')));
}

function channelLabel(id, names, provider = null) {
  const channel = names.get(id);
  const system = channel?.provider ?? provider;
  return h('span', { class: 'provider-label' },
    system && PROVIDERS[system] && createProviderIcon(system),
    channel ? channel.name : h('code', {}, id));
}

function verdictBadge(verdict) {
  return h('span', { class: `verdict-badge is-${VERDICTS.includes(verdict) ? verdict : 'unknown'}` }, verdict);
}

async function showRequest(body, app, api, id, state) {
  replace(body, h('p', { class: 'page-loading' }, 'Loading the request…'));
  let entry;
  let channel = null;
  try {
    entry = await api.request(id);
  } catch (error) {
    if (state.disposed) return;
    replace(body,
      h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: ledgerPath() }, '← Ledger')),
      h('p', { class: 'form-error', role: 'alert' }, error.status === 404 ? 'There is no such request in the ledger.' : error.message));
    return;
  }
  try {
    channel = await api.channel(entry.channel_id);
  } catch {
    // A deleted channel: its requests stay, named by id.
  }
  if (state.disposed) return;

  const events = h('ul', { class: 'ledger-events' });
  const showEvents = (ids) => replace(events, ids.length
    ? ids.map((eventId) => h('li', {}, h('a', { href: eventPath(eventId) }, h('code', {}, eventId))))
    : h('li', { class: 'muted' }, 'none'));
  showEvents(entry.event_ids ?? []);

  const result = h('div', { class: 'replay-result', 'aria-live': 'polite' });
  const why = entry.verdict === 'rejected'
    ? 'A rejected request is never replayed: it was not verified.'
    : entry.body_truncated ? 'Its body was cut at the ledger\'s limit, so it cannot be replayed.'
      : !channel ? 'Its channel no longer exists.' : null;
  const replayButton = h('button', {
    type: 'button',
    class: 'button is-primary',
    disabled: !!why,
    'aria-describedby': 'replay-note',
    onclick: async () => {
      replayButton.disabled = true;
      replace(result, h('p', { class: 'page-loading' }, 'Replaying…'));
      try {
        const replayed = await api.replay(entry.id);
        if (state.disposed) return;
        replace(result, replayResult(replayed));
        app.announce(`Replayed: ${replayed.verdict}, ${replayed.events.length} events`);
        const fresh = await api.request(entry.id).catch(() => null);
        if (fresh && !state.disposed) showEvents(fresh.event_ids ?? []);
      } catch (error) {
        // A 422 says why the channel cannot read it now in its `body` field error.
        const why = Object.values(error.fieldErrors ?? {}).filter(Boolean);
        if (!state.disposed) replace(result, h('p', { class: 'form-error', role: 'alert' }, [error.message, ...why].join(': ')));
      } finally {
        replayButton.disabled = false;
      }
    },
  }, 'Replay');

  const fields = [
    ['Channel', channel
      ? [channelLabel(channel.id, new Map([[channel.id, channel]])), ' ', h('a', { href: ledgerPath({ channel: channel.id }) }, 'All its requests')]
      : h('code', {}, entry.channel_id)],
    ['Provider', PROVIDERS[entry.provider]?.label ?? entry.provider],
    ['Received', [exactDateTime(toMillis(entry.received_at)) || entry.received_at, h('span', { class: 'muted' }, ` (${relativeTime(toMillis(entry.received_at))})`)]],
    ['Verdict', verdictBadge(entry.verdict)],
    ['Reason', entry.reason],
    ['Delivery id', entry.delivery_id && h('code', {}, entry.delivery_id)],
    ['Size', `${byteSize(entry.body_bytes)}${entry.body_truncated ? ' (stored cut at the ledger\'s limit)' : ''}`],
    ['Events', events],
    ['Request id', h('code', {}, entry.id)],
  ];
  const headers = Object.entries(entry.headers ?? {});

  document.title = `Request ${entry.id} · Spine`;
  replace(body, h('article', { class: 'ledger-request' },
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: ledgerPath({ channel: entry.channel_id }) }, '← Ledger')),
    h('h2', {}, 'Request ', h('code', {}, entry.id)),
    h('dl', { class: 'event-fields' },
      fields.filter(([, v]) => v !== null && v !== undefined && v !== '')
        .map(([label, value]) => h('div', {}, h('dt', {}, label), h('dd', {}, value)))),
    h('section', { class: 'replay-box', 'aria-labelledby': 'replay-title' },
      h('h3', { id: 'replay-title' }, 'Replay'),
      h('p', { class: 'hint', id: 'replay-note' }, why ?? 'Reads the stored request again with the channel\'s current settings and mapping. Events it produced before are repeats, not duplicates; corrected ones are added.'),
      replayButton,
      result),
    h('section', { 'aria-labelledby': 'headers-title' },
      h('h3', { id: 'headers-title' }, 'Headers'),
      headers.length
        ? h('div', { class: 'table-wrap' }, h('table', { class: 'data-table' },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Value'))),
          h('tbody', {}, headers.map(([name, value]) => h('tr', {}, h('th', { scope: 'row' }, name), h('td', {}, h('code', {}, String(value))))))))
        : h('p', { class: 'muted' }, 'None kept: only the headers that matter are stored, never a credential.')),
    h('section', { 'aria-labelledby': 'body-title' },
      h('h3', { id: 'body-title' }, 'Body'),
      bodyView(entry))));
}

function bodyView(entry) {
  if (typeof entry.body === 'string') {
    return h('pre', { class: 'snippet ledger-body', tabindex: '0', 'aria-label': 'Request body' }, h('code', {}, entry.body));
  }
  if (typeof entry.body_base64 === 'string') {
    return [h('p', { class: 'hint' }, 'Not text: shown in base64.'),
      h('pre', { class: 'snippet ledger-body', tabindex: '0', 'aria-label': 'Request body in base64' }, h('code', {}, entry.body_base64))];
  }
  return h('p', { class: 'muted' }, 'Empty.');
}

function replayResult(replayed) {
  const events = replayed.events ?? [];
  return h('div', { class: 'replay-events' },
    h('p', {}, 'Replayed: ', verdictBadge(replayed.verdict), ` ${events.length === 1 ? '1 event' : `${events.length} events`}.`),
    events.length > 0 && h('ul', {}, events.map((event) => h('li', {},
      h('a', { href: eventPath(event.id) }, event.summary || event.title || event.id),
      ' ', h('span', { class: 'muted' }, h('code', {}, event.type))))));
}

function timeText(iso) {
  const ms = toMillis(iso);
  return h('time', { datetime: iso, title: exactDateTime(ms) }, relativeTime(ms));
}
