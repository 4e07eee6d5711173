// Outbound webhooks (SPEC section 8). The list (`/admin/webhooks`): every endpoint with its
// status, lag and failures, and a form to add one, whose `whsec_` secret is shown once. One
// endpoint (`/admin/webhooks?id=wh_...`): its state (disabled and failing ones called out),
// enable/disable, delete, and a test send and a replay beside its delivery log (newest first,
// "Load more", new attempts added while the page is open).

import { h, replace, srOnly } from '../embed/lib/dom.js';
import { exactDateTime, relativeTime, toMillis } from '../embed/lib/format.js';
import { eventPath } from '../embed/lib/links.js';
import { adminApi } from './admin-api.js';
import { clearErrors, confirmDialog, field, formError, secretPanel, showErrors } from './forms.js';

export const OUTCOMES = ['delivered', 'retrying', 'failed', 'disabled', 'test'];

/** How often an open endpoint's state and log are asked for again. */
const REFRESH_MS = 2500;
/** Characters of an answer or error shown in a log row (the whole of it in its tooltip). */
const EXCERPT_CHARS = 140;

/** The page's query: the endpoint shown, or null for the list. */
export function webhookParams(search) {
  return { id: new URLSearchParams(search).get('id') || null };
}

/** The list's path, or one endpoint's. */
export function webhookPath(id = null) {
  return id ? `/admin/webhooks?${new URLSearchParams({ id })}` : '/admin/webhooks';
}

/** The event types typed in the form ("invoice.*, deal.won") as a filter; {} is every event. */
export function filterFromTypes(text) {
  const types = String(text ?? '').split(/[\s,]+/).filter(Boolean);
  if (types.length === 0) return {};
  return { type: types.length === 1 ? types[0] : types };
}

/** How a filter reads: "type=invoice.*, tag=billing", or "every event". */
export function filterText(filter) {
  const parts = [];
  for (const [key, value] of Object.entries(filter ?? {})) {
    for (const one of [value].flat()) if (one !== null && one !== undefined) parts.push(`${key}=${one}`);
  }
  return parts.length ? parts.join(', ') : 'every event';
}

/** `disabled`, `failing` (active, but every attempt has failed since `failing_since`) or `active`. */
export function webhookHealth(webhook) {
  if (webhook?.status === 'disabled') return 'disabled';
  return webhook?.failing_since ? 'failing' : 'active';
}

const HEALTH_LABELS = { active: 'Active', failing: 'Failing', disabled: 'Disabled' };

/** Whether an attempt went wrong: a failure, a retry, or a test without a 2xx answer. */
export function attemptFailed(attempt) {
  if (attempt?.outcome === 'delivered') return false;
  if (attempt?.outcome === 'test') return !(attempt.status_code >= 200 && attempt.status_code < 300);
  return true;
}

/** A log row's last column: the error when there was one, else the start of the answer, on one line. */
export function attemptExcerpt(attempt, max = EXCERPT_CHARS) {
  const text = String(attempt?.error || attempt?.response || '').replace(/\s+/g, ' ').trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * The attempts of a fresh first page that are not shown yet, newest first, and whether some may
 * be missing between them and the rows shown (a full page with none of them: start over).
 * @param {{id: string}[]} items  the first page, newest first
 * @param {Set<string>} shown  ids on screen
 * @param {boolean} more  whether the page has a next_cursor
 */
export function newAttempts(items, shown, more) {
  const fresh = [];
  for (const item of items) {
    if (shown.has(item.id)) return { fresh, gap: false };
    fresh.push(item);
  }
  return { fresh, gap: more && shown.size > 0 };
}

export function mount(body, app) {
  const api = adminApi(app);
  const state = { disposed: false, timer: null };
  const { id } = webhookParams(location.search);
  if (id) showEndpoint(body, app, api, id, state);
  else showList(body, app, api, state);
  return () => {
    state.disposed = true;
    clearTimeout(state.timer);
  };
}

function showList(body, app, api, state) {
  const list = h('div', { class: 'table-wrap' }, h('p', { class: 'page-loading' }, 'Loading endpoints…'));
  const secretSlot = h('div', { class: 'secret-slot' });

  const url = h('input', {
    name: 'url', type: 'url', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'https://example.com/hooks/spine',
  });
  const types = h('input', { name: 'filter.type', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'invoice.*' });
  const description = h('input', { name: 'description', type: 'text', autocomplete: 'off', maxlength: '512', placeholder: 'e.g. Billing service' });
  const submit = h('button', { type: 'submit', class: 'button is-primary' }, 'Create endpoint');

  const form = h('form', {
    class: 'admin-form webhook-form',
    'aria-labelledby': 'webhook-form-title',
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form);
      submit.disabled = true;
      const fields = { url: url.value.trim(), filter: filterFromTypes(types.value) };
      if (description.value.trim()) fields.description = description.value.trim();
      try {
        const created = await api.createWebhook(fields);
        if (state.disposed) return;
        form.reset();
        replace(secretSlot, secretPanel({
          title: `Signing secret of ${created.url}`,
          value: created.secret,
          warning: 'Copy this secret now and keep it somewhere safe: Spine shows it only once. Your receiver checks every delivery\'s webhook-signature header with it (Standard Webhooks).',
          children: h('p', { class: 'form-actions' }, h('a', { class: 'button', href: webhookPath(created.id) }, 'Open the endpoint')),
        }));
        app.announce('Endpoint created; its secret is shown once');
        secretSlot.querySelector('.secret-value')?.focus();
        load();
      } catch (error) {
        showErrors(form, error);
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('h2', { id: 'webhook-form-title' }, 'Add an endpoint'),
  formError(),
  field('URL', url, 'Where Spine posts events: https (or http), without a user name or password.'),
  h('div', { class: 'form-row' },
    field('Event types (optional)', types, 'Types or patterns, separated by commas: invoice.*, deal.won. Empty: every event.'),
    field('Description (optional)', description)),
  h('div', { class: 'form-actions' }, submit));

  async function load() {
    let items;
    try {
      ({ items = [] } = await api.webhooks());
    } catch (error) {
      if (!state.disposed) replace(list, h('p', { class: 'form-error', role: 'alert' }, error.message));
      return;
    }
    if (state.disposed) return;
    if (items.length === 0) {
      replace(list, h('p', {}, 'No endpoints yet: add one above, and Spine posts each new matching event to it.'));
      return;
    }
    replace(list, h('table', { class: 'data-table webhooks-table' },
      h('thead', {}, h('tr', {}, ['Endpoint', 'Events', 'Status', 'Lag', 'Failing since', ''].map((t, i) =>
        h('th', { scope: 'col', class: i === 3 ? 'num' : null }, i === 5 ? srOnly('Details') : t)))),
      h('tbody', {}, items.map((w) => {
        const health = webhookHealth(w);
        return h('tr', { class: health === 'active' ? null : `is-${health}`, dataset: { id: w.id } },
          h('th', { scope: 'row' },
            h('a', { class: 'webhook-url', href: webhookPath(w.id) }, w.url),
            w.description && h('span', { class: 'muted webhook-description' }, w.description)),
          h('td', {}, h('code', {}, filterText(w.filter))),
          h('td', {}, healthBadge(health),
            w.disabled_reason && h('span', { class: 'hint webhook-reason' }, w.disabled_reason)),
          h('td', { class: 'num' }, String(w.lag)),
          h('td', {}, w.failing_since ? timeText(w.failing_since) : h('span', { class: 'muted' }, '—')),
          h('td', {}, h('a', { class: 'button', href: webhookPath(w.id), 'aria-label': `Details of ${w.description || w.url}` }, 'Details')));
      }))));
  }

  replace(body,
    h('p', { class: 'page-note' }, 'Spine posts every event that matches an endpoint\'s filter to its URL, one at a time in log order, signed with the endpoint\'s secret (Standard Webhooks). A failed delivery is tried again for about a day; an endpoint that answers 410 Gone, or fails everything for 5 days, is disabled.'),
    form, secretSlot, h('h2', {}, 'Endpoints'), list);
  load();
}

async function showEndpoint(body, app, api, id, state) {
  replace(body, h('p', { class: 'page-loading' }, 'Loading the endpoint…'));
  let webhook;
  try {
    webhook = await api.webhook(id);
  } catch (error) {
    if (state.disposed) return;
    replace(body, backLink(), h('p', { class: 'form-error', role: 'alert' },
      error.status === 404 ? 'There is no such endpoint: it may have been deleted.' : error.message));
    return;
  }
  if (state.disposed) return;

  const heading = h('h2', { class: 'webhook-title' });
  const summary = h('div', { class: 'webhook-summary' });
  const toggle = h('button', { type: 'button', class: 'button', onclick: () => setStatus() });
  const remove = h('button', { type: 'button', class: 'button is-danger', onclick: () => deleteEndpoint() }, 'Delete');

  const log = createLog(app, api, id, state);

  const testResult = h('div', { class: 'test-result', role: 'status' });
  const testButton = h('button', {
    type: 'button',
    class: 'button is-primary',
    'aria-describedby': 'test-note',
    onclick: async () => {
      testButton.disabled = true;
      replace(testResult, h('p', { class: 'page-loading' }, 'Sending…'));
      try {
        const attempt = await api.testWebhook(id);
        if (state.disposed) return;
        replace(testResult, testOutcome(attempt));
        await log.refresh();
      } catch (error) {
        if (!state.disposed) replace(testResult, h('p', { class: 'form-error' }, error.message));
      } finally {
        testButton.disabled = false;
      }
    },
  }, 'Test send');

  const replayButton = h('button', {
    type: 'button',
    class: 'button',
    'aria-describedby': 'replay-note',
    onclick: async () => {
      const replayed = await replayDialog(api, webhook, log.oldestSeq());
      if (!replayed || state.disposed) return;
      show(replayed.webhook);
      app.toast(`Replaying from event ${replayed.since}: matching events are sent again, in order`);
      log.refresh();
    },
  }, 'Replay…');

  function show(w) {
    webhook = w;
    const health = webhookHealth(w);
    document.title = `Webhook ${hostOf(w.url)} · Spine`;
    replace(heading, 'Endpoint ', h('code', {}, w.url));
    toggle.textContent = w.status === 'disabled' ? 'Enable' : 'Disable';
    const when = (iso) => (iso ? [exactDateTime(toMillis(iso)) || iso, h('span', { class: 'muted' }, ` (${relativeTime(toMillis(iso))})`)] : null);
    const fields = [
      ['Status', healthBadge(health)],
      ['Description', w.description],
      ['Events', h('code', {}, filterText(w.filter))],
      ['Cursor', [`event ${w.cursor}`, h('span', { class: 'muted' }, ' (everything matching up to here was sent or given up on)')]],
      ['Lag', `${w.lag} ${w.lag === 1 ? 'position' : 'positions'} behind the log`],
      ['Attempt', w.attempt > 0 ? `${w.attempt} made on the next event` : 'none pending'],
      ['Next attempt', when(w.next_attempt_at)],
      ['Failing since', when(w.failing_since)],
      ['Created', when(w.created_at)],
      ['Id', h('code', {}, w.id)],
    ];
    replace(summary,
      health === 'disabled' && h('p', { class: 'webhook-alert is-disabled' },
        h('strong', {}, 'Disabled: '), w.disabled_reason || 'by an admin',
        '. Nothing is sent until it is enabled again; it then resumes where it stopped.'),
      health === 'failing' && h('p', { class: 'webhook-alert is-failing' },
        h('strong', {}, 'Failing: '), `every attempt since ${exactDateTime(toMillis(w.failing_since))} has failed.`,
        w.next_attempt_at ? ` The next one is at ${exactDateTime(toMillis(w.next_attempt_at))}.` : '',
        ' After 5 days of failures the endpoint is disabled.'),
      h('dl', { class: 'event-fields' },
        fields.filter(([, v]) => v !== null && v !== undefined && v !== '' && v !== false)
          .map(([label, value]) => h('div', {}, h('dt', {}, label), h('dd', {}, value)))));
  }

  async function setStatus() {
    const status = webhook.status === 'disabled' ? 'active' : 'disabled';
    if (status === 'disabled' && !(await confirmDialog({
      title: 'Disable this endpoint?',
      message: `Nothing is sent to ${webhook.url} until it is enabled again. Matching events wait in the log; when enabled, it resumes where it stopped.`,
      confirm: 'Disable endpoint',
      danger: true,
    }))) return;
    toggle.disabled = true;
    try {
      const changed = await api.updateWebhook(id, { status });
      if (state.disposed) return;
      show(changed);
      app.toast(status === 'active' ? 'Endpoint enabled' : 'Endpoint disabled');
      toggle.focus();
    } catch (error) {
      app.toast(error.message);
    } finally {
      toggle.disabled = false;
    }
  }

  async function deleteEndpoint() {
    const sure = await confirmDialog({
      title: 'Delete this endpoint?',
      message: `Spine stops posting to ${webhook.url}, and its delivery log is deleted with it. This cannot be undone.`,
      confirm: 'Delete endpoint',
      danger: true,
    });
    if (!sure) return;
    try {
      await api.deleteWebhook(id);
      app.toast('Endpoint deleted');
      if (!state.disposed) app.navigate(webhookPath());
    } catch (error) {
      app.toast(error.message);
    }
  }

  /** The endpoint's state and the newest attempts, again and again while the page is open. */
  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(async () => {
      if (state.disposed) return;
      if (document.visibilityState === 'visible') {
        try {
          const fresh = await api.webhook(id);
          // Drawn again only when it changed, so what a reader is on stays put.
          if (!state.disposed && JSON.stringify(fresh) !== JSON.stringify(webhook)) show(fresh);
        } catch {
          // The last state stays on screen; the next round tries again.
        }
        await log.refresh();
      }
      if (!state.disposed) schedule();
    }, REFRESH_MS);
  }

  show(webhook);
  replace(body, h('article', { class: 'webhook-page' },
    backLink(),
    heading,
    summary,
    h('div', { class: 'form-actions webhook-actions' }, toggle, remove),
    h('div', { class: 'webhook-layout' },
      h('section', { class: 'webhook-log', 'aria-labelledby': 'log-title' },
        h('div', { class: 'log-head' },
          h('h3', { id: 'log-title' }, 'Delivery log'),
          h('button', { type: 'button', class: 'button', onclick: () => log.refresh({ announce: true }) }, 'Refresh')),
        log.element),
      h('aside', { class: 'webhook-tools', 'aria-label': 'Test and replay' },
        h('section', { class: 'replay-box', 'aria-labelledby': 'test-title' },
          h('h3', { id: 'test-title' }, 'Test send'),
          h('p', { class: 'hint', id: 'test-note' }, 'Posts a signed spine.webhook.test delivery now and shows the answer. It does not move the cursor.'),
          testButton,
          testResult),
        h('section', { class: 'replay-box', 'aria-labelledby': 'replay-title' },
          h('h3', { id: 'replay-title' }, 'Replay'),
          h('p', { class: 'hint', id: 'replay-note' }, 'Sends every matching event again from a position in the log on, in order, as new deliveries.'),
          replayButton)))));
  log.start();
  schedule();
}

/** The delivery log: a table filled a page at a time, newest first, with new attempts added on top. */
function createLog(app, api, id, state) {
  const rows = h('tbody');
  const shown = new Set();
  const status = h('p', { class: 'page-loading', role: 'status' }, 'Loading deliveries…');
  const more = h('button', { type: 'button', class: 'button', hidden: true, onclick: () => loadMore() }, 'Load more');
  // Focusable, so a keyboard can scroll it sideways on a narrow screen.
  const wrap = h('div', { class: 'table-wrap', hidden: true, tabindex: '0', role: 'region', 'aria-labelledby': 'log-title' }, h('table', { class: 'data-table deliveries-table', 'aria-labelledby': 'log-title' },
    h('thead', {}, h('tr', {}, ['Time', 'Event', 'Attempt', 'Outcome', 'Status', 'Latency', 'Error or answer'].map((t, i) =>
      h('th', { scope: 'col', class: i === 2 || i === 5 ? 'num' : null }, t)))),
    rows));
  let cursor = null;
  let refreshing = null;

  const settle = () => {
    wrap.hidden = rows.childElementCount === 0;
    status.hidden = rows.childElementCount > 0;
    if (rows.childElementCount === 0) status.textContent = 'No deliveries yet: matching events appear here as they are sent. Try a test send.';
  };

  async function start() {
    try {
      const page = await api.deliveries(id);
      if (state.disposed) return;
      replace(rows);
      shown.clear();
      add(page.items ?? [], 'end');
      cursor = page.next_cursor ?? null;
      more.hidden = !cursor;
      settle();
    } catch (error) {
      if (!state.disposed) status.textContent = error.message;
    }
  }

  function add(items, where) {
    const made = items.filter((a) => !shown.has(a.id)).map((a) => {
      shown.add(a.id);
      return attemptRow(a);
    });
    if (where === 'start') rows.prepend(...made);
    else rows.append(...made);
    return made.length;
  }

  async function loadMore() {
    more.disabled = true;
    try {
      const page = await api.deliveries(id, { cursor });
      if (state.disposed) return;
      const added = add(page.items ?? [], 'end');
      cursor = page.next_cursor ?? null;
      more.hidden = !cursor;
      settle();
      app.announce(`${added} older deliveries loaded`);
    } catch (error) {
      app.toast(error.message);
    } finally {
      more.disabled = false;
    }
  }

  /** Adds the attempts made since the newest shown; one refresh at a time. */
  function refresh({ announce = false } = {}) {
    refreshing ??= (async () => {
      try {
        const page = await api.deliveries(id);
        if (state.disposed) return;
        const { fresh, gap } = newAttempts(page.items ?? [], shown, !!page.next_cursor);
        if (gap) {
          await start();
          return;
        }
        // Newest first: the batch goes on top in its own order.
        add(fresh, 'start');
        settle();
        if (announce) app.announce(fresh.length ? `${fresh.length} new deliveries` : 'No new deliveries');
      } catch (error) {
        if (announce) app.toast(error.message);
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  return {
    element: [status, wrap, h('p', { class: 'form-actions' }, more)],
    start,
    refresh,
    /** The earliest event position on screen, for the replay's first guess. */
    oldestSeq() {
      const seqs = [...rows.querySelectorAll('tr[data-seq]')].map((tr) => Number(tr.dataset.seq)).filter((n) => n >= 1);
      return seqs.length ? Math.min(...seqs) : null;
    },
  };
}

function attemptRow(a) {
  const failed = attemptFailed(a);
  const excerpt = attemptExcerpt(a);
  const full = String(a.error || a.response || '');
  return h('tr', {
    class: `outcome-${OUTCOMES.includes(a.outcome) ? a.outcome : 'unknown'}${failed ? ' is-problem' : ''}`,
    dataset: { id: a.id, outcome: a.outcome, ...(a.event_seq ? { seq: a.event_seq } : {}) },
  },
  h('td', {}, clockTime(a.at)),
  h('td', {}, a.event_id
    ? h('a', { href: eventPath(a.event_id), 'aria-label': `Event ${a.event_seq}` }, String(a.event_seq))
    : h('span', { class: 'muted' }, 'test')),
  h('td', { class: 'num' }, String(a.attempt)),
  h('td', {}, outcomeBadge(a.outcome)),
  h('td', { class: a.status_code && (a.status_code < 200 || a.status_code >= 300) ? 'status-code is-bad' : 'status-code' },
    a.status_code ? String(a.status_code) : h('span', { class: 'muted' }, 'none')),
  h('td', { class: 'num' }, `${a.latency_ms} ms`),
  h('td', { class: 'attempt-detail' },
    excerpt && h(a.error ? 'span' : 'code', { class: a.error ? 'attempt-error' : 'attempt-response', title: full.length > excerpt.length ? full : null }, excerpt),
    a.outcome === 'retrying' && a.next_attempt_at && h('span', { class: 'hint' }, ` next attempt ${clockTimeText(a.next_attempt_at)}`)));
}

function testOutcome(a) {
  const ok = !attemptFailed(a);
  const excerpt = attemptExcerpt(a);
  return h('div', { class: `test-outcome ${ok ? 'is-ok' : 'is-problem'}` },
    h('p', {}, outcomeBadge('test'), ' ',
      ok ? 'Delivered: ' : 'Not delivered: ',
      a.status_code ? `answered ${a.status_code}` : 'no answer',
      ` in ${a.latency_ms} ms.`),
    excerpt && h('p', {}, h(a.error ? 'span' : 'code', { class: a.error ? 'attempt-error' : 'attempt-response' }, excerpt)));
}

function outcomeBadge(outcome) {
  return h('span', { class: `outcome-badge is-${OUTCOMES.includes(outcome) ? outcome : 'unknown'}` }, outcome);
}

function healthBadge(health) {
  return h('span', { class: `webhook-status is-${health}` }, HEALTH_LABELS[health] ?? health);
}

function backLink() {
  return h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: webhookPath() }, '← Webhooks'));
}

function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** Asks from which position to send again; answers {webhook, since} or null. */
function replayDialog(api, webhook, guess) {
  return new Promise((resolve) => {
    let result = null;
    const since = h('input', {
      name: 'since_seq', type: 'number', min: '1', step: '1', required: true, autofocus: true,
      value: String(guess ?? Math.max(1, webhook.cursor)),
    });
    const submit = h('button', { type: 'submit', class: 'button is-primary' }, 'Replay');
    const dialog = h('dialog', { class: 'confirm-dialog replay-dialog', 'aria-labelledby': 'replay-dialog-title' });
    const form = h('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        clearErrors(form);
        submit.disabled = true;
        try {
          const sinceSeq = Number(since.value);
          result = { webhook: await api.replayWebhook(webhook.id, sinceSeq), since: sinceSeq };
          dialog.close();
        } catch (error) {
          showErrors(form, error);
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('h2', { id: 'replay-dialog-title' }, 'Replay deliveries'),
    h('p', {}, `Every event matching this endpoint's filter from this position on is sent again, in order, by the background delivery. The cursor is now at event ${webhook.cursor}.`),
    formError(),
    field('Start at event (seq)', since, 'The position in the log, as in the delivery log\'s Event column.'),
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', class: 'button', onclick: () => dialog.close() }, 'Cancel'),
      submit));
    dialog.append(form);
    dialog.addEventListener('close', () => {
      resolve(result);
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

let clockFormat = null;

/** "12 Mar, 14:03:12": a log's times are read to the second. */
function clockTimeText(iso) {
  clockFormat ??= new Intl.DateTimeFormat(undefined, {
    day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  const ms = toMillis(iso);
  return Number.isNaN(ms) ? String(iso ?? '') : clockFormat.format(ms);
}

function clockTime(iso) {
  return h('time', { datetime: iso, title: exactDateTime(toMillis(iso)) }, clockTimeText(iso));
}

function timeText(iso) {
  const ms = toMillis(iso);
  return h('time', { datetime: iso, title: exactDateTime(ms) }, relativeTime(ms));
}
