// A channel's mapping (SPEC section 6) as rows of event field -> JSON Pointer or constant: the
// pure conversions (tested in Node) and the editor the channels form uses. Each row's value
// control is named `mapping.<field>`, the name the server's 422 gives, so forms.js shows a
// field's error beside its row.

import { h, replace } from '../embed/lib/dom.js';

/** The event fields a mapping may fill, in the order the editor offers them. */
export const MAPPED_FIELDS = [
  'title', 'type', 'description', 'occurred_at', 'priority', 'tags',
  'actor.id', 'actor.name', 'actor.kind', 'entity.type', 'entity.id', 'entity.name',
  'source.object_id', 'source.object_type', 'idempotency_key', 'correlation_id',
];

/** Rows for a stored mapping, in MAPPED_FIELDS order (unknown fields last, as they are). */
export function rowsFromMapping(mapping) {
  const entries = Object.entries(mapping && typeof mapping === 'object' ? mapping : {});
  const rank = (field) => (MAPPED_FIELDS.includes(field) ? MAPPED_FIELDS.indexOf(field) : MAPPED_FIELDS.length);
  return entries
    .map(([field, source]) => ({ field, source: String(source) }))
    .sort((a, b) => rank(a.field) - rank(b.field));
}

/**
 * The mapping the rows say, and what is wrong with them ({row, message}: row is the index).
 * Empty rows are left out; a field named twice, a row without a field or without a source, and
 * an unknown field are errors. The server checks pointers itself.
 * @param {{field: string, source: string}[]} rows
 */
export function mappingFromRows(rows) {
  const mapping = {};
  const errors = [];
  rows.forEach((row, index) => {
    const field = (row.field ?? '').trim();
    const source = (row.source ?? '').trim();
    if (!field && !source) return;
    if (!field) errors.push({ row: index, message: 'choose the event field this fills' });
    else if (!MAPPED_FIELDS.includes(field)) errors.push({ row: index, message: `${field} is not a field a mapping fills` });
    else if (!source) errors.push({ row: index, message: 'give a JSON Pointer such as /subject, or a constant' });
    else if (Object.hasOwn(mapping, field)) errors.push({ row: index, message: `${field} is mapped twice` });
    else mapping[field] = source;
  });
  return { mapping, errors };
}

let editors = 0;

/**
 * The mapping editor: one row per field (a field select, its pointer or constant, Remove) and
 * "Add a field". `value()` answers mappingFromRows of the rows, after showing its errors.
 */
export function createMappingEditor() {
  const id = `mapping-${++editors}`;
  const list = h('div', { class: 'mapping-rows' });
  let count = 0;

  const addRow = (field = '', source = '') => {
    const n = ++count;
    const select = h('select', { class: 'mapping-field', 'aria-label': `Event field of mapping row ${n}` },
      h('option', { value: '' }, 'Choose a field…'),
      MAPPED_FIELDS.map((f) => h('option', { value: f, selected: f === field }, f)));
    if (field && !MAPPED_FIELDS.includes(field)) select.append(h('option', { value: field, selected: true }, field));
    const input = h('input', {
      type: 'text', class: 'mapping-source', id: `${id}-row-${n}`, autocomplete: 'off', spellcheck: 'false',
      placeholder: '/subject or a constant', value: source,
    });
    const error = h('p', { class: 'field-error', id: `${input.id}-error`, hidden: true });
    input.setAttribute('aria-describedby', error.id);
    const name = () => {
      input.name = select.value ? `mapping.${select.value}` : '';
      input.setAttribute('aria-label', select.value ? `Source of ${select.value}` : `Source of mapping row ${n}`);
    };
    select.addEventListener('change', name);
    name();
    const row = h('div', { class: 'mapping-row' }, select, input,
      h('button', {
        type: 'button', class: 'button', 'aria-label': `Remove mapping row ${n}`,
        onclick: () => {
          row.remove();
          if (!list.querySelector('.mapping-row')) addRow();
        },
      }, 'Remove'),
      error);
    list.append(row);
    return row;
  };

  const element = h('fieldset', { class: 'mapping-editor', id },
    h('legend', {}, 'Mapping'),
    h('p', { class: 'hint' }, 'Which event field each part of the payload fills: a JSON Pointer into the payload (/subject, /data/0/id) or, without a leading /, a constant (crm.note).'),
    list,
    h('button', { type: 'button', class: 'button', onclick: () => addRow().querySelector('select').focus() }, 'Add a field'));

  const rows = () => [...list.querySelectorAll('.mapping-row')];
  return {
    element,
    /** Fills the rows from a mapping object (one empty row when it has none). */
    set(mapping) {
      replace(list);
      count = 0;
      const initial = rowsFromMapping(mapping);
      if (initial.length === 0) addRow();
      for (const { field, source } of initial) addRow(field, source);
    },
    /** The mapping, or null after showing the rows' errors. */
    value() {
      const all = rows();
      const parsed = mappingFromRows(all.map((row) => ({
        field: row.querySelector('select').value, source: row.querySelector('input').value,
      })));
      for (const row of all) {
        row.querySelector('input').removeAttribute('aria-invalid');
        row.querySelector('.field-error').hidden = true;
      }
      for (const { row, message } of parsed.errors) {
        const input = all[row].querySelector('input');
        input.setAttribute('aria-invalid', 'true');
        Object.assign(all[row].querySelector('.field-error'), { textContent: message, hidden: false });
      }
      if (parsed.errors.length) all[parsed.errors[0].row].querySelector('input').focus();
      return parsed.errors.length ? null : parsed.mapping;
    },
  };
}
