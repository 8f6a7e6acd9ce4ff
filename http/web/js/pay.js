// Card payments with Stripe's payment element, loaded only when the server
// takes cards and only when someone pays.

import { post, get } from './api.js';
import { h, setText, toast } from './dom.js';

let stripeJs = null;

function loadStripe() {
  if (window.Stripe) return Promise.resolve(window.Stripe);
  if (!stripeJs) {
    stripeJs = new Promise((resolve, reject) => {
      const script = h('script', { src: 'https://js.stripe.com/v3/', async: true });
      script.onload = () => (window.Stripe ? resolve(window.Stripe) : reject(new Error('Stripe did not load')));
      script.onerror = () => {
        stripeJs = null;
        reject(new Error('The payment form could not load. Check your connection.'));
      };
      document.head.append(script);
    });
  }
  return stripeJs;
}

/** Show the payment element for `order` in `box` and confirm the payment. */
export async function payWithStripe(order, publishableKey, box) {
  const [Stripe, intent] = await Promise.all([loadStripe(), post('/payments/intent', { order_id: order.id })]);
  const stripe = Stripe(publishableKey);
  const elements = stripe.elements({ clientSecret: intent.client_secret });
  const mount = h('div', { class: 'payment-element' });
  const status = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
  const confirm = h('button', { type: 'button', class: 'primary big' }, 'Confirm payment');
  box.replaceChildren(mount, confirm, status);
  elements.create('payment').mount(mount);
  confirm.addEventListener('click', async () => {
    confirm.disabled = true;
    setText(status, 'Confirming…');
    const { error } = await stripe.confirmPayment({
      elements,
      redirect: 'if_required',
      confirmParams: { return_url: location.href },
    });
    if (error) {
      setText(status, error.message ?? 'The payment did not go through.');
      confirm.disabled = false;
      return;
    }
    setText(status, 'Payment received. Updating your order…');
    for (let i = 0; i < 20; i += 1) {
      const fresh = await get(`/orders/${order.id}`).catch(() => null);
      if (fresh && fresh.status !== 'pending_payment') {
        toast('Paid — thank you!');
        location.reload();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
  });
}
