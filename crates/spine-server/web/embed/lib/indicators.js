// The small pieces of state a feed's header shows, shared by the Activity Center and
// <spine-feed>: the unread badge, the live connection indicator, and toasts with an action.

import { h, replace, srOnly } from './dom.js';
import { CONNECTING, LIVE, OFFLINE, RECONNECTING } from './live.js';
import { createIcon } from './icons.js';

/** The unread count (exact, from the server) with the unseen count beside it. */
export function createUnreadBadge() {
  const element = h('span', { class: 'unread-badge is-zero', part: 'badge', 'aria-live': 'polite' });
  let last = null;
  return {
    element,
    /** @param {{unread: number, unseen: number}} counts */
    set({ unread = 0, unseen = 0 } = {}) {
      if (last && last.unread === unread && last.unseen === unseen) return;
      last = { unread, unseen };
      element.classList.toggle('is-zero', unread === 0);
      replace(element,
        unread > 0 ? [h('span', { class: 'unread-count' }, String(unread)), srOnly(' unread')] : srOnly('No unread activity'),
        unseen > 0 && h('span', { class: 'unseen-count', title: `${unseen} not seen yet` },
          h('span', { 'aria-hidden': 'true' }, '•'), ` ${unseen} new`));
    },
  };
}

const STATUS_TEXT = {
  [CONNECTING]: 'Connecting…',
  [LIVE]: 'Live',
  [RECONNECTING]: 'Reconnecting…',
  [OFFLINE]: 'Offline',
};

/** "Live" / "Reconnecting…" / "Offline — Retry"; hidden while no stream is open. */
export function createStatusIndicator({ onRetry }) {
  const text = h('span', { class: 'live-text' });
  const retry = h('button', { type: 'button', class: 'live-retry', hidden: true, onclick: () => onRetry() }, 'Retry');
  const element = h('span', { class: 'live-status', part: 'status', hidden: true },
    h('span', { class: 'live-dot', 'aria-hidden': 'true' }),
    h('span', { role: 'status' }, text),
    retry);
  return {
    element,
    set(state) {
      const label = STATUS_TEXT[state];
      element.hidden = !label;
      element.dataset.state = state;
      text.textContent = state === OFFLINE ? 'Offline —' : label ?? '';
      retry.hidden = state !== OFFLINE;
    },
  };
}

/**
 * Shows a short message in `region` (an aria-live container) with an optional action such as
 * "Undo"; it goes away by itself unless the pointer or keyboard focus is on it.
 */
export function showToast(region, text, { action = null, onAction = null, timeout = 8000 } = {}) {
  const toast = h('div', { class: 'toast', part: 'toast' }, h('span', { class: 'toast-text' }, text));
  const close = () => toast.remove();
  if (action) {
    toast.append(h('button', {
      type: 'button', class: 'toast-action',
      onclick: async () => {
        close();
        await onAction?.();
      },
    }, action));
  }
  toast.append(h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', onclick: close },
    createIcon('x')));
  region.append(toast);
  let timer = setTimeout(close, timeout);
  const hold = () => clearTimeout(timer);
  const release = () => {
    clearTimeout(timer);
    timer = setTimeout(close, timeout / 2);
  };
  toast.addEventListener('pointerenter', hold);
  toast.addEventListener('focusin', hold);
  toast.addEventListener('pointerleave', release);
  toast.addEventListener('focusout', release);
  return close;
}
