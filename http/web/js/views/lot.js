// The current lot, as buyers see it in a show room and on an auction's own
// page: picture, title, price, leader, bid count, a countdown by the
// server's clock, one big bid button, a custom maximum, the standing
// ("you're winning", "outbid") and the result when the hammer falls; before
// the lot starts, the buyer's pre-bid.
//
// The panel is built once and updated in place: at 20 frames a second only
// text changes, in boxes of fixed size, so nothing on the page moves.

import { currentUser } from '../api.js';
import { msUntil } from '../clock.js';
import { h, setText, show, toast } from '../dom.js';
import { money, moneyShort, countdown, parseMoney, plural, clockTime } from '../format.js';
import { label, onNames } from '../names.js';
import { socket } from '../socket.js';
import { isLive, winnerOf } from '../auction.js';
import { findOrderOf } from './orders.js';
import { preBidBox } from './prebid.js';

const tickers = new Set();
setInterval(() => {
  for (const tick of tickers) tick();
}, 200);

/** Run `fn` five times a second until the returned function is called. */
export function everyTick(fn) {
  tickers.add(fn);
  return () => tickers.delete(fn);
}

/** The lot's picture (or a placeholder of the same size). */
export function picture(product, className = 'lot-pic') {
  const image = product?.images?.[0];
  const box = h('div', { class: className });
  if (image) {
    box.append(h('img', {
      src: image.thumbnail_url && className !== 'lot-pic' ? image.thumbnail_url : image.url,
      alt: product.title ?? '',
      loading: 'lazy',
      decoding: 'async',
    }));
  } else {
    box.append(h('span', { class: 'pic-placeholder', 'aria-hidden': 'true' }, (product?.title ?? '?').slice(0, 1).toUpperCase()));
  }
  return box;
}

/**
 * A lot panel. `options.seller`: the viewer runs the lot (no bid button).
 * Returns {el, update(view, product, mine), destroy()}.
 */
export function lotPanel(options = {}) {
  const status = h('span', { class: 'chip', 'data-test': 'lot-status' });
  const titleEl = h('h2', { class: 'lot-title', id: `lot-title-${Math.random().toString(36).slice(2, 7)}` });
  const meta = h('p', { class: 'lot-meta' });
  const pic = h('div', { class: 'lot-pic-slot' });
  const price = h('span', { class: 'price', 'aria-live': 'polite', 'aria-atomic': 'true', 'data-test': 'price' });
  const priceLabel = h('span', { class: 'label' }, 'Current bid');
  const leader = h('span', { class: 'leader', 'data-test': 'leader' });
  const timer = h('span', { class: 'timer', role: 'timer', 'aria-live': 'off', 'data-test': 'timer' }, '–:––');
  const timerLabel = h('span', { class: 'label' }, 'Time left');
  const extBadge = h('span', { class: 'ext-badge', 'data-test': 'extended', hidden: true });
  const bidCount = h('span', { class: 'bid-count', 'data-test': 'bid-count' });
  const standing = h('p', { class: 'standing', role: 'status', 'aria-live': 'polite', 'data-test': 'standing' });
  const bidButton = h('button', { class: 'bid-button', type: 'button', 'data-test': 'bid' }, 'Bid');
  const signInLink = h('a', { class: 'bid-button as-link', hidden: true }, 'Sign in to bid');
  const maxInput = h('input', {
    name: 'max', inputmode: 'decimal', autocomplete: 'off', placeholder: 'e.g. 25', 'aria-describedby': 'max-hint', 'data-test': 'max-input',
  });
  const maxError = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const maxForm = h('form', { class: 'max-form' },
    h('label', { for: 'max-bid-input' }, 'Your maximum'),
    h('div', { class: 'row' }, maxInput, h('button', { type: 'submit', class: 'secondary', 'data-test': 'max-submit' }, 'Set max bid')),
    h('small', { id: 'max-hint', class: 'hint' }, 'We bid for you, one step at a time, up to this amount. Nobody sees it.'),
    maxError);
  maxInput.id = 'max-bid-input';
  const custom = h('details', { class: 'custom-bid' }, h('summary', {}, 'Custom max bid'), maxForm);
  const actions = h('div', { class: 'bid-actions' }, bidButton, signInLink, custom);
  const result = h('div', { class: 'result', role: 'status', 'aria-live': 'assertive', hidden: true, 'data-test': 'result' });
  const preBid = preBidBox({ seller: options.seller });
  const el = h('section', { class: 'lot', 'aria-labelledby': titleEl.id },
    h('div', { class: 'lot-head' }, pic,
      h('div', { class: 'lot-info' }, h('div', { class: 'lot-badges' }, status, bidCount), titleEl, meta)),
    h('div', { class: 'lot-numbers' },
      h('div', { class: 'price-box' }, priceLabel, price, leader),
      h('div', { class: 'timer-box' }, timerLabel, h('span', { class: 'timer-line' }, timer, extBadge))),
    standing,
    preBid.el,
    options.seller ? null : actions,
    result);

  let view = null;
  let product = null;
  let productId = null;
  let mine = false;
  let pending = null;
  let extTimer = null;
  let resultFor = null;

  const me = () => currentUser()?.id ?? null;

  function renderTimer() {
    if (!view) return;
    let ms = null;
    if (view.status === 'live') ms = msUntil(view.ends_at);
    else if (view.status === 'paused') ms = view.remaining_ms;
    if (ms === null || ms === undefined) {
      setText(timer, view.status === 'ended' || view.status === 'cancelled' ? '0:00' : '–:––');
    } else {
      setText(timer, countdown(ms));
    }
    timer.dataset.remainingMs = ms === null || ms === undefined ? '' : String(Math.max(0, Math.round(ms)));
    timer.classList.toggle('urgent', view.status === 'live' && ms !== null && ms <= 10_000);
  }

  function renderButton() {
    if (options.seller || !view) return;
    const user = currentUser();
    const live = isLive(view);
    show(actions, view.status !== 'ended' && view.status !== 'cancelled');
    if (!user) {
      show(bidButton, false);
      show(custom, false);
      show(signInLink, true);
      signInLink.href = `/signin?next=${encodeURIComponent(location.pathname)}`;
      return;
    }
    show(signInLink, false);
    if (user.id === view.seller_id) {
      show(bidButton, false);
      show(custom, false);
      return;
    }
    show(bidButton, true);
    show(custom, live || view.status === 'paused');
    const leading = view.leader_id === user.id;
    bidButton.classList.toggle('pending', !!pending);
    bidButton.setAttribute('aria-busy', pending ? 'true' : 'false');
    if (pending) {
      setText(bidButton, `Placing ${moneyShort(pending.amount, view.currency)}…`);
      bidButton.disabled = true;
    } else if (!live) {
      setText(bidButton, view.status === 'paused' ? 'Paused' : 'Bidding opens soon');
      bidButton.disabled = true;
    } else if (leading) {
      setText(bidButton, "You're winning");
      bidButton.disabled = true;
    } else {
      setText(bidButton, `Bid ${moneyShort(view.min_next_bid, view.currency)}`);
      bidButton.disabled = false;
    }
    bidButton.setAttribute('aria-label', bidButton.disabled ? bidButton.textContent
      : `Bid ${money(view.min_next_bid, view.currency)} on ${product?.title ?? 'this lot'}`);
  }

  function renderStanding() {
    const user = me();
    let text = '';
    let kind = '';
    if (!view || !user || options.seller) {
      text = '';
    } else if (view.status === 'ended' || view.status === 'cancelled') {
      text = '';
    } else if (view.leader_id === user) {
      text = "You're winning";
      kind = 'winning';
    } else if (mine && view.leader_id) {
      text = `Outbid — bid ${moneyShort(view.min_next_bid, view.currency)} to lead again`;
      kind = 'outbid';
    }
    setText(standing, text);
    standing.className = `standing ${kind}`;
    standing.dataset.state = kind;
    el.dataset.standing = kind;
  }

  function renderResult() {
    const over = view && (view.status === 'ended' || view.status === 'cancelled');
    show(result, over);
    if (!over) {
      resultFor = null;
      return;
    }
    if (resultFor === `${view.id}:${view.seq}`) return;
    resultFor = `${view.id}:${view.seq}`;
    const user = me();
    const winner = winnerOf(view);
    const finalPrice = view.final_price ?? view.current_price;
    result.className = 'result';
    if (view.status === 'cancelled') {
      result.replaceChildren(h('strong', {}, 'This lot was called off.'));
      result.dataset.outcome = 'cancelled';
    } else if (winner && winner === user) {
      result.classList.add('won');
      result.dataset.outcome = 'won';
      const link = h('a', { class: 'button pay', 'data-test': 'pay-link', hidden: true }, 'Pay now');
      const waiting = h('span', { class: 'hint' }, 'Preparing your order…');
      result.replaceChildren(h('strong', {}, `You won — ${money(finalPrice, view.currency)}`), waiting, link);
      const auctionId = view.id;
      findOrderOf(auctionId).then((order) => {
        if (!order || view?.id !== auctionId) return;
        link.href = `/orders/${order.id}`;
        setText(link, order.status === 'pending_payment' ? 'You won — pay now' : 'View your order');
        link.hidden = false;
        waiting.remove();
      });
    } else if (winner) {
      const lost = mine;
      result.classList.add(lost ? 'lost' : 'sold');
      result.dataset.outcome = lost ? 'outbid' : 'sold';
      result.replaceChildren(
        h('strong', {}, lost ? 'Outbid — this one got away' : 'Sold!'),
        h('span', {}, `Sold to ${label(winner)} for ${money(finalPrice, view.currency)}`));
    } else {
      result.dataset.outcome = 'unsold';
      result.replaceChildren(h('strong', {}, view.bid_count ? 'Not sold — the reserve was not met' : 'Not sold — no bids'));
    }
  }

  function renderAll() {
    if (!view) return;
    setText(titleEl, product?.title ?? 'Lot');
    const cond = product?.condition ? product.condition.replace(/_/g, ' ') : null;
    setText(meta, [cond, view.reserve_met ? null : (view.bid_count ? 'Reserve not met' : null),
      view.buy_now_price ? `Buy now ${money(view.buy_now_price, view.currency)}` : null].filter(Boolean).join(' · '));
    const labels = { scheduled: 'Up next', live: 'Live', paused: 'Paused', ended: 'Sold', cancelled: 'Called off' };
    let statusText = labels[view.status] ?? view.status;
    if (view.status === 'ended' && !winnerOf(view)) statusText = 'Ended';
    setText(status, statusText);
    status.className = `chip status-${view.status}`;
    const hasBids = view.current_price !== null && view.current_price !== undefined;
    setText(priceLabel, view.status === 'ended' && winnerOf(view) ? 'Sold for' : hasBids ? 'Current bid' : 'Starting bid');
    const amount = money(hasBids ? view.current_price : view.start_price, view.currency);
    setText(price, amount);
    const size = amount.length > 10 ? 's' : amount.length > 7 ? 'm' : 'l';
    if (price.dataset.len !== size) price.dataset.len = size;
    const who = view.leader_id ? label(view.leader_id) : null;
    const you = who === 'You';
    if (!who) setText(leader, 'No bids yet');
    else if (view.status === 'ended') setText(leader, `to ${you ? 'you' : who}`);
    else setText(leader, you ? 'You lead' : `${who} leads`);
    setText(bidCount, plural(view.bid_count ?? 0, 'bid'));
    el.dataset.status = view.status;
    renderTimer();
    renderButton();
    renderStanding();
    renderResult();
    preBid.update(view);
  }

  async function place(amount, maxAmount) {
    if (!view || pending) return;
    const auctionId = view.id;
    pending = { amount };
    renderButton();
    try {
      const reply = await socket.bid(auctionId, amount, maxAmount);
      mine = true;
      options.onAccepted?.(reply);
      if (view?.id === auctionId && reply.auction && reply.auction.seq >= view.seq) {
        // The durable answer: at least as new as what the room has shown.
        view = { ...view, ...reply.auction };
      }
      if (!reply.leading) toast('Your bid counted, but someone had a higher maximum.', 'warn');
    } catch (error) {
      const min = error.details?.min_bid;
      if (error.code === 'bid_too_low' && min) {
        toast(`Someone got there first — the next bid is ${moneyShort(min, view?.currency)}.`, 'warn');
      } else {
        toast(error.message || 'Your bid did not go through.', 'error');
      }
    } finally {
      pending = null;
      renderAll();
    }
  }

  bidButton.addEventListener('click', () => {
    if (!view || !isLive(view)) return;
    place(view.min_next_bid);
  });

  maxForm.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!view) return;
    const max = parseMoney(maxInput.value, view.currency);
    maxError.hidden = true;
    if (!max) {
      maxError.textContent = 'Enter an amount, like 25 or 25.50.';
      maxError.hidden = false;
      return;
    }
    if (max < view.min_next_bid) {
      maxError.textContent = `Enter at least ${money(view.min_next_bid, view.currency)}.`;
      maxError.hidden = false;
      return;
    }
    if (!isLive(view)) {
      maxError.textContent = 'Bidding has not opened yet.';
      maxError.hidden = false;
      return;
    }
    maxInput.value = '';
    custom.open = false;
    place(view.min_next_bid, max);
  });

  const stopTick = everyTick(renderTimer);
  const stopNames = onNames(renderAll);

  return {
    el,
    /** Show `next` (an auction view) of `nextProduct`; `iBid`: the viewer has bid on it. */
    update(next, nextProduct, iBid) {
      const prev = view;
      if (next?.id !== prev?.id) {
        resultFor = null;
        pending = null;
      }
      view = next;
      mine = !!iBid;
      if (nextProduct?.id !== productId) {
        productId = nextProduct?.id ?? null;
        pic.replaceChildren(picture(nextProduct));
      }
      product = nextProduct;
      // A deadline moved later while live: show the jump.
      if (prev && next && prev.id === next.id && next.status === 'live' && prev.ends_at && next.ends_at) {
        const gained = Date.parse(next.ends_at) - Date.parse(prev.ends_at);
        if (gained > 500) {
          setText(extBadge, `+${Math.round(gained / 1000)}s`);
          extBadge.hidden = false;
          extBadge.setAttribute('aria-label', `Time extended by ${Math.round(gained / 1000)} seconds`);
          timer.classList.remove('jump');
          void timer.offsetWidth;
          timer.classList.add('jump');
          el.dataset.extensions = String(next.extensions ?? '');
          clearTimeout(extTimer);
          extTimer = setTimeout(() => {
            extBadge.hidden = true;
            timer.classList.remove('jump');
          }, 3000);
          setText(standing, `Time extended — ${countdown(msUntil(next.ends_at))} left`);
        }
      }
      renderAll();
    },
    destroy() {
      stopTick();
      stopNames();
      clearTimeout(extTimer);
    },
  };
}

/** The bid feed: newest first, rows of one height, at most `max` rows. */
export function bidFeed(max = 30) {
  const list = h('ol', { class: 'feed', 'aria-label': 'Bids', 'data-test': 'feed' });
  let entries = [];
  let currency = 'USD';
  const render = () => {
    list.replaceChildren(...entries.map((e) => h('li', { class: e.bidder_id === currentUser()?.id ? 'me' : '' },
      h('span', { class: 'who' }, label(e.bidder_id)),
      h('span', { class: 'amount' }, money(e.amount, currency)),
      e.automatic ? h('span', { class: 'tag', title: 'Placed by a maximum bid' }, 'auto') : null,
      h('time', { datetime: e.at }, clockTime(e.at)))));
    if (!entries.length) list.append(h('li', { class: 'empty' }, 'No bids yet.'));
  };
  const stopNames = onNames(render);
  render();
  return {
    el: list,
    /** Replace every entry (newest first). */
    set(next, cur) {
      entries = next.slice(0, max);
      if (cur) currency = cur;
      render();
    },
    /** Add one entry at the top. */
    add(entry, cur) {
      if (entries.some((e) => e.key === entry.key)) return;
      if (cur) currency = cur;
      entries = [entry, ...entries].slice(0, max);
      render();
    },
    get entries() {
      return entries;
    },
    destroy: stopNames,
  };
}
