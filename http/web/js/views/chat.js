// A room's chat: history, live messages (one by one or in `chat.batch`),
// deletions, and for the seller and moderators, moderation on each message.

import { currentUser, get } from '../api.js';
import { h, setText, show } from '../dom.js';
import { learn } from '../names.js';
import { socket } from '../socket.js';

const MAX_MESSAGES = 200;

/**
 * The chat of `room`. `showId`: history is paged from the show (auction rooms
 * have none). `moderator`: show moderation buttons. Returns {el, handle(frame),
 * reload(), destroy()}.
 */
export function chatBox({ room, showId, moderator = false, onRestrict }) {
  const list = h('ol', { class: 'chat-list', role: 'log', 'aria-label': 'Chat', 'data-test': 'chat' });
  const input = h('input', {
    name: 'text', maxlength: '500', autocomplete: 'off', placeholder: 'Say something…', 'aria-label': 'Chat message', 'data-test': 'chat-input',
  });
  const send = h('button', { type: 'submit', class: 'secondary', 'data-test': 'chat-send' }, 'Send');
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true, 'data-test': 'chat-error' });
  const form = h('form', { class: 'chat-form' }, input, send);
  const signIn = h('p', { class: 'hint chat-signin' }, h('a', { href: `/signin?next=${encodeURIComponent(location.pathname)}` }, 'Sign in'), ' to chat.');
  const el = h('div', { class: 'chat' }, list, error, form, signIn);

  /** id -> {message, el} in display order */
  let messages = [];
  const byId = new Map();

  const nearBottom = () => list.scrollHeight - list.scrollTop - list.clientHeight < 60;

  function row(message) {
    const mine = message.user_id === currentUser()?.id;
    const item = h('li', { class: mine ? 'me' : '', dataset: { id: message.id, user: message.user_id } },
      h('span', { class: 'who' }, message.display_name),
      h('span', { class: 'text' }, message.text));
    if (moderator && !mine) {
      item.append(h('span', { class: 'mod-actions' },
        h('button', { type: 'button', class: 'tiny', 'aria-label': `Delete message from ${message.display_name}`, 'data-test': 'mod-delete', onclick: () => moderate({ action: 'delete_message', message_id: message.id }) }, 'Delete'),
        h('button', { type: 'button', class: 'tiny', 'aria-label': `Mute ${message.display_name}`, 'data-test': 'mod-mute', onclick: () => restrict('mute', message) }, 'Mute'),
        h('button', { type: 'button', class: 'tiny danger', 'aria-label': `Ban ${message.display_name}`, 'data-test': 'mod-ban', onclick: () => restrict('ban', message) }, 'Ban')));
    }
    return item;
  }

  async function moderate(action) {
    try {
      await socket.moderate(room, action);
      return true;
    } catch (e) {
      showError(e.message);
      return false;
    }
  }

  async function restrict(action, message) {
    if (await moderate({ action, user_id: message.user_id })) {
      onRestrict?.({ action, user_id: message.user_id, display_name: message.display_name });
    }
  }

  function add(message, { live = true } = {}) {
    if (byId.has(message.id)) return;
    learn(message.user_id, message.display_name);
    const entry = { message, el: row(message) };
    byId.set(message.id, entry);
    const stick = nearBottom();
    if (live || !messages.length || messages[messages.length - 1].message.sent_at <= message.sent_at) {
      messages.push(entry);
      list.append(entry.el);
    } else {
      const at = messages.findIndex((m) => m.message.sent_at > message.sent_at);
      messages.splice(at, 0, entry);
      list.insertBefore(entry.el, messages[at + 1].el);
    }
    while (messages.length > MAX_MESSAGES) {
      const old = messages.shift();
      byId.delete(old.message.id);
      old.el.remove();
    }
    if (stick || live) list.scrollTop = list.scrollHeight;
  }

  function remove(id) {
    const entry = byId.get(id);
    if (!entry) return;
    byId.delete(id);
    messages = messages.filter((m) => m !== entry);
    entry.el.remove();
  }

  function showError(text) {
    setText(error, text);
    error.hidden = !text;
    clearTimeout(showError.timer);
    if (text) showError.timer = setTimeout(() => { error.hidden = true; }, 6000);
  }

  async function reload() {
    if (!showId) return;
    try {
      const page = await get(`/shows/${showId}/chat?limit=50`, { auth: false });
      const fresh = new Set(page.items.map((m) => m.id));
      // Messages deleted while we were away are gone from history.
      if (messages.length) {
        const oldest = page.items[page.items.length - 1]?.sent_at;
        for (const entry of [...messages]) {
          if (oldest && entry.message.sent_at >= oldest && !fresh.has(entry.message.id)) remove(entry.message.id);
        }
      }
      for (const message of [...page.items].reverse()) add(message, { live: false });
      list.scrollTop = list.scrollHeight;
    } catch { /* offline: the next snapshot reloads */ }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    send.disabled = true;
    try {
      const message = await socket.chat(room, text);
      input.value = '';
      showError('');
      add(message);
    } catch (e) {
      const reasons = {
        muted: 'You are muted in this chat.',
        banned: 'You are banned from this chat.',
        not_authenticated: 'Sign in to chat.',
      };
      let text2 = reasons[e.code] ?? e.message;
      if (e.code === 'rate_limited') {
        const secs = e.details?.retry_after_secs ?? 1;
        text2 = e.details?.reason === 'slow_mode' ? `Slow mode is on: wait ${secs}s.` : `Easy there — wait ${secs}s.`;
      }
      showError(text2);
    } finally {
      send.disabled = false;
    }
  });

  const updateAuth = () => {
    const signedIn = !!currentUser();
    show(form, signedIn);
    show(signIn, !signedIn);
  };
  updateAuth();

  return {
    el,
    /** A chat frame of the room. */
    handle(frame) {
      if (frame.type === 'chat.message') add(frame.message);
      else if (frame.type === 'chat.deleted') remove(frame.message_id);
      else if (frame.type === 'chat.gap') reload();
    },
    reload,
    updateAuth,
    destroy() {
      clearTimeout(showError.timer);
    },
  };
}
