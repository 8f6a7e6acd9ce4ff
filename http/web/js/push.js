// Web Push: the opt-in on this device. When the server has a VAPID key and
// the browser can, the service worker (`/sw.js`, served at the root so its
// scope is the whole site) is registered, the browser subscribes with the
// server's key, and the subscription is stored with the API. The worker
// shows each push and, on a click, opens the notice's page.

import { del, explain, get, post } from './api.js';
import { h, replace } from './dom.js';
import { navigate } from './router.js';

const WORKER = '/sw.js';

/** Whether this browser can take Web Push at all. */
export function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window && window.isSecureContext;
}

/** A base64url key as the bytes `applicationServerKey` takes. */
function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(base64url.length / 4) * 4, '=');
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/** This browser's subscription, when the server holds it for the signed-in user. */
async function currentSubscription() {
  const registration = await navigator.serviceWorker.getRegistration('/');
  const subscription = registration ? await registration.pushManager.getSubscription() : null;
  if (!subscription) return null;
  const stored = await get('/push/subscriptions');
  return stored.some((s) => s.endpoint === subscription.endpoint) ? subscription : null;
}

async function turnOn(publicKey) {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') {
    throw new Error('Notifications are blocked for this site. Allow them in your browser settings and try again.');
  }
  await navigator.serviceWorker.register(WORKER, { scope: '/' });
  const registration = await navigator.serviceWorker.ready;
  let subscription = await registration.pushManager.getSubscription();
  if (!subscription) {
    try {
      subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) });
    } catch (error) {
      throw new Error(`This browser could not subscribe to push notifications (${error.message}).`);
    }
  }
  await post('/push/subscriptions', subscription.toJSON());
}

async function turnOff(subscription) {
  const stored = await get('/push/subscriptions');
  const mine = stored.find((s) => s.endpoint === subscription.endpoint);
  if (mine) await del(`/push/subscriptions/${mine.id}`);
  await subscription.unsubscribe();
}

/**
 * The push opt-in for the notifications page: a section that says whether
 * this device gets push notifications, with a button to turn them on or
 * off. Empty (hidden) when the server or the browser cannot.
 */
export function pushControl() {
  const box = h('section', { class: 'card push', 'aria-labelledby': 'push-title', 'data-test': 'push', hidden: true });
  const render = async () => {
    let key = null;
    try {
      ({ public_key: key } = await get('/push/vapid-key', { auth: false }));
    } catch { /* offline: no opt-in now */ }
    if (!key || !pushSupported()) {
      box.hidden = true;
      return;
    }
    const subscription = await currentSubscription().catch(() => null);
    const message = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
    const act = async (button, work) => {
      button.disabled = true;
      try {
        await work();
        await render();
      } catch (error) {
        message.textContent = error.status !== undefined ? explain(error) : error.message;
        message.className = 'form-error';
        button.disabled = false;
      }
    };
    const button = subscription
      ? h('button', { type: 'button', class: 'secondary', 'data-test': 'push-off' }, 'Turn off push notifications')
      : h('button', { type: 'button', class: 'primary', 'data-test': 'push-on' }, 'Turn on push notifications');
    button.addEventListener('click', () => act(button, () => (subscription ? turnOff(subscription) : turnOn(key))));
    replace(box,
      h('h2', { id: 'push-title' }, 'Push notifications'),
      h('p', { class: 'hint' }, subscription
        ? 'This device gets push notifications, even when Blytz is closed.'
        : 'Get told on this device when a show goes live or you are outbid, even when Blytz is closed.'),
      button,
      message);
    box.hidden = false;
  };
  render();
  return box;
}

/** Follow the service worker's "open this page" when a notice is clicked. */
export function startPush() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.addEventListener('message', (event) => {
    const url = event.data?.type === 'navigate' ? event.data.url : null;
    if (typeof url === 'string' && url.startsWith('/')) navigate(url);
  });
}
