// Video: with LiveKit configured (a stand-in of its room API, and a stand-in
// SDK module at the SDK's URL), the room asks for a video token and hands it
// and the LiveKit URL to the SDK; without LiveKit, the room says 'no video'.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';

import { startServer, freePort } from '../lib/server.js';
import { launch, newPage, PHONE, DESKTOP } from '../lib/browser.js';
import { api, register, signInContext, until, text } from '../lib/helpers.js';

const SDK = `
const state = (globalThis.__livekitStandIn ??= { calls: [] });
const record = (method, args = []) => state.calls.push({ method, args });
export const RoomEvent = { TrackSubscribed: 'trackSubscribed', TrackUnsubscribed: 'trackUnsubscribed', Disconnected: 'disconnected' };
export const Track = { Source: { Camera: 'camera', Microphone: 'microphone' } };
export class Room {
  constructor(options) {
    record('Room', [options]);
    this.canPlaybackAudio = true;
    this.localParticipant = {
      enableCameraAndMicrophone: async () => record('enableCameraAndMicrophone'),
      getTrackPublication: () => undefined,
    };
  }
  on(event) { record('on', [event]); return this; }
  async connect(url, token) { record('connect', [url, token]); }
  disconnect() { record('disconnect'); }
  async startAudio() { record('startAudio'); }
}
`;

/** LiveKit's room service (Twirp) and the SDK module, on one local port. */
async function standIn() {
  const port = await freePort();
  const requests = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    if (req.url === '/sdk.mjs') {
      res.writeHead(200, { 'content-type': 'text/javascript', 'access-control-allow-origin': '*' });
      res.end(SDK);
    } else if (req.method === 'POST' && req.url.startsWith('/twirp/livekit.RoomService/CreateRoom')) {
      // An empty protobuf body is an empty Room.
      res.writeHead(200, { 'content-type': 'application/protobuf' });
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((r) => server.close(r)) };
}

const cleanup = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

function claims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

test('with LiveKit, the room hands a video token and the LiveKit URL to the SDK', async () => {
  const livekit = await standIn();
  cleanup.push(livekit.close);
  const server = await startServer({
    LIVEKIT_URL: livekit.url,
    LIVEKIT_API_KEY: 'APIstandin',
    LIVEKIT_API_SECRET: 'stand-in-secret-0123456789abcdef0123',
    BLYTZ_LIVEKIT_SDK_URL: `${livekit.url}/sdk.mjs`,
  });
  cleanup.push(server.stop);
  const browser = await launch();
  cleanup.push(() => browser.close());
  const base = server.url;

  const seller = await register(base, 'Vera', 'seller');
  const show = await api(base, 'POST', '/shows', { title: 'Live on camera', scheduled_at: new Date().toISOString() }, seller.access_token);
  await api(base, 'POST', `/shows/${show.id}/go-live`, {}, seller.access_token);
  assert.ok(livekit.requests.some((r) => r.startsWith('POST /twirp/livekit.RoomService/CreateRoom')), 'the room was created');

  const buyer = await register(base, 'Walt');
  const { context, page } = await newPage(browser, PHONE);
  await signInContext(context, buyer);
  await page.goto(`${base}/shows/${show.id}`);
  const connect = await until(async () => page.evaluate(
    () => globalThis.__livekitStandIn?.calls.find((c) => c.method === 'connect'),
  ), 'the SDK connecting');
  const [url, token] = connect.args;
  assert.equal(url, livekit.url);
  const grant = claims(token);
  assert.equal(grant.sub, buyer.user.id);
  assert.equal(grant.video.roomJoin, true);
  assert.equal(grant.video.canPublish, false, 'a viewer only watches');
  assert.ok(livekit.requests.includes('GET /sdk.mjs'));
  assert.notEqual(await page.locator('[data-test=video]').getAttribute('data-state'), 'no-video');
  assert.deepEqual(page.errors, []);

  // The seller's console publishes.
  const console = await newPage(browser, DESKTOP);
  await signInContext(console.context, seller);
  await console.page.goto(`${base}/sell/shows/${show.id}`);
  const published = await until(async () => console.page.evaluate(() => {
    const calls = globalThis.__livekitStandIn?.calls ?? [];
    const connected = calls.find((c) => c.method === 'connect');
    return connected && calls.some((c) => c.method === 'enableCameraAndMicrophone') ? connected : null;
  }), 'the seller publishing');
  assert.equal(claims(published.args[1]).video.canPublish, true);
});

test('without LiveKit, the room shows a clear no-video state and still works', async () => {
  const server = await startServer();
  cleanup.push(server.stop);
  const browser = await launch();
  cleanup.push(() => browser.close());
  const base = server.url;
  const seller = await register(base, 'Vera', 'seller');
  const show = await api(base, 'POST', '/shows', { title: 'No camera', scheduled_at: new Date().toISOString() }, seller.access_token);
  await api(base, 'POST', `/shows/${show.id}/go-live`, {}, seller.access_token);
  const buyer = await register(base, 'Walt');
  const { context, page } = await newPage(browser, PHONE);
  await signInContext(context, buyer);
  await page.goto(`${base}/shows/${show.id}`);
  await until(async () => (await page.locator('[data-test=video]').getAttribute('data-state')) === 'no-video', 'the no-video state');
  assert.match(await text(page, '[data-test=video]'), /No video/);
  assert.equal(await page.evaluate(() => globalThis.__livekitStandIn), undefined, 'no SDK loaded');
  const policy = (await page.request.get(`${base}/`)).headers()['content-security-policy'];
  assert.match(policy, /script-src 'self';/);
  assert.deepEqual(page.errors, []);
});
