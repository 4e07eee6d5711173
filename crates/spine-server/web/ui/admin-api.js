// The channel and ledger calls (SPEC section 6) of the admin pages, on the page's session like
// embed/lib/api.js: kept here, loaded with those pages, so the feed's first view does not carry
// them. Errors are the same ApiError; a 401 is handed to the app's client, which shows the
// signed-out page.

import { ApiError } from '../embed/lib/api.js';

/** @param {object} app  see main.js (its `api` hears 401s) */
export function adminApi(app) {
  async function call(method, path, { query, body } = {}) {
    const headers = { Accept: 'application/json, application/problem+json' };
    if (method !== 'GET') headers['X-Spine-CSRF'] = '1';
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const search = query ? new URLSearchParams(query).toString() : '';
    let response;
    try {
      response = await fetch(path + (search ? `?${search}` : ''), {
        method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, {
        title: "Spine can't be reached",
        detail: "Spine can't be reached. Check that the server is running and the network is up.",
      });
    }
    const text = response.status === 204 ? '' : await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON: the status says enough.
    }
    if (response.ok) return json;
    const error = new ApiError(response.status, json && typeof json === 'object' ? json : {
      title: response.statusText || `HTTP ${response.status}`,
    });
    // The app's own client tells an expired session from a revoked one and signs the page out.
    if (error.status === 401) app.api.session().catch(() => {});
    throw error;
  }

  const id = encodeURIComponent;
  return {
    channels: () => call('GET', '/v1/channels'),
    channel: (channelId) => call('GET', `/v1/channels/${id(channelId)}`),
    createChannel: (fields) => call('POST', '/v1/channels', { body: fields }),
    updateChannel: (channelId, patch) => call('PATCH', `/v1/channels/${id(channelId)}`, { body: patch }),
    deleteChannel: (channelId) => call('DELETE', `/v1/channels/${id(channelId)}`),
    rotateSecret: (channelId, fields) => call('POST', `/v1/channels/${id(channelId)}/rotate-secret`, { body: fields }),

    /** A page of the ledger: `params` are channel, verdict, cursor, limit (empty ones left out). */
    requests: (params) => call('GET', '/v1/ingest/requests', {
      query: Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '')),
    }),
    request: (requestId) => call('GET', `/v1/ingest/requests/${id(requestId)}`),
    replay: (requestId) => call('POST', `/v1/ingest/requests/${id(requestId)}/replay`),
  };
}
