// The feed's filter bar. Its controls are named like the API's parameters, so the form's data
// is a query string that parseFilters reads like the page URL. It only reports the filters;
// the page keeps them in the URL and reloads the feed. On narrow screens the bar folds
// behind a "Filters" button.

import { h, debounce } from '../embed/lib/dom.js';
import { PRIORITIES, filtersToParams, hasFilters, parseFilters } from '../embed/lib/query.js';

const TEXT_FIELDS = [
  ['type', 'Type', 'task.*'],
  ['actor', 'Actor id', ''],
  ['entity_type', 'Entity type', 'task'],
  ['entity_id', 'Entity id', ''],
  ['tag', 'Tags', 'all of: docs, blue'],
];

let formCount = 0;

/** @returns {{toggle: HTMLElement, form: HTMLElement, clear: () => void, dispose: () => void}} */
export function createFilterBar({ filters, onChange }) {
  const id = `filters-${++formCount}`;
  const field = (name, label, control) => {
    control.id = `${id}-${name}`;
    return h('div', { class: `field field-${name}` }, h('label', { for: control.id }, label), control);
  };
  const text = (name, value, props = {}) => h('input', { name, value, autocomplete: 'off', spellcheck: 'false', ...props });
  const list = (name) => (Array.isArray(filters[name]) ? filters[name].join(', ') : filters[name]);

  const q = text('q', filters.q, { type: 'search', placeholder: 'Words in titles and summaries' });
  const unread = h('input', { type: 'checkbox', name: 'unread', value: 'true', id: `${id}-unread`, checked: filters.unread });
  const form = h('form', { id, class: 'filters', role: 'search', 'aria-label': 'Filter the feed' },
    field('q', 'Search', q),
    h('div', { class: 'filters-grid' },
      TEXT_FIELDS.map(([name, label, placeholder]) => field(name, label, text(name, list(name), { type: 'text', placeholder }))),
      field('priority', 'Priority', h('select', { name: 'priority' },
        h('option', { value: '' }, 'Any'),
        PRIORITIES.map((p) => h('option', { value: p, selected: p === filters.priority }, p[0].toUpperCase() + p.slice(1))))),
      field('since', 'From', text('since', dateOf(filters.since), { type: 'date' })),
      field('until', 'To', text('until', dateOf(filters.until), { type: 'date' }))),
    h('div', { class: 'filters-actions' },
      h('label', { class: 'check', for: unread.id }, unread, 'Unread only'),
      filters.archived && h('input', { type: 'hidden', name: 'archived', value: 'true' }),
      h('button', { type: 'submit', class: 'button is-primary' }, 'Apply'),
      h('button', { type: 'button', class: 'button', onclick: () => clear() }, 'Clear filters')));

  let applied = filtersToParams(filters).toString();
  // Only the search box follows typing; the others apply on Enter or on leaving the box.
  const apply = () => {
    const next = parseFilters(new URLSearchParams(new FormData(form)));
    const serialized = filtersToParams(next).toString();
    if (serialized === applied) return;
    applied = serialized;
    updateToggle(next);
    onChange(next);
  };
  const applySoon = debounce(apply, 300);
  q.addEventListener('input', applySoon);
  form.addEventListener('change', (e) => e.target !== q && apply());
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    applySoon.cancel();
    apply();
  });

  const clear = () => {
    for (const el of form.elements) {
      if (el.type === 'checkbox') el.checked = false;
      else if (el.type !== 'hidden' && 'value' in el && el.tagName !== 'BUTTON') el.value = '';
    }
    apply();
  };

  const toggle = h('button', {
    type: 'button',
    class: 'button filters-toggle',
    'aria-controls': id,
    onclick: () => toggle.setAttribute('aria-expanded', String(form.classList.toggle('is-open'))),
  });
  const updateToggle = (f) => {
    const count = [...filtersToParams({ ...f, archived: null }).keys()].length;
    toggle.textContent = count ? `Filters (${count})` : 'Filters';
  };
  updateToggle(filters);
  // A filtered view opens with its filters in sight, on narrow screens too.
  form.classList.toggle('is-open', hasFilters(filters));
  toggle.setAttribute('aria-expanded', String(hasFilters(filters)));

  return { toggle, form, clear, dispose: () => applySoon.cancel() };
}

// A date input shows a day; a full instant from a hand-written URL shows as its day.
function dateOf(value) {
  return /^\d{4}-\d{2}-\d{2}/.exec(value ?? '')?.[0] ?? '';
}
