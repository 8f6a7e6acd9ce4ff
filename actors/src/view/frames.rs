//! Room frames: each event serialized once to `Bytes`, shared by every
//! subscriber. Every frame carries `type`, `auction_id`, `seq`, `server_time`.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::AuctionView;
use crate::domain::{AuctionId, Currency, UserId, wire_time};
use crate::json::Raw;
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

/// `auction.bid`'s own fields. The frame is written from its parts
/// ([`BidBody::frame`]); serde's text of `Frame<BidBody>` is what the tests
/// hold it to.
#[cfg_attr(test, derive(Debug, Serialize))]
struct BidBody {
    amount: i64,
    bidder_id: UserId,
    automatic: bool,
    bid_count: u32,
    min_next_bid: i64,
    #[cfg_attr(test, serde(with = "wire_time::option"))]
    ends_at: Option<DateTime<Utc>>,
    current_price: Option<i64>,
    leader_id: Option<UserId>,
    reserve_met: bool,
    currency: Currency,
    buy_now_price: Option<i64>,
}

/// An `auction.bid` frame is about 420 bytes.
const BID_FRAME_CAPACITY: usize = 512;

impl BidBody {
    /// The `auction.bid` frame, one per accepted bid, written without serde
    /// (`blytz_actors::json`): through serde's flattening it cost about
    /// 5,000 instructions a frame on the auction's thread, most of it
    /// escaping keys, ids and times that hold nothing to escape.
    fn frame(&self, auction_id: AuctionId, seq: u64, server_time: DateTime<Utc>) -> Bytes {
        let mut bytes = Vec::with_capacity(BID_FRAME_CAPACITY);
        let mut out = Raw::new(&mut bytes);
        out.push(br#"{"type":"auction.bid","auction_id":"#);
        out.id(auction_id.into());
        out.push(br#","seq":"#);
        out.int(seq);
        out.push(br#","server_time":"#);
        out.time(server_time);
        out.push(br#","amount":"#);
        out.int(self.amount);
        out.push(br#","bidder_id":"#);
        out.id(self.bidder_id.into());
        out.push(br#","automatic":"#);
        out.flag(self.automatic);
        out.push(br#","bid_count":"#);
        out.int(self.bid_count);
        out.push(br#","min_next_bid":"#);
        out.int(self.min_next_bid);
        out.push(br#","ends_at":"#);
        out.some_time(self.ends_at);
        out.push(br#","current_price":"#);
        out.some_int(self.current_price);
        out.push(br#","leader_id":"#);
        out.some_id(self.leader_id.map(Uuid::from));
        out.push(br#","reserve_met":"#);
        out.flag(self.reserve_met);
        out.push(br#","currency":"#);
        out.name(self.currency.as_str());
        out.push(br#","buy_now_price":"#);
        out.some_int(self.buy_now_price);
        out.push(b"}");
        Bytes::from(bytes)
    }
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
        EventKind::BidPlaced(bid) => BidBody {
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
        }
        .frame(state.config.id, event.seq, event.at),
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::json::tests::{time, uuid};

    /// Every field of the frame drawn at random: amounts of either sign,
    /// times at every edge of the wire's writer, absent and present
    /// options, any currency.
    fn bid_body() -> impl Strategy<Value = BidBody> {
        (
            (
                any::<i64>(),
                uuid(),
                any::<bool>(),
                any::<u32>(),
                any::<i64>(),
            ),
            (prop::option::of(time()), prop::option::of(any::<i64>())),
            (prop::option::of(uuid()), any::<bool>(), "[A-Z]{3}"),
            prop::option::of(any::<i64>()),
        )
            .prop_map(
                |(
                    (amount, bidder, automatic, bid_count, min_next_bid),
                    (ends_at, current_price),
                    (leader, reserve_met, currency),
                    buy_now_price,
                )| BidBody {
                    amount,
                    bidder_id: bidder.into(),
                    automatic,
                    bid_count,
                    min_next_bid,
                    ends_at,
                    current_price,
                    leader_id: leader.map(Into::into),
                    reserve_met,
                    currency: currency.parse().unwrap(),
                    buy_now_price,
                },
            )
    }

    proptest! {
        #[test]
        fn a_bid_frame_is_serdes_text(body in bid_body(), auction in uuid(), seq in any::<u64>(), at in time()) {
            let written = body.frame(auction.into(), seq, at);
            let serdes = serde_json::to_vec(&Frame {
                kind: FrameType::Bid,
                auction_id: auction.into(),
                seq,
                server_time: at,
                body,
            })
            .unwrap();
            prop_assert_eq!(String::from_utf8(written.to_vec()).unwrap(), String::from_utf8(serdes).unwrap());
        }
    }
}
