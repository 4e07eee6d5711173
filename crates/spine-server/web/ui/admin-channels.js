// Channels (SPEC section 6): the list with each ingest URL to copy; a form to create one
// (name, provider, event type, direction, secret, mapping) or change one; the secret shown once
// with the provider's setup instructions; rotating the secret with a grace period; disabling,
// enabling and deleting with confirmation.

import { h, replace, srOnly } from '../embed/lib/dom.js';
import { exactDateTime, relativeTime, toMillis } from '../embed/lib/format.js';
import { adminApi } from './admin-api.js';
import { clearErrors, confirmDialog, copyButton, field, formError, secretPanel, showErrors } from './forms.js';
import { createMappingEditor } from './mapping.js';
import {
  CHANNEL_PROVIDERS, PROVIDERS, SECRET_HINTS, codeParts, createProviderIcon, setupGuide,
} from './providers.js';

/** Providers whose own secret signs or names every request: Spine's would never match. */
const PROVIDER_ISSUED = ['twilio', 'hubspot', 'salesforce'];

export function mount(body, app) {
  const api = adminApi(app);
  let disposed = false;
  /** The channel being changed, or null while the form creates one. */
  let editing = null;

  const list = h('div', { class: 'table-wrap' }, h('p', { class: 'page-loading' }, 'Loading channels…'));
  const secretSlot = h('div', { class: 'secret-slot' });
  const guideSlot = h('div', { class: 'guide-slot' });

  const heading = h('h2', { id: 'channel-form-title' }, 'Create a channel');
  const name = h('input', { name: 'name', type: 'text', required: true, autocomplete: 'off', placeholder: 'e.g. CRM notes' });
  const provider = h('select', { name: 'provider' },
    CHANNEL_PROVIDERS.map((p) => h('option', { value: p }, PROVIDERS[p].label)));
  const eventType = h('input', { name: 'event_type', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'crm.note' });
  const direction = h('select', { name: 'direction' },
    h('option', { value: 'inbound' }, 'Inbound'),
    h('option', { value: 'outbound' }, 'Outbound'));
  const secret = h('input', { name: 'secret', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const secretField = field('Secret (optional)', secret, SECRET_HINTS.generic);
  const secretHint = secretField.querySelector('.hint');
  const secretLabel = secretField.querySelector('label');
  const mapping = createMappingEditor();
  const submit = h('button', { type: 'submit', class: 'button is-primary' }, 'Create channel');
  const cancel = h('button', { type: 'button', class: 'button', hidden: true, onclick: () => edit(null) }, 'Cancel');

  /** The secret field says what the provider's secret is, and whether it must be given. */
  const describeSecret = () => {
    secretHint.textContent = SECRET_HINTS[provider.value] ?? '';
    secretLabel.textContent = PROVIDER_ISSUED.includes(provider.value) ? 'Secret' : 'Secret (optional)';
  };
  provider.addEventListener('change', describeSecret);

  const form = h('form', {
    class: 'admin-form channel-form',
    'aria-labelledby': heading.id,
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form);
      const mapped = mapping.value();
      if (mapped === null) return;
      submit.disabled = true;
      try {
        if (editing) await saveChanges(mapped);
        else await create(mapped);
      } catch (error) {
        showErrors(form, error);
      } finally {
        submit.disabled = false;
      }
    },
  },
  heading,
  formError(),
  h('div', { class: 'form-row' },
    field('Name', name),
    field('Provider', provider),
    field('Event type (optional)', eventType, 'The type its events get; empty: the provider or the mapping decides'),
    field('Direction', direction, 'Inbound: activity that came to you; outbound: what you sent')),
  secretField,
  mapping.element,
  h('div', { class: 'form-actions' }, submit, cancel));

  async function create(mapped) {
    const fields = { name: name.value.trim(), provider: provider.value, direction: direction.value };
    if (eventType.value.trim()) fields.event_type = eventType.value.trim();
    if (secret.value.trim()) fields.secret = secret.value.trim();
    if (Object.keys(mapped).length) fields.mapping = mapped;
    const created = await api.createChannel(fields);
    replace(guideSlot);
    replace(secretSlot, secretPanel({
      title: `Secret of the channel "${created.name}"`,
      value: created.secret,
      warning: 'Copy this secret now and keep it somewhere safe: Spine shows it only once.',
      children: guideSection(created, created.secret),
    }));
    edit(null);
    load();
    secretSlot.querySelector('.secret-value')?.focus();
  }

  async function saveChanges(mapped) {
    const changed = await api.updateChannel(editing.id, {
      name: name.value.trim(),
      event_type: eventType.value.trim() || null,
      direction: direction.value,
      mapping: mapped,
    });
    app.toast(`Saved ${changed.name}`);
    edit(null);
    load();
  }

  /** Fills the form with a channel to change, or empties it for a new one. */
  function edit(channel) {
    editing = channel;
    heading.textContent = channel ? `Edit ${channel.name}` : 'Create a channel';
    name.value = channel?.name ?? '';
    provider.value = channel?.provider ?? 'generic';
    provider.disabled = !!channel;
    eventType.value = channel?.event_type ?? '';
    direction.value = channel?.direction ?? 'inbound';
    secret.value = '';
    secretField.hidden = !!channel;
    describeSecret();
    mapping.set(channel?.mapping ?? {});
    submit.textContent = channel ? 'Save channel' : 'Create channel';
    cancel.hidden = !channel;
    clearErrors(form);
    if (channel) {
      form.scrollIntoView({ block: 'start' });
      name.focus();
    }
  }

  async function load() {
    let items;
    try {
      ({ items = [] } = await api.channels());
    } catch (error) {
      if (!disposed) replace(list, h('p', { class: 'form-error', role: 'alert' }, error.message));
      return;
    }
    if (disposed) return;
    if (items.length === 0) {
      replace(list, h('p', {}, 'No channels yet: create one above, then give its URL to the provider.'));
      return;
    }
    replace(list, h('table', { class: 'data-table channels-table' },
      h('thead', {}, h('tr', {}, ['Name', 'Provider', 'Ingest URL', 'Status', 'Created', ''].map((t, i) =>
        h('th', { scope: 'col' }, i === 5 ? srOnly('Actions') : t)))),
      h('tbody', {}, items.map((channel) => h('tr', { class: channel.disabled ? 'is-disabled' : null, dataset: { id: channel.id } },
        h('th', { scope: 'row' }, channel.name,
          channel.event_type && h('span', { class: 'muted channel-type' }, h('code', {}, channel.event_type))),
        h('td', {}, providerLabel(channel.provider)),
        h('td', {}, h('div', { class: 'url-cell' },
          h('code', { class: 'ingest-url' }, channel.ingest_url),
          copyButton(() => channel.ingest_url, 'Copy URL'))),
        h('td', {}, channel.disabled
          ? h('span', { class: 'status-badge is-off' }, 'Disabled')
          : h('span', { class: 'status-badge is-on' }, 'Enabled'),
        channel.previous_secret_valid_until && h('span', { class: 'hint' },
          ` old secret valid until ${exactDateTime(toMillis(channel.previous_secret_valid_until))}`)),
        h('td', {}, timeText(channel.created_at)),
        h('td', {}, h('div', { class: 'row-actions' },
          h('a', { class: 'button', href: `/admin/ledger?${new URLSearchParams({ channel: channel.id })}`, 'aria-label': `Ledger of ${channel.name}` }, 'Ledger'),
          action('Setup', `Setup instructions for ${channel.name}`, () => showGuide(channel)),
          action('Edit', `Edit ${channel.name}`, () => edit(channel)),
          action('Rotate secret', `Rotate secret of ${channel.name}`, () => rotate(channel)),
          action(channel.disabled ? 'Enable' : 'Disable', `${channel.disabled ? 'Enable' : 'Disable'} ${channel.name}`, () => toggle(channel)),
          action('Delete', `Delete ${channel.name}`, () => remove(channel), 'is-danger'))))))));
  }

  function showGuide(channel) {
    replace(guideSlot, h('section', { class: 'guide-panel', 'aria-labelledby': `guide-${channel.id}` },
      h('div', { class: 'guide-head' },
        h('h2', { id: `guide-${channel.id}` }, `Connect ${channel.name}`),
        h('button', { type: 'button', class: 'button', onclick: () => replace(guideSlot) }, 'Close')),
      guideSection(channel, null)));
    guideSlot.querySelector('h2').scrollIntoView({ block: 'nearest' });
  }

  async function toggle(channel) {
    const disabled = !channel.disabled;
    if (disabled && !(await confirmDialog({
      title: 'Disable this channel?',
      message: `${PROVIDERS[channel.provider]?.label ?? channel.provider} will get 404 for every delivery to "${channel.name}" until you enable it again; providers that retry will keep trying for a while.`,
      confirm: 'Disable channel',
      danger: true,
    }))) return;
    try {
      await api.updateChannel(channel.id, { disabled });
      app.toast(`${channel.name} ${disabled ? 'disabled' : 'enabled'}`);
      load();
    } catch (error) {
      app.toast(error.message);
    }
  }

  async function remove(channel) {
    const sure = await confirmDialog({
      title: 'Delete this channel?',
      message: `Deliveries to "${channel.name}" will be refused, and its URL and secret stop working for good. Its ledger entries stay until retention removes them. This cannot be undone.`,
      confirm: 'Delete channel',
      danger: true,
    });
    if (!sure) return;
    try {
      await api.deleteChannel(channel.id);
      if (editing?.id === channel.id) edit(null);
      app.toast(`Channel ${channel.name} deleted`);
      load();
    } catch (error) {
      app.toast(error.message);
    }
  }

  async function rotate(channel) {
    const rotated = await rotateDialog(api, channel);
    if (!rotated || disposed) return;
    replace(guideSlot);
    replace(secretSlot, secretPanel({
      title: `New secret of the channel "${rotated.name}"`,
      value: rotated.secret,
      warning: rotated.previous_secret_valid_until
        ? `Copy it now: Spine shows it only once. The old secret keeps working until ${exactDateTime(toMillis(rotated.previous_secret_valid_until))}.`
        : 'Copy it now: Spine shows it only once. The old secret no longer works.',
    }));
    secretSlot.scrollIntoView({ block: 'nearest' });
    secretSlot.querySelector('.secret-value')?.focus();
    load();
  }

  replace(body, form, secretSlot, guideSlot, h('h2', {}, 'Channels'), list);
  edit(null);
  load();
  return () => {
    disposed = true;
  };
}

function action(label, ariaLabel, onclick, extra = '') {
  return h('button', { type: 'button', class: `button ${extra}`.trim(), 'aria-label': ariaLabel, onclick }, label);
}

function providerLabel(provider) {
  return h('span', { class: 'provider-label' }, createProviderIcon(provider), PROVIDERS[provider]?.label ?? provider);
}

/** Text whose `backticks` read as code, built from text nodes. */
function richText(text) {
  return codeParts(text).map((part) => (part.code ? h('code', {}, part.text) : part.text));
}

/** The provider's setup instructions for a channel, with the values to paste. */
function guideSection(channel, secret) {
  const guide = setupGuide(channel.provider, channel.ingest_url, secret);
  const label = PROVIDERS[channel.provider]?.label ?? channel.provider;
  if (!guide) {
    return h('div', { class: 'setup-guide' }, h('p', {}, 'Give the provider the ingest URL: ', h('code', {}, channel.ingest_url)));
  }
  return h('div', { class: 'setup-guide' },
    h('h3', {}, createProviderIcon(channel.provider), `Set up ${label}`),
    h('ol', { class: 'setup-steps' }, guide.steps.map((step) => h('li', {}, richText(step)))),
    h('dl', { class: 'setup-values' }, guide.values.map(({ label: what, value }) => h('div', {},
      h('dt', {}, what),
      h('dd', {}, h('code', {}, value), copyButton(() => value, `Copy ${what.toLowerCase()}`))))),
    guide.example && [
      h('pre', { class: 'snippet' }, h('code', {}, guide.example)),
      h('p', { class: 'form-actions' }, copyButton(() => guide.example, 'Copy example')),
    ]);
}

/** Asks for the grace period (and the provider's new secret, if it issues one); answers the rotation or null. */
function rotateDialog(api, channel) {
  return new Promise((resolve) => {
    let result = null;
    const grace = h('input', { name: 'grace_seconds', type: 'number', min: '0', max: '168', step: '1', value: '24', required: true });
    const secret = h('input', { name: 'secret', type: 'text', autocomplete: 'off', spellcheck: 'false' });
    const submit = h('button', { type: 'submit', class: 'button is-primary' }, 'Rotate secret');
    const dialog = h('dialog', { class: 'confirm-dialog rotate-dialog', 'aria-labelledby': 'rotate-title' });
    const form = h('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        clearErrors(form);
        submit.disabled = true;
        const fields = { grace_seconds: Math.round(Number(grace.value) * 3600) };
        if (secret.value.trim()) fields.secret = secret.value.trim();
        try {
          result = await api.rotateSecret(channel.id, fields);
          dialog.close();
        } catch (error) {
          showErrors(form, error);
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('h2', { id: 'rotate-title' }, `Rotate the secret of ${channel.name}?`),
    h('p', {}, 'A new secret replaces the current one. During the grace period both verify, so the provider can be switched over without losing deliveries.'),
    formError(),
    field('Grace period (hours)', grace, '0 to 168; 0 stops the old secret at once'),
    field('New secret (optional)', secret, 'The provider\'s new secret when it issues one (Stripe\'s whsec_…, a Twilio Auth Token, a HubSpot client secret, the Salesforce org id); empty: Spine generates one.'),
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

function timeText(iso) {
  const ms = toMillis(iso);
  return h('time', { datetime: iso, title: exactDateTime(ms) }, relativeTime(ms));
}
