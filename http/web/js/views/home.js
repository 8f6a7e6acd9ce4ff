// `/`: shows live now and coming up, and lots running on their own.

import { get, currentUser } from '../api.js';
import { h, replace, title } from '../dom.js';
import { money, when } from '../format.js';
import { label, onNames } from '../names.js';

function cover(show) {
  const box = h('div', { class: 'cover' });
  if (show.cover_image_url) {
    box.append(h('img', { src: show.cover_image_url, alt: '', loading: 'lazy', decoding: 'async' }));
  } else {
    box.append(h('span', { class: 'cover-letter', 'aria-hidden': 'true' }, show.title.slice(0, 1).toUpperCase()));
  }
  if (show.status === 'live') box.append(h('span', { class: 'chip live-badge' }, 'LIVE'));
  if (show.status === 'live') box.append(h('span', { class: 'cover-viewers' }, `${show.viewers ?? 0} watching`));
  return box;
}

function showCard(show) {
  return h('li', {},
    h('a', { class: 'card show-card', href: `/shows/${show.id}`, dataset: { status: show.status } },
      cover(show),
      h('div', { class: 'show-card-body' },
        h('strong', { class: 'show-card-title' }, show.title),
        h('span', { class: 'hint seller-name', dataset: { seller: show.seller_id } }, label(show.seller_id)),
        h('span', { class: 'hint' }, show.status === 'live'
          ? `Live since ${when(show.started_at ?? show.scheduled_at)}`
          : when(show.scheduled_at)))));
}

export function mountHome(main) {
  title('');
  const live = h('ul', { class: 'grid', 'data-test': 'live-shows' }, h('li', { class: 'hint' }, 'Loading…'));
  const upcoming = h('ul', { class: 'grid', 'data-test': 'upcoming-shows' });
  const solo = h('ul', { class: 'grid' });
  const soloSection = h('section', { hidden: true }, h('h2', {}, 'Auctions'), solo);
  const user = currentUser();
  replace(main,
    h('div', { class: 'page' },
      h('section', { class: 'hero' },
        h('h1', {}, 'Live auctions, one tap to bid'),
        h('p', {}, 'Watch sellers go live, bid in seconds and check out in one step.'),
        !user ? h('p', { class: 'hero-actions' },
          h('a', { class: 'button primary', href: '/register' }, 'Create an account'),
          h('a', { class: 'button secondary', href: '/register?role=seller' }, 'Sell on Blytz')) : null),
      h('section', {}, h('h2', {}, 'Live now'), live),
      h('section', {}, h('h2', {}, 'Coming up'), upcoming),
      soloSection));

  let shows = [];
  const render = () => {
    const on = shows.filter((s) => s.status === 'live');
    const later = shows.filter((s) => s.status === 'scheduled')
      .sort((a, b) => Date.parse(a.scheduled_at) - Date.parse(b.scheduled_at));
    replace(live, ...on.map(showCard));
    if (!on.length) live.append(h('li', { class: 'empty' }, 'Nobody is live right now.'));
    replace(upcoming, ...later.map(showCard));
    if (!later.length) upcoming.append(h('li', { class: 'empty' }, 'No shows scheduled yet.'));
  };
  const stopNames = onNames(render);
  const load = async () => {
    try {
      const page = await get('/shows?limit=50', { auth: false });
      shows = page.items;
      render();
    } catch (e) {
      replace(live, h('li', { class: 'form-error' }, e.message));
    }
    try {
      const page = await get('/auctions?status=live&limit=12', { auth: false });
      const alone = page.items.filter((a) => !a.show_id);
      soloSection.hidden = !alone.length;
      const products = await Promise.all(alone.map((a) => get(`/products/${a.product_id}`, { auth: false }).catch(() => null)));
      replace(solo, ...alone.map((a, i) => h('li', {},
        h('a', { class: 'card show-card', href: `/auctions/${a.id}` },
          h('div', { class: 'show-card-body' },
            h('strong', {}, products[i]?.title ?? 'Lot'),
            h('span', { class: 'hint' }, money(a.current_price ?? a.start_price, a.currency)))))));
    } catch { /* the shows are what matters */ }
  };
  load();
  const timer = setInterval(load, 20_000);
  return () => {
    clearInterval(timer);
    stopNames();
  };
}
