// Event types: the registered ones, and a form to create or edit one (label, icon from the
// built-in set, colour, important, summary template) with a live preview of the template
// rendered by the server against the latest event of that type.

import { h, replace, debounce, srOnly } from '../embed/lib/dom.js';
import { ICONS, createIcon } from '../embed/lib/icons.js';
import { eventPath } from '../embed/lib/links.js';
import { safeColor } from '../embed/lib/feed-view.js';
import { clearErrors, field, formError, showErrors } from './forms.js';
import { adminApi } from './admin-api.js';

const DEFAULT_COLOR = '#1c5fc9';

/** What a type can choose from in the picker (the interface's own marks are left out). */
export const PICKABLE = Object.keys(ICONS).filter((name) => name !== 'x' && name !== 'dot');

export function mount(body, app) {
  let disposed = false;
  let previewGeneration = 0;

  const list = h('div', { class: 'table-wrap' }, h('p', { class: 'page-loading' }, 'Loading types…'));
  const heading = h('h2', { id: 'type-form-title' }, 'New type');
  const type = h('input', { name: 'type', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'task.completed' });
  const label = h('input', { name: 'label', type: 'text', autocomplete: 'off', placeholder: 'Task completed' });
  const useColor = h('input', { type: 'checkbox', id: 'type-use-color' });
  const color = h('input', { name: 'color', type: 'color', value: DEFAULT_COLOR, 'aria-label': 'Colour' });
  const important = h('input', { name: 'important', type: 'checkbox', id: 'type-important' });
  const template = h('input', {
    name: 'summary_template', type: 'text', autocomplete: 'off', spellcheck: 'false',
    placeholder: '{actor.name} completed "{entity.name}"',
  });
  const icons = iconPicker();
  const sample = h('span', { class: 'type-sample' });
  const preview = h('output', { class: 'template-preview' });
  const previewNote = h('p', { class: 'hint' });
  const submit = h('button', { type: 'submit', class: 'button is-primary' }, 'Save type');

  const form = h('form', {
    class: 'admin-form type-form',
    'aria-labelledby': 'type-form-title',
    onsubmit: async (e) => {
      e.preventDefault();
      clearErrors(form);
      submit.disabled = true;
      try {
        const stored = await adminApi(app).putType(type.value.trim(), collect());
        (await app.types).set(stored?.type ?? type.value.trim(), { type: type.value.trim(), ...stored });
        app.toast(`Saved ${type.value.trim()}`);
        edit(null);
        load();
      } catch (error) {
        showErrors(form, error);
      } finally {
        submit.disabled = false;
      }
    },
    oninput: () => updateSample(),
    onchange: () => updateSample(),
  },
  heading,
  formError(),
  h('div', { class: 'form-row' },
    field('Type', type, 'Exactly as events name it'),
    field('Label', label, 'Shown above the summary in the feed')),
  icons.element,
  h('div', { class: 'form-row' },
    h('div', { class: 'field' },
      h('span', { class: 'field-label' }, 'Colour'),
      h('div', { class: 'inline' }, h('label', { class: 'check', for: useColor.id }, useColor, 'Use a colour'), color)),
    h('div', { class: 'field' },
      h('span', { class: 'field-label' }, 'Emphasis'),
      h('label', { class: 'check', for: important.id }, important, 'Important (highlighted in the feed)'))),
  field('Summary template', template, 'Placeholders in braces are filled from the event, e.g. {actor.name} or {entity.name}. Leave empty for the default summary.'),
  h('div', { class: 'preview-box', 'aria-live': 'polite' },
    h('span', { class: 'field-label' }, 'Preview'), sample, preview, previewNote),
  h('div', { class: 'form-actions' },
    submit,
    h('button', { type: 'button', class: 'button', onclick: () => edit(null) }, 'New type')));

  const requestPreview = debounce(async () => {
    const generation = ++previewGeneration;
    const text = template.value.trim();
    const name = type.value.trim();
    if (!text || !name) {
      preview.textContent = '';
      previewNote.textContent = text ? 'Name the type to preview its template.' : 'Without a template, events get the default summary.';
      return;
    }
    try {
      const result = await adminApi(app).previewType(name, text);
      if (generation !== previewGeneration || disposed) return;
      preview.textContent = result.summary;
      replace(previewNote, result.event_id
        ? ['Rendered with ', h('a', { href: eventPath(result.event_id) }, `the latest ${name} event`), '.']
        : `No ${name} event yet: rendered with a sample event.`);
    } catch (error) {
      if (generation !== previewGeneration || disposed) return;
      preview.textContent = '';
      previewNote.textContent = error.message;
    }
  }, 400);
  template.addEventListener('input', requestPreview);
  type.addEventListener('change', requestPreview);
  useColor.addEventListener('change', () => {
    color.disabled = !useColor.checked;
  });

  function collect() {
    const info = { important: important.checked };
    if (label.value.trim()) info.label = label.value.trim();
    if (icons.value()) info.icon = icons.value();
    if (useColor.checked) info.color = color.value;
    if (template.value.trim()) info.summary_template = template.value.trim();
    return info;
  }

  function updateSample() {
    const c = useColor.checked ? safeColor(color.value) : null;
    const icon = h('span', { class: 'feed-icon' }, createIcon(icons.value() || 'dot'));
    if (c) icon.style.setProperty('--type-color', c);
    replace(sample, icon, h('span', { class: 'feed-type' }, label.value.trim() || type.value.trim() || 'Type'),
      important.checked && h('span', { class: 'feed-badge feed-important' }, createIcon('star'), 'Important'));
  }

  /** Fills the form with a registered type's info, or empties it for a new type. */
  function edit(info) {
    heading.textContent = info ? `Edit ${info.type}` : 'New type';
    type.value = info?.type ?? '';
    type.readOnly = !!info;
    label.value = info?.label ?? '';
    icons.set(info?.icon ?? '');
    useColor.checked = !!safeColor(info?.color);
    color.value = safeColor(info?.color) ?? DEFAULT_COLOR;
    color.disabled = !useColor.checked;
    important.checked = !!info?.important;
    template.value = info?.summary_template ?? '';
    clearErrors(form);
    updateSample();
    requestPreview();
    if (info) label.focus();
  }

  async function load() {
    let items;
    try {
      ({ items = [] } = await app.api.types());
    } catch (error) {
      if (!disposed) replace(list, h('p', { class: 'form-error', role: 'alert' }, error.message));
      return;
    }
    if (disposed) return;
    if (items.length === 0) {
      replace(list, h('p', {}, 'No types registered: every event uses its type as its label and a default summary.'));
      return;
    }
    replace(list, h('table', { class: 'data-table types-table' },
      h('thead', {}, h('tr', {}, ['Icon', 'Type', 'Label', 'Important', 'Summary template', ''].map((t, i) =>
        h('th', { scope: 'col' }, i === 5 ? srOnly('Actions') : t)))),
      h('tbody', {}, items.map((info) => {
        const icon = h('span', { class: 'feed-icon' }, createIcon(info.icon || 'dot'));
        if (safeColor(info.color)) icon.style.setProperty('--type-color', info.color);
        return h('tr', {},
          h('td', {}, icon, srOnly(info.icon || 'default icon')),
          h('th', { scope: 'row' }, h('code', {}, info.type)),
          h('td', {}, info.label ?? ''),
          h('td', {}, info.important ? 'Yes' : 'No'),
          h('td', {}, info.summary_template ? h('code', {}, info.summary_template) : h('span', { class: 'muted' }, 'default')),
          h('td', {}, h('button', {
            type: 'button', class: 'button', 'aria-label': `Edit ${info.type}`, onclick: () => edit(info),
          }, 'Edit')));
      }))));
  }

  replace(body, form, h('h2', {}, 'Registered types'), list);
  edit(null);
  load();
  return () => {
    disposed = true;
    requestPreview.cancel();
  };
}

/** Radio buttons over the built-in icons, plus "default" (chosen from each event's action). */
function iconPicker() {
  const name = 'icon';
  const option = (value, label, icon) => {
    const radio = h('input', { type: 'radio', name, value, id: `icon-${value || 'default'}` });
    return h('label', { class: 'icon-option', for: radio.id, title: label }, radio, icon, srOnly(label));
  };
  const element = h('fieldset', { class: 'icon-picker' },
    h('legend', {}, 'Icon'),
    h('div', { class: 'icon-grid' },
      option('', 'Default (from the action)', h('span', { class: 'icon-default', 'aria-hidden': 'true' }, 'Auto')),
      PICKABLE.map((icon) => option(icon, icon, createIcon(icon)))));
  return {
    element,
    value: () => element.querySelector('input:checked')?.value ?? '',
    set(value) {
      const radio = element.querySelector(`input[value="${CSS.escape(PICKABLE.includes(value) ? value : '')}"]`);
      if (radio) radio.checked = true;
    },
  };
}
