// The Spine HTTP API as functions. One client serves both callers: the Activity Center
// (same origin, session cookie, CSRF header on unsafe requests) and <spine-feed> (any
// origin, viewer token as a bearer credential, no cookies). Errors are ApiError, built from
// the RFC 9457 problem the server answers with.

/** A failed call: `status` 0 when the server could not be reached at all. */
export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.title || (status ? `HTTP ${status}` : "Spine can't be reached"));
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }

  /** Field errors of a 422, as {field: message}. */
  get fieldErrors() {
    const out = {};
    for (const e of this.problem.errors ?? []) if (e?.field) out[e.field] = e.message ?? '';
    return out;
  }

  /** A 401 whose problem says the session or token has expired (rather than never existed). */
  get expired() {
    return this.status === 401 && /expired/i.test(`${this.problem.detail ?? ''} ${this.problem.title ?? ''}`);
  }
}

/**
 * `base`: the server's origin ('' for the page's own). `token()`: a viewer token to send as a
 * bearer; without it, the session cookie. `onUnauthorized(error)` hears every 401 first.
 */
export function createApi({ base = '', token = null, onUnauthorized = null, fetch = globalThis.fetch } = {}) {
  const root = base.replace(/\/+$/, '');

  async function call(method, path, { query, body } = {}) {
    const headers = { Accept: 'application/json, application/problem+json' };
    if (token) headers.Authorization = `Bearer ${token()}`;
    // The server refuses cookie-authenticated unsafe requests without this header: a page on
    // another site cannot set it without a CORS preflight, which the server does not grant.
    else if (method !== 'GET') headers['X-Spine-CSRF'] = '1';
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const search = query ? `?${new URLSearchParams(query)}` : '';
    let response;
    try {
      response = await fetch(root + path + (search === '?' ? '' : search), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: token ? 'omit' : 'same-origin',
      });
    } catch {
      throw new ApiError(0, {
        title: "Spine can't be reached",
        detail: "Spine can't be reached. Check that the server is running and the network is up.",
      });
    }
    const json = await readJson(response);
    if (response.ok) return json;
    const error = new ApiError(response.status, json && typeof json === 'object' ? json : {
      title: response.statusText || `HTTP ${response.status}`,
    });
    if (error.status === 401) onUnauthorized?.(error);
    throw error;
  }

  const get = (path, query) => call('GET', path, { query });
  const post = (path, body) => call('POST', path, { body });
  const id = encodeURIComponent;

  return {
    session: () => get('/v1/session'),
    signOut: () => post('/v1/session/signout'),

    /** A feed page: `params` are the filters plus limit and cursor. */
    events: (params) => get('/v1/events', params),
    event: (eventId) => get(`/v1/events/${id(eventId)}`),
    timeline: (type, entityId, params) => get(`/v1/entities/${id(type)}/${id(entityId)}/timeline`, params),

    markRead: (eventId) => post(`/v1/events/${id(eventId)}/read`),
    readAll: (throughSeq) => post('/v1/read-all', throughSeq == null ? {} : { through_seq: throughSeq }),
    unreadCount: () => get('/v1/unread-count'),
    markSeen: (throughSeq) => post('/v1/seen', { through_seq: throughSeq }),
    archive: (eventId) => post(`/v1/events/${id(eventId)}/archive`),
    unarchive: (eventId) => post(`/v1/events/${id(eventId)}/unarchive`),

    types: () => get('/v1/types'),

    /** Any call, for the pages loaded later (ui/admin-api.js, ui/work-api.js). */
    request: call,

    /**
     * The URL of a live stream with these filters, resuming after `after`. A viewer token may
     * travel in this URL (EventSource cannot send headers); nothing else ever does.
     */
    streamUrl(params, after) {
      const query = new URLSearchParams();
      if (token) query.set('token', token());
      if (after !== null && after !== undefined) query.set('after', String(after));
      for (const [key, value] of new URLSearchParams(params)) query.append(key, value);
      return `${root}/v1/stream?${query}`;
    },
  };
}

/** The event types' presentation ({label, icon, color, important}) by type; empty on failure. */
export async function loadTypes(api) {
  try {
    const { items = [] } = await api.types();
    return new Map(items.filter((t) => t?.type).map((t) => [t.type, t]));
  } catch {
    // Without registered types the feed still reads well, with labels and icons by default.
    return new Map();
  }
}

async function readJson(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
