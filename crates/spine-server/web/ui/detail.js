// One event in full (`/events/{id}`): as a page when opened directly, or as a dialog over the
// list it was opened from (the URL changes either way, so it can be shared). Every field is
// shown; `data` as a key/value table, `changes` as field | old -> new. Opening marks it read.

import { h, replace, srOnly } from '../embed/lib/dom.js';
import { createIcon, iconName } from '../embed/lib/icons.js';
import { exactDateTime, relativeTime, toMillis } from '../embed/lib/format.js';
import { changeRows, dataRows } from './values.js';
import { entityPath, filterPath } from '../embed/lib/links.js';
import { safeColor, typeLabel } from '../embed/lib/feed-view.js';
import { createProviderIcon, providerOf } from '../embed/lib/providers.js';

let dialog = null;
let closingFromRoute = false;
let openGeneration = 0;

/** The page form: `/events/{id}` opened directly. */
export function mount(container, app, [id]) {
  let disposed = false;
  const body = h('div', { class: 'event-detail' }, h('p', { class: 'page-loading' }, 'Loading event…'));
  container.replaceChildren(h('div', { class: 'page event-page' },
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: '/' }, '← Feed')),
    body));
  document.title = 'Event · Spine';
  load(app, id, null).then((content) => {
    if (!disposed) replace(body, content);
  });
  return { key: location.pathname + location.search, dispose: () => { disposed = true; } };
}

/**
 * Opens the dialog for an event. `event` is the list's copy when there is one (no request
 * needed); `onUserClose` runs when the person closes it (not when the URL moved on).
 */
export function openDialog(app, id, event, onUserClose) {
  dialog ??= createDialog();
  const generation = ++openGeneration;
  dialog.onUserClose = onUserClose;
  replace(dialog.body, h('p', { class: 'page-loading' }, 'Loading event…'));
  if (!dialog.element.open) dialog.element.showModal();
  load(app, id, event).then((content) => {
    if (generation === openGeneration && dialog.element.open) {
      replace(dialog.body, content);
      const heading = dialog.body.querySelector('h1, h2');
      if (heading) dialog.element.setAttribute('aria-label', heading.textContent);
    }
  });
}

/** Closes the dialog because the URL moved elsewhere (back button, a link). */
export function closeDialog() {
  if (!dialog?.element.open) return;
  closingFromRoute = true;
  dialog.element.close();
  closingFromRoute = false;
}

function createDialog() {
  const body = h('div', { class: 'event-detail' });
  const element = h('dialog', { class: 'event-dialog', 'aria-label': 'Event' },
    h('button', { type: 'button', class: 'dialog-close', 'aria-label': 'Close', onclick: () => element.close() },
      createIcon('x')),
    body);
  const state = { element, body, onUserClose: null };
  element.addEventListener('close', () => {
    if (!closingFromRoute) state.onUserClose?.();
  });
  // A click on the backdrop (outside the dialog's box) closes it too.
  element.addEventListener('click', (e) => {
    if (e.target === element) {
      const r = element.getBoundingClientRect();
      const inside = e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
      if (!inside) element.close();
    }
  });
  document.body.append(element);
  return state;
}

async function load(app, id, known) {
  let event = known;
  let types;
  try {
    [event, types] = await Promise.all([known ?? app.api.event(id), app.types]);
  } catch (error) {
    if (error.status === 401) return [];
    return h('div', { class: 'state-page', role: 'alert' },
      h('h1', {}, error.status === 404 ? 'No such event' : 'The event could not be loaded'),
      h('p', {}, error.status === 404 ? 'It may have been purged, or the link is wrong.' : error.message));
  }
  if (event.read === false) {
    event.read = true;
    app.api.markRead(event.id).then(() => app.refreshUnread(), () => {
      event.read = false;
    });
  }
  document.title = `${event.summary || event.title} · Spine`;
  return renderEvent(event, types, app);
}

/** Everything about one event. */
export function renderEvent(event, types, app) {
  const info = types.get(event.type) ?? {};
  const icon = h('span', { class: 'feed-icon' }, createIcon(iconName(event, info)));
  const color = safeColor(info.color);
  if (color) icon.style.setProperty('--type-color', color);
  const provider = providerOf(event.source?.system);

  const fields = [
    ['Type', [typeLabel(event, types), info.label ? h('code', { class: 'muted' }, ` ${event.type}`) : null]],
    ['Action', event.action],
    ['Priority', event.priority],
    ['Title', event.title],
    ['Description', event.description && h('p', { class: 'pre-wrap' }, event.description)],
    ['Actor', event.actor && [
      event.actor.name || event.actor.id,
      event.actor.name && h('span', { class: 'muted' }, ` (${event.actor.id})`),
      event.actor.kind && [' ', h('span', { class: 'feed-kind' }, event.actor.kind)],
      ' ', h('a', { href: filterPath('actor', event.actor.id) }, 'All activity by this actor'),
    ]],
    ['Entity', event.entity && [
      h('span', { class: 'feed-entity-type' }, event.entity.type), ' ',
      h('a', { href: entityPath(event.entity) }, event.entity.name || event.entity.id),
      event.entity.name && h('span', { class: 'muted' }, ` (${event.entity.id})`),
    ]],
    ['Source', event.source && [
      provider ? h('span', { class: 'provider-label', dataset: { provider: provider.name } },
        createProviderIcon(provider.name), provider.label, ' ', h('code', { class: 'muted' }, provider.name)) : event.source.system,
      (event.source.object_type || event.source.object_id)
        && h('span', { class: 'muted' }, ` ${[event.source.object_type, event.source.object_id].filter(Boolean).join(' ')}`)]],
    ['Tags', event.tags?.length > 0 && h('ul', { class: 'feed-tags' },
      event.tags.map((tag) => h('li', {}, h('a', { class: 'feed-tag', href: filterPath('tag', tag) }, tag))))],
    ['Occurred', timeValue(event.occurred_at)],
    ['Received', timeValue(event.received_at)],
    ['Expires', event.expires_at && timeValue(event.expires_at)],
    ['Correlation id', event.correlation_id && h('code', {}, event.correlation_id)],
    ['Causation id', event.causation_id && h('code', {}, event.causation_id)],
    ['Idempotency key', event.idempotency_key && h('code', {}, event.idempotency_key)],
    // A single event may come without the user's seen and archived flags; absent is unknown.
    ['Read', yesNo(event.read)],
    ['Seen', yesNo(event.seen)],
    ['Archived', yesNo(event.archived)],
    ['Event id', h('code', {}, event.id)],
    ['Position (seq)', String(event.seq)],
    ['Tenant', event.tenant],
  ];

  return h('article', { class: 'event' },
    h('header', { class: 'event-head' },
      icon,
      h('div', {},
        h('h1', { class: 'event-summary' }, event.summary || event.title),
        h('p', { class: 'event-sub' }, typeLabel(event, types),
          provider && [' · via ', h('span', { class: 'provider-label' }, createProviderIcon(provider.name), provider.label)],
          ' · ', timeValue(event.occurred_at)))),
    h('dl', { class: 'event-fields' },
      fields.filter(([, value]) => value !== undefined && value !== null && value !== false && value !== '')
        .map(([label, value]) => h('div', {}, h('dt', {}, label), h('dd', {}, value)))),
    event.data && Object.keys(event.data).length > 0 && h('section', { class: 'event-section', 'aria-label': 'Data' },
      h('h2', {}, 'Data'), dataTable(event.data)),
    event.changes?.length > 0 && h('section', { class: 'event-section', 'aria-label': 'Changes' },
      h('h2', {}, 'Changes'), changesTable(event.changes)),
    app && archiveButton(event, app));
}

function dataTable(data) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data-table' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Value'))),
    h('tbody', {}, dataRows(data).map((row) => {
      const key = h('th', { scope: 'row' }, row.key);
      // Nesting is shown by indenting the key; CSSOM, not a style attribute, sets the depth.
      key.style.setProperty('--depth', String(row.depth));
      return h('tr', { class: row.value === null ? 'is-group' : null }, key,
        h('td', {}, row.value === null ? '' : row.value));
    }))));
}

function changesTable(changes) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data-table changes-table' },
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Old'),
      h('th', { scope: 'col' }, srOnly('becomes')), h('th', { scope: 'col' }, 'New'))),
    h('tbody', {}, changeRows(changes).map((c) => h('tr', {},
      h('th', { scope: 'row' }, c.field),
      h('td', { class: 'old' }, c.old),
      h('td', { class: 'arrow', 'aria-hidden': 'true' }, '→'),
      h('td', { class: 'new' }, c.new))))));
}

function archiveButton(event, app) {
  const button = h('button', {
    type: 'button',
    class: 'button',
    onclick: async () => {
      button.disabled = true;
      const archive = !event.archived;
      try {
        // The list on screen, when it shows this event, archives it itself (with its Undo).
        const inList = !!app.feed?.model.has(event.id);
        if (inList) {
          if (!(await app.feed.toggleArchive(event.id))) return;
        } else {
          await (archive ? app.api.archive(event.id) : app.api.unarchive(event.id));
        }
        event.archived = archive;
        button.textContent = event.archived ? 'Unarchive' : 'Archive';
        if (!inList) app.toast(archive ? 'Archived' : 'Moved back to the feed');
      } catch (error) {
        app.toast(error.message);
      } finally {
        button.disabled = false;
      }
    },
  }, event.archived ? 'Unarchive' : 'Archive');
  return h('div', { class: 'event-actions' }, button);
}

function timeValue(iso) {
  const ms = toMillis(iso);
  return h('time', { datetime: iso, title: exactDateTime(ms) }, exactDateTime(ms) || iso,
    h('span', { class: 'muted' }, ` (${relativeTime(ms)})`));
}

function yesNo(value) {
  if (typeof value !== 'boolean') return null;
  return value ? 'Yes' : 'No';
}
