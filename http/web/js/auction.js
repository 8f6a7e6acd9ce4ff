// An auction's state on the client: the REST/snapshot view, moved forward by
// each room frame in `seq` order (docs/websocket.md).

/** Apply one `auction.*` frame to `view` (a copy is returned). */
export function applyFrame(view, frame) {
  const next = { ...view, seq: frame.seq, server_time: frame.server_time };
  switch (frame.type) {
    case 'auction.snapshot':
      return { ...frame.auction };
    case 'auction.started':
      Object.assign(next, { status: frame.status, ends_at: frame.ends_at, min_next_bid: frame.min_next_bid });
      break;
    case 'auction.bid':
      Object.assign(next, {
        current_price: frame.current_price,
        leader_id: frame.leader_id,
        bid_count: frame.bid_count,
        min_next_bid: frame.min_next_bid,
        ends_at: frame.ends_at,
        reserve_met: frame.reserve_met,
        buy_now_price: frame.buy_now_price,
      });
      break;
    case 'auction.extended':
      Object.assign(next, { ends_at: frame.ends_at, extensions: frame.extensions });
      break;
    case 'auction.paused':
      Object.assign(next, { status: frame.status, ends_at: null, remaining_ms: frame.remaining_ms });
      break;
    case 'auction.resumed':
      Object.assign(next, { status: frame.status, ends_at: frame.ends_at, remaining_ms: null });
      break;
    case 'auction.ended':
      Object.assign(next, {
        status: 'ended',
        winner_id: frame.winner_id,
        final_price: frame.final_price,
        reserve_met: frame.reserve_met,
        end_reason: frame.reason,
        leader_id: frame.winner_id ?? next.leader_id,
        current_price: frame.final_price ?? next.current_price,
      });
      break;
    case 'auction.cancelled':
      Object.assign(next, { status: frame.status ?? 'cancelled' });
      break;
    default:
      break;
  }
  return next;
}

/** A bid frame as a feed entry. */
export function feedEntry(frame) {
  return {
    key: `${frame.auction_id}:${frame.seq}`,
    amount: frame.amount,
    bidder_id: frame.bidder_id,
    automatic: frame.automatic,
    at: frame.server_time,
  };
}

/** A bid from GET /auctions/{id}/bids as a feed entry. */
export function historyEntry(bid, auctionId) {
  return {
    key: `${auctionId}:${bid.seq}`,
    amount: bid.amount,
    bidder_id: bid.bidder_id,
    automatic: bid.automatic,
    at: bid.created_at,
  };
}

/** Whether bids are taken now. */
export const isLive = (view) => view?.status === 'live';
/** Whether it is over. */
export const isOver = (view) => view?.status === 'ended' || view?.status === 'cancelled';

/** The winner of an ended auction (from the frame or, after a reload, the view). */
export function winnerOf(view) {
  if (view?.status !== 'ended') return null;
  if ('winner_id' in view) return view.winner_id;
  return view.reserve_met ? view.leader_id : null;
}
