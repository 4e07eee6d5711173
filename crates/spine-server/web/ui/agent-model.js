// The agent view's pure parts: its paths, the statistics periods, durations as text, and a
// session's timeline as rows, each tool call one row however many of its events (started,
// finished or failed) arrived and in whatever order. Touches no DOM, so Node tests it.

import { toMillis } from '../embed/lib/format.js';

/** The periods the tool statistics offer; the middle one is the default. */
export const PERIODS = [
  { key: '1h', label: 'Last hour', seconds: 3600 },
  { key: '24h', label: 'Last 24 hours', seconds: 86_400 },
  { key: '7d', label: 'Last 7 days', seconds: 7 * 86_400 },
];

/** The page's query: {session (an id, or null for the list)}. */
export function agentsParams(search) {
  return { session: new URLSearchParams(search).get('session') || null };
}

/** The page's path: the sessions, or one session. */
export function agentsPath({ session = null } = {}) {
  return session ? `/agents?${new URLSearchParams({ session })}` : '/agents';
}

/** The RFC 3339 start of a period ending at `now`. */
export function periodSince(key, now = Date.now()) {
  const period = PERIODS.find((p) => p.key === key) ?? PERIODS[1];
  return new Date(now - period.seconds * 1000).toISOString();
}

/** "240 ms", "2.3 s", "4 min 5 s"; '' for no duration. */
export function formatDuration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/** The tool use a tool call's event belongs to, or null. */
export function toolUseOf(event) {
  const source = event?.source;
  return source?.object_type === 'tool_use' && source.object_id ? String(source.object_id) : null;
}

/** The short word a timeline shows for an event that is neither a prompt nor a tool call. */
const KINDS = {
  'agent.session.started': 'Started',
  'agent.session.ended': 'Ended',
  'agent.notification': 'Notice',
  'agent.stopped': 'Stopped',
  'agent.subagent.stopped': 'Subagent',
};

const TOOL_TYPES = new Set(['agent.tool.started', 'agent.tool.finished', 'agent.tool.failed']);

/** What a tool call was given, in one line: the command, the path, the pattern... */
export function inputOf(event) {
  const input = event?.data?.input ?? {};
  const cwd = typeof event?.data?.cwd === 'string' ? event.data.cwd.replace(/\/+$/, '') : '';
  for (const field of ['command', 'file_path', 'notebook_path', 'path', 'pattern', 'url', 'query', 'description']) {
    const value = input[field];
    if (typeof value !== 'string' || !value) continue;
    const text = value.replace(/\s+/g, ' ').trim();
    return cwd && text.startsWith(`${cwd}/`) ? text.slice(cwd.length + 1) : text;
  }
  return '';
}

/** A prompt's text: the whole prompt (the description), else the title without "Prompt: ". */
function promptText(event) {
  return event.description || String(event.title ?? '').replace(/^Prompt: /, '');
}

function before(a, b) {
  return a.at !== b.at ? a.at < b.at : a.seq < b.seq;
}

/**
 * One session's timeline, oldest first. `add(event)` answers {row, created, next} (next: the
 * row now after it, or null at the end), or null for an event it already has. Rows:
 * - {kind: 'prompt', text}
 * - {kind: 'tool', tool, input, status ('running'|'finished'|'failed'), durationMs, error}
 * - {kind: 'event', label, text, type} (session start and end, notifications, stops, ...)
 * each with {key, at (ms), seq, event (the one to open: a call's latest)}.
 */
export class SessionTimeline {
  #rows = [];
  #byKey = new Map();
  #ids = new Set();

  get rows() {
    return this.#rows;
  }

  get size() {
    return this.#rows.length;
  }

  add(event) {
    if (!event?.id || this.#ids.has(event.id)) return null;
    this.#ids.add(event.id);
    const tool = TOOL_TYPES.has(event.type);
    const toolUse = tool ? toolUseOf(event) : null;
    const key = toolUse ? `tool:${toolUse}` : `event:${event.id}`;
    let row = this.#byKey.get(key);
    const created = !row;
    if (created) {
      row = { key, at: Infinity, seq: Infinity };
      this.#byKey.set(key, row);
    } else {
      this.#rows.splice(this.#rows.indexOf(row), 1);
    }
    if (tool) foldCall(row, event);
    else Object.assign(row, otherRow(event));
    const index = this.#rows.findIndex((other) => before(row, other));
    if (index === -1) this.#rows.push(row);
    else this.#rows.splice(index, 0, row);
    return { row, created, next: this.#rows[index === -1 ? this.#rows.length : index + 1] ?? null };
  }
}

function otherRow(event) {
  const at = toMillis(event.occurred_at);
  const base = { at: Number.isNaN(at) ? 0 : at, seq: event.seq ?? 0, event };
  if (event.type === 'agent.prompt') return { ...base, kind: 'prompt', text: promptText(event) };
  return { ...base, kind: 'event', type: event.type, label: KINDS[event.type] ?? event.type.replace(/^agent\./, ''), text: event.title || event.summary || event.type };
}

/** Folds one of a call's events into its row: it stands at its earliest event; the end gives
 * the outcome and the duration (the server's, else the time from the start seen). */
function foldCall(row, event) {
  const data = event.data ?? {};
  const at = toMillis(event.occurred_at);
  row.kind = 'tool';
  row.tool = data.tool_name || row.tool || 'Tool';
  row.input = inputOf(event) || row.input || '';
  if (!Number.isNaN(at)) row.at = Math.min(row.at, at);
  else if (row.at === Infinity) row.at = 0;
  row.seq = Math.min(row.seq, event.seq ?? 0);
  if (event.type === 'agent.tool.started') {
    row.startedAt = at;
    row.event ??= event;
    row.status ??= 'running';
  } else {
    row.endedAt = at;
    row.event = event;
    row.status = event.type === 'agent.tool.failed' || data.success === false ? 'failed' : 'finished';
    row.error = data.error || (event.type === 'agent.tool.failed' ? event.description : null) || null;
    row.durationMs = typeof data.duration_ms === 'number' ? data.duration_ms : null;
  }
  if (row.status !== 'running' && row.durationMs === null && row.endedAt >= row.startedAt) {
    row.durationMs = row.endedAt - row.startedAt;
  }
}
