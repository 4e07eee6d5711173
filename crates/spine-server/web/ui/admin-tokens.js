// Viewer tokens: mint one for a user and a scope, then show it once with the snippet that
// embeds <spine-feed> with it.

import { h, replace } from '../embed/lib/dom.js';
import { exactDateTime, toMillis } from '../embed/lib/format.js';
import { splitList } from '../embed/lib/query.js';
import { clearErrors, copyButton, field, formError, secretPanel, showErrors } from './forms.js';
import { adminApi } from './admin-api.js';

const TTLS = [
  [900, '15 minutes'],
  [3600, '1 hour'],
  [28800, '8 hours'],
  [86400, '1 day'],
  [604800, '7 days'],
];

export function mount(body, app) {
  const input = (name, props = {}) => h('input', { name, type: 'text', autocomplete: 'off', spellcheck: 'false', ...props });
  const userId = input('user_id', { required: true, value: app.session.user_id });
  const ttl = h('select', { name: 'ttl_seconds' }, TTLS.map(([s, label]) => h('option', { value: String(s), selected: s === 3600 }, label)));
  const entityType = input('scope.entity_type', { placeholder: 'task' });
  const entityId = input('scope.entity_id');
  const actor = input('scope.actor');
  const types = input('scope.types', { placeholder: 'task.*, deploy.*' });
  const submit = h('button', { type: 'submit', class: 'button is-primary' }, 'Create token');
  const result = h('div', { class: 'secret-slot' });

  const form = h('form', {
    class: 'admin-form',
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form);
      submit.disabled = true;
      const scope = {};
      if (entityType.value.trim()) scope.entity_type = entityType.value.trim();
      if (entityId.value.trim()) scope.entity_id = entityId.value.trim();
      if (actor.value.trim()) scope.actor = actor.value.trim();
      if (splitList(types.value).length) scope.types = splitList(types.value);
      try {
        const minted = await adminApi(app).createViewerToken({
          user_id: userId.value.trim(), ttl_seconds: Number(ttl.value), scope,
        });
        replace(result, tokenPanel(minted));
      } catch (error) {
        showErrors(form, error);
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('h2', {}, 'Create a viewer token'),
  h('p', { class: 'page-note' }, 'A viewer token lets a browser read one user\'s feed (and mark it read) within a scope, until it expires. Your backend normally mints these with a read key; this form is for trying things out.'),
  formError(),
  h('div', { class: 'form-row' }, field('User id', userId), field('Expires after', ttl)),
  h('fieldset', { class: 'scope' },
    h('legend', {}, 'Scope (optional: empty means all of the user\'s feed)'),
    h('div', { class: 'form-row' },
      field('Entity type', entityType), field('Entity id', entityId),
      field('Actor id', actor), field('Types', types, 'Comma-separated; a prefix like task.* matches a family'))),
  h('div', { class: 'form-actions' }, submit));

  replace(body, form, result);
}

function tokenPanel({ token, expires_at: expiresAt }) {
  const origin = location.origin;
  const snippet = [
    `<script type="module" src="${origin}/embed/spine-feed.js"></script>`,
    `<spine-feed server="${origin}"`,
    `            token="${token}"></spine-feed>`,
  ].join('\n');
  const tryIt = `/embed/example.html#token=${encodeURIComponent(token)}`;
  return secretPanel({
    title: 'New viewer token',
    value: token,
    warning: `Copy it now: Spine shows it only once. It expires ${exactDateTime(toMillis(expiresAt)) || expiresAt}.`,
    children: [
      h('h3', {}, 'Embed it'),
      h('pre', { class: 'snippet' }, h('code', {}, snippet)),
      h('p', { class: 'form-actions' },
        copyButton(() => snippet, 'Copy snippet'),
        h('a', { class: 'button', href: tryIt, target: '_blank', rel: 'noopener' }, 'Try it in the example page')),
    ],
  });
}
