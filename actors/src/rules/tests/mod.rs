//! Worked examples for every rule.

mod bidding;
mod lifecycle;
mod prebids;

use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::domain::{AuctionId, Caller, Currency, ProductId, Role, UserId};

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
        f.run(f.seller(), Command::Start, 0).unwrap();
        f
    }

    pub fn seller(&self) -> Caller {
        Caller::new(self.seller, Role::Seller)
    }

    /// The timer's check at t0 + `ms`.
    pub fn close(&mut self, ms: i64) -> Result<Vec<Event>, Rejection> {
        self.apply_all(Ok(close(&self.state, at(ms))))
    }

    /// Decides and applies `caller`'s `command` at t0 + `ms`; checks a
    /// rejection changes nothing.
    pub fn run(
        &mut self,
        caller: Caller,
        command: Command,
        ms: i64,
    ) -> Result<Vec<Event>, Rejection> {
        let decided = decide(&self.state, caller, command, BidIds::fresh(), at(ms));
        self.apply_all(decided)
    }

    fn apply_all(
        &mut self,
        decided: Result<Vec<Event>, Rejection>,
    ) -> Result<Vec<Event>, Rejection> {
        let before = self.state.clone();
        match decided {
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
        self.run(buyer(bidder), bid(amount, max, None), ms)
    }

    pub fn price(&self) -> Option<i64> {
        self.state.current_price
    }

    pub fn leader(&self) -> Option<UserId> {
        self.state.leader.map(|l| l.bidder_id)
    }
}

/// A user acting without seller or admin rights.
pub(super) fn buyer(id: UserId) -> Caller {
    Caller::new(id, Role::Buyer)
}

/// An admin.
pub(super) fn admin(id: UserId) -> Caller {
    Caller::new(id, Role::Admin)
}

/// A bid command.
pub(super) fn bid(amount: i64, max_amount: Option<i64>, request_id: Option<String>) -> Command {
    Command::Bid(Bid {
        amount,
        max_amount,
        request_id,
    })
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
