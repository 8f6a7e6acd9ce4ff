// The signed-in user's inbox as the whole page shares it: the unread count
// (read from the API on sign-in and on every reconnect, since frames sent
// while offline are lost), each `notification` frame as it arrives, and the
// bell in the top bar that shows the count.

import { currentUser, get, post, onSessionChange } from './api.js';
import { h, setText, show, toast } from './dom.js';
import { plural } from './format.js';
import { socket } from './socket.js';

let unread = 0;
/** Notices that arrived while a count was being fetched (it may miss them). */
let arrivals = 0;
const listeners = new Set();
let bellEl = null;

/** Unread notices. */
export function unreadCount() {
  return unread;
}

/**
 * Call `fn({unread, notice})` when the count changes; `notice` is set when a
 * notice just arrived. Returns an unsubscribe.
 */
export function onInbox(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(notice = null) {
  renderBell();
  for (const fn of listeners) fn({ unread, notice });
}

/** Read the count from the server (0 when signed out). */
export async function refreshUnread() {
  if (!currentUser()) {
    unread = 0;
    emit();
    return;
  }
  for (let tries = 0; tries < 3; tries += 1) {
    const before = arrivals;
    let page;
    try {
      page = await get('/notifications?limit=1');
    } catch {
      return; // offline or signed out: the next reconnect reads it again
    }
    // A notice that arrived meanwhile may or may not be in this count: ask again.
    if (arrivals !== before) continue;
    unread = page.unread_count;
    emit();
    return;
  }
}

/** Mark `ids` read (or every notice when `ids` is omitted). */
export async function markRead(ids) {
  const body = ids ? { ids } : { all: true };
  const { updated } = await post('/notifications/read', body);
  unread = ids ? Math.max(0, unread - updated) : 0;
  emit();
  return updated;
}

/** A bell drawn in the text colour (no emoji font needed). */
function bellIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'bell-icon');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M12 22a2 2 0 0 0 2-2h-4a2 2 0 0 0 2 2zm6-6v-5c0-3.1-1.6-5.6-4.5-6.3V4a1.5 1.5 0 0 0-3 0v.7C7.6 5.4 6 7.9 6 11v5l-2 2v1h16v-1l-2-2z');
  path.setAttribute('fill', 'currentColor');
  svg.append(path);
  return svg;
}

/** The bell of the top bar (one element, kept across redraws of the bar). */
export function bell() {
  if (!bellEl) {
    bellEl = h('a', { class: 'bell', href: '/notifications', 'data-test': 'bell' },
      bellIcon(),
      h('span', { class: 'bell-count', 'data-test': 'bell-count', 'aria-hidden': 'true' }),
      h('span', { class: 'sr-only', role: 'status', 'aria-live': 'polite' }));
    renderBell();
  }
  return bellEl;
}

function renderBell() {
  if (!bellEl) return;
  const count = bellEl.querySelector('.bell-count');
  setText(count, unread > 99 ? '99+' : unread);
  show(count, unread > 0);
  bellEl.setAttribute('aria-label', unread ? `Notifications, ${unread} unread` : 'Notifications');
  setText(bellEl.querySelector('.sr-only'), unread ? plural(unread, 'unread notification') : '');
}

/** Start listening: notices on the socket, sign-in and reconnects. */
export function startInbox() {
  socket.on('notification', ({ notification: notice }) => {
    if (!notice || !currentUser()) return;
    arrivals += 1;
    if (!notice.read_at) unread += 1;
    emit(notice);
    if (location.pathname !== '/notifications') {
      toast(h('a', { href: notice.url || '/notifications', class: 'toast-link' },
        h('strong', {}, notice.title), notice.body ? ` ${notice.body}` : ''));
    }
  });
  socket.onStatus((online) => {
    if (online) refreshUnread();
  });
  onSessionChange(() => refreshUnread());
  refreshUnread();
}
