// The Activity Center's header: who is signed in to which tenant, the unread badge, the live
// indicator, "Mark all read", the main navigation and "Sign out".

import { h } from '../embed/lib/dom.js';
import { createStatusIndicator, createUnreadBadge } from '../embed/lib/indicators.js';
import { createIcon } from '../embed/lib/icons.js';

/**
 * @param {object} app  see main.js
 * @param {{signOut: () => void}} actions
 */
export function createHeader(app, { signOut }) {
  const { session } = app;
  const badge = createUnreadBadge();
  const status = createStatusIndicator({ onRetry: () => app.feed?.retryLive() });
  // Without `active`, a link is current when the path starts with its href.
  const links = [
    { href: '/', label: 'Feed', active: (path, search) => path === '/' && !isArchived(search) },
    { href: '/?archived=true', label: 'Archived', active: (path, search) => path === '/' && isArchived(search) },
    { href: '/work', label: 'Work' },
    { href: '/agents', label: 'Agents' },
  ];
  if (session.role === 'admin') links.push({ href: '/admin', label: 'Admin' });
  const anchors = links.map((link) => h('a', { href: link.href }, link.label));

  const markAll = h('button', {
    type: 'button',
    class: 'button',
    onclick: async () => {
      markAll.disabled = true;
      try {
        if (app.feed) await app.feed.markAllRead();
        else {
          await app.api.readAll();
          await app.refreshUnread();
        }
      } catch (error) {
        app.toast(error.message);
      } finally {
        markAll.disabled = false;
      }
    },
  }, 'Mark all read');

  const element = h('div', { class: 'app-bar' },
    h('a', { class: 'brand', href: '/' }, 'Spine'),
    h('p', { class: 'who' },
      h('span', { class: 'who-user', title: 'Signed in as' }, session.user_id),
      h('span', { class: 'who-sep', 'aria-hidden': 'true' }, ' @ '),
      h('span', { class: 'sr-only' }, ' in tenant '),
      h('span', { class: 'who-tenant', title: 'Tenant' }, session.tenant),
      session.role === 'admin' && h('span', { class: 'role-badge' }, 'admin')),
    h('nav', { class: 'app-nav', 'aria-label': 'Main' },
      h('ul', {}, anchors.map((a) => h('li', {}, a)))),
    h('div', { class: 'app-actions' },
      h('span', { class: 'unread-wrap', title: 'Unread activity' }, createIcon('bell'), badge.element),
      status.element,
      markAll,
      h('button', { type: 'button', class: 'button', onclick: signOut }, 'Sign out')));

  return {
    element,
    setUnread: (counts) => badge.set(counts),
    setStatus: (state) => status.set(state),
    /** Marks the link of the page shown (aria-current), from its path and query. */
    setActive(path, search) {
      links.forEach((link, i) => {
        if (link.active?.(path, search) ?? path.startsWith(link.href)) anchors[i].setAttribute('aria-current', 'page');
        else anchors[i].removeAttribute('aria-current');
      });
    },
  };
}

function isArchived(search) {
  return new URLSearchParams(search).get('archived') === 'true';
}
