// The work pipeline's calls (SPEC section 7: jobs, queues, retry, notes) on the app's client
// (embed/lib/api.js: the session, the CSRF header, problems as ApiError), loaded with the work
// and entity pages only.

/** @param {object} app  see main.js */
export function workApi(app) {
  const call = app.api.request;
  const id = encodeURIComponent;
  // Empty filters are left out: the API refuses an empty `status=`.
  const query = (params) => Object.fromEntries(Object.entries(params ?? {})
    .filter(([, v]) => v !== undefined && v !== null && v !== ''));
  return {
    /**
   * A page of jobs, newest first: status, queue, entity_type, entity_id, event_id (1 to 100
   * event ids, comma-separated: their jobs), cursor, limit.
   */
    jobs: (params) => call('GET', '/v1/work', { query: query(params) }),
    job: (jobId) => call('GET', `/v1/work/${id(jobId)}`),
    /** Counts by status of every queue: {items: [{queue, pending, processing, ...}]}. */
    queues: () => call('GET', '/v1/work/queues'),
    /** Moves a dead or failed job back to pending (admin). */
    retry: (jobId) => call('POST', `/v1/work/${id(jobId)}/retry`),

    /** A page of an entity's notes, newest first (cursor, limit). */
    notes: (type, entityId, params) => call('GET', `/v1/entities/${id(type)}/${id(entityId)}/notes`, { query: query(params) }),
    addNote: (type, entityId, note) => call('POST', `/v1/entities/${id(type)}/${id(entityId)}/notes`, { body: note }),
  };
}
