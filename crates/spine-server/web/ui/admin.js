// The admin pages (`/admin`, `/admin/keys`, `/admin/tokens`, `/admin/types`,
// `/admin/channels`, `/admin/ledger`, `/admin/webhooks`, `/admin/audit`), for admin sessions only. Loaded on
// first visit, so the feed's first view does not carry them. main.js sends every
// `/admin/<word>` here; a word that names no section is "no page here".

import { h } from '../embed/lib/dom.js';
import { showAdminOnly, showNotFound } from './states.js';
import * as keys from './admin-keys.js';
import * as tokens from './admin-tokens.js';
import * as types from './admin-types.js';
import * as channels from './admin-channels.js';
import * as ledger from './admin-ledger.js';
import * as webhooks from './admin-webhooks.js';
import * as audit from './admin-audit.js';

const SECTIONS = [
  { path: 'keys', title: 'API keys', about: 'Keys for your backend to post events (ingest), read feeds (read) or manage Spine (admin).', module: keys },
  { path: 'tokens', title: 'Viewer tokens', about: 'Short-lived browser tokens for <spine-feed>, narrowed to one user and a scope.', module: tokens },
  { path: 'types', title: 'Event types', about: 'Labels, icons, colours and summary templates for the feed.', module: types },
  { path: 'channels', title: 'Channels', about: 'Endpoints that GitHub, Stripe, Twilio and other providers post to, each with its own secret.', module: channels },
  { path: 'ledger', title: 'Ledger', about: 'Every request providers made, its verdict and the events it produced; replay one after fixing a mapping.', module: ledger },
  { path: 'webhooks', title: 'Webhooks', about: 'Endpoints Spine posts matching events to, signed; their delivery log, test sends and replays.', module: webhooks },
  { path: 'audit', title: 'Audit', about: 'Every administrative action: who created or revoked keys, changed channels, webhooks, rules and limits, and who signed in.', module: audit },
];

export function mount(container, app, [section]) {
  const page = { key: location.pathname + location.search, dispose() {} };
  const current = SECTIONS.find((s) => s.path === section);
  if (section && !current) {
    showNotFound(container);
    return page;
  }
  if (app.session.role !== 'admin') {
    showAdminOnly(container, app.session);
    return page;
  }
  document.title = `${current?.title ?? 'Admin'} · Spine`;
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Admin' }, h('ul', {},
    SECTIONS.map((s) => h('li', {}, h('a', {
      href: `/admin/${s.path}`, 'aria-current': s === current ? 'page' : null,
    }, s.title)))));
  const body = h('div', { class: 'admin-body' });
  container.replaceChildren(h('div', { class: 'page admin-page' },
    h('div', { class: 'page-head' }, h('h1', {}, current ? current.title : 'Admin')),
    tabs,
    body));

  if (!current) {
    body.append(h('ul', { class: 'admin-overview' }, SECTIONS.map((s) => h('li', {},
      h('h2', {}, h('a', { href: `/admin/${s.path}` }, s.title)),
      h('p', {}, s.about)))));
    return page;
  }
  // `page` lets a section keep the page's key in step when it changes the query itself.
  const dispose = current.module.mount(body, app, page);
  page.dispose = () => dispose?.();
  return page;
}
