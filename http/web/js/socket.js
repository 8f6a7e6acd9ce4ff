// The one WebSocket of the page (docs/websocket.md), built for phones:
//
// - It reconnects by itself, with exponential backoff and jitter, at once
//   when the browser says it is back online or the tab comes back, and it
//   resubscribes every room it was in: each `subscribed` reply carries a
//   fresh snapshot the views rebuild from.
// - It tracks each auction's `seq`: a frame already seen is dropped, a gap
//   resubscribes the room (a fresh snapshot), as the protocol asks.
// - A bid keeps its `request_id` until it is answered: if the connection
//   drops first, the same bid (same `request_id`) is sent again on the next
//   connection, and the server answers the first outcome, never a second
//   bid.
// - A ping every 10 s; a connection that has said nothing for 25 s is dead
//   (a phone that changed networks keeps a socket that never closes).
// - Frames of no room (a signed-in user's `notification`) go to whoever
//   listens with `on(type, fn)`.

import { accessToken, onSessionChange } from './api.js';
import { observe } from './clock.js';

const PING_EVERY_MS = 10_000;
const DEAD_AFTER_MS = 25_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;
const BID_GIVE_UP_MS = 60_000;
const REQUEST_TIMEOUT_MS = 15_000;

/** An error frame as an Error: `code`, `details`. */
export class SocketError extends Error {
  constructor(code, message, details = {}) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

/** A fresh id for a bid: unique, whatever the page's context. */
export function requestId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

class Socket {
  constructor() {
    this.ws = null;
    /** 'connecting' | 'open' | 'closed' */
    this.state = 'closed';
    this.everOpen = false;
    this.started = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastHeard = 0;
    this.nextId = 1;
    /** room -> {handlers: Set, auctions: Set<auctionId>} */
    this.rooms = new Map();
    /** auctionId -> last seq applied */
    this.seqs = new Map();
    /** message id -> {resolve, reject, timer} */
    this.waiting = new Map();
    /** request_id -> {message, resolve, reject, since, id} */
    this.bids = new Map();
    this.statusListeners = new Set();
    /** frame type -> Set of handlers, for frames of no room (`notification`) */
    this.typeListeners = new Map();

    window.addEventListener('online', () => this.reconnectNow());
    window.addEventListener('offline', () => this.drop('the browser went offline'));
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && this.state === 'closed') this.reconnectNow();
    });
    onSessionChange(() => {
      // Reconnect with (or without) the new token.
      if (this.started) this.drop('signed in or out', true);
    });
  }

  /** Connect (once; later calls do nothing). */
  start() {
    if (this.started) return;
    this.started = true;
    this.connect();
  }

  /** 'online' or 'offline' (the banner's state). */
  get online() {
    return this.state === 'open';
  }

  /** Call `fn(online)` when the connection comes or goes. */
  onStatus(fn) {
    this.statusListeners.add(fn);
    return () => this.statusListeners.delete(fn);
  }

  /** Call `fn(frame)` for each frame of `type` that belongs to no room (e.g. `notification`). */
  on(type, fn) {
    if (!this.typeListeners.has(type)) this.typeListeners.set(type, new Set());
    this.typeListeners.get(type).add(fn);
    return () => this.typeListeners.get(type)?.delete(fn);
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    for (const fn of this.statusListeners) fn(this.online);
  }

  async connect() {
    if (this.ws || this.state === 'connecting') return;
    clearTimeout(this.retryTimer);
    if (navigator.onLine === false) {
      // Wait for the 'online' event (or try again later, in case it never comes).
      this.scheduleRetry();
      return;
    }
    this.setState('connecting');
    let token = null;
    try {
      token = await accessToken();
    } catch { /* connect as a watcher */ }
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const query = token ? `?token=${encodeURIComponent(token)}` : '';
    let ws;
    try {
      ws = new WebSocket(`${scheme}://${location.host}/ws${query}`);
    } catch {
      this.setState('closed');
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.everOpen = true;
      this.lastHeard = Date.now();
      this.setState('open');
      this.startPings();
      for (const room of this.rooms.keys()) this.subscribe(room);
      for (const [, bid] of this.bids) this.sendBid(bid);
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws) return;
      this.lastHeard = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.dispatch(frame);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.closed();
      this.scheduleRetry();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  /** The connection is gone: fail what cannot be retried, keep bids. */
  closed() {
    clearInterval(this.pingTimer);
    this.setState('closed');
    for (const [id, wait] of this.waiting) {
      clearTimeout(wait.timer);
      wait.reject(new SocketError('offline', 'The connection dropped. Try again.'));
      this.waiting.delete(id);
    }
  }

  /** Close the current connection (if any) and come back per backoff or now. */
  drop(reason, immediately = false) {
    const ws = this.ws;
    if (ws) {
      this.ws = null;
      try {
        ws.close(4000, reason);
      } catch { /* already closing */ }
      this.closed();
    }
    if (immediately) this.reconnectNow();
    else this.scheduleRetry();
  }

  reconnectNow() {
    if (!this.started) return;
    this.attempt = 0;
    clearTimeout(this.retryTimer);
    if (!this.ws) this.connect();
  }

  scheduleRetry() {
    clearTimeout(this.retryTimer);
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    this.attempt += 1;
    const delay = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  startPings() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (!this.ws) return;
      if (Date.now() - this.lastHeard > DEAD_AFTER_MS) {
        this.drop('no answer to pings', true);
        return;
      }
      this.send({ type: 'ping' });
    }, PING_EVERY_MS);
  }

  send(message) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  /** Send a message with an id and wait for its direct reply. */
  request(message) {
    const id = `m${this.nextId++}`;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...message, id })) {
        reject(new SocketError('offline', 'You are offline. Try again when the connection is back.'));
        return;
      }
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new SocketError('timeout', 'The server did not answer. Try again.'));
      }, REQUEST_TIMEOUT_MS);
      this.waiting.set(id, { resolve, reject, timer });
    });
  }

  // Rooms ----------------------------------------------------------------

  /**
   * Be in `room` ("show:<id>" or "auction:<id>") while the returned function
   * is not called. `handlers`: onSnapshot(snapshot) after every (re)subscribe,
   * onFrame(frame) for each auction event in order, onChat(frame) for chat,
   * presence and chat.gap frames.
   */
  join(room, handlers) {
    let entry = this.rooms.get(room);
    if (!entry) {
      entry = { handlers: new Set(), auctions: new Set() };
      this.rooms.set(room, entry);
      this.subscribe(room);
    }
    entry.handlers.add(handlers);
    return () => {
      entry.handlers.delete(handlers);
      if (!entry.handlers.size && this.rooms.get(room) === entry) {
        this.rooms.delete(room);
        for (const auction of entry.auctions) this.seqs.delete(auction);
        this.send({ type: 'unsubscribe', room });
      }
    };
  }

  subscribe(room) {
    const asked = this.rooms.get(room);
    if (!asked || asked.resyncing) return;
    // Until the snapshot comes, frames of this room are covered by it.
    asked.resyncing = true;
    this.request({ type: 'subscribe', room }).then((reply) => {
      const entry = this.rooms.get(room);
      if (!entry) return;
      entry.resyncing = false;
      const auctions = room.startsWith('auction:') ? [reply.snapshot] : reply.snapshot.auctions ?? [];
      for (const view of auctions) {
        entry.auctions.add(view.id);
        this.seqs.set(view.id, view.seq);
        if (view.server_time) observe(view.server_time);
      }
      for (const h of entry.handlers) h.onSnapshot?.(reply.snapshot);
    }).catch((error) => {
      const entry = this.rooms.get(room);
      if (entry) entry.resyncing = false;
      if (error.code === 'offline') return; // the next connection resubscribes
      if (error.code === 'timeout') {
        this.drop('no answer to a subscription', true);
        return;
      }
      for (const h of entry?.handlers ?? []) h.onError?.(error);
    });
  }

  /** The room that carries frames of `auctionId`. */
  roomOf(auctionId) {
    for (const [room, entry] of this.rooms) {
      if (entry.auctions.has(auctionId)) return room;
    }
    // A lot just added to a show: its show room.
    for (const room of this.rooms.keys()) {
      if (room.startsWith('show:')) return room;
    }
    return null;
  }

  dispatch(frame) {
    if (frame.type === 'chat.batch') {
      for (const inner of frame.frames ?? []) this.dispatch(inner);
      return;
    }
    if (frame.id && this.waiting.has(frame.id)) {
      const wait = this.waiting.get(frame.id);
      this.waiting.delete(frame.id);
      clearTimeout(wait.timer);
      if (frame.type === 'error') wait.reject(new SocketError(frame.code, frame.message, frame.details));
      else wait.resolve(frame);
      return;
    }
    if (frame.type === 'bid.accepted' || (frame.type === 'error' && frame.id?.startsWith('b'))) {
      this.bidAnswered(frame);
      return;
    }
    if (frame.type?.startsWith('auction.')) {
      this.auctionFrame(frame);
      return;
    }
    const listeners = this.typeListeners.get(frame.type);
    if (listeners && !frame.room) {
      for (const fn of listeners) fn(frame);
      return;
    }
    if (frame.room) {
      const entry = this.rooms.get(frame.room);
      for (const h of entry?.handlers ?? []) h.onChat?.(frame);
    }
  }

  auctionFrame(frame) {
    const room = this.roomOf(frame.auction_id);
    if (!room) return;
    const entry = this.rooms.get(room);
    if (entry.resyncing) return;
    const last = this.seqs.get(frame.auction_id);
    if (last !== undefined && frame.seq <= last) return; // already in the snapshot
    if (frame.server_time) observe(frame.server_time);
    if (last === undefined ? frame.type !== 'auction.snapshot' : frame.seq !== last + 1) {
      // A gap: what we hold is stale; a new snapshot rebuilds it.
      this.subscribe(room);
      return;
    }
    entry.auctions.add(frame.auction_id);
    this.seqs.set(frame.auction_id, frame.seq);
    for (const h of entry.handlers) h.onFrame?.(frame);
  }

  // Bids -----------------------------------------------------------------

  /**
   * Place a bid; resolves with `bid.accepted` once it is durable, rejects
   * with a SocketError (e.g. `bid_too_low` and `details.min_bid`). While
   * unanswered, it is sent again with the same `request_id` on every new
   * connection.
   */
  bid(auctionId, amount, maxAmount) {
    const message = { type: 'bid', auction_id: auctionId, amount, request_id: requestId() };
    if (maxAmount && maxAmount > amount) message.max_amount = maxAmount;
    return new Promise((resolve, reject) => {
      const bid = { message, resolve, reject, since: Date.now(), id: null };
      this.bids.set(message.request_id, bid);
      this.sendBid(bid);
      bid.giveUp = setTimeout(() => {
        if (!this.bids.has(message.request_id)) return;
        this.bids.delete(message.request_id);
        reject(new SocketError('timeout', 'Your bid could not be confirmed. Check the price and try again.'));
      }, BID_GIVE_UP_MS);
    });
  }

  /** Bids waiting for an answer (sent or not). */
  get pendingBids() {
    return this.bids.size;
  }

  sendBid(bid) {
    bid.id = `b${this.nextId++}`;
    this.send({ ...bid.message, id: bid.id });
  }

  bidAnswered(frame) {
    for (const [requestId, bid] of this.bids) {
      if (bid.id !== frame.id) continue;
      this.bids.delete(requestId);
      clearTimeout(bid.giveUp);
      if (frame.type === 'bid.accepted') {
        if (frame.auction?.server_time) observe(frame.auction.server_time);
        bid.resolve(frame);
      } else if (frame.code === 'unavailable' || frame.code === 'internal') {
        // The auction is being recovered: the same bid, a little later.
        this.bids.set(requestId, bid);
        setTimeout(() => this.sendBid(bid), 500);
      } else {
        bid.reject(new SocketError(frame.code, frame.message, frame.details));
      }
      return;
    }
  }

  // Chat -----------------------------------------------------------------

  /** Post to a room's chat; resolves with the accepted message. */
  chat(room, text) {
    return this.request({ type: 'chat', room, text }).then((reply) => reply.message);
  }

  /** A moderation action (as POST /shows/{id}/moderation takes it). */
  moderate(room, action) {
    return this.request({ type: 'moderate', room, ...action });
  }
}

/** The page's socket. */
export const socket = new Socket();
