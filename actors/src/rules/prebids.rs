//! Pre-bids: hidden maxima placed on a scheduled auction, entered as bids
//! when it starts. Pure.
//!
//! - A pre-bid is only a maximum, judged as a bid's would be: from a buyer
//!   (never the seller), 1 to 10^15 minor units and at least the start
//!   price, with the same `request_id` idempotency. A bidder holds at most
//!   one per auction; they may raise it (never lower it: withdraw it and
//!   place it again) or withdraw it until the start.
//! - Order: pre-bids enter in the order they were placed. A raise is a new
//!   commitment: the raised pre-bid moves to the end of the order, as a live
//!   bidder's raise is a new bid. So equal maxima go to whoever committed to
//!   that maximum first, and a raise never takes a tie from an earlier one.
//! - Entry: the start emits `started`, then, pre-bid by pre-bid in order,
//!   the events the ordinary bidding rules give for a bid at the minimum next
//!   bid with that maximum, placed at the start. A pre-bid whose maximum is
//!   below the minimum next bid by its turn is outbid already: it enters as
//!   nothing, exactly as that bid would be refused live.

use chrono::{DateTime, Utc};

use super::emit::Emitter;
use super::{
    AuctionState, AuctionStatus, BidIds, BidRequest, EventKind, PreBid, PreBidSet, Rejection,
    apply, bidding, valid_request_id,
};
use crate::domain::{MAX_AMOUNT, UserId};

/// Refuses pre-bids and withdrawals outside a scheduled auction.
fn require_scheduled(state: &AuctionState) -> Result<(), Rejection> {
    match state.status {
        AuctionStatus::Scheduled => Ok(()),
        AuctionStatus::Ended | AuctionStatus::Cancelled => Err(Rejection::AuctionClosed),
        AuctionStatus::Live | AuctionStatus::Paused => Err(Rejection::AuctionNotScheduled {
            status: state.status,
        }),
    }
}

/// Places `bidder_id`'s pre-bid, or raises the one they hold.
pub(super) fn place(
    state: &AuctionState,
    bidder_id: UserId,
    pre_bid: PreBid,
    ids: BidIds,
    out: &mut Emitter<'_>,
) -> Result<(), Rejection> {
    if let Some(request_id) = &pre_bid.request_id {
        if !valid_request_id(request_id) {
            return Err(Rejection::InvalidRequestId);
        }
        if state.recorded_pre_bid(bidder_id, request_id).is_some() {
            return Ok(());
        }
    }
    if bidder_id == state.config.seller_id {
        return Err(Rejection::OwnAuction);
    }
    require_scheduled(state)?;
    let max = pre_bid.max_amount;
    if !(1..=MAX_AMOUNT).contains(&max) {
        return Err(Rejection::InvalidAmount {
            reason: "an amount is between 1 and 10^15 minor units",
        });
    }
    let min_bid = state.min_next_bid();
    if max < min_bid {
        return Err(Rejection::BidTooLow { min_bid });
    }
    let set = PreBidSet {
        bid_id: ids.bid,
        proxy_bid_id: ids.proxy,
        bidder_id,
        max_amount: max,
        request_id: pre_bid.request_id,
    };
    match state.pre_bid_of(bidder_id) {
        None => out.emit(EventKind::PreBidPlaced(set)),
        Some(held) if max <= held.max_amount => {
            return Err(Rejection::PreBidNotRaised {
                max_amount: held.max_amount,
            });
        }
        Some(_) => out.emit(EventKind::PreBidRaised(set)),
    }
    Ok(())
}

/// Withdraws the pre-bid `bidder_id` holds.
pub(super) fn withdraw(
    state: &AuctionState,
    bidder_id: UserId,
    out: &mut Emitter<'_>,
) -> Result<(), Rejection> {
    require_scheduled(state)?;
    if state.pre_bid_of(bidder_id).is_none() {
        return Err(Rejection::NoPreBid);
    }
    out.emit(EventKind::PreBidWithdrawn { bidder_id });
    Ok(())
}

/// Enters `state`'s pre-bids after the events already in `out` (the
/// `started` event): each through the ordinary bidding rules, judged against
/// the state all earlier events give.
pub(super) fn enter(state: &AuctionState, now: DateTime<Utc>, out: &mut Emitter<'_>) {
    if state.pre_bids.is_empty() {
        return;
    }
    let mut judged = state.clone();
    for event in out.events() {
        apply(&mut judged, event);
    }
    for pre_bid in &state.pre_bids {
        let bid = BidRequest {
            bidder_id: pre_bid.bidder_id,
            amount: judged.min_next_bid(),
            max_amount: Some(pre_bid.max_amount),
            request_id: None,
            bid_id: pre_bid.bid_id,
            proxy_bid_id: pre_bid.proxy_bid_id,
        };
        let mut step = Emitter::new(&judged, now);
        // Refused (outbid before its turn): it enters as nothing.
        if bidding::place_bid(&judged, bid, now, &mut step).is_err() {
            continue;
        }
        for event in step.into_events() {
            apply(&mut judged, &event);
            out.emit(event.kind);
        }
    }
}
