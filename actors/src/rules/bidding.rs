//! Bids, proxy answers, the reserve, buy-now and anti-snipe. Pure.

use chrono::{DateTime, TimeDelta, Utc};

use super::emit::Emitter;
use super::{
    AuctionState, AuctionStatus, BidPlaced, BidRequest, EndReason, EventKind, ExtendReason,
    MaxRaised, Rejection, TimerMode,
};
use crate::domain::{MAX_AMOUNT, UserId};

/// What a bid is judged against before it meets the leader: who sells,
/// whether the auction is live and until when, and the least bid it takes.
/// A live auction's actor shows it to callers on other threads
/// ([`crate::auction::FloorView`]), which refuse a bid below it without a
/// turn of the auction's thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floor {
    pub seller_id: UserId,
    pub status: AuctionStatus,
    pub ends_at: Option<DateTime<Utc>>,
    /// [`AuctionState::min_next_bid`].
    pub min_bid: i64,
}

impl Floor {
    /// The floor of `state`.
    #[must_use]
    pub fn of(state: &AuctionState) -> Self {
        Self {
            seller_id: state.config.seller_id,
            status: state.status,
            ends_at: state.ends_at,
            min_bid: state.min_next_bid(),
        }
    }

    /// Judges a bid of `amount` with hidden maximum `max` by `bidder_id` at
    /// `now`: every check a bid passes before it meets the leader, in the
    /// order [`place_bid`] makes them (after a retried request id, which
    /// only the whole state knows).
    ///
    /// # Errors
    /// The first check that fails: `own_auction`, `auction_closed`,
    /// `auction_not_live`, `invalid_amount`, `bid_too_low`.
    pub fn judge(
        &self,
        bidder_id: UserId,
        amount: i64,
        max: i64,
        now: DateTime<Utc>,
    ) -> Result<(), Rejection> {
        self.require_open_to(bidder_id, now)?;
        if !(1..=MAX_AMOUNT).contains(&amount) || max > MAX_AMOUNT {
            return Err(Rejection::InvalidAmount {
                reason: "an amount is between 1 and 10^15 minor units",
            });
        }
        if max < amount {
            return Err(Rejection::InvalidAmount {
                reason: "max_amount must be at least amount",
            });
        }
        if amount < self.min_bid {
            return Err(Rejection::BidTooLow {
                min_bid: self.min_bid,
            });
        }
        Ok(())
    }

    /// Refuses bids and buy-now from the seller, and outside a live auction.
    fn require_open_to(&self, user_id: UserId, now: DateTime<Utc>) -> Result<(), Rejection> {
        if user_id == self.seller_id {
            return Err(Rejection::OwnAuction);
        }
        match self.status {
            AuctionStatus::Ended | AuctionStatus::Cancelled => Err(Rejection::AuctionClosed),
            AuctionStatus::Scheduled | AuctionStatus::Paused => Err(Rejection::AuctionNotLive {
                status: self.status,
            }),
            AuctionStatus::Live => match self.ends_at {
                Some(ends_at) if now < ends_at => Ok(()),
                _ => Err(Rejection::AuctionClosed),
            },
        }
    }
}

/// The reserve is met by a maximum of `max` (always, without a reserve).
fn reserve_reached(state: &AuctionState, max: i64) -> bool {
    state
        .config
        .reserve_price
        .is_none_or(|reserve| max >= reserve)
}

/// The longest bid `request_id`, in characters.
pub const MAX_REQUEST_ID_CHARS: usize = 64;

/// 1 to [`MAX_REQUEST_ID_CHARS`] printable ASCII characters (no space).
#[must_use]
pub fn valid_request_id(request_id: &str) -> bool {
    (1..=MAX_REQUEST_ID_CHARS).contains(&request_id.len())
        && request_id.bytes().all(|b| b.is_ascii_graphic())
}

/// The visible price after a leader with maximum `max` stands at `price`:
/// raised to the reserve when the maximum reaches it.
fn with_reserve(state: &AuctionState, price: i64, max: i64) -> i64 {
    match state.config.reserve_price {
        Some(reserve) if max >= reserve => price.max(reserve),
        _ => price,
    }
}

pub(super) fn place_bid(
    state: &AuctionState,
    bid: BidRequest,
    now: DateTime<Utc>,
    out: &mut Emitter<'_>,
) -> Result<(), Rejection> {
    if let Some(request_id) = &bid.request_id {
        if !valid_request_id(request_id) {
            return Err(Rejection::InvalidRequestId);
        }
        if state.recorded_bid(bid.bidder_id, request_id).is_some() {
            return Ok(());
        }
    }
    let amount = bid.amount;
    let max = bid.max_amount.unwrap_or(amount);
    Floor::of(state).judge(bid.bidder_id, amount, max, now)?;

    let placed = |amount, leading, current_price, reserve_met| {
        EventKind::BidPlaced(BidPlaced {
            bid_id: bid.bid_id,
            bidder_id: bid.bidder_id,
            amount,
            max_amount: max,
            request_id: bid.request_id.clone(),
            automatic: false,
            leading,
            current_price,
            reserve_met,
        })
    };

    match state.leader {
        None => {
            let price = with_reserve(state, amount, max);
            out.emit(placed(price, true, price, reserve_reached(state, max)));
        }
        Some(leader) if leader.bidder_id == bid.bidder_id => {
            if max <= leader.max_amount {
                return Err(Rejection::AlreadyLeading {
                    max_amount: leader.max_amount,
                });
            }
            let price = state.current_price.unwrap_or(state.config.start_price);
            out.emit(EventKind::MaxRaised(MaxRaised {
                bid_id: bid.bid_id,
                bidder_id: bid.bidder_id,
                max_amount: max,
                request_id: bid.request_id.clone(),
                current_price: with_reserve(state, price, max),
                reserve_met: state.reserve_met || reserve_reached(state, max),
            }));
            // A hidden change: no anti-snipe extension.
            return Ok(());
        }
        Some(leader) if max > leader.max_amount => {
            let outbid = leader
                .max_amount
                .saturating_add(state.increment_at(leader.max_amount));
            let price = with_reserve(state, amount.max(max.min(outbid)), max);
            out.emit(placed(price, true, price, reserve_reached(state, max)));
        }
        Some(leader) => {
            // Recorded, not leading: the leader's proxy answers.
            out.emit(placed(amount, false, amount, state.reserve_met));
            let answer = if max == leader.max_amount {
                leader.max_amount
            } else {
                leader
                    .max_amount
                    .min(max.saturating_add(state.increment_at(max)))
            };
            let price = with_reserve(state, answer, leader.max_amount);
            out.emit(EventKind::BidPlaced(BidPlaced {
                bid_id: bid.proxy_bid_id,
                bidder_id: leader.bidder_id,
                amount: price,
                max_amount: leader.max_amount,
                request_id: None,
                automatic: true,
                leading: true,
                current_price: price,
                reserve_met: state.reserve_met,
            }));
        }
    }
    anti_snipe(state, now, out);
    Ok(())
}

/// Standard mode: a bid with less than the window left resets the remaining
/// time to `snipe_extend_to_ms`, within `max_extensions` and `hard_close_at`.
fn anti_snipe(state: &AuctionState, now: DateTime<Utc>, out: &mut Emitter<'_>) {
    let config = &state.config;
    if config.mode != TimerMode::Standard {
        return;
    }
    let Some(ends_at) = state.ends_at else {
        return;
    };
    if ends_at - now >= TimeDelta::milliseconds(config.snipe_window_ms) {
        return;
    }
    if config
        .max_extensions
        .is_some_and(|cap| state.extensions >= cap)
    {
        return;
    }
    let mut new_end = now + TimeDelta::milliseconds(config.snipe_extend_to_ms);
    if let Some(hard) = config.hard_close_at {
        new_end = new_end.min(hard);
    }
    if new_end > ends_at {
        out.emit(EventKind::Extended {
            ends_at: new_end,
            extensions: state.extensions + 1,
            reason: ExtendReason::AntiSnipe,
        });
    }
}

pub(super) fn buy_now(
    state: &AuctionState,
    buyer_id: UserId,
    now: DateTime<Utc>,
    out: &mut Emitter<'_>,
) -> Result<(), Rejection> {
    Floor::of(state).require_open_to(buyer_id, now)?;
    let price = match state.config.buy_now_price {
        Some(price) if state.buy_now_available() => price,
        _ => return Err(Rejection::BuyNowUnavailable),
    };
    out.emit(EventKind::Ended {
        winner_id: Some(buyer_id),
        final_price: Some(price),
        reserve_met: true,
        reason: EndReason::BuyNow,
    });
    Ok(())
}
