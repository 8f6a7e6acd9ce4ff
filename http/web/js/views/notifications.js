// `/notifications`: the inbox (newest first, a page at a time, live as
// notices arrive), marking read, the opt-in to push on this device, and
// which kinds of notice come by email and by push.

import { currentUser, explain, get, put } from '../api.js';
import { h, replace, setText, title } from '../dom.js';
import { when } from '../format.js';
import { onInbox, markRead, unreadCount } from '../inbox.js';
import { navigate } from '../router.js';
import { pushControl } from '../push.js';

const PAGE = 20;

/** Each kind of notice, as the preferences list them. */
const KINDS = {
  outbid: 'Outbid on a lot you were winning',
  show_live: 'A seller you follow goes live',
  show_starting: 'A show you bookmarked starts soon',
  lot_started: 'A lot you pre-bid on starts',
  won: 'You won a lot',
  payment_failed: 'A payment did not go through',
  order_shipped: 'Your order shipped',
  second_chance: 'A second chance to buy a lot',
};

function noticeItem(notice, onOpen) {
  const unread = !notice.read_at;
  return h('li', { class: `notice${unread ? ' unread' : ''}`, 'data-test': 'notice', dataset: { id: notice.id, kind: notice.kind } },
    h('a', { href: notice.url || '/notifications', onclick: () => onOpen(notice) },
      h('span', { class: 'notice-dot', 'aria-hidden': 'true' }),
      h('span', { class: 'notice-text' },
        h('strong', { class: 'notice-title' }, notice.title),
        unread ? h('span', { class: 'sr-only' }, ' (unread)') : null,
        notice.body ? h('span', { class: 'notice-body' }, notice.body) : null,
        h('time', { class: 'hint', datetime: notice.created_at }, when(notice.created_at)))));
}

/** The email and push switches of every kind, saved together. */
function preferencesForm() {
  const status = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
  const body = h('tbody', {}, h('tr', {}, h('td', { colspan: 3, class: 'hint' }, 'Loading…')));
  const save = h('button', { type: 'submit', class: 'primary', 'data-test': 'save-preferences', disabled: true }, 'Save preferences');
  const form = h('form', { class: 'form prefs', 'data-test': 'preferences' },
    h('table', { class: 'prefs-table' },
      h('caption', { class: 'sr-only' }, 'How each kind of notice reaches you'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Tell me when'), h('th', { scope: 'col' }, 'Email'), h('th', { scope: 'col' }, 'Push'))),
      body),
    h('div', { class: 'row' }, save),
    status);
  const box = (kind, channel, on) => h('input', {
    type: 'checkbox', name: `${kind}.${channel}`, checked: on, 'aria-label': `${channel === 'email' ? 'Email' : 'Push'}: ${KINDS[kind] ?? kind}`,
  });
  get('/notifications/preferences').then(({ preferences }) => {
    replace(body, ...preferences.map((p) => h('tr', { dataset: { kind: p.kind } },
      h('th', { scope: 'row' }, KINDS[p.kind] ?? p.kind),
      h('td', {}, box(p.kind, 'email', p.email)),
      h('td', {}, box(p.kind, 'push', p.push)))));
    save.disabled = false;
  }).catch((e) => replace(body, h('tr', {}, h('td', { colspan: 3, class: 'form-error' }, explain(e)))));
  form.addEventListener('change', () => setText(status, ''));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const preferences = [...body.querySelectorAll('tr[data-kind]')].map((row) => ({
      kind: row.dataset.kind,
      email: row.querySelector('input[name$=".email"]').checked,
      push: row.querySelector('input[name$=".push"]').checked,
    }));
    save.disabled = true;
    try {
      await put('/notifications/preferences', { preferences });
      status.className = 'hint';
      setText(status, 'Saved.');
    } catch (e) {
      status.className = 'form-error';
      setText(status, explain(e));
    } finally {
      save.disabled = false;
    }
  });
  return h('section', { class: 'card', 'aria-labelledby': 'prefs-title' },
    h('h2', { id: 'prefs-title' }, 'Email and push'),
    h('p', { class: 'hint' }, 'Every notice lands here. Choose which ones also come by email or as a push notification.'),
    form);
}

export function mountNotifications(main) {
  if (!currentUser()) {
    navigate(`/signin?next=${encodeURIComponent('/notifications')}`, { replace: true });
    return undefined;
  }
  title('Notifications');
  const list = h('ul', { class: 'notices', 'data-test': 'notices', 'aria-label': 'Notifications' },
    h('li', { class: 'hint' }, 'Loading…'));
  const more = h('button', { type: 'button', class: 'secondary load-more', 'data-test': 'load-more', hidden: true }, 'Load more');
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const markAll = h('button', { type: 'button', class: 'secondary small', 'data-test': 'mark-all-read', disabled: !unreadCount() }, 'Mark all read');
  replace(main,
    h('div', { class: 'page narrow' },
      h('div', { class: 'inbox-head' }, h('h1', {}, 'Notifications'), markAll),
      error,
      h('section', { 'aria-label': 'Inbox' }, list, more),
      pushControl(),
      preferencesForm()));

  let notices = [];
  let cursor = null;
  let stopped = false;

  const fail = (e) => {
    error.textContent = explain(e);
    error.hidden = false;
  };
  const opened = (notice) => {
    if (notice.read_at) return;
    notice.read_at = new Date().toISOString();
    markRead([notice.id]).catch(() => { /* read stays unread on the server; no harm */ });
  };
  const render = () => {
    if (!notices.length) {
      replace(list, h('li', { class: 'empty' }, 'Nothing yet. Follow sellers and bid to hear about shows and lots here.'));
    } else {
      replace(list, ...notices.map((n) => noticeItem(n, opened)));
    }
    more.hidden = !cursor;
    syncMarkAll();
  };
  function syncMarkAll() {
    markAll.disabled = !unreadCount() && !notices.some((n) => !n.read_at);
  }
  const load = async (after) => {
    more.disabled = true;
    try {
      const query = `limit=${PAGE}${after ? `&cursor=${encodeURIComponent(after)}` : ''}`;
      const page = await get(`/notifications?${query}`);
      if (stopped) return;
      const known = new Set(notices.map((n) => n.id));
      notices = [...notices, ...page.items.filter((n) => !known.has(n.id))];
      cursor = page.next_cursor;
      error.hidden = true;
      render();
    } catch (e) {
      if (!stopped) fail(e);
    } finally {
      more.disabled = false;
    }
  };

  more.addEventListener('click', () => load(cursor));
  markAll.addEventListener('click', async () => {
    markAll.disabled = true;
    try {
      await markRead();
      const now = new Date().toISOString();
      for (const n of notices) n.read_at ??= now;
      render();
    } catch (e) {
      fail(e);
      markAll.disabled = false;
    }
  });
  const stopInbox = onInbox(({ notice }) => {
    syncMarkAll();
    if (notice && !notices.some((n) => n.id === notice.id)) {
      notices = [notice, ...notices];
      render();
    }
  });
  load(null);
  return () => {
    stopped = true;
    stopInbox();
  };
}
