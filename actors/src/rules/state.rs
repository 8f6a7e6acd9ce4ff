//! The state of one auction: built only by [`super::apply`] from events.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AuctionConfig, EndReason, Event, EventKind, apply};
use crate::domain::{BidId, UserId};

/// Where an auction is in its life. `Ended` and `Cancelled` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AuctionStatus {
    /// Created, not started yet.
    Scheduled,
    /// Taking bids; the clock runs.
    Live,
    /// Not taking bids; the clock is stopped.
    Paused,
    /// Over: hammer, timer or buy-now. Final.
    Ended,
    /// Called off. Final.
    Cancelled,
}

impl AuctionStatus {
    /// The snake_case name used on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Live => "live",
            Self::Paused => "paused",
            Self::Ended => "ended",
            Self::Cancelled => "cancelled",
        }
    }

    /// Ended or cancelled: nothing happens any more.
    #[must_use]
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Ended | Self::Cancelled)
    }
}

impl fmt::Display for AuctionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bidder in the lead and their hidden maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leader {
    /// The leading bidder.
    pub bidder_id: UserId,
    /// Their maximum (proxy) bid; never shown to others.
    pub max_amount: i64,
}

/// A bid as remembered for idempotent retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedBid {
    /// The bid's id.
    pub bid_id: BidId,
    /// The amount it stood at when placed.
    pub amount: i64,
    /// Whether it led when placed.
    pub leading: bool,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// The seq of its event.
    pub seq: u64,
    /// A pre-bid's placement or raise, not a bid: `amount` is then the
    /// pre-bid's maximum and `leading` is false. Bids and pre-bids answer
    /// retries only of their own kind.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pre_bid: bool,
}

/// A pre-bid waiting for its scheduled auction to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreBidEntry {
    /// The id the bid gets when it enters (the pre-bid's id).
    pub bid_id: BidId,
    /// The id of the leader's automatic answer to it, if there is one.
    pub proxy_bid_id: BidId,
    /// The pre-bidder.
    pub bidder_id: UserId,
    /// Their hidden maximum; never shown to others.
    pub max_amount: i64,
    /// When it was placed or last raised: its place in the order.
    pub placed_at: DateTime<Utc>,
}

/// How an ended auction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ending {
    /// The winner, if any (none without bids or below the reserve).
    pub winner_id: Option<UserId>,
    /// The hammer price, when there is a winner.
    pub final_price: Option<i64>,
    /// Why it ended.
    pub reason: EndReason,
}

/// The whole state of one auction. Changed only by [`apply`]; serializable
/// so it can be stored as a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionState {
    /// Fixed configuration.
    pub config: AuctionConfig,
    /// When the auction was created.
    pub created_at: DateTime<Utc>,
    /// Lifecycle status.
    pub status: AuctionStatus,
    /// The visible price: none until the first bid.
    pub current_price: Option<i64>,
    /// The leader and their hidden maximum.
    pub leader: Option<Leader>,
    /// Bids recorded (manual and automatic).
    pub bid_count: u32,
    /// Whether the hidden reserve is met (true when there is none and a bid).
    pub reserve_met: bool,
    /// The deadline while live; the end time once ended; none otherwise.
    pub ends_at: Option<DateTime<Utc>>,
    /// Time left, kept while paused.
    pub remaining_ms: Option<i64>,
    /// Anti-snipe extensions so far.
    pub extensions: u32,
    /// The seq of the last applied event (gapless from 1).
    pub seq: u64,
    /// How it ended, once ended.
    pub outcome: Option<Ending>,
    /// Bids by bidder and client request id, for idempotent retries.
    pub requests: BTreeMap<UserId, BTreeMap<String, RecordedBid>>,
    /// Pre-bids of a scheduled auction, at most one per bidder, in the order
    /// they enter when it starts: by placement, a raise moving its pre-bid
    /// to the end (a raised maximum is a new commitment, so it never takes
    /// a tie from someone who committed to that maximum earlier). Emptied
    /// by the start (they have entered as bids) and by a cancellation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_bids: Vec<PreBidEntry>,
}

impl AuctionState {
    /// The state right after creation.
    #[must_use]
    pub fn created(config: AuctionConfig, seq: u64, at: DateTime<Utc>) -> Self {
        Self {
            config,
            created_at: at,
            status: AuctionStatus::Scheduled,
            current_price: None,
            leader: None,
            bid_count: 0,
            reserve_met: false,
            ends_at: None,
            remaining_ms: None,
            extensions: 0,
            seq,
            outcome: None,
            requests: BTreeMap::new(),
            pre_bids: Vec::new(),
        }
    }

    /// Rebuilds a state from its journal, whose first event is `Created`.
    /// Returns `None` for an empty journal or one not starting with `Created`.
    #[must_use]
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a Event>) -> Option<Self> {
        let mut events = events.into_iter();
        let first = events.next()?;
        let EventKind::Created { config } = &first.kind else {
            return None;
        };
        let mut state = Self::created(config.clone(), first.seq, first.at);
        for event in events {
            apply(&mut state, event);
        }
        Some(state)
    }

    /// The increment at `price`.
    #[must_use]
    pub fn increment_at(&self, price: i64) -> i64 {
        self.config.increments.step_at(price)
    }

    /// The lowest acceptable next bid.
    #[must_use]
    pub fn min_next_bid(&self) -> i64 {
        match self.current_price {
            None => self.config.start_price,
            Some(price) => price.saturating_add(self.increment_at(price)),
        }
    }

    /// Whether buy-now can be used now: before the first bid, or with a
    /// reserve, until it is met.
    #[must_use]
    pub fn buy_now_available(&self) -> bool {
        self.config.buy_now_price.is_some()
            && !self.status.is_final()
            && (self.bid_count == 0 || (self.config.reserve_price.is_some() && !self.reserve_met))
    }

    /// The winner of an ended auction.
    #[must_use]
    pub fn winner_id(&self) -> Option<UserId> {
        self.outcome.and_then(|o| o.winner_id)
    }

    /// How many bid and pre-bid `request_id`s the state remembers, all
    /// bidders together.
    #[must_use]
    pub fn remembered_requests(&self) -> usize {
        self.requests.values().map(BTreeMap::len).sum()
    }

    /// A bid already placed by `bidder_id` under `request_id`.
    #[must_use]
    pub fn recorded_bid(&self, bidder_id: UserId, request_id: &str) -> Option<&RecordedBid> {
        self.requests
            .get(&bidder_id)?
            .get(request_id)
            .filter(|recorded| !recorded.pre_bid)
    }

    /// A pre-bid already placed or raised by `bidder_id` under `request_id`.
    #[must_use]
    pub fn recorded_pre_bid(&self, bidder_id: UserId, request_id: &str) -> Option<&RecordedBid> {
        self.requests
            .get(&bidder_id)?
            .get(request_id)
            .filter(|recorded| recorded.pre_bid)
    }

    /// The pre-bid `bidder_id` holds on this scheduled auction.
    #[must_use]
    pub fn pre_bid_of(&self, bidder_id: UserId) -> Option<&PreBidEntry> {
        self.pre_bids.iter().find(|p| p.bidder_id == bidder_id)
    }
}
