//! Worked examples for every rule.

mod bidding;
mod lifecycle;

use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::domain::{AuctionId, Currency, ProductId, UserId};

/// A test auction: seller, a few bidders, a clock in milliseconds.
pub(super) struct Fixture {
    pub state: AuctionState,
    pub events: Vec<Event>,
    pub seller: UserId,
}

pub(super) fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_700_000_000_000).unwrap()
}

pub(super) fn at(ms: i64) -> DateTime<Utc> {
    t0() + TimeDelta::milliseconds(ms)
}

pub(super) fn new_auction(start_price: i64) -> NewAuction {
    NewAuction::new(ProductId::new(), Currency::USD, start_price, 60_000)
}

impl Fixture {
    /// Created at t0 from `new`, not started.
    pub fn scheduled(new: NewAuction) -> Self {
        let seller = UserId::new();
        let config = new.into_config(AuctionId::new(), seller).unwrap();
        let created = create(config, t0()).unwrap();
        let state = AuctionState::replay([&created]).unwrap();
        Self {
            state,
            events: vec![created],
            seller,
        }
    }

    /// Created and started at t0 (deadline t0 + 60 s).
    pub fn live(new: NewAuction) -> Self {
        let mut f = Self::scheduled(new);
        let seller = Actor::user(f.seller);
        f.run(Command::Start { by: seller }, 0).unwrap();
        f
    }

    pub fn seller(&self) -> Actor {
        Actor::user(self.seller)
    }

    /// Decides and applies `command` at t0 + `ms`; checks a rejection changes nothing.
    pub fn run(&mut self, command: Command, ms: i64) -> Result<Vec<Event>, Rejection> {
        let before = self.state.clone();
        match decide(&self.state, command, at(ms)) {
            Ok(events) => {
                for e in &events {
                    assert_eq!(e.seq, self.state.seq + 1, "seq is gapless");
                    apply(&mut self.state, e);
                }
                self.events.extend(events.iter().cloned());
                assert_eq!(
                    AuctionState::replay(&self.events).as_ref(),
                    Some(&self.state)
                );
                Ok(events)
            }
            Err(rejection) => {
                assert_eq!(self.state, before);
                Err(rejection)
            }
        }
    }

    pub fn bid(
        &mut self,
        bidder: UserId,
        amount: i64,
        max: Option<i64>,
        ms: i64,
    ) -> Result<Vec<Event>, Rejection> {
        self.run(
            Command::PlaceBid(BidRequest::new(bidder, amount, max, None)),
            ms,
        )
    }

    pub fn price(&self) -> Option<i64> {
        self.state.current_price
    }

    pub fn leader(&self) -> Option<UserId> {
        self.state.leader.map(|l| l.bidder_id)
    }
}

/// The bid events among `events`: (bidder, amount, automatic, leading).
pub(super) fn bids(events: &[Event]) -> Vec<(UserId, i64, bool, bool)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::BidPlaced(b) => Some((b.bidder_id, b.amount, b.automatic, b.leading)),
            _ => None,
        })
        .collect()
}
