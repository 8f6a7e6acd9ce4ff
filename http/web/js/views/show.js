// A show's live room: video, the lot on stage, bids, the queue and chat.

import { config, currentUser, onSessionChange } from '../api.js';
import { h, replace, setText, title } from '../dom.js';
import { money, plural, when } from '../format.js';
import { label, onNames } from '../names.js';
import { ShowRoom } from '../showroom.js';
import { joinVideo } from '../video.js';
import { chatBox } from './chat.js';
import { lotPanel, bidFeed, picture } from './lot.js';
import { specialPanel } from './lots.js';

/** The video stage: LiveKit when configured and the show is live, else a clear state. */
export function videoStage(room, { publish = false } = {}) {
  const stage = h('div', { class: 'stage', 'data-test': 'video' });
  const note = h('div', { class: 'stage-note', role: 'status' });
  stage.append(note);
  let session = null;
  let joining = false;
  let joinedFor = null;
  const setNote = (text, state) => {
    note.replaceChildren(...text);
    stage.dataset.state = state;
    note.hidden = !text.length;
  };
  const update = async () => {
    const settings = await config().catch(() => null);
    const show = room.show;
    if (!settings || !show) return;
    if (!settings.livekit) {
      setNote([h('strong', {}, 'No video'), h('span', {}, publish
        ? 'Video is not set up on this server: run the lots and the chat from here.'
        : 'This server streams no video: follow the lot, bid and chat below.')], 'no-video');
      return;
    }
    if (show.status !== 'live') {
      session?.leave();
      session = null;
      joinedFor = null;
      setNote([h('strong', {}, show.status === 'ended' ? 'The show has ended' : 'Not live yet'),
        h('span', {}, show.status === 'ended' ? 'Thanks for watching.' : `Starts ${when(show.scheduled_at)}`)], 'offline');
      return;
    }
    if (!currentUser()) {
      setNote([h('strong', {}, 'Live now'), h('a', { href: `/signin?next=${encodeURIComponent(location.pathname)}` }, 'Sign in to watch')], 'signin');
      return;
    }
    const key = `${show.id}:${currentUser().id}`;
    if (joining || joinedFor === key) return;
    joining = true;
    setNote([h('span', {}, publish ? 'Starting your camera…' : 'Connecting to the video…')], 'connecting');
    try {
      session?.leave();
      session = await joinVideo({
        showId: show.id,
        sdkUrl: settings.livekit.sdk_url,
        stage,
        publish,
        onState: (state) => {
          if (state === 'playing') setNote([], 'playing');
          if (state === 'disconnected') {
            joinedFor = null;
            setNote([h('strong', {}, 'Video disconnected'), h('span', {}, 'Reconnecting…')], 'connecting');
          }
        },
      });
      joinedFor = key;
      if (stage.dataset.state === 'connecting') setNote(publish ? [] : [h('span', {}, 'Waiting for the seller’s camera…')], 'connected');
    } catch (e) {
      setNote([h('strong', {}, 'Video unavailable'), h('span', {}, e?.message ?? 'Try again later.')], 'error');
    } finally {
      joining = false;
    }
  };
  return {
    el: stage,
    update,
    destroy() {
      session?.leave();
    },
  };
}

/** One row of the queue. */
export function queueRow(lot, product, { current, actions } = {}) {
  const price = lot.status === 'ended' ? (lot.current_price ?? null) : (lot.current_price ?? lot.start_price);
  const statusText = { scheduled: 'Up next', live: 'Live', paused: 'Paused', ended: lot.leader_id && lot.reserve_met ? 'Sold' : 'Unsold', cancelled: 'Called off' }[lot.status] ?? lot.status;
  return h('li', { class: `queue-row${current ? ' current' : ''}`, dataset: { id: lot.id, status: lot.status } },
    picture(product, 'thumb'),
    h('div', { class: 'queue-info' },
      h('strong', {}, product?.title ?? 'Lot'),
      h('span', { class: 'hint' }, price === null ? 'No sale' : money(price, lot.currency))),
    h('span', { class: `chip status-${lot.status}` }, statusText),
    actions ?? null);
}

/** `/shows/:id`: the room. */
export function mountShow(main, { id }) {
  const room = new ShowRoom(id);
  const heading = h('h1', { class: 'show-title' }, 'Loading…');
  const seller = h('span', { class: 'seller' });
  const liveBadge = h('span', { class: 'chip live-badge', hidden: true }, 'LIVE');
  const viewers = h('span', { class: 'viewers', 'aria-live': 'off', 'data-test': 'viewers' });
  const stage = videoStage(room);
  const panel = lotPanel({ onAccepted: (reply) => room.accepted(reply) });
  const special = specialPanel(room);
  const feed = bidFeed();
  const queue = h('ol', { class: 'queue', 'aria-label': 'Lots in this show', 'data-test': 'queue' });
  const chat = chatBox({ room: room.room, showId: id });
  const emptyLot = h('p', { class: 'empty lot-empty', hidden: true }, 'No lot on stage yet.');
  const errorBox = h('p', { class: 'form-error', role: 'alert', hidden: true });

  const tabs = [
    { key: 'chat', label: 'Chat', body: chat.el },
    { key: 'bids', label: 'Bids', body: feed.el },
    { key: 'queue', label: 'Queue', body: queue },
  ];
  const tabButtons = tabs.map((tab, i) => h('button', {
    type: 'button', role: 'tab', id: `tab-${tab.key}`, 'aria-controls': `panel-${tab.key}`, 'aria-selected': i === 0 ? 'true' : 'false', 'data-test': `tab-${tab.key}`,
  }, tab.label));
  const tabPanels = tabs.map((tab, i) => h('div', {
    role: 'tabpanel', id: `panel-${tab.key}`, 'aria-labelledby': `tab-${tab.key}`, class: `tab-panel panel-${tab.key}`, hidden: i !== 0,
  }, tab.body));
  const select = (i, focus = false) => {
    tabButtons.forEach((b, j) => {
      b.setAttribute('aria-selected', i === j ? 'true' : 'false');
      b.tabIndex = i === j ? 0 : -1;
    });
    tabPanels.forEach((p, j) => { p.hidden = i !== j; });
    if (focus) tabButtons[i].focus();
  };
  tabButtons.forEach((button, i) => {
    button.addEventListener('click', () => select(i));
    // Arrow keys move between tabs (one tab stop for the whole list).
    button.addEventListener('keydown', (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) select((i + step + tabButtons.length) % tabButtons.length, true);
      if (event.key === 'Home') select(0, true);
      if (event.key === 'End') select(tabButtons.length - 1, true);
    });
  });
  select(0);

  replace(main,
    h('div', { class: 'room' },
      h('div', { class: 'room-stage' },
        h('header', { class: 'room-head' },
          h('div', {}, heading, h('p', { class: 'room-sub' }, liveBadge, seller)),
          viewers),
        stage.el),
      h('div', { class: 'room-lot' }, errorBox, special.el, emptyLot, panel.el),
      h('div', { class: 'room-side' },
        h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Room' }, ...tabButtons),
        ...tabPanels)));

  let currentId = null;
  const render = (reason) => {
    const show = room.show;
    if (show) {
      title(show.title);
      setText(heading, show.title);
      setText(seller, `by ${label(show.seller_id)}`);
      liveBadge.hidden = show.status !== 'live';
      main.querySelector('.room').dataset.showStatus = show.status;
    }
    if (room.viewers !== null) setText(viewers, `${room.viewers} watching`);
    special.update();
    if (reason === 'special') return;
    const lot = room.current();
    emptyLot.hidden = !!lot || !!room.special;
    panel.el.hidden = !lot;
    if (lot) {
      if (lot.id !== currentId) {
        currentId = lot.id;
        room.loadHistory(lot.id);
      }
      panel.update(lot, room.products.get(lot.id), room.mine.has(lot.id));
      feed.set(room.feeds.get(lot.id) ?? [], lot.currency);
    }
    if (reason !== 'presence' && reason !== 'auction.bid') {
      replace(queue, ...room.lots().map((l) => queueRow(l, room.products.get(l.id), { current: l.id === lot?.id })));
      if (!room.lots().length) queue.append(h('li', { class: 'empty' }, 'No lots yet.'));
    } else if (reason === 'auction.bid' && lot) {
      const row = queue.querySelector(`[data-id="${lot.id}"] .hint`);
      if (row) setText(row, money(lot.current_price ?? lot.start_price, lot.currency));
    }
    if (reason === 'show' || reason === 'snapshot') stage.update();
    if (reason === 'snapshot') chat.reload();
  };
  room.onChange(render);
  room.onChat((frame) => chat.handle(frame));
  const stopNames = onNames(() => render('names'));
  const stopSession = onSessionChange(() => {
    chat.updateAuth();
    stage.update();
    render('session');
  });

  room.start().then(() => {
    render('show');
  }).catch((e) => {
    setText(heading, 'Show not found');
    setText(errorBox, e.message);
    errorBox.hidden = false;
  });

  return () => {
    room.stop();
    special.destroy();
    panel.destroy();
    feed.destroy();
    chat.destroy();
    stage.destroy();
    stopNames();
    stopSession();
  };
}
