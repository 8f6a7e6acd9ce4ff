// Notifications and pre-bids through the pages: a buyer who follows a
// seller has their open page told when the seller goes live (the bell
// counts it, no reload), reads it in the inbox and marks all read; and a
// pre-bid placed on a lot that has not started is the buyer's own after a
// reload, raised, and withdrawn.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../lib/server.js';
import { launch, newPage, PHONE } from '../lib/browser.js';
import { api, register, signInContext, standaloneAuction, until, text, screenshots } from '../lib/helpers.js';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a followed seller going live rings the bell of an open page', async () => {
  const base = server.url;
  const seller = await register(base, 'Sol', 'seller');
  const buyer = await register(base, 'Bea');
  await api(base, 'POST', `/sellers/${seller.user.id}/follow`, {}, buyer.access_token);

  const { context, page } = await newPage(browser, PHONE);
  await signInContext(context, buyer);
  const frames = [];
  page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => {
    try {
      frames.push(JSON.parse(payload));
    } catch { /* not JSON */ }
  }));
  await page.goto(base);
  await page.locator('[data-test=bell]').waitFor();
  assert.ok(await page.locator('[data-test=bell-count]').isHidden(), 'no unread notices yet');

  // The seller goes live (through the API); the page is not reloaded.
  const show = await api(base, 'POST', '/shows', { title: 'Record fair', scheduled_at: new Date().toISOString() }, seller.access_token);
  await api(base, 'POST', `/shows/${show.id}/go-live`, {}, seller.access_token);
  await until(async () => (await text(page, '[data-test=bell-count]')) === '1', 'the bell to count 1', 15_000);
  assert.equal(await page.locator('[data-test=bell]').getAttribute('aria-label'), 'Notifications, 1 unread');
  assert.ok(frames.some((f) => f.type === 'notification' && f.notification.kind === 'show_live'), 'the notice came on the socket');
  await until(async () => (await page.locator('.toast').count()) > 0, 'a toast');

  // The inbox lists it, unread, linking to the show.
  await page.click('[data-test=bell]');
  await page.waitForURL('**/notifications');
  const notice = page.locator('[data-test=notice]');
  await until(async () => (await notice.count()) === 1, 'one notice in the inbox');
  assert.match(await notice.first().textContent(), /Record fair/);
  assert.equal(await notice.first().getAttribute('data-kind'), 'show_live');
  assert.ok(await notice.first().evaluate((el) => el.classList.contains('unread')));
  assert.equal(await notice.first().locator('a').getAttribute('href'), `/shows/${show.id}`);
  assert.ok(await page.locator('[data-test=load-more]').isHidden(), 'one page only');
  // Eight kinds, email and push each.
  await until(async () => (await page.locator('[data-test=preferences] tbody tr[data-kind]').count()) === 8, 'the preferences');
  await screenshots(page, 'notifications');

  // Mark all read: the count goes, here and on the server.
  await page.click('[data-test=mark-all-read]');
  await until(async () => page.locator('[data-test=bell-count]').isHidden(), 'the bell to clear');
  await until(async () => !(await notice.first().evaluate((el) => el.classList.contains('unread'))), 'the notice read');
  assert.ok(await page.locator('[data-test=mark-all-read]').isDisabled());
  const inbox = await api(base, 'GET', '/notifications', undefined, buyer.access_token);
  assert.equal(inbox.unread_count, 0);

  // A kind turned off by email stays off after a reload.
  const row = page.locator('[data-test=preferences] tr[data-kind=outbid]');
  await row.locator('input[name="outbid.email"]').uncheck();
  await page.click('[data-test=save-preferences]');
  await until(async () => (await text(page, '[data-test=preferences] [role=status]')) === 'Saved.', 'the preferences saved');
  await page.reload();
  await until(async () => (await page.locator('[data-test=preferences] tr[data-kind=outbid]').count()) === 1, 'the preferences again');
  assert.equal(await page.locator('input[name="outbid.email"]').isChecked(), false);
  assert.equal(await page.locator('input[name="outbid.push"]').isChecked(), true);
  assert.ok(await page.locator('[data-test=bell-count]').isHidden(), 'still read after a reload');

  assert.deepEqual(page.errors, []);
  await context.close();
});

test('a pre-bid on a lot that has not started is shown as the buyer\'s own after a reload', async () => {
  const base = server.url;
  const seller = await register(base, 'Pia', 'seller');
  const auction = await standaloneAuction(base, seller, { title: 'Rolleiflex 2.8F', description: 'Starts later' });
  assert.equal(auction.status, 'scheduled');

  const buyer = await register(base, 'Pat');
  const { context, page } = await newPage(browser, PHONE);
  await signInContext(context, buyer);
  await page.goto(`${base}/auctions/${auction.id}`);
  await until(async () => (await text(page, '[data-test=lot-status]')) === 'Up next', 'the lot up next');
  assert.equal(await text(page, '[data-test=pre-bid-count]'), 'No pre-bids yet');
  assert.ok(await page.locator('[data-test=my-pre-bid]').isHidden());

  // Place one: the page says it is ours, and the count goes up.
  await page.fill('[data-test=pre-bid-input]', '25');
  await page.click('[data-test=pre-bid-submit]');
  await until(async () => (await text(page, '[data-test=my-pre-bid]')) === 'Your pre-bid: $25.00', 'your pre-bid shown');
  await until(async () => (await text(page, '[data-test=pre-bid-count]')) === '1 pre-bid placed', 'the count');

  // After a reload it is still ours (read back from the server).
  await page.reload();
  await until(async () => (await text(page, '[data-test=my-pre-bid]')) === 'Your pre-bid: $25.00', 'your pre-bid after a reload');
  assert.equal(await text(page, '[data-test=pre-bid-count]'), '1 pre-bid placed');
  assert.equal(await text(page, '[data-test=pre-bid-submit]'), 'Raise');
  await screenshots(page, 'pre-bid');

  // A raise must be higher: the server's answer is shown.
  await page.fill('[data-test=pre-bid-input]', '20');
  await page.click('[data-test=pre-bid-submit]');
  await page.locator('[data-test=pre-bid-error]').waitFor();
  assert.ok((await text(page, '[data-test=pre-bid-error]')).length > 0);
  assert.equal(await text(page, '[data-test=my-pre-bid]'), 'Your pre-bid: $25.00');
  await page.fill('[data-test=pre-bid-input]', '30');
  await page.click('[data-test=pre-bid-submit]');
  await until(async () => (await text(page, '[data-test=my-pre-bid]')) === 'Your pre-bid: $30.00', 'the raise');
  assert.ok(await page.locator('[data-test=pre-bid-error]').isHidden());
  const held = await api(base, 'GET', `/auctions/${auction.id}/pre-bid`, undefined, buyer.access_token);
  assert.equal(held.pre_bid.max_amount, 3000);

  // Withdrawn: nothing held.
  await page.click('[data-test=pre-bid-withdraw]');
  await until(async () => page.locator('[data-test=my-pre-bid]').isHidden(), 'the pre-bid gone');
  await until(async () => (await text(page, '[data-test=pre-bid-count]')) === 'No pre-bids yet', 'the count back to none');

  // The one refusal above is the browser's only complaint.
  assert.deepEqual(page.errors.filter((e) => !/status of 409/.test(e)), []);
  await context.close();
});

test('with a VAPID key, the inbox offers push and registers the service worker at /sw.js', async () => {
  // A key pair made for this test by `blytz vapid-keys`.
  const pushServer = await startServer({ BLYTZ_VAPID_PRIVATE_KEY: '3Hx0bPc3A7VIn6d31jfkdKhnte_Ne3zJEhYykzRSetM' });
  try {
    const base = pushServer.url;
    const buyer = await register(base, 'Quin');
    const { context, page } = await newPage(browser, PHONE);
    await context.grantPermissions(['notifications'], { origin: base });
    await signInContext(context, buyer);
    await page.goto(`${base}/notifications`);
    const on = page.locator('[data-test=push-on]');
    await on.waitFor();
    assert.equal(await on.textContent(), 'Turn on push notifications');

    // Turning it on registers the worker for the whole site. Headless
    // Chromium has no push service, so subscribing may then be refused:
    // the page says so rather than failing silently.
    await on.click();
    const worker = await until(() => page.evaluate(async () => {
      const registration = await navigator.serviceWorker.getRegistration('/');
      const active = registration?.active ?? registration?.installing ?? registration?.waiting;
      return active ? { script: new URL(active.scriptURL).pathname, scope: new URL(registration.scope).pathname } : null;
    }), 'the service worker');
    assert.deepEqual(worker, { script: '/sw.js', scope: '/' });
    await until(async () => (await page.locator('[data-test=push-off]').count()) > 0
      || (await page.locator('[data-test=push] .form-error').count()) > 0, 'push on, or the reason it is not');
    // Chromium says on the console why a test browser (a private context) has no push.
    assert.deepEqual(page.errors.filter((e) => !/Push API/.test(e)), []);
    await context.close();
  } finally {
    await pushServer.stop();
  }
});
