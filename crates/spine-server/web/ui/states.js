// Whole-page states that are not a page: signed out or expired (with how to get a sign-in
// link), Spine unreachable, no such page, admin only.

import { h, replace } from '../embed/lib/dom.js';

/**
 * @param {HTMLElement} main
 * @param {{expired?: boolean, byUser?: boolean, session?: object|null}} o  the last session,
 *   when there was one, fills in the command
 */
export function showSignedOut(main, { expired = false, byUser = false, session = null } = {}) {
  const title = expired ? 'Your session has expired' : byUser ? 'You have signed out' : 'Sign in to Spine';
  document.title = `${title} · Spine`;
  replace(main, h('section', { class: 'state-page', 'aria-labelledby': 'state-title' },
    h('h1', { id: 'state-title' }, title),
    h('p', {}, 'The Activity Center opens with a one-time sign-in link. On the machine that runs Spine, run:'),
    openCommand(session),
    h('p', {}, 'and open the link it prints in this browser. Add ', h('code', {}, '--role admin'),
      ' for the admin pages, and ', h('code', {}, '--db URL'), ' if Spine does not use its default database.')));
  main.focus();
}

/** The `spine open` line, with the last session's tenant and user when known. */
export function openCommand(session, { admin = false } = {}) {
  const tenant = session?.tenant ?? 'TENANT';
  const user = session?.user_id ?? 'USER';
  return h('pre', { class: 'command' }, h('code', {},
    `spine open --tenant ${shellWord(tenant)} --user ${shellWord(user)}${admin ? ' --role admin' : ''}`));
}

export function showUnreachable(main, error, retry) {
  document.title = "Spine can't be reached";
  replace(main, h('section', { class: 'state-page', 'aria-labelledby': 'state-title', role: 'alert' },
    h('h1', { id: 'state-title' }, error?.status ? 'Something went wrong' : "Spine can't be reached"),
    h('p', {}, error?.status ? error.message : 'Check that the server is running and that this computer can reach it.'),
    h('button', { type: 'button', class: 'button is-primary', onclick: () => retry() }, 'Retry')));
}

export function showNotFound(main) {
  document.title = 'Not found · Spine';
  replace(main, h('section', { class: 'state-page', 'aria-labelledby': 'state-title' },
    h('h1', { id: 'state-title' }, 'There is no page here'),
    h('p', {}, h('a', { href: '/' }, 'Go to the feed'))));
}

export function showAdminOnly(main, session) {
  document.title = 'Admin · Spine';
  replace(main, h('section', { class: 'state-page', 'aria-labelledby': 'state-title' },
    h('h1', { id: 'state-title' }, 'Admin pages need an admin session'),
    h('p', {}, 'You are signed in with the read role. For keys, viewer tokens, types, channels, the ledger and webhooks, get an admin sign-in link:'),
    openCommand(session, { admin: true }),
    h('p', {}, h('a', { href: '/' }, 'Back to the feed'))));
}

// Quotes a value for a POSIX shell only when it needs it, so the usual case reads plainly.
function shellWord(value) {
  return /^[\w.@%+=:,/-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}
