// Form pieces the admin pages share: labelled fields, problems shown next to the field they
// name, a secret shown once with a copy button, and a confirmation dialog.

import { h, replace } from '../embed/lib/dom.js';

let fieldCount = 0;

/**
 * A labelled control with an optional hint, and a place for its error.
 * @param {string} label
 * @param {HTMLElement} control  given an id when it has none
 * @param {string} [hint]
 */
export function field(label, control, hint = null) {
  control.id ||= `field-${++fieldCount}`;
  const hintEl = hint && h('p', { class: 'hint', id: `${control.id}-hint` }, hint);
  const error = h('p', { class: 'field-error', id: `${control.id}-error`, hidden: true });
  control.setAttribute('aria-describedby', [hintEl?.id, error.id].filter(Boolean).join(' '));
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl, error);
}

/** Shows an API error on a form: each named field's message beside it, the rest on top. */
export function showErrors(form, error) {
  clearErrors(form);
  const byField = error.fieldErrors ?? {};
  let placed = false;
  for (const [name, message] of Object.entries(byField)) {
    const control = form.querySelector(`[name="${CSS.escape(name)}"]`);
    const slot = control && form.querySelector(`#${CSS.escape(control.id)}-error`);
    if (!slot) continue;
    control.setAttribute('aria-invalid', 'true');
    slot.textContent = message;
    slot.hidden = false;
    placed = true;
  }
  const summary = form.querySelector('.form-error');
  if (summary) {
    summary.textContent = error.message;
    summary.hidden = false;
  }
  if (!placed) summary?.focus();
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.field-error, .form-error')) el.hidden = true;
}

/** The top-of-form error line that showErrors fills. */
export function formError() {
  return h('p', { class: 'form-error', role: 'alert', tabindex: '-1', hidden: true });
}

/** A button that copies `text()` and says so. */
export function copyButton(text, label = 'Copy') {
  const button = h('button', {
    type: 'button',
    class: 'button',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text());
        button.textContent = 'Copied';
      } catch {
        button.textContent = 'Select and copy by hand';
      }
      setTimeout(() => {
        button.textContent = label;
      }, 2000);
    },
  }, label);
  return button;
}

/**
 * A secret shown once: the value (selectable, read-only), a copy button and a warning. The
 * value lives only in this element; nothing stores it.
 */
export function secretPanel({ title, value, warning, children = [] }) {
  const output = h('textarea', {
    class: 'secret-value', readonly: true, rows: String(Math.min(4, Math.ceil(value.length / 64))),
    spellcheck: 'false', 'aria-label': title,
  });
  output.value = value;
  output.addEventListener('focus', () => output.select());
  return h('section', { class: 'secret-panel', role: 'status' },
    h('h3', {}, title),
    h('p', { class: 'secret-warning' }, warning),
    h('div', { class: 'secret-row' }, output, copyButton(() => value)),
    children);
}

/** Asks a yes/no question in a modal dialog; resolves true only for the confirming button. */
export function confirmDialog({ title, message, confirm = 'Confirm', danger = false }) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'confirm-dialog', 'aria-labelledby': 'confirm-title' });
    replace(dialog,
      h('h2', { id: 'confirm-title' }, title),
      h('p', {}, message),
      h('form', { method: 'dialog', class: 'dialog-actions' },
        h('button', { value: 'cancel', class: 'button', autofocus: true }, 'Cancel'),
        h('button', { value: 'confirm', class: `button ${danger ? 'is-danger' : 'is-primary'}` }, confirm)));
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'confirm');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
