// `/auctions/:id`: a lot outside any show, on a page of its own.

import { get, currentUser, onSessionChange } from '../api.js';
import { observe } from '../clock.js';
import { h, replace, setText, title } from '../dom.js';
import { plural } from '../format.js';
import { label, onNames } from '../names.js';
import { socket } from '../socket.js';
import { applyFrame, feedEntry, historyEntry } from '../auction.js';
import { chatBox } from './chat.js';
import { lotPanel, bidFeed } from './lot.js';

export function mountAuction(main, { id }) {
  const room = `auction:${id}`;
  const panel = lotPanel({ onAccepted: (reply) => accepted(reply) });
  const feed = bidFeed();
  const chat = chatBox({ room });
  const description = h('p', { class: 'description' });
  const seller = h('p', { class: 'hint' });
  const viewers = h('span', { class: 'viewers', 'data-test': 'viewers' });
  const errorBox = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const showLink = h('p', { hidden: true });
  replace(main,
    h('div', { class: 'auction-page' },
      h('div', { class: 'auction-main' }, errorBox, showLink, panel.el,
        h('section', { class: 'card' }, h('h2', {}, 'About this lot'), seller, description)),
      h('div', { class: 'auction-side' },
        h('section', { class: 'card' }, h('h2', {}, 'Bids ', viewers), feed.el),
        h('section', { class: 'card' }, h('h2', {}, 'Chat'), chat.el))));

  let view = null;
  let product = null;
  let mine = false;
  let entries = [];
  const render = () => {
    if (!view) return;
    panel.update(view, product, mine);
    feed.set(entries, view.currency);
    setText(seller, `Sold by ${label(view.seller_id)}`);
    if (view.show_id) {
      showLink.hidden = false;
      showLink.replaceChildren(h('a', { href: `/shows/${view.show_id}` }, 'This lot runs in a live show — join the room →'));
    }
  };
  const accepted = (reply) => {
    mine = true;
    if (view && reply.auction.seq > view.seq) view = { ...view, ...reply.auction };
    render();
  };
  const loadHistory = async () => {
    try {
      const page = await get(`/auctions/${id}/bids?limit=30`, { auth: false });
      const older = page.items.map((bid) => historyEntry(bid, id));
      entries = [...entries, ...older.filter((o) => !entries.some((e) => e.key === o.key))]
        .sort((a, b) => Number(b.key.split(':')[1]) - Number(a.key.split(':')[1]));
      const me = currentUser()?.id;
      if (me && page.items.some((b) => b.bidder_id === me)) mine = true;
      render();
    } catch { /* offline */ }
  };

  (async () => {
    try {
      view = await get(`/auctions/${id}`, { auth: false });
      observe(view.server_time);
      product = await get(`/products/${view.product_id}`, { auth: false }).catch(() => null);
      title(product?.title ?? 'Auction');
      setText(description, product?.description ?? '');
      render();
    } catch (e) {
      setText(errorBox, e.status === 404 ? 'This auction does not exist.' : e.message);
      errorBox.hidden = false;
    }
  })();

  const leave = socket.join(room, {
    onSnapshot: (snapshot) => {
      view = { ...snapshot };
      loadHistory();
    },
    onFrame: (frame) => {
      view = applyFrame(view ?? {}, frame);
      if (frame.type === 'auction.bid') {
        const entry = feedEntry(frame);
        if (!entries.some((e) => e.key === entry.key)) entries = [entry, ...entries].slice(0, 50);
        if (frame.bidder_id === currentUser()?.id) mine = true;
      }
      render();
    },
    onChat: (frame) => {
      if (frame.type === 'presence') setText(viewers, `· ${plural(frame.connections, 'watching', 'watching')}`);
      else chat.handle(frame);
    },
  });
  const stopNames = onNames(render);
  const stopSession = onSessionChange(() => {
    chat.updateAuth();
    render();
  });
  return () => {
    leave();
    panel.destroy();
    feed.destroy();
    chat.destroy();
    stopNames();
    stopSession();
  };
}
