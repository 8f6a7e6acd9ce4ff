// A show's live state, shared by the room (buyers) and the console (the
// seller): the show, its lots with their products, every lot's auction as
// the room's frames move it, the bid feed of the current lot, chat frames
// and presence. Rebuilt from each snapshot the socket hands over (first
// subscribe, reconnects, `seq` gaps).

import { get, currentUser } from './api.js';
import { observe } from './clock.js';
import { socket } from './socket.js';
import { applyFrame, feedEntry, historyEntry } from './auction.js';

export class ShowRoom {
  constructor(showId) {
    this.showId = showId;
    this.room = `show:${showId}`;
    this.show = null;
    /** auctionId -> auction view */
    this.views = new Map();
    /** auctionId -> product */
    this.products = new Map();
    /** queue order of auction ids */
    this.order = [];
    /** auctionId -> feed entries, newest first */
    this.feeds = new Map();
    /** auction ids the signed-in user bid on */
    this.mine = new Set();
    this.viewers = null;
    this.lastEnded = null;
    this.listeners = new Set();
    this.chatListeners = new Set();
    this.loadingLots = null;
    this.historyLoaded = new Set();
    /** the running (or last) giveaway or flash sale, as REST and frames tell it */
    this.special = null;
  }

  /** Call `fn(reason)` on every change. */
  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Call `fn(frame)` for chat frames of the room. */
  onChat(fn) {
    this.chatListeners.add(fn);
    return () => this.chatListeners.delete(fn);
  }

  emit(reason) {
    for (const fn of this.listeners) fn(reason);
  }

  /** Load the show and its lots, then join the room. */
  async start() {
    const [show] = await Promise.all([get(`/shows/${this.showId}`, { auth: false }), this.loadLots()]);
    this.show = show;
    this.viewers = show.viewers;
    this.emit('show');
    this.loadSpecial();
    // Going live and ending have no room frame: look again now and then.
    this.showTimer = setInterval(() => this.refreshShow(), 30_000);
    this.leave = socket.join(this.room, {
      onSnapshot: (snapshot) => this.snapshot(snapshot),
      onFrame: (frame) => this.frame(frame),
      onChat: (frame) => this.chat(frame),
      onError: () => {},
    });
  }

  stop() {
    clearInterval(this.showTimer);
    this.leave?.();
    this.listeners.clear();
    this.chatListeners.clear();
  }

  async refreshShow() {
    try {
      this.show = await get(`/shows/${this.showId}`, { auth: false });
      this.emit('show');
    } catch { /* offline */ }
  }

  loadLots() {
    if (!this.loadingLots) {
      this.loadingLots = get(`/shows/${this.showId}/lots`, { auth: false }).then((lots) => {
        this.order = lots.map((lot) => lot.id);
        for (const lot of lots) {
          if (lot.product) this.products.set(lot.id, lot.product);
          const known = this.views.get(lot.id);
          if (!known || known.seq <= lot.seq) this.views.set(lot.id, lot);
          if (lot.server_time) observe(lot.server_time);
        }
        this.emit('lots');
      }).finally(() => {
        this.loadingLots = null;
      });
    }
    return this.loadingLots;
  }

  snapshot(snapshot) {
    let unknown = false;
    for (const view of snapshot.auctions ?? []) {
      this.views.set(view.id, view);
      if (!this.order.includes(view.id) || !this.products.has(view.id)) unknown = true;
    }
    if (unknown) this.loadLots().catch(() => {});
    // After a reconnect the feed and the show may have moved on.
    this.historyLoaded.clear();
    this.loadHistory(this.current()?.id);
    this.refreshShow();
    this.emit('snapshot');
  }

  frame(frame) {
    const id = frame.auction_id;
    const before = this.views.get(id);
    if (!before && frame.type !== 'auction.snapshot') return;
    const after = applyFrame(before ?? {}, frame);
    this.views.set(id, after);
    if (!this.order.includes(id) || !this.products.has(id)) this.loadLots().catch(() => {});
    if (frame.type === 'auction.bid') {
      const entries = this.feeds.get(id) ?? [];
      const entry = feedEntry(frame);
      if (!entries.some((e) => e.key === entry.key)) this.feeds.set(id, [entry, ...entries].slice(0, 50));
      if (frame.bidder_id === currentUser()?.id) this.mine.add(id);
    }
    if (frame.type === 'auction.ended' || frame.type === 'auction.cancelled') this.lastEnded = id;
    if (frame.type === 'auction.started') {
      this.lastEnded = null;
      this.loadHistory(id);
      // A lot starting means the show is on air.
      if (this.show?.status !== 'live') this.refreshShow();
    }
    this.emit(frame.type);
  }

  /** The queue's running giveaway or flash sale, if any, from REST. */
  async loadSpecial() {
    const running = (this.show?.queue ?? []).find((lot) =>
      (lot.kind === 'giveaway' && lot.status === 'open') || (lot.kind === 'flash_sale' && lot.status === 'live'));
    if (!running) return;
    const path = running.kind === 'giveaway' ? `/giveaways/${running.id}` : `/flash-sales/${running.id}`;
    try {
      const lot = await get(path, { auth: false });
      observe(lot.server_time);
      this.special = lot;
      this.emit('special');
    } catch { /* offline: the next frame tells */ }
  }

  /** Frames of giveaways and flash sales (they carry no `seq`). */
  lotFrame(frame) {
    if (frame.server_time) observe(frame.server_time);
    const mine = this.special && this.special.id === frame.lot_id;
    if (frame.type === 'lot.started' && frame.kind !== 'auction') {
      this.special = frame.kind === 'giveaway'
        ? { kind: 'giveaway', id: frame.lot_id, status: 'open', title: frame.title, seed_hash: frame.seed_hash,
          closes_at: frame.closes_at, entrant_count: frame.entrant_count }
        : { kind: 'flash_sale', id: frame.lot_id, status: 'live', title: frame.title, currency: frame.currency,
          price: frame.price, list_price: frame.list_price, quantity: frame.quantity, remaining: frame.remaining,
          per_buyer_cap: frame.per_buyer_cap, ends_at: frame.ends_at };
    } else if (frame.type === 'lot.started') {
      this.special = null;
    } else if (mine && frame.type === 'giveaway.drawn') {
      Object.assign(this.special, { status: 'drawn', seed: frame.seed, winner_id: frame.winner_id,
        entrants: frame.entrants, entrant_count: frame.entrant_count });
    } else if (mine && frame.type === 'flash_sale.claimed') {
      this.special.remaining = frame.remaining;
    } else if (mine && frame.type === 'lot.ended' && frame.kind === 'flash_sale') {
      Object.assign(this.special, { status: 'ended', remaining: frame.remaining });
    }
    // The queue's statuses moved: look again.
    if (frame.type === 'lot.started' || frame.type === 'lot.ended') this.refreshShow();
    this.emit('special');
  }

  /** The queue's giveaways and flash sales still scheduled (from the show). */
  queuedSpecials() {
    return (this.show?.queue ?? []).filter((lot) => lot.kind !== 'auction' && lot.status === 'scheduled');
  }

  /** Whether a giveaway or flash sale is running. */
  specialRunning() {
    return this.special?.status === 'open' || this.special?.status === 'live';
  }

  chat(frame) {
    if (/^(lot|giveaway|flash_sale)\./.test(frame.type ?? '')) {
      this.lotFrame(frame);
      return;
    }
    if (frame.type === 'presence') {
      this.viewers = frame.connections;
      this.emit('presence');
      return;
    }
    for (const fn of this.chatListeners) fn(frame);
  }

  /** Bid history of a lot (once per snapshot), for the feed and "my bids". */
  async loadHistory(auctionId) {
    if (!auctionId || this.historyLoaded.has(auctionId)) return;
    this.historyLoaded.add(auctionId);
    try {
      const page = await get(`/auctions/${auctionId}/bids?limit=30`, { auth: false });
      const entries = page.items.map((bid) => historyEntry(bid, auctionId));
      const live = this.feeds.get(auctionId) ?? [];
      const merged = [...live, ...entries.filter((e) => !live.some((l) => l.key === e.key))];
      merged.sort((a, b) => Number(b.key.split(':')[1]) - Number(a.key.split(':')[1]));
      this.feeds.set(auctionId, merged.slice(0, 50));
      const me = currentUser()?.id;
      if (me && page.items.some((bid) => bid.bidder_id === me)) this.mine.add(auctionId);
      this.emit('feed');
    } catch {
      this.historyLoaded.delete(auctionId);
    }
  }

  /** Lots in queue order (auctions of the show the queue does not list go last). */
  lots() {
    const extra = [...this.views.keys()].filter((id) => !this.order.includes(id));
    return [...this.order, ...extra].map((id) => this.views.get(id)).filter(Boolean);
  }

  /**
   * The lot on stage: the running (or paused) one; else the one that just
   * ended, until the next starts; else the next in the queue.
   */
  current() {
    const lots = this.lots();
    const running = lots.find((lot) => lot.status === 'live' || lot.status === 'paused');
    if (running) return running;
    if (this.lastEnded && this.views.has(this.lastEnded)) return this.views.get(this.lastEnded);
    const over = lots.filter((lot) => lot.status === 'ended' || lot.status === 'cancelled');
    const next = lots.find((lot) => lot.status === 'scheduled');
    if (over.length && (!next || this.show?.status !== 'live')) {
      return over.sort((a, b) => Date.parse(b.ends_at ?? 0) - Date.parse(a.ends_at ?? 0))[0];
    }
    if (over.length && next) {
      // Between lots: the last hammer stays up until the next starts.
      return over.sort((a, b) => Date.parse(b.ends_at ?? 0) - Date.parse(a.ends_at ?? 0))[0];
    }
    return next ?? null;
  }

  /** The next lot that has not started. */
  next() {
    return this.lots().find((lot) => lot.status === 'scheduled') ?? null;
  }

  /** The signed-in user placed an accepted bid. */
  accepted(reply) {
    this.mine.add(reply.auction.id);
    const view = this.views.get(reply.auction.id);
    if (view && reply.auction.seq > view.seq) this.views.set(reply.auction.id, { ...view, ...reply.auction });
    this.emit('accepted');
  }
}
