// A pre-bid on a lot that has not started (docs/bidding.md): a hidden
// maximum that enters as a bid, for the buyer, when the lot starts. The
// buyer sees their own (GET), places or raises it, or withdraws it; anyone
// sees how many pre-bids the lot holds. Part of the lot panel, shown only
// while the lot is scheduled.

import { currentUser, del, explain, get, put } from '../api.js';
import { h, setText, show, toast } from '../dom.js';
import { money, parseMoney, plural } from '../format.js';
import { requestId } from '../socket.js';

/**
 * The pre-bid box. `options.seller`: the viewer runs the lot (the count
 * only). Returns {el, update(view)}.
 */
export function preBidBox(options = {}) {
  const count = h('p', { class: 'prebid-count hint', 'data-test': 'pre-bid-count' });
  const mine = h('p', { class: 'prebid-mine', 'data-test': 'my-pre-bid', hidden: true });
  const withdraw = h('button', { type: 'button', class: 'tiny danger', 'data-test': 'pre-bid-withdraw', hidden: true }, 'Withdraw');
  const inputId = `pre-bid-${Math.random().toString(36).slice(2, 7)}`;
  const input = h('input', {
    id: inputId, name: 'pre_bid', inputmode: 'decimal', autocomplete: 'off', placeholder: 'e.g. 25',
    'aria-describedby': `${inputId}-hint`, 'data-test': 'pre-bid-input',
  });
  const inputLabel = h('label', { for: inputId }, 'Pre-bid: your maximum');
  const submit = h('button', { type: 'submit', class: 'secondary', 'data-test': 'pre-bid-submit' }, 'Place pre-bid');
  const error = h('p', { class: 'form-error', role: 'alert', 'data-test': 'pre-bid-error', hidden: true });
  const form = h('form', { class: 'max-form prebid-form' },
    inputLabel,
    h('div', { class: 'row' }, input, submit),
    h('small', { id: `${inputId}-hint`, class: 'hint' },
      'When the lot starts, we bid for you, one step at a time, up to this amount. Nobody sees it.'),
    error);
  const el = h('section', { class: 'prebid', 'aria-label': 'Pre-bid', 'data-test': 'pre-bid', hidden: true },
    count, h('div', { class: 'prebid-line' }, mine, withdraw), form);

  let view = null;
  /** The auction as our last pre-bid or withdrawal answered it (newer than the room's, for a moment). */
  let answered = null;
  /** `${auction}:${user}` whose pre-bid was asked for. */
  let loadedFor = null;
  let preBid = null;
  let busy = false;

  const buyer = () => {
    const user = currentUser();
    return !options.seller && user && view && user.id !== view.seller_id ? user : null;
  };

  function render() {
    if (!view) return;
    const scheduled = view.status === 'scheduled';
    show(el, scheduled);
    if (!scheduled) return;
    const latest = answered?.id === view.id && answered.seq > (view.seq ?? -1) ? answered : view;
    const n = latest.pre_bid_count ?? 0;
    setText(count, n ? `${plural(n, 'pre-bid')} placed` : 'No pre-bids yet');
    const user = buyer();
    show(form, !!user);
    show(mine, !!(user && preBid));
    show(withdraw, !!(user && preBid));
    if (!user) return;
    if (preBid) setText(mine, `Your pre-bid: ${money(preBid.max_amount, view.currency)}`);
    setText(inputLabel, preBid ? 'Raise your pre-bid to' : 'Pre-bid: your maximum');
    setText(submit, busy ? 'Saving…' : preBid ? 'Raise' : 'Place pre-bid');
    submit.disabled = busy;
    withdraw.disabled = busy;
  }

  function fail(message) {
    error.textContent = message;
    error.hidden = false;
  }

  async function load() {
    const user = buyer();
    const key = user && view.status === 'scheduled' ? `${view.id}:${user.id}` : null;
    if (key === loadedFor) return;
    loadedFor = key;
    preBid = null;
    error.hidden = true;
    // None held by anyone: none of ours either (and no 404 to ask for).
    if (!key || !view.pre_bid_count) return;
    const auctionId = view.id;
    try {
      const reply = await get(`/auctions/${auctionId}/pre-bid`);
      if (loadedFor === key) preBid = reply.pre_bid;
    } catch (e) {
      if (e.code !== 'no_pre_bid' && loadedFor === key) fail(explain(e));
    }
    render();
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!view || busy) return;
    error.hidden = true;
    const max = parseMoney(input.value, view.currency);
    if (!max) {
      fail('Enter an amount, like 25 or 25.50.');
      return;
    }
    const auctionId = view.id;
    busy = true;
    render();
    try {
      const reply = await put(`/auctions/${auctionId}/pre-bid`, { max_amount: max, request_id: requestId() });
      if (view?.id === auctionId) {
        preBid = reply.pre_bid;
        answered = reply.auction;
        input.value = '';
        toast(`Pre-bid set: up to ${money(max, view.currency)}.`);
      }
    } catch (e) {
      fail(explain(e));
    } finally {
      busy = false;
      render();
    }
  });

  withdraw.addEventListener('click', async () => {
    if (!view || busy) return;
    const auctionId = view.id;
    error.hidden = true;
    busy = true;
    render();
    try {
      const auction = await del(`/auctions/${auctionId}/pre-bid`);
      if (view?.id === auctionId) {
        preBid = null;
        answered = auction;
        toast('Pre-bid withdrawn.');
      }
    } catch (e) {
      if (e.code === 'no_pre_bid') preBid = null;
      fail(explain(e));
    } finally {
      busy = false;
      render();
    }
  });

  return {
    el,
    /** Show the pre-bid state of `next` (an auction view). */
    update(next) {
      view = next;
      if (next) load();
      render();
    },
  };
}
