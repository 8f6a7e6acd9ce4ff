//! Room frames: each event serialized once to `Bytes`, shared by every
//! subscriber. Every frame carries `type`, `auction_id`, `seq`, `server_time`.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::AuctionView;
use crate::domain::{AuctionId, Currency, UserId, wire_time};
use crate::rules::{AuctionState, AuctionStatus, EndReason, Event, EventKind, ExtendReason};

/// The `type` of a room frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FrameType {
    /// `auction.snapshot`: the whole view (also used for events with no
    /// frame of their own, so `seq` stays gapless for clients).
    #[serde(rename = "auction.snapshot")]
    Snapshot,
    /// `auction.started`.
    #[serde(rename = "auction.started")]
    Started,
    /// `auction.bid`.
    #[serde(rename = "auction.bid")]
    Bid,
    /// `auction.extended`.
    #[serde(rename = "auction.extended")]
    Extended,
    /// `auction.paused`.
    #[serde(rename = "auction.paused")]
    Paused,
    /// `auction.resumed`.
    #[serde(rename = "auction.resumed")]
    Resumed,
    /// `auction.ended`.
    #[serde(rename = "auction.ended")]
    Ended,
    /// `auction.cancelled`.
    #[serde(rename = "auction.cancelled")]
    Cancelled,
}

#[derive(Serialize)]
struct Frame<B: Serialize> {
    #[serde(rename = "type")]
    kind: FrameType,
    auction_id: AuctionId,
    seq: u64,
    #[serde(with = "wire_time")]
    server_time: DateTime<Utc>,
    #[serde(flatten)]
    body: B,
}

#[derive(Serialize)]
struct SnapshotBody {
    auction: AuctionView,
}

#[derive(Serialize)]
struct StartedBody {
    status: AuctionStatus,
    #[serde(with = "wire_time::option")]
    ends_at: Option<DateTime<Utc>>,
    min_next_bid: i64,
}

#[derive(Serialize)]
struct BidBody {
    amount: i64,
    bidder_id: UserId,
    automatic: bool,
    bid_count: u32,
    min_next_bid: i64,
    #[serde(with = "wire_time::option")]
    ends_at: Option<DateTime<Utc>>,
    current_price: Option<i64>,
    leader_id: Option<UserId>,
    reserve_met: bool,
    currency: Currency,
    buy_now_price: Option<i64>,
}

#[derive(Serialize)]
struct ExtendedBody {
    #[serde(with = "wire_time::option")]
    ends_at: Option<DateTime<Utc>>,
    extensions: u32,
    reason: ExtendReason,
}

#[derive(Serialize)]
struct PausedBody {
    status: AuctionStatus,
    remaining_ms: Option<i64>,
}

#[derive(Serialize)]
struct ResumedBody {
    status: AuctionStatus,
    #[serde(with = "wire_time::option")]
    ends_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
struct EndedBody {
    winner_id: Option<UserId>,
    final_price: Option<i64>,
    reserve_met: bool,
    reason: EndReason,
    currency: Currency,
}

#[derive(Serialize)]
struct CancelledBody {
    status: AuctionStatus,
}

fn encode<B: Serialize>(kind: FrameType, state: &AuctionState, event: &Event, body: B) -> Bytes {
    let frame = Frame {
        kind,
        auction_id: state.config.id,
        seq: event.seq,
        server_time: event.at,
        body,
    };
    // Serializing plain structs of ids, numbers and strings cannot fail.
    serde_json::to_vec(&frame).map_or_else(|_| Bytes::new(), Bytes::from)
}

/// The frame for `event`, built from `state` right after applying it.
#[must_use]
pub fn event_frame(state: &AuctionState, event: &Event) -> Bytes {
    let leader_id = state.leader.map(|l| l.bidder_id);
    match &event.kind {
        // Hidden changes: the room sees the view (a pre-bid count at most),
        // never who or what maximum.
        EventKind::Created { .. }
        | EventKind::MaxRaised(_)
        | EventKind::PreBidPlaced(_)
        | EventKind::PreBidRaised(_)
        | EventKind::PreBidWithdrawn { .. } => snapshot_at(state, event),
        EventKind::Started { .. } => encode(
            FrameType::Started,
            state,
            event,
            StartedBody {
                status: state.status,
                ends_at: state.ends_at,
                min_next_bid: state.min_next_bid(),
            },
        ),
        EventKind::BidPlaced(bid) => encode(
            FrameType::Bid,
            state,
            event,
            BidBody {
                amount: bid.amount,
                bidder_id: bid.bidder_id,
                automatic: bid.automatic,
                bid_count: state.bid_count,
                min_next_bid: state.min_next_bid(),
                ends_at: state.ends_at,
                current_price: state.current_price,
                leader_id,
                reserve_met: state.reserve_met,
                currency: state.config.currency,
                buy_now_price: state
                    .config
                    .buy_now_price
                    .filter(|_| state.buy_now_available()),
            },
        ),
        EventKind::Extended {
            extensions, reason, ..
        } => encode(
            FrameType::Extended,
            state,
            event,
            ExtendedBody {
                ends_at: state.ends_at,
                extensions: *extensions,
                reason: *reason,
            },
        ),
        EventKind::Paused { remaining_ms } => encode(
            FrameType::Paused,
            state,
            event,
            PausedBody {
                status: state.status,
                remaining_ms: Some(*remaining_ms),
            },
        ),
        EventKind::Resumed { .. } => encode(
            FrameType::Resumed,
            state,
            event,
            ResumedBody {
                status: state.status,
                ends_at: state.ends_at,
            },
        ),
        EventKind::Ended {
            winner_id,
            final_price,
            reserve_met,
            reason,
        } => encode(
            FrameType::Ended,
            state,
            event,
            EndedBody {
                winner_id: *winner_id,
                final_price: *final_price,
                reserve_met: *reserve_met,
                reason: *reason,
                currency: state.config.currency,
            },
        ),
        EventKind::Cancelled => encode(
            FrameType::Cancelled,
            state,
            event,
            CancelledBody {
                status: state.status,
            },
        ),
    }
}

fn snapshot_at(state: &AuctionState, event: &Event) -> Bytes {
    encode(
        FrameType::Snapshot,
        state,
        event,
        SnapshotBody {
            auction: AuctionView::of(state, event.at),
        },
    )
}

/// An `auction.snapshot` frame of `state` at server time `now`, for a
/// session that joins or lags.
#[must_use]
pub fn snapshot_frame(state: &AuctionState, now: DateTime<Utc>) -> Bytes {
    let frame = Frame {
        kind: FrameType::Snapshot,
        auction_id: state.config.id,
        seq: state.seq,
        server_time: now,
        body: SnapshotBody {
            auction: AuctionView::of(state, now),
        },
    };
    serde_json::to_vec(&frame).map_or_else(|_| Bytes::new(), Bytes::from)
}
