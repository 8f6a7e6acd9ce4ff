// A whole show through the pages: a seller signs up, creates a show with
// three lots, goes live and starts the first; two buyers bid by tapping, see
// each other's bids, see the anti-snipe extension, and get their results;
// the seller starts the next lot. Then chat and moderation.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../lib/server.js';
import { launch, newPage, PHONE, DESKTOP } from '../lib/browser.js';
import { signUp, until, text, screenshots } from '../lib/helpers.js';

let server;
let browser;
let seller;
let ann;
let bob;
let showUrl;

before(async () => {
  server = await startServer();
  browser = await launch();
  seller = await newPage(browser, DESKTOP);
  ann = await newPage(browser, PHONE);
  bob = await newPage(browser, PHONE);
});

after(async () => {
  for (const side of [seller, ann, bob]) {
    if (side?.page.errors.length) console.log('page errors:', side.page.errors);
  }
  await browser?.close();
  await server?.stop();
});

/** Add a lot through the console's form. */
async function addLot(page, title, start, seconds, window = 6, extendTo = 10) {
  await page.fill('[data-test=lot-title]', title);
  await page.fill('[data-test=lot-start]', start);
  await page.fill('[data-test=lot-duration]', String(seconds));
  const details = page.locator('.lot-form details');
  if (!(await details.getAttribute('open') !== null)) await details.locator('summary').click();
  await page.fill('[data-test=lot-window]', String(window));
  await page.fill('[data-test=lot-extend]', String(extendTo));
  const before = await page.locator('[data-test=console-queue] .queue-row').count();
  await page.click('[data-test=add-lot]');
  await until(async () => (await page.locator('[data-test=console-queue] .queue-row').count()) === before + 1, `lot ${title} in the queue`);
}

test('a seller runs a show and two buyers bid it out', async () => {
  const { page: sp } = seller;
  const base = server.url;

  // The seller signs up in the page and creates a show with three lots.
  await signUp(sp, base, { name: 'Sally Seller', role: 'seller' });
  assert.equal(new URL(sp.url()).pathname, '/sell');
  await sp.locator('[data-test=my-shows] .empty').waitFor();
  await screenshots(sp, 'sell');
  await sp.fill('input[name=title]', 'Sneaker Friday');
  await sp.click('[data-test=create-show]');
  await sp.waitForURL('**/sell/shows/*');
  const showId = sp.url().split('/').pop();
  showUrl = `${base}/shows/${showId}`;
  await addLot(sp, 'Air Jordan 1 Chicago', '10', 15);
  await addLot(sp, 'Yeezy 350 Zebra', '5', 60);
  await addLot(sp, 'Dunk Low Panda', '2.50', 60);
  assert.deepEqual(
    await sp.locator('[data-test=console-queue] .queue-row strong').allTextContents(),
    ['Air Jordan 1 Chicago', 'Yeezy 350 Zebra', 'Dunk Low Panda'],
  );

  // Two buyers sign up and open the room before it is live.
  await signUp(ann.page, base, { name: 'Ann' });
  await signUp(bob.page, base, { name: 'Bob' });
  await ann.page.goto(base);
  await ann.page.click(`a[href="/shows/${showId}"]`);
  await bob.page.goto(showUrl);
  await until(async () => (await text(ann.page, '[data-test=lot-status]')) === 'Up next', 'the first lot up next');
  await screenshots(ann.page, 'show-upcoming');

  // Go live and start the first lot: the buyers see it live.
  await sp.click('[data-test=go-live]');
  await until(async () => (await text(sp, '[data-test=show-status]')) === 'LIVE', 'the show live');
  await sp.click('[data-test=next-lot]');
  for (const { page } of [ann, bob]) {
    await until(async () => (await text(page, '[data-test=lot-status]')) === 'Live', 'the lot live for a buyer');
    assert.equal(await text(page, '.lot-title'), 'Air Jordan 1 Chicago');
    assert.equal(await text(page, '[data-test=bid]'), 'Bid $10');
  }

  // When each page shows what it waits for (ms since the epoch).
  const seen = (page, selector, wanted) => until(async () => {
    const now = Date.now();
    return (await text(page, selector)) === wanted ? now : null;
  }, `${selector} = ${wanted}`, 10_000, 20);

  // Ann taps: pending at once, then winning; Bob sees her lead within the same second.
  await ann.page.click('[data-test=bid]');
  const [annWins, bobSees] = await Promise.all([
    seen(ann.page, '[data-test=standing]', "You're winning"),
    seen(bob.page, '[data-test=leader]', 'Ann leads'),
  ]);
  assert.ok(Math.abs(bobSees - annWins) < 1000, `Bob saw Ann lead ${bobSees - annWins} ms after she did`);
  assert.equal(await text(ann.page, '[data-test=leader]'), 'You lead');
  assert.equal(await text(bob.page, '[data-test=price]'), '$10.00');
  assert.equal(await text(bob.page, '[data-test=bid]'), 'Bid $10.50');

  // Bob taps: he leads, and Ann sees him lead (and herself outbid) within the same second.
  await bob.page.click('[data-test=bid]');
  const [bobWins, annSees] = await Promise.all([
    seen(bob.page, '[data-test=standing]', "You're winning"),
    seen(ann.page, '[data-test=leader]', 'Bob leads'),
  ]);
  assert.ok(Math.abs(annSees - bobWins) < 1000, `Ann saw Bob lead ${annSees - bobWins} ms after he did`);
  await until(async () => (await text(ann.page, '[data-test=standing]')).startsWith('Outbid'), 'Ann outbid');
  for (const { page } of [ann, bob]) {
    await until(async () => (await page.locator('[data-test=feed] li').count()) === 2, 'two bids in the feed');
    assert.equal(await text(page, '[data-test=bid-count]'), '2 bids');
  }
  await ann.page.click('[data-test=tab-bids]');
  await screenshots(ann.page, 'show-room');
  await screenshots(sp, 'seller-console');
  await ann.page.click('[data-test=tab-chat]');

  // Inside the anti-snipe window (6 s), Ann bids: the clock jumps back to 10 s.
  await until(async () => {
    const left = Number(await ann.page.locator('[data-test=timer]').getAttribute('data-remaining-ms'));
    return left > 0 && left < 5000;
  }, 'the anti-snipe window', 15_000);
  const beforeExt = Number(await bob.page.locator('[data-test=timer]').getAttribute('data-remaining-ms'));
  await ann.page.click('[data-test=bid]');
  for (const { page } of [ann, bob]) {
    await until(async () => page.locator('[data-test=extended]').isVisible(), 'the extension shown', 2000);
    const after = Number(await page.locator('[data-test=timer]').getAttribute('data-remaining-ms'));
    assert.ok(after > 6000 && after > beforeExt + 2000, `the countdown jumped back to about 10 s (was ${beforeExt} ms, now ${after} ms)`);
  }
  assert.match(await text(bob.page, '[data-test=extended]'), /^\+\d+s$/);

  // The hammer falls on the timer: Ann won and is sent to her order; Bob was outbid.
  await until(async () => (await ann.page.locator('[data-test=result]').getAttribute('data-outcome')) === 'won', 'Ann won', 20_000);
  await until(async () => (await bob.page.locator('[data-test=result]').getAttribute('data-outcome')) === 'outbid', 'Bob outbid', 5000);
  assert.match(await text(bob.page, '[data-test=result]'), /Outbid/);
  assert.match(await text(ann.page, '[data-test=result]'), /You won/);
  const payLink = ann.page.locator('[data-test=pay-link]');
  await payLink.waitFor({ state: 'visible', timeout: 15_000 });
  assert.equal(await payLink.textContent(), 'You won — pay now');
  await screenshots(ann.page, 'show-won');

  // The seller starts the next lot; the buyers see it.
  await sp.click('[data-test=next-lot]');
  for (const { page } of [ann, bob]) {
    await until(async () => (await text(page, '.lot-title')) === 'Yeezy 350 Zebra', 'the next lot on stage');
    await until(async () => (await text(page, '[data-test=lot-status]')) === 'Live', 'the next lot live');
  }

  // Ann's order: reached from the link, awaiting payment.
  const order = await newPage(browser, PHONE);
  await order.context.addInitScript((session) => localStorage.setItem('blytz.session', session),
    await ann.page.evaluate(() => localStorage.getItem('blytz.session')));
  await order.page.goto(`${base}${await payLink.getAttribute('href')}`);
  await until(async () => (await text(order.page, '[data-test=order-status]')) === 'pending payment', 'the order');
  assert.equal(await text(order.page, 'h1'), 'Air Jordan 1 Chicago');
  await screenshots(order.page, 'order');
  await order.page.goto(`${base}/orders`);
  await order.page.locator('.order-card').first().waitFor();
  await screenshots(order.page, 'orders');
  await order.page.goto(base);
  await order.page.locator(`a[href="/shows/${showId}"] .live-badge`).waitFor();
  await screenshots(order.page, 'home');
  await order.context.close();
  const visitor = await newPage(browser, PHONE);
  await visitor.page.goto(`${base}/signin`);
  await screenshots(visitor.page, 'signin');
  await visitor.page.goto(`${base}/register`);
  await screenshots(visitor.page, 'register');
  await visitor.context.close();
});

test('chat reaches both buyers in order; the seller deletes a message and mutes a buyer', async () => {
  const post = async (page, message) => {
    await page.fill('[data-test=chat-input]', message);
    await page.click('[data-test=chat-send]');
    await until(async () => (await page.inputValue('[data-test=chat-input]')) === '', `"${message}" sent`);
  };
  const lines = (page) => page.locator('[data-test=chat] li .text').allTextContents();
  await post(ann.page, 'hi all');
  await post(bob.page, 'hey ann');
  await post(ann.page, 'good luck on the yeezys');
  const expected = ['hi all', 'hey ann', 'good luck on the yeezys'];
  for (const { page } of [ann, bob, seller]) {
    await until(async () => JSON.stringify(await lines(page)) === JSON.stringify(expected), 'the chat in order', 5000);
  }

  // The seller deletes Bob's message from the console: gone for both buyers.
  const sp = seller.page;
  await sp.locator('[data-test=chat] li', { hasText: 'hey ann' }).locator('[data-test=mod-delete]').click();
  for (const { page } of [ann, bob]) {
    await until(async () => !(await lines(page)).includes('hey ann'), 'the message deleted', 5000);
  }

  // The seller mutes Bob: his next message is refused on his page; Ann can still chat.
  await sp.locator('[data-test=chat] li', { hasText: 'good luck' }).waitFor();
  await sp.locator('[data-test=chat] li', { hasText: 'hi all' }).locator('[data-test=mod-mute]').waitFor();
  const bobRow = sp.locator('[data-test=chat] li').filter({ has: sp.locator('.who', { hasText: 'Bob' }) });
  assert.equal(await bobRow.count(), 0, "Bob's only message is gone");
  await post(bob.page, 'still here');
  await until(async () => (await lines(sp)).includes('still here'), 'Bob in the console', 5000);
  await sp.locator('[data-test=chat] li', { hasText: 'still here' }).locator('[data-test=mod-mute]').click();
  await sp.locator('[data-test=restricted] li', { hasText: 'Bob' }).waitFor();
  await bob.page.fill('[data-test=chat-input]', 'can you hear me');
  await bob.page.click('[data-test=chat-send]');
  await until(async () => (await text(bob.page, '[data-test=chat-error]')) === 'You are muted in this chat.', 'Bob told he is muted', 5000);
  await post(ann.page, 'bob went quiet');
  await until(async () => (await lines(bob.page)).includes('bob went quiet'), 'Ann still heard');
  assert.ok(!(await lines(ann.page)).includes('can you hear me'));
  await screenshots(sp, 'seller-console-chat');
});
