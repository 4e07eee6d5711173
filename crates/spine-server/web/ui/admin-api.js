// The admin pages' calls (keys, viewer tokens, types, SPEC section 6's channels and ledger, and
// section 8's outbound webhooks)
// on the app's client (embed/lib/api.js: the session, the CSRF header, problems as ApiError, a
// 401 shows the signed-out page): kept here, loaded with those pages, so the feed's first view
// does not carry them.

/** @param {object} app  see main.js */
export function adminApi(app) {
  const call = (method, path, body) => app.api.request(method, path, { body });
  const id = encodeURIComponent;
  return {
    keys: () => call('GET', '/v1/keys'),
    createKey: (fields) => call('POST', '/v1/keys', fields),
    revokeKey: (keyId) => call('DELETE', `/v1/keys/${id(keyId)}`),
    createViewerToken: (fields) => call('POST', '/v1/viewer-tokens', fields),

    putType: (type, info) => call('PUT', `/v1/types/${id(type)}`, info),
    previewType: (type, template) => call('POST', `/v1/types/${id(type)}/preview`, { summary_template: template }),

    channels: () => call('GET', '/v1/channels'),
    channel: (channelId) => call('GET', `/v1/channels/${id(channelId)}`),
    createChannel: (fields) => call('POST', '/v1/channels', fields),
    updateChannel: (channelId, patch) => call('PATCH', `/v1/channels/${id(channelId)}`, patch),
    deleteChannel: (channelId) => call('DELETE', `/v1/channels/${id(channelId)}`),
    rotateSecret: (channelId, fields) => call('POST', `/v1/channels/${id(channelId)}/rotate-secret`, fields),

    /** A page of the ledger: `params` are channel, verdict, cursor, limit (empty ones left out). */
    requests: (params) => app.api.request('GET', '/v1/ingest/requests', {
      query: Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '')),
    }),
    request: (requestId) => call('GET', `/v1/ingest/requests/${id(requestId)}`),
    replay: (requestId) => call('POST', `/v1/ingest/requests/${id(requestId)}/replay`),

    webhooks: () => call('GET', '/v1/webhooks'),
    webhook: (webhookId) => call('GET', `/v1/webhooks/${id(webhookId)}`),
    createWebhook: (fields) => call('POST', '/v1/webhooks', fields),
    updateWebhook: (webhookId, patch) => call('PATCH', `/v1/webhooks/${id(webhookId)}`, patch),
    deleteWebhook: (webhookId) => call('DELETE', `/v1/webhooks/${id(webhookId)}`),
    /** A page of the delivery log, newest first: `cursor` from the previous page's next_cursor. */
    deliveries: (webhookId, { cursor = null, limit = null } = {}) => app.api.request('GET', `/v1/webhooks/${id(webhookId)}/deliveries`, {
      query: Object.fromEntries(Object.entries({ cursor, limit }).filter(([, v]) => v !== null && v !== undefined && v !== '')),
    }),
    /** Sends again every matching event from `sinceSeq` on (the cursor moves back). */
    replayWebhook: (webhookId, sinceSeq) => call('POST', `/v1/webhooks/${id(webhookId)}/replay`, { since_seq: sinceSeq }),
    testWebhook: (webhookId) => call('POST', `/v1/webhooks/${id(webhookId)}/test`),
  };
}
