// The show's lots that are not auctions, on stage: a giveaway (countdown,
// the published seed hash, then the winner and the revealed seed) and a
// flash sale (price, units left, a countdown and a Claim button).

import { currentUser, explain, post } from '../api.js';
import { msUntil } from '../clock.js';
import { h, replace, setText } from '../dom.js';
import { countdown, money } from '../format.js';
import { label } from '../names.js';

/** The panel for `room.special`; `update()` redraws it from the room. */
export function specialPanel(room) {
  const el = h('section', { class: 'special-lot card', hidden: true, 'aria-live': 'polite', 'data-test': 'special-lot' });
  const clock = h('span', { class: 'countdown', 'data-test': 'special-countdown' });
  const note = h('p', { class: 'form-error', role: 'alert', hidden: true });
  let busy = false;

  const say = (text, error = false) => {
    setText(note, text);
    note.className = error ? 'form-error' : 'hint';
    note.hidden = !text;
  };

  const act = async (path, body, done) => {
    if (busy) return;
    if (!currentUser()) {
      location.assign(`/signin?next=${encodeURIComponent(location.pathname)}`);
      return;
    }
    busy = true;
    try {
      const answer = await post(path, body);
      say(done(answer));
    } catch (e) {
      say(explain(e), true);
    } finally {
      busy = false;
    }
  };

  const tick = () => {
    const lot = room.special;
    if (!lot) return;
    const deadline = lot.kind === 'giveaway' ? lot.closes_at : lot.ends_at;
    const open = lot.status === 'open' || lot.status === 'live';
    setText(clock, open && deadline ? countdown(msUntil(deadline) ?? 0) : '');
  };
  const timer = setInterval(tick, 250);

  // The seller watches their own lots: no Enter or Claim for them.
  const isSeller = () => !!currentUser() && currentUser().id === room.show?.seller_id;

  const giveaway = (lot) => {
    const parts = [h('h2', {}, `Giveaway: ${lot.title ?? ''}`), clock];
    parts.push(h('p', { class: 'hint' }, `${lot.entrant_count ?? 0} entered`));
    if (lot.seed_hash) parts.push(h('p', { class: 'mono', title: 'SHA-256 of the secret seed' }, `Seed hash ${lot.seed_hash}`));
    if (lot.status === 'open' && !isSeller()) {
      parts.push(h('p', { class: 'hint' }, 'Everyone watching is entered when it opens and when it closes.'),
        h('button', { type: 'button', class: 'secondary', 'data-test': 'enter', onclick: () => act(`/giveaways/${lot.id}/entries`, {}, () => 'You are in.') }, 'Enter'));
    } else if (lot.status === 'drawn') {
      parts.push(h('p', { class: 'winner', 'data-test': 'winner' }, lot.winner_id
        ? (lot.winner_id === currentUser()?.id ? 'You won!' : `Winner: ${label(lot.winner_id)}`)
        : 'Nobody entered.'));
      if (lot.seed) parts.push(h('p', { class: 'mono' }, `Seed ${lot.seed}`));
    }
    return parts;
  };

  const flashSale = (lot) => {
    const live = lot.status === 'live' && lot.remaining > 0;
    return [
      h('h2', {}, `Flash sale: ${lot.title ?? ''}`), clock,
      h('p', { class: 'price' }, money(lot.price, lot.currency),
        lot.list_price && lot.list_price > lot.price ? h('s', { class: 'hint' }, ` ${money(lot.list_price, lot.currency)}`) : null),
      h('p', { class: 'hint', 'data-test': 'remaining' }, `${lot.remaining} of ${lot.quantity} left · up to ${lot.per_buyer_cap} each`),
      isSeller() ? null : h('button', {
        type: 'button', class: 'primary big', 'data-test': 'claim', disabled: !live,
        onclick: () => act(`/flash-sales/${lot.id}/claims`, { quantity: 1 }, (claim) => `Claimed: order ${claim.order.id.slice(0, 8)} is waiting for payment.`),
      }, live ? 'Claim' : (lot.remaining > 0 ? 'Ended' : 'Sold out')),
    ];
  };

  return {
    el,
    update() {
      const lot = room.special;
      el.hidden = !lot;
      if (!lot) return;
      const shown = el.dataset.id;
      if (shown !== lot.id) say('');
      el.dataset.id = lot.id;
      el.dataset.kind = lot.kind;
      replace(el, ...(lot.kind === 'giveaway' ? giveaway(lot) : flashSale(lot)), note);
      tick();
    },
    destroy() {
      clearInterval(timer);
    },
  };
}
