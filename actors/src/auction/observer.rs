//! What an auction tells the rest of the server once it is durable: who was
//! outbid, and whose pre-bids entered as a lot started. Notifications are
//! made from these facts.
//!
//! The actor hands each fact to its [`AuctionObserver`] when the events it
//! comes from are durable, in the same place it publishes room frames, and
//! the observer must not block: it queues the fact and returns (a bounded
//! queue that drops when full: a notice is never worth a slower bid).

use chrono::{DateTime, Utc};

use crate::domain::{AuctionId, ShowId, UserId};
use crate::rules::{AuctionState, Event, EventKind};

/// A fact worth telling someone about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuctionFact {
    /// `user` led and no longer does: someone else bid higher.
    Outbid {
        /// The auction.
        auction_id: AuctionId,
        /// Its show, if it is a show's lot.
        show_id: Option<ShowId>,
        /// Who lost the lead.
        user: UserId,
        /// The event that took the lead away.
        seq: u64,
        /// The visible price after it.
        price: i64,
        /// When it happened.
        at: DateTime<Utc>,
    },
    /// The auction started; `bidders` held pre-bids, which entered with it.
    Started {
        /// The auction.
        auction_id: AuctionId,
        /// Its show, if it is a show's lot.
        show_id: Option<ShowId>,
        /// The start event.
        seq: u64,
        /// Who held pre-bids, in id order.
        bidders: Vec<UserId>,
        /// When it happened.
        at: DateTime<Utc>,
    },
}

/// Receives an auction's facts once they are durable. Called on the
/// auction's thread: it must return at once.
pub trait AuctionObserver: Send + Sync + std::fmt::Debug {
    /// One fact, in the auction's event order.
    fn observe(&self, fact: AuctionFact);
}

/// Who an auction's facts are judged against: the state just before an
/// event.
pub(super) struct Before {
    /// Who led.
    led: Option<UserId>,
    /// Who held pre-bids (taken only before a start).
    pre_bidders: Vec<UserId>,
}

impl Before {
    pub(super) fn of(state: &AuctionState, event: &Event) -> Self {
        let pre_bidders = if matches!(event.kind, EventKind::Started { .. }) {
            let mut ids: Vec<UserId> = state.pre_bids.iter().map(|p| p.bidder_id).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        } else {
            Vec::new()
        };
        Self {
            led: state.leader.as_ref().map(|l| l.bidder_id),
            pre_bidders,
        }
    }
}

/// The facts `event` makes, judged against `before`; `after` is the state
/// once it is applied.
pub(super) fn facts_of(before: Before, after: &AuctionState, event: &Event) -> Vec<AuctionFact> {
    let led = before.led;
    let config = &after.config;
    let lost = led.filter(|old| after.leader.as_ref().map(|l| l.bidder_id) != Some(*old));
    let mut facts = Vec::new();
    if let Some(user) = lost
        && !after.status.is_final()
    {
        facts.push(AuctionFact::Outbid {
            auction_id: config.id,
            show_id: config.show_id,
            user,
            seq: event.seq,
            price: after.current_price.unwrap_or(config.start_price),
            at: event.at,
        });
    }
    if matches!(event.kind, EventKind::Started { .. }) {
        facts.push(AuctionFact::Started {
            auction_id: config.id,
            show_id: config.show_id,
            seq: event.seq,
            bidders: before.pre_bidders,
            at: event.at,
        });
    }
    facts
}
