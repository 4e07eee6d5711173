// API keys: the list, a new key (its secret shown once), and revoking with confirmation.

import { h, replace } from '../embed/lib/dom.js';
import { exactDateTime, relativeTime, toMillis } from '../embed/lib/format.js';
import { clearErrors, confirmDialog, field, formError, secretPanel, showErrors } from './forms.js';
import { adminApi } from './admin-api.js';

const ROLES = [
  ['ingest', 'ingest: post events'],
  ['read', 'read: feeds, counts, viewer tokens'],
  ['worker', 'worker: claim and settle jobs, write notes'],
  ['admin', 'admin: everything, including keys'],
];

export function mount(body, app) {
  let disposed = false;
  const list = h('div', { class: 'table-wrap' }, h('p', { class: 'page-loading' }, 'Loading keys…'));
  const secretSlot = h('div', { class: 'secret-slot' });

  const role = h('select', { name: 'role' }, ROLES.map(([value, label]) => h('option', { value }, label)));
  const name = h('input', { name: 'name', type: 'text', autocomplete: 'off', placeholder: 'e.g. billing backend' });
  const submit = h('button', { type: 'submit', class: 'button is-primary' }, 'Create key');
  const form = h('form', {
    class: 'admin-form',
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form);
      submit.disabled = true;
      try {
        const created = await adminApi(app).createKey({ role: role.value, ...(name.value.trim() ? { name: name.value.trim() } : {}) });
        replace(secretSlot, secretPanel({
          title: `New ${created.role} key${created.name ? ` "${created.name}"` : ''}`,
          value: created.key,
          warning: 'Copy this key now and keep it somewhere safe: Spine shows it only once.',
        }));
        name.value = '';
        load();
      } catch (error) {
        showErrors(form, error);
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('h2', {}, 'Create a key'),
  formError(),
  h('div', { class: 'form-row' }, field('Role', role), field('Name (optional)', name), h('div', { class: 'field field-submit' }, submit)));

  replace(body, form, secretSlot, h('h2', {}, 'Keys'), list);

  async function load() {
    let items;
    try {
      ({ items = [] } = await adminApi(app).keys());
    } catch (error) {
      if (!disposed) replace(list, h('p', { class: 'form-error', role: 'alert' }, error.message));
      return;
    }
    if (disposed) return;
    if (items.length === 0) {
      replace(list, h('p', {}, 'No keys yet.'));
      return;
    }
    replace(list, h('table', { class: 'data-table keys-table' },
      h('thead', {}, h('tr', {}, ['Name', 'Role', 'Key id', 'Created', 'Status', ''].map((t, i) =>
        h('th', { scope: 'col' }, i === 5 ? h('span', { class: 'sr-only' }, 'Actions') : t)))),
      h('tbody', {}, items.map((key) => h('tr', { class: key.revoked_at ? 'is-revoked' : null },
        h('td', {}, key.name || h('span', { class: 'muted' }, 'unnamed')),
        h('td', {}, key.role),
        h('td', {}, h('code', {}, key.id)),
        h('td', {}, timeText(key.created_at)),
        h('td', {}, key.revoked_at ? ['Revoked ', timeText(key.revoked_at)] : 'Active'),
        h('td', {}, !key.revoked_at && h('button', {
          type: 'button',
          class: 'button is-danger',
          'aria-label': `Revoke ${key.name || key.id}`,
          onclick: () => revoke(key),
        }, 'Revoke')))))));
  }

  async function revoke(key) {
    const label = key.name ? `"${key.name}"` : key.id;
    const sure = await confirmDialog({
      title: 'Revoke this key?',
      message: `Every request made with the ${key.role} key ${label} will be refused from now on. This cannot be undone.`,
      confirm: 'Revoke key',
      danger: true,
    });
    if (!sure) return;
    try {
      await adminApi(app).revokeKey(key.id);
      app.toast(`Key ${label} revoked`);
      load();
    } catch (error) {
      app.toast(error.message);
    }
  }

  load();
  return () => {
    disposed = true;
  };
}

function timeText(iso) {
  const ms = toMillis(iso);
  return h('time', { datetime: iso, title: exactDateTime(ms) }, relativeTime(ms));
}
