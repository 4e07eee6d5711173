// The feed's filters, as one plain object, to and from query strings. The page URL, the
// `filter` attribute of <spine-feed> and the API all use the API's own parameter names, so a
// bookmarked view reads like the request it makes. Pure: no DOM, no location.

/** Parameters that may be repeated; every other filter holds one value. */
const LISTS = ['type', 'tag'];
/** Parameters that hold one text value. */
const TEXTS = ['actor', 'entity_type', 'entity_id', 'priority', 'since', 'until', 'q'];
/** Parameters that are either "true" or absent. */
const FLAGS = ['unread', 'unseen'];

export const PRIORITIES = ['low', 'normal', 'high', 'urgent'];

// Filters: {type: [], tag: [] (each must match), actor, entity_type, entity_id, priority,
// since, until (a date from a date input, or RFC 3339; a date `until` includes its day), q,
// unread, unseen (booleans), archived (true, false, or null when not said)}.

export function emptyFilters() {
  return {
    type: [], tag: [], actor: '', entity_type: '', entity_id: '', priority: '',
    since: '', until: '', q: '', unread: false, unseen: false, archived: null,
  };
}

/**
 * Filters from a query string ("?type=task.*&tag=a"), a URLSearchParams or a plain object.
 * Parameters the feed does not know are dropped: the API refuses unknown ones (422), and a
 * stray `utm_source` in a bookmarked URL should not break the page.
 */
export function parseFilters(input) {
  const params = input instanceof URLSearchParams ? input : new URLSearchParams(input ?? '');
  const filters = emptyFilters();
  for (const key of LISTS) {
    filters[key] = unique(params.getAll(key).flatMap(splitList));
  }
  for (const key of TEXTS) filters[key] = (params.get(key) ?? '').trim();
  if (!PRIORITIES.includes(filters.priority)) filters.priority = '';
  for (const key of FLAGS) filters[key] = params.get(key) === 'true';
  const archived = params.get('archived');
  filters.archived = archived === 'true' ? true : archived === 'false' ? false : null;
  return filters;
}

/** A query string's parameters for these filters, as they belong in the page's URL. */
export function filtersToParams(filters) {
  const params = new URLSearchParams();
  for (const key of LISTS) for (const value of filters[key] ?? []) params.append(key, value);
  for (const key of TEXTS) if (filters[key]) params.set(key, filters[key]);
  for (const key of FLAGS) if (filters[key]) params.set(key, 'true');
  if (filters.archived !== null && filters.archived !== undefined) {
    params.set('archived', String(filters.archived));
  }
  return params;
}

/**
 * The API's parameters for these filters: dates become RFC 3339 instants at local midnight
 * (`until` at the midnight that ends its day, so the chosen day is included), and `archived`
 * is always said, because the feed hides archived items unless it is the Archived view.
 */
export function filtersToApiParams(filters) {
  const params = filtersToParams({ ...filters, archived: filters.archived === true });
  if (filters.since) params.set('since', toInstant(filters.since, false));
  if (filters.until) params.set('until', toInstant(filters.until, true));
  return params;
}

/** Whether any filter narrows the feed (the Archived switch is a view, not a filter). */
export function hasFilters(filters) {
  return filtersToParams({ ...filters, archived: null }).toString() !== '';
}

/**
 * "2026-11-23" becomes that local day's start (or, with `endOfDay`, the next day's start) as
 * RFC 3339; anything else is passed on as written, for the server to accept or explain.
 */
export function toInstant(value, endOfDay) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return value;
  const day = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (endOfDay ? 1 : 0));
  return day.toISOString();
}

/** "task.*, deploy.finished" -> ["task.*", "deploy.finished"]: one box can hold several. */
export function splitList(text) {
  return String(text).split(/[\s,]+/).filter(Boolean);
}

function unique(values) {
  return [...new Set(values)];
}
