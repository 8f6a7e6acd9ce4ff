//! `apply`: folds one event into the state. Pure and total; used live and
//! for recovery, so replaying the journal rebuilds exactly the live state.

use chrono::{DateTime, TimeDelta, Utc};

use super::{
    AuctionState, AuctionStatus, EndReason, Ending, Event, EventKind, Leader, PreBidEntry,
    PreBidSet, RecordedBid,
};

/// Applies `event` to `state`. Events come from [`super::decide`] (or the
/// journal) and are trusted: `apply` never refuses.
pub fn apply(state: &mut AuctionState, event: &Event) {
    state.seq = event.seq;
    match &event.kind {
        EventKind::Created { config } => {
            *state = AuctionState::created(config.clone(), event.seq, event.at);
        }
        EventKind::Started { ends_at } => {
            state.status = AuctionStatus::Live;
            state.ends_at = Some(*ends_at);
            // The bid events that follow in the same batch enter them.
            state.pre_bids.clear();
        }
        EventKind::BidPlaced(bid) => {
            state.bid_count += 1;
            state.current_price = Some(bid.current_price);
            state.reserve_met = bid.reserve_met;
            if bid.leading {
                state.leader = Some(Leader {
                    bidder_id: bid.bidder_id,
                    max_amount: bid.max_amount,
                });
            }
            if let Some(request_id) = &bid.request_id {
                remember(
                    state,
                    bid.bidder_id,
                    request_id,
                    RecordedBid {
                        bid_id: bid.bid_id,
                        amount: bid.amount,
                        leading: bid.leading,
                        placed_at: event.at,
                        seq: event.seq,
                        pre_bid: false,
                    },
                );
            }
        }
        EventKind::MaxRaised(raise) => {
            state.current_price = Some(raise.current_price);
            state.reserve_met = raise.reserve_met;
            state.leader = Some(Leader {
                bidder_id: raise.bidder_id,
                max_amount: raise.max_amount,
            });
            if let Some(request_id) = &raise.request_id {
                remember(
                    state,
                    raise.bidder_id,
                    request_id,
                    RecordedBid {
                        bid_id: raise.bid_id,
                        amount: raise.current_price,
                        leading: true,
                        placed_at: event.at,
                        seq: event.seq,
                        pre_bid: false,
                    },
                );
            }
        }
        EventKind::Extended {
            ends_at,
            extensions,
            ..
        } => {
            state.ends_at = Some(*ends_at);
            state.extensions = *extensions;
        }
        EventKind::Paused { remaining_ms } => {
            state.status = AuctionStatus::Paused;
            state.ends_at = None;
            state.remaining_ms = Some(*remaining_ms);
        }
        EventKind::Resumed { ends_at } => {
            state.status = AuctionStatus::Live;
            state.ends_at = Some(*ends_at);
            state.remaining_ms = None;
        }
        EventKind::Ended {
            winner_id,
            final_price,
            reserve_met,
            reason,
        } => {
            state.status = AuctionStatus::Ended;
            state.ends_at = Some(event.at);
            state.remaining_ms = None;
            state.reserve_met = *reserve_met;
            if *reason == EndReason::BuyNow {
                state.current_price = *final_price;
                state.leader = winner_id
                    .zip(*final_price)
                    .map(|(bidder_id, max_amount)| Leader {
                        bidder_id,
                        max_amount,
                    });
            }
            state.outcome = Some(Ending {
                winner_id: *winner_id,
                final_price: *final_price,
                reason: *reason,
            });
        }
        EventKind::Cancelled => {
            state.status = AuctionStatus::Cancelled;
            state.ends_at = Some(event.at);
            state.remaining_ms = None;
            state.pre_bids.clear();
        }
        EventKind::PreBidPlaced(set) | EventKind::PreBidRaised(set) => {
            set_pre_bid(state, set, event);
        }
        EventKind::PreBidWithdrawn { bidder_id } => {
            state.pre_bids.retain(|p| p.bidder_id != *bidder_id);
        }
    }
    if event.seq.is_multiple_of(FORGET_EXPIRED_EVERY) {
        forget_expired(state, event.at);
    }
}

/// A placed or raised pre-bid goes to the end of the order, replacing the
/// bidder's earlier one.
fn set_pre_bid(state: &mut AuctionState, set: &PreBidSet, event: &Event) {
    state.pre_bids.retain(|p| p.bidder_id != set.bidder_id);
    state.pre_bids.push(PreBidEntry {
        bid_id: set.bid_id,
        proxy_bid_id: set.proxy_bid_id,
        bidder_id: set.bidder_id,
        max_amount: set.max_amount,
        placed_at: event.at,
    });
    if let Some(request_id) = &set.request_id {
        remember(
            state,
            set.bidder_id,
            request_id,
            RecordedBid {
                bid_id: set.bid_id,
                amount: set.max_amount,
                leading: false,
                placed_at: event.at,
                seq: event.seq,
                pre_bid: true,
            },
        );
    }
}

/// How long a bid's request id answers a retry with its first outcome.
pub const REQUEST_ID_TTL: TimeDelta = TimeDelta::minutes(10);
/// Request ids kept per bidder at most (the newest).
pub const MAX_REQUEST_IDS_PER_BIDDER: usize = 32;

/// Every bidder's expired request ids are forgotten at each event whose seq
/// is a multiple of this ([`forget_expired`]).
const FORGET_EXPIRED_EVERY: u64 = 64;

/// Forgets every bidder's request ids older than [`REQUEST_ID_TTL`] before
/// `now` (an event's time), and the bidders left with none. A bidder's own
/// next bid forgets theirs ([`remember`]); this forgets those of a bidder
/// who bids no more, who would otherwise be remembered (and written into
/// every snapshot) until the auction ends.
fn forget_expired(state: &mut AuctionState, now: DateTime<Utc>) {
    let oldest_kept = now - REQUEST_ID_TTL;
    state.requests.retain(|_, ids| {
        ids.retain(|_, recorded| recorded.placed_at >= oldest_kept);
        !ids.is_empty()
    });
}

/// Keeps `bid` under its request id; forgets the bidder's ids older than
/// [`REQUEST_ID_TTL`] and all but the newest [`MAX_REQUEST_IDS_PER_BIDDER`].
/// Judged by the event's time, so a replay forgets exactly the same.
fn remember(
    state: &mut AuctionState,
    bidder_id: crate::domain::UserId,
    request_id: &str,
    bid: RecordedBid,
) {
    let oldest_kept = bid.placed_at - REQUEST_ID_TTL;
    let ids = state.requests.entry(bidder_id).or_default();
    ids.insert(request_id.to_owned(), bid);
    ids.retain(|_, recorded| recorded.placed_at >= oldest_kept);
    while ids.len() > MAX_REQUEST_IDS_PER_BIDDER {
        let oldest = ids
            .iter()
            .min_by_key(|(_, recorded)| recorded.seq)
            .map(|(id, _)| id.clone());
        match oldest {
            Some(id) => ids.remove(&id),
            None => break,
        };
    }
}
