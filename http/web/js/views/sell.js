// The seller console: the seller's shows, and for one show everything that
// runs it from the screen they stream from: go live, the queue (add lots
// from products, reorder, remove), the lot on stage (start the next, pause,
// resume, extend, hammer, call off), the bids as they come, and the chat
// with moderation.

import { get, post, put, del, api, currentUser, explain } from '../api.js';
import { h, replace, setText, field, values, title, toast } from '../dom.js';
import { money, parseMoney, plural, when, currencyDigits, decimalString } from '../format.js';
import { navigate } from '../router.js';
import { ShowRoom } from '../showroom.js';
import { socket } from '../socket.js';
import { chatBox } from './chat.js';
import { lotPanel, bidFeed } from './lot.js';
import { specialPanel } from './lots.js';
import { videoStage, queueRow } from './show.js';

function needSeller(main) {
  const user = currentUser();
  if (!user) {
    navigate(`/signin?next=${encodeURIComponent(location.pathname)}`, { replace: true });
    return true;
  }
  if (user.role !== 'seller' && user.role !== 'admin') {
    replace(main, h('div', { class: 'page narrow' },
      h('h1', {}, 'Sell on Blytz'),
      h('p', {}, 'Selling needs a seller account. Sign out and register one with “Sell”.')));
    return true;
  }
  return false;
}

/** A datetime-local value for `date` in local time. */
function localInput(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** `/sell`: my shows, and a new one. */
export function mountConsoleHome(main) {
  if (needSeller(main)) return undefined;
  title('Sell');
  const user = currentUser();
  const list = h('ul', { class: 'list', 'data-test': 'my-shows' }, h('li', { class: 'hint' }, 'Loading…'));
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary big', 'data-test': 'create-show' }, 'Create show');
  const form = h('form', { class: 'card form', 'aria-labelledby': 'new-show' },
    h('h2', { id: 'new-show' }, 'New show'),
    field('Title', h('input', { name: 'title', required: true, maxlength: '200', placeholder: 'Friday night sneakers' })),
    field('Description', h('textarea', { name: 'description', rows: '2', maxlength: '5000' })),
    field('Starts', h('input', { name: 'scheduled_at', type: 'datetime-local', required: true, value: localInput(new Date(Date.now() + 5 * 60_000)) })),
    field('Cover picture URL', h('input', { name: 'cover_image_url', type: 'url', placeholder: 'https://…' }), 'Optional.'),
    error, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = values(form);
    submit.disabled = true;
    error.hidden = true;
    try {
      const show = await post('/shows', {
        title: data.title,
        description: data.description,
        scheduled_at: new Date(data.scheduled_at).toISOString(),
        cover_image_url: data.cover_image_url || null,
      });
      navigate(`/sell/shows/${show.id}`);
    } catch (e) {
      error.textContent = explain(e);
      error.hidden = false;
      submit.disabled = false;
    }
  });
  replace(main, h('div', { class: 'page console-home' },
    h('h1', {}, 'Your shows'),
    h('div', { class: 'two-col' }, h('section', {}, list), form)));
  Promise.all([
    get(`/shows?seller_id=${user.id}&limit=50`),
    get(`/shows?seller_id=${user.id}&status=ended&limit=20`).catch(() => ({ items: [] })),
  ]).then(([open, ended]) => {
    const shows = [...open.items, ...ended.items];
    replace(list, ...shows.map((show) => h('li', {},
      h('a', { class: 'card order-card', href: `/sell/shows/${show.id}` },
        h('div', { class: 'order-main' }, h('strong', {}, show.title), h('span', { class: 'hint' }, when(show.scheduled_at))),
        h('div', { class: 'order-side' },
          h('span', { class: `chip status-${show.status}` }, show.status),
          h('span', { class: 'hint' }, plural(show.lots.length, 'lot')))))));
    if (!shows.length) list.append(h('li', { class: 'empty' }, 'No shows yet: create your first one.'));
  }).catch((e) => replace(list, h('li', { class: 'form-error' }, explain(e))));
  return undefined;
}

/** The add-a-lot form: a new product or one of the seller's, and the auction's rules. */
function lotForm(showId, onAdded) {
  const productSelect = h('select', { name: 'product', 'data-test': 'lot-product' }, h('option', { value: '' }, 'A new product…'));
  const newFields = h('div', { class: 'new-product' },
    field('Title', h('input', { name: 'title', maxlength: '200', placeholder: 'Air Jordan 1, size 10', 'data-test': 'lot-title' })),
    field('Description', h('textarea', { name: 'description', rows: '2' })),
    field('Condition', h('select', { name: 'condition' },
      ...['new', 'like_new', 'used', 'refurbished', 'for_parts'].map((c) => h('option', { value: c }, c.replace('_', ' '))))),
    field('Picture', h('input', { name: 'picture', type: 'file', accept: 'image/jpeg,image/png,image/gif,image/webp' }), 'Optional. JPEG, PNG, GIF or WebP.'));
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-test': 'add-lot' }, 'Add to queue');
  const form = h('form', { class: 'card form lot-form', 'aria-labelledby': 'add-lot-title' },
    h('h2', { id: 'add-lot-title' }, 'Add a lot'),
    field('Product', productSelect),
    newFields,
    h('div', { class: 'row3' },
      field('Starting bid', h('input', { name: 'start_price', inputmode: 'decimal', required: true, value: '1', 'data-test': 'lot-start' })),
      field('Currency', h('input', { name: 'currency', value: 'USD', maxlength: '3', required: true })),
      field('Runs for (s)', h('input', { name: 'duration', type: 'number', min: '5', max: '86400', value: '60', required: true, 'data-test': 'lot-duration' }))),
    h('details', {},
      h('summary', {}, 'Anti-snipe, reserve, buy now'),
      h('div', { class: 'row3' },
        field('Mode', h('select', { name: 'mode' }, h('option', { value: 'standard' }, 'Anti-snipe'), h('option', { value: 'sudden_death' }, 'Sudden death'))),
        field('Window (s)', h('input', { name: 'window', type: 'number', min: '1', value: '10', 'data-test': 'lot-window' }), 'A bid this close to the end…'),
        field('Extend to (s)', h('input', { name: 'extend_to', type: 'number', min: '1', value: '10', 'data-test': 'lot-extend' }), '…resets the clock to this.')),
      h('div', { class: 'row3' },
        field('Reserve', h('input', { name: 'reserve', inputmode: 'decimal' }), 'Hidden. Optional.'),
        field('Buy now', h('input', { name: 'buy_now', inputmode: 'decimal' }), 'Optional.'))),
    error, submit);
  const syncFields = () => { newFields.hidden = !!productSelect.value; };
  productSelect.addEventListener('change', syncFields);
  const loadProducts = async () => {
    try {
      const page = await get('/products/my-products?limit=100');
      const usable = page.items.filter((p) => p.status === 'draft' || p.status === 'active');
      productSelect.replaceChildren(h('option', { value: '' }, 'A new product…'),
        ...usable.map((p) => h('option', { value: p.id, dataset: { currency: p.currency, start: p.start_price } }, `${p.title} (${money(p.start_price, p.currency)})`)));
    } catch { /* a new product still works */ }
  };
  productSelect.addEventListener('change', () => {
    const option = productSelect.selectedOptions[0];
    if (option?.dataset.start) {
      form.elements.currency.value = option.dataset.currency;
      form.elements.start_price.value = decimalString(Number(option.dataset.start), currencyDigits(option.dataset.currency));
    }
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = values(form);
    const currency = (data.currency || 'USD').toUpperCase();
    const start = parseMoney(data.start_price, currency);
    const fail = (text) => {
      error.textContent = text;
      error.hidden = false;
    };
    error.hidden = true;
    if (!start) return fail('Enter a starting bid, like 5 or 5.50.');
    const reserve = data.reserve ? parseMoney(data.reserve, currency) : null;
    const buyNow = data.buy_now ? parseMoney(data.buy_now, currency) : null;
    if (data.reserve && !reserve) return fail('The reserve is not an amount.');
    if (data.buy_now && !buyNow) return fail('The buy-now price is not an amount.');
    if (!data.product && !data.title) return fail('Give the product a title.');
    submit.disabled = true;
    try {
      let productId = data.product;
      if (!productId) {
        const product = await post('/products', {
          title: data.title,
          description: data.description || data.title,
          condition: data.condition,
          currency,
          start_price: start,
          status: 'active',
        });
        productId = product.id;
        const file = form.elements.picture.files?.[0];
        if (file) {
          const upload = new FormData();
          upload.append('file', file);
          await api('POST', `/products/${productId}/images`, upload).catch((e) => toast(`The picture was not added: ${explain(e)}`, 'warn'));
        }
      }
      const auction = {
        product_id: productId,
        show_id: showId,
        currency,
        start_price: start,
        duration_ms: Number(data.duration) * 1000,
        mode: data.mode || 'standard',
      };
      if (auction.mode === 'standard') {
        auction.snipe_window_ms = Number(data.window || 10) * 1000;
        auction.snipe_extend_to_ms = Number(data.extend_to || 10) * 1000;
      }
      if (reserve) auction.reserve_price = reserve;
      if (buyNow) auction.buy_now_price = buyNow;
      await post('/auctions', auction);
      form.elements.title.value = '';
      form.elements.description.value = '';
      form.elements.picture.value = '';
      productSelect.value = '';
      syncFields();
      toast('Lot added to the queue.');
      onAdded();
      loadProducts();
    } catch (e) {
      fail(explain(e));
    } finally {
      submit.disabled = false;
    }
  });
  loadProducts();
  return form;
}

/** `/sell/shows/:id`: the console of one show. */
export function mountConsole(main, { id }) {
  if (needSeller(main)) return undefined;
  const room = new ShowRoom(id);
  const heading = h('h1', {}, 'Loading…');
  const showStatus = h('span', { class: 'chip', 'data-test': 'show-status' });
  const viewers = h('span', { class: 'viewers', 'data-test': 'viewers' });
  const goLive = h('button', { type: 'button', class: 'primary', 'data-test': 'go-live' }, 'Go live');
  const endShow = h('button', { type: 'button', class: 'secondary danger', 'data-test': 'end-show' }, 'End show');
  const roomLink = h('a', { href: `/shows/${id}`, class: 'button secondary small', target: '_blank', rel: 'noopener' }, 'Open the room');
  const stage = videoStage(room, { publish: true });
  const panel = lotPanel({ seller: true });
  const special = specialPanel(room);
  const feed = bidFeed();
  const nextButton = h('button', { type: 'button', class: 'primary big', 'data-test': 'next-lot' }, 'Start next lot');
  const pause = h('button', { type: 'button', class: 'secondary', 'data-test': 'pause' }, 'Pause');
  const resume = h('button', { type: 'button', class: 'secondary', 'data-test': 'resume' }, 'Resume');
  const extend = h('button', { type: 'button', class: 'secondary', 'data-test': 'extend' }, '+15 s');
  const hammer = h('button', { type: 'button', class: 'primary', 'data-test': 'hammer' }, 'Sold! (end now)');
  const cancel = h('button', { type: 'button', class: 'secondary danger', 'data-test': 'cancel-lot' }, 'Call off');
  const queue = h('ol', { class: 'queue editable', 'aria-label': 'Queue', 'data-test': 'console-queue' });
  const restricted = h('ul', { class: 'restricted', 'aria-label': 'Muted and banned', 'data-test': 'restricted' });
  const slow = h('select', { 'aria-label': 'Slow mode', 'data-test': 'slow-mode' },
    ...[[0, 'Off'], [3, '3 s'], [10, '10 s'], [30, '30 s'], [60, '1 min']].map(([s, text]) => h('option', { value: String(s) }, text)));
  const restrictedUsers = new Map();
  const chat = chatBox({
    room: room.room,
    showId: id,
    moderator: true,
    onRestrict: ({ action, user_id: userId, display_name: name }) => {
      restrictedUsers.set(userId, { action, name });
      renderRestricted();
      toast(`${name} ${action === 'mute' ? 'muted' : 'banned'}.`);
    },
  });

  const renderRestricted = () => {
    replace(restricted, ...[...restrictedUsers].map(([userId, { action, name }]) => h('li', {},
      h('span', {}, `${name} — ${action === 'mute' ? 'muted' : 'banned'}`),
      h('button', {
        type: 'button',
        class: 'tiny',
        onclick: async () => {
          try {
            await socket.moderate(room.room, { action: action === 'mute' ? 'unmute' : 'unban', user_id: userId });
            restrictedUsers.delete(userId);
            renderRestricted();
          } catch (e) {
            toast(e.message, 'error');
          }
        },
      }, action === 'mute' ? 'Unmute' : 'Unban'))));
    restricted.hidden = !restrictedUsers.size;
  };
  renderRestricted();

  const call = (fn, done) => async (event) => {
    const button = event?.currentTarget;
    if (button) button.disabled = true;
    try {
      await fn();
      done?.();
    } catch (e) {
      toast(explain(e), 'error');
    } finally {
      if (button) button.disabled = false;
      render('action');
    }
  };
  goLive.addEventListener('click', call(() => post(`/shows/${id}/go-live`), () => room.refreshShow()));
  endShow.addEventListener('click', (event) => {
    if (!confirm('End the show for everyone?')) return;
    call(() => post(`/shows/${id}/end`), () => room.refreshShow())(event);
  });
  nextButton.addEventListener('click', call(() => post(`/shows/${id}/next`)));
  const lotAction = (action, body) => call(() => {
    const lot = room.current();
    if (!lot) throw new Error('No lot on stage.');
    return post(`/auctions/${lot.id}/${action}`, body);
  });
  pause.addEventListener('click', lotAction('pause'));
  resume.addEventListener('click', lotAction('resume'));
  extend.addEventListener('click', lotAction('extend', { by_ms: 15_000 }));
  hammer.addEventListener('click', lotAction('end'));
  cancel.addEventListener('click', (event) => {
    if (confirm('Call this lot off? Nobody wins it.')) lotAction('cancel')(event);
  });
  slow.addEventListener('change', async () => {
    try {
      await socket.moderate(room.room, { action: 'slow_mode', seconds: Number(slow.value) });
      toast(Number(slow.value) ? `Slow mode: one message every ${slow.value} s.` : 'Slow mode off.');
    } catch (e) {
      toast(e.message, 'error');
    }
  });

  const move = (lotId, by) => call(async () => {
    const waiting = room.lots().filter((l) => l.status === 'scheduled').map((l) => l.id);
    const at = waiting.indexOf(lotId);
    const to = at + by;
    if (at < 0 || to < 0 || to >= waiting.length) return;
    [waiting[at], waiting[to]] = [waiting[to], waiting[at]];
    await put(`/shows/${id}/queue`, { auction_ids: waiting });
    await room.loadLots();
  });
  const remove = (lotId) => call(async () => {
    if (!confirm('Remove this lot from the queue?')) return;
    await del(`/shows/${id}/queue/${lotId}`);
    await Promise.all([room.loadLots(), room.refreshShow()]);
  });

  const controls = h('div', { class: 'controls', role: 'group', 'aria-label': 'Lot controls' }, nextButton, pause, resume, extend, hammer, cancel);
  replace(main,
    h('div', { class: 'console' },
      h('header', { class: 'console-head' },
        h('div', {}, h('p', {}, h('a', { href: '/sell' }, '← Your shows')), heading, h('p', { class: 'room-sub' }, showStatus, ' ', viewers)),
        h('div', { class: 'console-actions' }, roomLink, goLive, endShow)),
      h('div', { class: 'console-stage' }, stage.el, special.el, panel.el, controls,
        h('section', { class: 'card' }, h('h2', {}, 'Bids'), feed.el)),
      h('div', { class: 'console-queue' },
        h('section', { class: 'card' }, h('h2', {}, 'Queue'), queue),
        lotForm(id, () => room.loadLots())),
      h('div', { class: 'console-chat' },
        h('section', { class: 'card' },
          h('div', { class: 'chat-head' }, h('h2', {}, 'Chat'), h('label', {}, 'Slow mode ', slow)),
          chat.el, restricted))));

  const render = (reason) => {
    const show = room.show;
    if (show) {
      title(`Console · ${show.title}`);
      setText(heading, show.title);
      setText(showStatus, show.status === 'live' ? 'LIVE' : show.status);
      showStatus.className = `chip status-${show.status}`;
      goLive.hidden = show.status !== 'scheduled';
      endShow.hidden = show.status !== 'live';
    }
    if (room.viewers !== null) setText(viewers, `${room.viewers} watching`);
    special.update();
    const lot = room.current();
    panel.el.hidden = !lot;
    if (lot) {
      panel.update(lot, room.products.get(lot.id), false);
      feed.set(room.feeds.get(lot.id) ?? [], lot.currency);
    }
    const running = lot && (lot.status === 'live' || lot.status === 'paused');
    const live = show?.status === 'live';
    const queued = room.next() || room.queuedSpecials().length;
    nextButton.hidden = !!running || room.specialRunning();
    nextButton.disabled = !live || !queued;
    setText(nextButton, !live ? 'Go live to start lots' : queued ? 'Start next lot' : 'Queue is empty');
    pause.hidden = lot?.status !== 'live';
    resume.hidden = lot?.status !== 'paused';
    extend.hidden = lot?.status !== 'live';
    hammer.hidden = lot?.status !== 'live';
    cancel.hidden = !running;
    if (reason !== 'presence' && reason !== 'auction.bid' && reason !== 'feed') {
      const lots = room.lots();
      const waiting = lots.filter((l) => l.status === 'scheduled');
      replace(queue, ...lots.map((l) => {
        const product = room.products.get(l.id);
        const name = product?.title ?? 'lot';
        const at = waiting.indexOf(l);
        const actions = l.status === 'scheduled' ? h('span', { class: 'row-actions' },
          h('button', { type: 'button', class: 'tiny', 'aria-label': `Move ${name} up`, disabled: at === 0, onclick: move(l.id, -1) }, '↑'),
          h('button', { type: 'button', class: 'tiny', 'aria-label': `Move ${name} down`, disabled: at === waiting.length - 1, onclick: move(l.id, 1) }, '↓'),
          h('button', { type: 'button', class: 'tiny danger', 'aria-label': `Remove ${name}`, onclick: remove(l.id) }, '✕')) : null;
        return queueRow(l, product, { current: l.id === lot?.id, actions });
      }));
      // Giveaways and flash sales (made through the API) after the auctions.
      for (const other of (show?.queue ?? []).filter((l) => l.kind !== 'auction')) {
        const name = other.kind === 'giveaway' ? 'Giveaway' : 'Flash sale';
        queue.append(h('li', { class: 'queue-row', dataset: { id: other.id, status: other.status, kind: other.kind } },
          h('div', { class: 'queue-info' }, h('strong', {}, name)),
          h('span', { class: `chip status-${other.status}` }, other.status),
          other.status === 'scheduled' ? h('span', { class: 'row-actions' },
            h('button', { type: 'button', class: 'tiny danger', 'aria-label': `Remove ${name}`, onclick: remove(other.id) }, '✕')) : null));
      }
      if (!lots.length && !show?.queue?.length) queue.append(h('li', { class: 'empty' }, 'Add your first lot below.'));
    }
    if (reason === 'show' || reason === 'snapshot') {
      stage.update();
      slow.value = String(show?.slow_mode_secs ?? 0);
    }
    if (reason === 'snapshot') chat.reload();
  };
  room.onChange(render);
  room.onChat((frame) => chat.handle(frame));
  room.start().then(() => render('show')).catch((e) => setText(heading, explain(e)));
  return () => {
    room.stop();
    special.destroy();
    panel.destroy();
    feed.destroy();
    chat.destroy();
    stage.destroy();
  };
}
