// The network drops under a buyer's page in the middle of a bid: the page
// says it is offline, reconnects, and the bid is placed once.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../lib/server.js';
import { launch, newPage, PHONE } from '../lib/browser.js';
import { api, register, signInContext, liveShow, until, text } from '../lib/helpers.js';

let server;
let browser;

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a bid whose answer is lost is sent again with its request_id and placed once', async () => {
  server = await startServer();
  browser = await launch();
  const base = server.url;
  const { show, lot } = await liveShow(base);
  const buyer = await register(base, 'Nina');
  const { context, page } = await newPage(browser, PHONE);
  await signInContext(context, buyer);

  // Every socket of the page goes through the test, which can stop the
  // server's frames from reaching the page.
  let cut = false;
  const sentBids = [];
  await page.routeWebSocket(/\/ws/, (ws) => {
    const upstream = ws.connectToServer();
    ws.onMessage((message) => {
      const frame = JSON.parse(message);
      if (frame.type === 'bid') sentBids.push(frame);
      upstream.send(message);
    });
    upstream.onMessage((message) => {
      if (!cut) ws.send(message);
    });
  });

  await page.goto(`${base}/shows/${show.id}`);
  await until(async () => (await text(page, '[data-test=bid]')) === 'Bid $10', 'the bid button');
  assert.ok(await page.locator('#offline').isHidden());

  // The server's answers stop coming: the tap stays pending.
  cut = true;
  await page.click('[data-test=bid]');
  await until(async () => (await text(page, '[data-test=bid]')).startsWith('Placing'), 'the pending state');
  await until(async () => (await api(base, 'GET', `/auctions/${lot.id}`)).bid_count === 1, 'the bid on the server');

  // Then the connection goes: the page says so, and the bid is still pending.
  await context.setOffline(true);
  await page.locator('#offline').waitFor({ state: 'visible', timeout: 5000 });
  assert.match(await text(page, '#offline'), /Offline/);
  assert.ok((await text(page, '[data-test=bid]')).startsWith('Placing'));
  await page.waitForTimeout(1000);

  // Back online: it reconnects, sends the same bid again, and settles.
  cut = false;
  await context.setOffline(false);
  await page.locator('#offline').waitFor({ state: 'hidden', timeout: 10_000 });
  await until(async () => (await text(page, '[data-test=standing]')) === "You're winning", 'the bid settled', 10_000);
  assert.equal(await text(page, '[data-test=price]'), '$10.00');

  assert.equal(sentBids.length, 2, 'the bid was sent twice');
  assert.equal(sentBids[0].request_id, sentBids[1].request_id, 'with the same request_id');
  const auction = await api(base, 'GET', `/auctions/${lot.id}`);
  assert.equal(auction.bid_count, 1, 'placed once');
  const bids = await api(base, 'GET', `/auctions/${lot.id}/bids`);
  assert.equal(bids.items.length, 1);
  assert.equal(bids.items[0].bidder_id, buyer.user.id);
  assert.deepEqual(page.errors, []);
});

test('a frame lost on the way leaves a gap in seq: the page resubscribes and shows the truth', async () => {
  const base = server.url;
  const { show, lot } = await liveShow(base, { title: 'Polaroid SX-70', start: 500 });
  const [rita, sid] = [await register(base, 'Rita'), await register(base, 'Sid')];
  const { context, page } = await newPage(browser, PHONE);
  await signInContext(context, rita);
  let dropped = 0;
  let subscribed = 0;
  const subscribes = [];
  await page.routeWebSocket(/\/ws/, (ws) => {
    const upstream = ws.connectToServer();
    ws.onMessage((message) => {
      const frame = JSON.parse(message);
      if (frame.type === 'subscribe') subscribes.push(frame.room);
      upstream.send(message);
    });
    upstream.onMessage((message) => {
      if (message.includes('"type":"subscribed"')) subscribed += 1;
      // Lose the first bid frame of the lot.
      if (!dropped && message.includes('"type":"auction.bid"')) {
        dropped += 1;
        return;
      }
      ws.send(message);
    });
  });
  await page.goto(`${base}/shows/${show.id}`);
  await until(async () => (await text(page, '[data-test=bid]')) === 'Bid $5', 'the bid button');
  // The room's snapshot is in before the bid: the bid reaches the page only as a frame.
  await until(async () => subscribed === 1, 'the room subscribed');

  await api(base, 'POST', `/auctions/${lot.id}/bids`, { amount: 500 }, sid.access_token);
  await until(async () => dropped === 1, 'the first bid frame dropped');
  assert.equal(await text(page, '[data-test=bid-count]'), '0 bids', 'the page missed it');
  await api(base, 'POST', `/auctions/${lot.id}/bids`, { amount: 1000 }, rita.access_token);

  await until(async () => (await text(page, '[data-test=bid-count]')) === '2 bids', 'both bids shown');
  assert.equal(await text(page, '[data-test=price]'), '$10.00');
  assert.equal(await text(page, '[data-test=standing]'), "You're winning");
  assert.deepEqual(subscribes, [`show:${show.id}`, `show:${show.id}`], 'subscribed again after the gap');
  await until(async () => (await page.locator('[data-test=feed] li').count()) === 2, 'both bids in the feed');
  assert.deepEqual(page.errors, []);
  await context.close();
});
