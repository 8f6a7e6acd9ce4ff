// My orders: the list, one order (status, items, tracking), and paying for
// it with Stripe's payment element when the server takes cards.

import { get, post, config, currentUser, explain } from '../api.js';
import { h, replace, title, toast, field, values } from '../dom.js';
import { money, when, statusLabel } from '../format.js';
import { navigate } from '../router.js';
import { payWithStripe } from '../pay.js';

/**
 * The caller's order for `auctionId`: made by the server shortly after the
 * hammer falls, so it is looked for a few times. Null when none shows up.
 */
export async function findOrderOf(auctionId, tries = 30) {
  for (let i = 0; i < tries; i += 1) {
    try {
      const page = await get('/orders?limit=50');
      const order = page.items.find((o) => o.auction_id === auctionId);
      if (order) return order;
    } catch (e) {
      if (e.status === 401) return null;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return null;
}

function needSignIn(main) {
  if (currentUser()) return false;
  navigate(`/signin?next=${encodeURIComponent(location.pathname)}`, { replace: true });
  return true;
}

const STEPS = ['pending_payment', 'paid', 'processing', 'shipped', 'delivered'];

function orderCard(order) {
  const first = order.items[0];
  return h('li', {},
    h('a', { class: 'card order-card', href: `/orders/${order.id}` },
      h('div', { class: 'order-main' },
        h('strong', {}, first ? first.title : 'Order'),
        order.items.length > 1 ? h('span', { class: 'hint' }, ` and ${order.items.length - 1} more`) : null,
        h('span', { class: 'hint' }, when(order.created_at))),
      h('div', { class: 'order-side' },
        h('span', { class: `chip status-${order.status}` }, statusLabel(order.status)),
        h('strong', {}, money(order.total, order.currency)))));
}

/** `/orders`: purchases (and sales, for sellers). */
export function mountOrders(main, _params, query) {
  if (needSignIn(main)) return undefined;
  title('Orders');
  const user = currentUser();
  const view = query.get('view') === 'seller' ? 'seller' : 'buyer';
  const list = h('ul', { class: 'list' }, h('li', { class: 'hint' }, 'Loading…'));
  replace(main,
    h('div', { class: 'page narrow' },
      h('h1', {}, view === 'seller' ? 'Sales' : 'My orders'),
      user.role !== 'buyer' ? h('nav', { class: 'tabs', 'aria-label': 'Orders' },
        h('a', { href: '/orders', 'aria-current': view === 'buyer' ? 'page' : null }, 'Purchases'),
        h('a', { href: '/orders?view=seller', 'aria-current': view === 'seller' ? 'page' : null }, 'Sales')) : null,
      list));
  get(`/orders?view=${view}&limit=50`).then((page) => {
    if (!page.items.length) {
      replace(list, h('li', { class: 'empty' }, view === 'seller' ? 'No sales yet.' : 'No orders yet. Win something in a live show!'));
      return;
    }
    replace(list, ...page.items.map(orderCard));
  }).catch((e) => replace(list, h('li', { class: 'form-error' }, explain(e))));
  return undefined;
}

/** `/orders/:id`: one order, paying, tracking; for its seller, the next steps. */
export function mountOrder(main, { id }) {
  if (needSignIn(main)) return undefined;
  title('Order');
  const box = h('div', { class: 'page narrow' }, h('p', { class: 'hint' }, 'Loading…'));
  replace(main, box);
  let stopped = false;
  const load = async () => {
    try {
      const [order, settings] = await Promise.all([get(`/orders/${id}`), config()]);
      if (!stopped) render(order, settings);
    } catch (e) {
      replace(box, h('h1', {}, 'Order'), h('p', { class: 'form-error' }, explain(e)));
    }
  };
  const render = (order, settings) => {
    const user = currentUser();
    const isBuyer = order.buyer_id === user.id;
    const isSeller = order.seller_id === user.id || user.role === 'admin';
    const step = STEPS.indexOf(order.status);
    const payBox = h('div', { class: 'pay-box' });
    if (isBuyer && order.status === 'pending_payment') {
      if (settings.stripe) {
        payBox.append(h('button', {
          type: 'button',
          class: 'primary big',
          'data-test': 'pay',
          onclick: async (event) => {
            event.target.disabled = true;
            try {
              await payWithStripe(order, settings.stripe.publishable_key, payBox);
            } catch (e) {
              toast(explain(e), 'error');
              event.target.disabled = false;
            }
          },
        }, `Pay ${money(order.total, order.currency)}`));
      } else {
        payBox.append(h('p', { class: 'hint' },
          `Pay the seller as agreed by ${when(order.payment_due_at)}; they confirm it here and ship.`));
      }
    }
    const sellerBox = h('div', { class: 'seller-box' });
    if (isSeller && !isBuyer) sellerActions(order, sellerBox, load);
    replace(box,
      h('p', {}, h('a', { href: '/orders' }, '← All orders')),
      h('h1', {}, order.items[0]?.title ?? 'Order'),
      h('p', {}, h('span', { class: `chip status-${order.status}`, 'data-test': 'order-status' }, statusLabel(order.status)),
        order.status === 'pending_payment' ? h('span', { class: 'hint' }, ` · pay by ${when(order.payment_due_at)}`) : null),
      step >= 0 ? h('ol', { class: 'steps', 'aria-label': 'Progress' },
        ...STEPS.map((s, i) => h('li', { class: i <= step ? 'done' : '', 'aria-current': i === step ? 'step' : null }, statusLabel(s)))) : null,
      payBox,
      h('section', { class: 'card' },
        h('h2', {}, 'Items'),
        h('ul', { class: 'lines' }, ...order.items.map((item) => h('li', {},
          h('span', {}, `${item.quantity} × ${item.title}`),
          h('span', {}, money(item.line_total, order.currency))))),
        h('ul', { class: 'lines totals' },
          h('li', {}, h('span', {}, 'Subtotal'), h('span', {}, money(order.subtotal, order.currency))),
          h('li', {}, h('span', {}, 'Shipping'), h('span', {}, money(order.shipping, order.currency))),
          h('li', {}, h('span', {}, 'Tax'), h('span', {}, money(order.tax, order.currency))),
          h('li', { class: 'total' }, h('span', {}, 'Total'), h('strong', {}, money(order.total, order.currency))))),
      order.shipment ? h('section', { class: 'card' },
        h('h2', {}, 'Tracking'),
        h('p', {}, `${order.shipment.carrier} · `,
          order.shipment.tracking_url
            ? h('a', { href: order.shipment.tracking_url, rel: 'noopener noreferrer', target: '_blank' }, order.shipment.tracking_number)
            : order.shipment.tracking_number),
        h('ol', { class: 'timeline' }, ...order.shipment.history.map((e) => h('li', {},
          h('strong', {}, statusLabel(e.status)), ' ', h('span', { class: 'hint' }, when(e.at)), e.note ? ` — ${e.note}` : null)))) : null,
      sellerBox);
  };
  load();
  return () => { stopped = true; };
}

function sellerActions(order, box, reload) {
  const act = (action, body) => async () => {
    try {
      await post(`/orders/${order.id}/${action}`, body);
      toast('Order updated.');
      reload();
    } catch (e) {
      toast(explain(e), 'error');
    }
  };
  if (order.status === 'pending_payment') {
    box.append(h('button', { type: 'button', class: 'secondary', onclick: act('mark-paid') }, 'Mark as paid'));
  }
  if (order.status === 'paid') {
    box.append(h('button', { type: 'button', class: 'secondary', onclick: act('process') }, 'Start processing'));
  }
  if (order.status === 'paid' || order.status === 'processing') {
    const form = h('form', { class: 'card' },
      h('h2', {}, 'Ship it'),
      field('Carrier', h('input', { name: 'carrier', required: true, placeholder: 'UPS' })),
      field('Tracking number', h('input', { name: 'tracking_number', required: true })),
      h('button', { type: 'submit', class: 'primary' }, 'Mark shipped'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      act('ship', values(form))();
    });
    box.append(form);
  }
}
