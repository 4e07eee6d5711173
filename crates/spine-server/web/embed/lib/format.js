// Text for times, days and event values. Pure: every function takes `now` when it needs
// one, so the feed's wording can be tested without a clock and without a DOM.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

// The interface is written in English, so dates are too; en-GB gives "Monday, 23 November 2026".
// Formatters are made on first use: making them costs a few milliseconds of the first view.
const formatters = new Map();
function formatter(name, options) {
  let made = formatters.get(name);
  if (!made) {
    made = new Intl.DateTimeFormat('en-GB', options);
    formatters.set(name, made);
  }
  return made;
}
const longDate = () => formatter('long', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const shortDate = () => formatter('short', { day: 'numeric', month: 'short' });
const shortDateWithYear = () => formatter('shortYear', { day: 'numeric', month: 'short', year: 'numeric' });
const exactTime = () => formatter('exact', { dateStyle: 'full', timeStyle: 'medium' });

/**
 * Milliseconds since the epoch for an RFC 3339 time. The server may send more than three
 * fractional digits, which not every engine's Date.parse accepts, so the fraction is cut to
 * milliseconds first. NaN for anything unparseable.
 */
export function toMillis(rfc3339) {
  if (typeof rfc3339 !== 'string') return NaN;
  return Date.parse(rfc3339.replace(/(\.\d{3})\d+/, '$1'));
}

/** "2026-11-23" for the local calendar day of `date`: the key the feed groups by. */
export function dayKey(date) {
  const d = new Date(date);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** "Today", "Yesterday", else "Monday, 23 November 2026". */
export function dayLabel(date, now = Date.now()) {
  const key = dayKey(date);
  if (key === dayKey(now)) return 'Today';
  if (key === dayKey(previousDay(now))) return 'Yesterday';
  return longDate().format(new Date(date));
}

/**
 * "just now", "1 minute ago", "3 hours ago", "yesterday", else a short date. Times a little
 * in the future (a producer's clock running ahead) read as "just now" rather than as nonsense.
 */
export function relativeTime(date, now = Date.now()) {
  const then = new Date(date).getTime();
  const ago = now - then;
  if (Number.isNaN(ago)) return '';
  if (ago < 45_000) return 'just now';
  if (ago < HOUR) return plural(Math.max(1, Math.round(ago / MINUTE)), 'minute') + ' ago';
  if (ago < 24 * HOUR) return plural(Math.floor(ago / HOUR), 'hour') + ' ago';
  if (dayKey(then) === dayKey(previousDay(now))) return 'yesterday';
  const sameYear = new Date(then).getFullYear() === new Date(now).getFullYear();
  return (sameYear ? shortDate() : shortDateWithYear()).format(new Date(then));
}

/** "Monday, 23 November 2026 at 14:03:12": what a time's tooltip shows. */
export function exactDateTime(date) {
  const d = new Date(date);
  return Number.isNaN(d.getTime()) ? '' : exactTime().format(d);
}

/** "Urgent" for a priority worth a badge (high, urgent); null for the rest. */
export function priorityBadge(priority) {
  if (priority === 'urgent') return 'Urgent';
  if (priority === 'high') return 'High';
  return null;
}

function plural(n, unit) {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

function pad(n) {
  return String(n).padStart(2, '0');
}

// Noon of the day before, so a daylight-saving change cannot land it on the wrong day.
function previousDay(now) {
  const d = new Date(now);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() - 1, 12);
}
