// An entity's notes (SPEC section 7): the permanent record beside its activity, newest first,
// each with its author (a user, an agent or the system, told apart), time, the event it came
// from, and whether a newer note superseded it; "Load more"; a form to write one, for sessions
// whose role may; and new notes live, as their note.created events arrive on the entity's
// stream. Bodies are Markdown, rendered by markdown.js through h(), never as HTML.

import { h, throttle } from '../embed/lib/dom.js';
import { createIcon } from '../embed/lib/icons.js';
import { exactDateTime, relativeTime, toMillis } from '../embed/lib/format.js';
import { eventPath } from '../embed/lib/links.js';
import { parseMarkdown, renderMarkdown } from './markdown.js';
import { field, formError, showErrors, clearErrors } from './forms.js';
import { workApi } from './work-api.js';

const KINDS = {
  user: { label: 'User', icon: 'user' },
  agent: { label: 'Agent', icon: 'bot' },
  system: { label: 'System', icon: 'server' },
};
/** The longest body the API takes, in bytes. */
const MAX_BODY_BYTES = 64 * 1024;
const PAGE = 20;

/**
 * The notes panel of the entity `type`/`id`. `onEvent(event)` hears the entity's live events
 * (only note.created matters here).
 * @returns {{element: HTMLElement, onEvent: (event: object) => void, dispose: () => void}}
 */
export function createNotesPanel(app, type, id) {
  const api = workApi(app);
  const canWrite = app.session.role === 'admin';
  /** The notes shown, by id: {note, element}. */
  const shown = new Map();
  let cursor = null;
  let disposed = false;

  const list = h('div', { class: 'notes-list' });
  const status = h('p', { class: 'page-loading', role: 'status' }, 'Loading notes…');
  const more = h('button', { type: 'button', class: 'button', hidden: true, onclick: () => loadMore() }, 'Load more notes');
  const element = h('section', { class: 'entity-notes', 'aria-labelledby': 'notes-title' },
    h('h2', { id: 'notes-title' }, 'Notes'),
    h('p', { class: 'page-note' }, 'The permanent record: outcomes written by people and agents, newest first.'),
    canWrite ? noteForm(app, api, type, id, (note) => place(note, { announce: false }))
      : h('p', { class: 'hint' }, 'Writing notes needs an admin session (or a worker key, for agents).'),
    status, list, h('p', { class: 'form-actions' }, more));

  const jump = (e, noteId) => {
    e.preventDefault();
    const target = shown.get(noteId)?.element;
    if (!target) {
      app.toast('That note is not loaded: "Load more notes" brings older ones.');
      return;
    }
    target.scrollIntoView({ block: 'center' });
    target.focus({ preventScroll: true });
  };

  const draw = (note) => {
    const article = noteArticle(note, jump);
    const old = shown.get(note.id)?.element;
    shown.set(note.id, { note, element: article });
    if (old) old.replaceWith(article);
    return article;
  };

  /** Shows a note in its place (newest first by seq), or redraws it if it changed. */
  function place(note, { announce = true } = {}) {
    const known = shown.get(note.id);
    if (known) {
      if (known.note.superseded_by !== note.superseded_by) draw(note);
      return;
    }
    const article = draw(note);
    const after = [...list.children].find((el) => Number(el.dataset.seq) < note.seq);
    list.insertBefore(article, after ?? null);
    // The note it corrects, if shown, is superseded now.
    const old = note.supersedes && shown.get(note.supersedes);
    if (old && !old.note.superseded_by) draw({ ...old.note, superseded_by: note.id });
    settle();
    if (announce) app.announce(`New note by ${note.author?.name || note.author?.id}`);
  }

  function settle() {
    status.hidden = shown.size > 0;
    if (shown.size === 0) {
      status.textContent = 'No notes yet. People add them here; agents add them with a job\'s completion or through the notes API.';
    }
  }

  async function loadMore() {
    more.disabled = true;
    try {
      const page = await api.notes(type, id, { cursor, limit: PAGE });
      if (disposed) return;
      for (const note of page?.items ?? []) {
        if (!shown.has(note.id)) list.append(draw(note));
      }
      cursor = page?.next_cursor ?? null;
      more.hidden = !cursor;
      settle();
    } catch (error) {
      if (disposed || error.status === 401) return;
      status.hidden = false;
      status.textContent = error.message;
    } finally {
      more.disabled = false;
    }
  }

  // A note.created event: the first page again, so the new note arrives whole (the event
  // carries only an excerpt) along with any note it superseded.
  const refreshHead = throttle(async () => {
    try {
      const page = await api.notes(type, id, { limit: PAGE });
      if (disposed) return;
      for (const note of [...(page?.items ?? [])].reverse()) place(note);
    } catch {
      // The next note, or a reload, brings it.
    }
  }, 200);

  loadMore();
  return {
    element,
    onEvent(event) {
      if (event?.type !== 'note.created') return;
      const noteId = event.data?.note_id;
      if (noteId && shown.has(noteId)) return;
      refreshHead();
    },
    dispose() {
      disposed = true;
      refreshHead.cancel();
    },
  };
}

/** One note: author and kind, time, source event, superseded state, and the body. */
export function noteArticle(note, jump) {
  const kind = Object.hasOwn(KINDS, note.author?.kind) ? note.author.kind : 'user';
  const name = note.author?.name || note.author?.id || 'Someone';
  const created = toMillis(note.created_at);
  const superseded = !!note.superseded_by;
  const headingId = `note-${note.id}-by`;
  return h('article', {
    class: `note is-${kind}${superseded ? ' is-superseded' : ''}`,
    id: `note-${note.id}`,
    tabindex: '-1',
    'aria-labelledby': headingId,
    dataset: { id: note.id, seq: String(note.seq), kind },
  },
  h('header', { class: 'note-head' },
    h('span', { class: 'note-author', id: headingId },
      createIcon(KINDS[kind].icon),
      h('span', { class: 'note-name' }, name),
      h('span', { class: `note-kind is-${kind}` }, KINDS[kind].label)),
    h('time', { class: 'note-time', datetime: note.created_at, title: exactDateTime(created) }, relativeTime(created)),
    superseded && h('a', {
      class: 'note-superseded', href: `#note-${note.superseded_by}`, onclick: (e) => jump(e, note.superseded_by),
    }, 'Superseded'),
    note.event_id && h('a', { class: 'note-source', href: eventPath(note.event_id) }, 'Source event')),
  note.supersedes && h('p', { class: 'note-corrects' }, 'Corrects ',
    h('a', { href: `#note-${note.supersedes}`, onclick: (e) => jump(e, note.supersedes) }, 'an earlier note'), '.'),
  h('div', { class: 'note-body' }, renderMarkdown(parseMarkdown(note.body), { headingBase: 3 })));
}

function noteForm(app, api, type, id, onAdded) {
  const body = h('textarea', { name: 'body', rows: '4', required: true, spellcheck: 'true' });
  const submit = h('button', { type: 'submit', class: 'button is-primary' }, 'Add note');
  const form = h('form', { class: 'note-form', 'aria-label': 'Write a note', novalidate: true },
    field('New note', body, 'Markdown: **bold**, *italic*, lists, links and `code`. Saved as yours; notes are never edited, a correction is a new note.'),
    formError(),
    h('div', { class: 'form-actions' }, submit));
  body.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const text = body.value;
    const problem = !text.trim() ? 'Write something first.'
      : new TextEncoder().encode(text).length > MAX_BODY_BYTES ? 'A note is at most 64 KiB.' : null;
    if (problem) {
      showErrors(form, { message: problem, fieldErrors: { body: problem } });
      body.focus();
      return;
    }
    submit.disabled = true;
    try {
      const note = await api.addNote(type, id, { body: text });
      body.value = '';
      onAdded(note);
      app.announce('Note added');
    } catch (error) {
      if (error.status !== 401) showErrors(form, error);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
