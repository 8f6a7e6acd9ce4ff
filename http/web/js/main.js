// The web client: the top bar (with the inbox's bell), the offline banner,
// and the routes.

import { currentUser, onSessionChange, signOut } from './api.js';
import { h, replace } from './dom.js';
import { bell, startInbox } from './inbox.js';
import { startPush } from './push.js';
import { route, start, navigate, onRoute } from './router.js';
import { socket } from './socket.js';
import { mountHome } from './views/home.js';
import { mountSignIn, mountRegister } from './views/auth.js';
import { mountShow } from './views/show.js';
import { mountAuction } from './views/auction.js';
import { mountOrders, mountOrder } from './views/orders.js';
import { mountConsoleHome, mountConsole } from './views/sell.js';
import { mountNotifications } from './views/notifications.js';

function topbar() {
  const user = currentUser();
  const bar = document.getElementById('topbar');
  replace(bar,
    h('a', { class: 'brand', href: '/', 'aria-label': 'Blytz home' },
      h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '⚡'), 'Blytz'),
    h('nav', { class: 'nav', 'aria-label': 'Main' },
      user?.role === 'seller' || user?.role === 'admin' ? h('a', { href: '/sell' }, 'Sell') : null,
      user ? h('a', { href: '/orders' }, 'Orders') : null,
      user ? bell() : null,
      user
        ? h('button', {
          class: 'link',
          type: 'button',
          title: `Signed in as ${user.display_name}`,
          onclick: async () => {
            await signOut();
            navigate('/');
          },
        }, 'Sign out')
        : h('a', { href: `/signin?next=${encodeURIComponent(location.pathname)}`, class: 'button small' }, 'Sign in')));
}

function offlineBanner() {
  const banner = document.getElementById('offline');
  let timer = null;
  const update = (online) => {
    clearTimeout(timer);
    document.body.classList.toggle('is-offline', !online);
    if (online) {
      banner.hidden = true;
      return;
    }
    // A first connection that takes a moment is not "offline".
    const delay = socket.everOpen || navigator.onLine === false ? 0 : 1500;
    timer = setTimeout(() => {
      banner.hidden = socket.online;
    }, delay);
  };
  socket.onStatus(update);
  window.addEventListener('offline', () => update(false));
}

route('/', mountHome);
route('/signin', mountSignIn);
route('/register', mountRegister);
route('/shows/:id', mountShow);
route('/auctions/:id', mountAuction);
route('/orders', mountOrders);
route('/orders/:id', mountOrder);
route('/sell', mountConsoleHome);
route('/sell/shows/:id', mountConsole);
route('/notifications', mountNotifications);

topbar();
onSessionChange(topbar);
onRoute(topbar);
offlineBanner();
socket.start();
startInbox();
startPush();
start();
