// Steps the tests share: signing up in the page, the API for setup, waiting,
// and screenshots at phone and desktop widths.

import { mkdirSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCREENSHOTS = process.env.BLYTZ_SCREENSHOTS ?? join(root, 'docs', 'screenshots');

let counter = 0;
/** A unique email for this run. */
export function email(name) {
  counter += 1;
  return `${name}-${Date.now().toString(36)}-${counter}@example.com`;
}

export const PASSWORD = 'correct horse battery';

/** Register in the page (role 'buyer' or 'seller'); ends on the page the app goes to. */
export async function signUp(page, base, { name, role = 'buyer' }) {
  await page.goto(`${base}/register${role === 'seller' ? '?role=seller' : ''}`);
  await page.fill('input[name=display_name]', name);
  await page.fill('input[name=email]', email(name.toLowerCase().replace(/\W+/g, '')));
  await page.fill('input[name=password]', PASSWORD);
  await page.check(`input[name=role][value=${role}]`);
  await page.click('form button[type=submit]');
  await page.waitForURL((url) => !url.pathname.startsWith('/register'));
  return page.evaluate(() => JSON.parse(localStorage.getItem('blytz.session')).user);
}

/** Call the API from the test: api(base, 'POST', '/shows', body, token). */
export async function api(base, method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return data;
}

/** A user registered through the API: {user, access_token, refresh_token, expires_in}. */
export function register(base, name, role = 'buyer') {
  return api(base, 'POST', '/auth/register', {
    email: email(name.toLowerCase()), password: PASSWORD, display_name: name, role,
  });
}

/** Sign `context`'s pages in as `auth` (an answer of register or login). */
export async function signInContext(context, auth) {
  const session = JSON.stringify({
    user: auth.user, access_token: auth.access_token, refresh_token: auth.refresh_token, expires_at: Date.now() + auth.expires_in * 1000,
  });
  await context.addInitScript((value) => {
    if (!localStorage.getItem('blytz.session')) localStorage.setItem('blytz.session', value);
  }, session);
}

/** Poll `fn` until it returns a truthy value; fail with `what` after `timeout` ms. */
export async function until(fn, what, timeout = 10_000, every = 50) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** The text of the first element matching `selector`, trimmed. */
export async function text(page, selector) {
  return (await page.locator(selector).first().textContent())?.trim() ?? '';
}

/** Screenshots of `page` at 375 and 1280 px wide: docs/screenshots/<name>-375.png, -1280.png. */
export async function screenshots(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const before = page.viewportSize();
  for (const [width, height] of [[375, 812], [1280, 800]]) {
    await page.setViewportSize({ width, height });
    await page.waitForTimeout(150);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-${width}.png`), fullPage: width === 375 ? false : false });
  }
  if (before) await page.setViewportSize(before);
}

/**
 * A seller (through the API) with a show that is live and whose first lot
 * (`seconds` long) has started. Answers {seller, show, lot}.
 */
export async function liveShow(base, { seconds = 60, title = 'Vintage camera', start = 1000 } = {}) {
  const seller = await register(base, 'Sam', 'seller');
  const token = seller.access_token;
  const show = await api(base, 'POST', '/shows', { title: 'Camera night', scheduled_at: new Date().toISOString() }, token);
  const product = await api(base, 'POST', '/products', {
    title, description: 'Works', condition: 'used', currency: 'USD', start_price: start, status: 'active',
  }, token);
  await api(base, 'POST', '/auctions', {
    product_id: product.id, show_id: show.id, currency: 'USD', start_price: start, duration_ms: seconds * 1000,
  }, token);
  await api(base, 'POST', `/shows/${show.id}/go-live`, {}, token);
  const lot = await api(base, 'POST', `/shows/${show.id}/next`, {}, token);
  return { seller, show, lot };
}

/**
 * A product of `seller` (an answer of register) and its auction, outside any
 * show, not started. Answers the auction.
 */
export async function standaloneAuction(base, seller, { title, description = 'A standalone lot', start = 1000, seconds = 60 }) {
  const token = seller.access_token;
  const product = await api(base, 'POST', '/products', {
    title, description, condition: 'used', currency: 'USD', start_price: start, status: 'active',
  }, token);
  return api(base, 'POST', '/auctions', {
    product_id: product.id, currency: 'USD', start_price: start, duration_ms: seconds * 1000,
  }, token);
}
