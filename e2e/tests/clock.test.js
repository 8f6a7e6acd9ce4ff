// A phone whose clock is 30 s off still counts down the true time left:
// the page corrects by the server_time of what it receives.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../lib/server.js';
import { launch, newPage, PHONE } from '../lib/browser.js';
import { api, register, standaloneAuction, until, screenshots } from '../lib/helpers.js';

let server;
let browser;

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Make the page's clock `skewMs` wrong, as a phone set by hand. */
function skewClock(skewMs) {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  class SkewedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(realNow() + skewMs);
      else super(...args);
    }
    static now() {
      return realNow() + skewMs;
    }
  }
  globalThis.Date = SkewedDate;
}

test('the countdown of a page whose clock is 30 s wrong shows the true time left', async () => {
  server = await startServer();
  browser = await launch();
  const base = server.url;
  const seller = await register(base, 'Sam', 'seller');
  const auction = await standaloneAuction(base, seller, { title: 'Leica M6', start: 50_000, seconds: 90 });
  const started = await api(base, 'POST', `/auctions/${auction.id}/start`, {}, seller.access_token);
  const endsAt = Date.parse(started.ends_at);

  for (const skew of [30_000, -30_000]) {
    const { context, page } = await newPage(browser, PHONE);
    await context.addInitScript(skewClock, skew);
    // The room's snapshot carries the server_time the page corrects by.
    let snapshot = false;
    page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => {
      if (String(payload).includes('"type":"subscribed"')) snapshot = true;
    }));
    await page.goto(`${base}/auctions/${auction.id}`);
    assert.ok(Math.abs((await page.evaluate(() => Date.now())) - Date.now() - skew) < 1000, 'the page clock is off');
    await until(() => snapshot, 'the room snapshot');
    await until(async () => Number(await page.locator('[data-test=timer]').getAttribute('data-remaining-ms')) > 0, 'the countdown');
    await page.waitForTimeout(250); // a tick of the timer after the snapshot
    for (let i = 0; i < 3; i += 1) {
      const shown = Number(await page.locator('[data-test=timer]').getAttribute('data-remaining-ms'));
      const label = await page.locator('[data-test=timer]').textContent();
      const truth = endsAt - Date.now();
      assert.ok(Math.abs(shown - truth) < 1000, `shown ${shown} ms, true ${truth} ms (clock off by ${skew} ms)`);
      const [m, s] = label.split(':').map(Number);
      assert.ok(Math.abs(m * 60 + s - truth / 1000) < 1.5, `shown "${label}", true ${truth} ms`);
      await page.waitForTimeout(400);
    }
    if (skew > 0) await screenshots(page, 'auction');
    assert.deepEqual(page.errors, []);
    await context.close();
  }
});

test('a page opened during a pause shows the time left on the stopped clock', async () => {
  server ??= await startServer();
  browser ??= await launch();
  const base = server.url;
  const seller = await register(base, 'Pia', 'seller');
  const auction = await standaloneAuction(base, seller, { title: 'Rolleiflex', start: 20_000, seconds: 90 });
  await api(base, 'POST', `/auctions/${auction.id}/start`, {}, seller.access_token);
  const paused = await api(base, 'POST', `/auctions/${auction.id}/pause`, {}, seller.access_token);
  assert.equal(paused.status, 'paused');
  assert.ok(paused.remaining_ms > 0, `remaining_ms ${paused.remaining_ms}`);

  const { context, page } = await newPage(browser, PHONE);
  await page.goto(`${base}/auctions/${auction.id}`);
  const timer = page.locator('[data-test=timer]');
  await until(async () => Number(await timer.getAttribute('data-remaining-ms')) > 0, 'the stopped clock');
  for (let i = 0; i < 2; i += 1) {
    assert.equal(Number(await timer.getAttribute('data-remaining-ms')), paused.remaining_ms, 'the clock stays stopped');
    const [m, s] = (await timer.textContent()).split(':').map(Number);
    assert.ok(Math.abs(m * 60 + s - paused.remaining_ms / 1000) < 1.5, `shown "${await timer.textContent()}"`);
    await page.waitForTimeout(600);
  }
  assert.deepEqual(page.errors, []);
  await context.close();
});
