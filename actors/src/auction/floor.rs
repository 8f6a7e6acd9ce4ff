//! A live auction's floor, shown to callers on other threads.
//!
//! On a contested auction most bids are below the minimum: fifty bidders
//! racing at the same minimum make one bid and dozens of refusals a round.
//! Judged by the actor, each refusal is a message to the auction's thread
//! and an answer back, two thread hand-offs for a bid that changes nothing.
//! The actor instead shows its [`Floor`] (who sells, whether it is live and
//! until when, the minimum next bid), with the seq that floor was applied
//! at and the seq that is durable. A caller judges a plain bid against it
//! with the rules' own [`Floor::judge`] and, when it is below the minimum,
//! refuses it itself once that seq is durable: an answer never shows what
//! is not durable, as if the actor had judged it at the moment the floor
//! was shown. Anything else (a bid at or above the minimum, a bid with a
//! request id, which only the whole state can match to a retry, any other
//! refusal) goes to the actor.
//!
//! If the actor fails an append or stops before the floor is durable, the
//! floor closes and the bid goes to the actor, which a failed one rebuilds
//! from the journal: a bid is never refused against a bid that was lost.
//!
//! In a cluster the view carries the fence its actor serves under, and a
//! caller refuses at the floor only while this node still holds that lease
//! (the check the actor makes on every command): then no other node
//! appends to the auction, and the floor is its newest.

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::domain::UserId;
use crate::ports::Fence;
use crate::rules::{AuctionState, Bid, Floor, Rejection};

/// What the actor shows.
#[derive(Debug, Clone, Copy)]
struct Shown {
    floor: Floor,
    /// The seq `floor` was applied at.
    seq: u64,
    /// The seq up to which the journal has confirmed every event.
    durable_seq: u64,
    /// Set when the actor failed or stopped: nothing more becomes durable.
    closed: bool,
}

/// The actor's side: it shows each change of its state and of what is
/// durable.
#[derive(Debug)]
pub struct FloorShow(watch::Sender<Shown>);

/// A caller's side: cheap to clone, kept with the actor's address in the
/// index.
#[derive(Debug, Clone)]
pub struct FloorView {
    shown: watch::Receiver<Shown>,
    /// The lease the actor serves under, in a cluster.
    fence: Option<Fence>,
}

/// The floor of a durable `state` (loaded from the journal), both sides,
/// for an actor serving under `fence` (in a cluster).
#[must_use]
pub fn floor_of(state: &AuctionState, fence: Option<Fence>) -> (FloorShow, FloorView) {
    let (show, shown) = watch::channel(Shown {
        floor: Floor::of(state),
        seq: state.seq,
        durable_seq: state.seq,
        closed: false,
    });
    (FloorShow(show), FloorView { shown, fence })
}

impl FloorShow {
    /// Shows `state` as applied, not yet durable. Nobody waits for this:
    /// no one is woken.
    pub fn applied(&self, state: &AuctionState) {
        self.0.send_if_modified(|shown| {
            shown.floor = Floor::of(state);
            shown.seq = state.seq;
            false
        });
    }

    /// Everything up to `seq` is durable: wakes the callers waiting for it.
    pub fn durable(&self, seq: u64) {
        self.0.send_if_modified(|shown| {
            let newer = seq > shown.durable_seq;
            shown.durable_seq = shown.durable_seq.max(seq);
            newer
        });
    }

    /// The actor failed or stops: the callers waiting go to the actor.
    pub fn close(&self) {
        self.0.send_modify(|shown| shown.closed = true);
    }
}

impl FloorView {
    /// The lease the actor serves under (in a cluster).
    #[must_use]
    pub fn fence(&self) -> Option<Fence> {
        self.fence
    }

    /// `bid_too_low` for `bidder_id`'s `bid` at `now`, once the floor it
    /// is below is durable; `None` when the actor must judge the bid.
    pub async fn refusal(
        mut self,
        bidder_id: UserId,
        bid: &Bid,
        now: DateTime<Utc>,
    ) -> Option<Rejection> {
        if bid.request_id.is_some() {
            return None;
        }
        let (refusal, seq) = {
            let shown = self.shown.borrow();
            if shown.closed {
                return None;
            }
            let max = bid.max_amount.unwrap_or(bid.amount);
            match shown.floor.judge(bidder_id, bid.amount, max, now) {
                Err(refusal @ Rejection::BidTooLow { .. }) if shown.durable_seq >= shown.seq => {
                    return Some(refusal);
                }
                Err(refusal @ Rejection::BidTooLow { .. }) => (refusal, shown.seq),
                _ => return None,
            }
        };
        let closed = self
            .shown
            .wait_for(|shown| shown.closed || shown.durable_seq >= seq)
            .await
            .ok()?
            .closed;
        (!closed).then_some(refusal)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeDelta;

    use super::*;
    use crate::domain::{AuctionId, Caller, Currency, ProductId, Role};
    use crate::rules::{AuctionStatus, BidIds, Command, NewAuction, apply, create, decide};

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000).unwrap()
    }

    /// `command` by `caller` decided and applied at `now()`.
    fn run(state: &AuctionState, caller: Caller, command: Command) -> AuctionState {
        let mut next = state.clone();
        for event in decide(state, caller, command, BidIds::fresh(), now()).unwrap() {
            apply(&mut next, &event);
        }
        next
    }

    /// A live auction starting at 1 000 (increment 50), for a minute.
    fn live_state() -> AuctionState {
        let seller = UserId::new();
        let new = NewAuction::new(ProductId::new(), Currency::USD, 1_000, 60_000);
        let config = new.into_config(AuctionId::new(), seller).unwrap();
        let created = create(config, now()).unwrap();
        let state = AuctionState::replay([&created]).unwrap();
        run(&state, Caller::new(seller, Role::Seller), Command::Start)
    }

    fn bid(amount: i64) -> Bid {
        Bid {
            amount,
            max_amount: None,
            request_id: None,
        }
    }

    /// The state after someone's bid of `amount`.
    fn raised(state: &AuctionState, amount: i64) -> AuctionState {
        let bidder = Caller::new(UserId::new(), Role::Buyer);
        run(state, bidder, Command::Bid(bid(amount)))
    }

    #[tokio::test]
    async fn a_bid_below_a_durable_floor_is_refused_at_once() {
        let state = live_state();
        let (_show, view) = floor_of(&state, None);
        assert_eq!(
            view.refusal(UserId::new(), &bid(999), now()).await,
            Some(Rejection::BidTooLow { min_bid: 1_000 })
        );
    }

    #[tokio::test]
    async fn a_refusal_waits_until_the_floor_it_shows_is_durable() {
        let state = live_state();
        let (show, view) = floor_of(&state, None);
        let raised = raised(&state, 1_000);
        show.applied(&raised);
        let refusal =
            tokio::spawn(async move { view.refusal(UserId::new(), &bid(1_000), now()).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !refusal.is_finished(),
            "answered before the floor is durable"
        );
        show.durable(raised.seq);
        assert_eq!(
            refusal.await.unwrap(),
            Some(Rejection::BidTooLow { min_bid: 1_050 })
        );
    }

    /// What a bid waiting for a floor that `end` closes or drops before it
    /// is durable is answered.
    async fn refusal_when_the_floor_ends(end: impl FnOnce(FloorShow)) -> Option<Rejection> {
        let state = live_state();
        let (show, view) = floor_of(&state, None);
        show.applied(&raised(&state, 1_000));
        let refusal =
            tokio::spawn(async move { view.refusal(UserId::new(), &bid(1_000), now()).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        end(show);
        refusal.await.unwrap()
    }

    #[tokio::test]
    async fn a_floor_closed_or_dropped_before_it_is_durable_refuses_nothing() {
        let closed = refusal_when_the_floor_ends(|show| show.close()).await;
        assert_eq!(closed, None, "closed");
        assert_eq!(refusal_when_the_floor_ends(drop).await, None, "dropped");
    }

    #[tokio::test]
    async fn the_actor_judges_every_bid_but_a_plain_one_below_the_minimum() {
        let state = live_state();
        let (show, view) = floor_of(&state, None);
        let bidder = UserId::new();
        let with_id = Bid {
            request_id: Some("retry-1".to_owned()),
            ..bid(1)
        };
        assert_eq!(
            view.clone().refusal(bidder, &with_id, now()).await,
            None,
            "a request id"
        );
        assert_eq!(
            view.clone().refusal(bidder, &bid(1_000), now()).await,
            None,
            "at the minimum"
        );
        assert_eq!(
            view.clone().refusal(bidder, &bid(0), now()).await,
            None,
            "invalid"
        );
        assert_eq!(
            view.clone()
                .refusal(state.config.seller_id, &bid(1), now())
                .await,
            None,
            "the seller's own"
        );
        let later = now() + TimeDelta::minutes(2);
        assert_eq!(
            view.clone().refusal(bidder, &bid(1), later).await,
            None,
            "past the deadline"
        );
        let paused = run(
            &state,
            Caller::new(state.config.seller_id, Role::Seller),
            Command::Pause,
        );
        assert_eq!(paused.status, AuctionStatus::Paused);
        show.applied(&paused);
        assert_eq!(
            view.clone().refusal(bidder, &bid(1), now()).await,
            None,
            "not live"
        );
    }
}
