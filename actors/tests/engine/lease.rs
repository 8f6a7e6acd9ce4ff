//! An auction served under a shard's lease, as on a cluster's node: its
//! floor refuses bids only while the node holds the lease, and one whose
//! shard moves as it is created is not created twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use blytz_actors::AuctionError;
use blytz_actors::domain::{AuctionId, Caller, Role, UserId};
use blytz_actors::ports::{Fence, JournalStore, Placement};
use blytz_actors::remote::{Answer, Remote, Request};
use blytz_actors::rules::{Command, Rejection};

use crate::helpers::*;

/// The one lease of the test: shard 0 at epoch 1.
const FENCE: Fence = Fence { shard: 0, epoch: 1 };

/// This node's lease of every auction's shard, until it is lost.
#[derive(Debug)]
struct Lease {
    held: AtomicBool,
}

impl Lease {
    fn lose(&self) {
        self.held.store(false, Ordering::Relaxed);
    }
}

impl Placement for Lease {
    fn fence(&self, _: AuctionId) -> Option<Fence> {
        self.held.load(Ordering::Relaxed).then_some(FENCE)
    }

    fn holds(&self, fence: Fence) -> bool {
        self.fence(AuctionId::new()) == Some(fence)
    }

    fn fenced(&self, _: Fence) {
        self.lose();
    }
}

/// A bid of `amount` by a new buyer, as another node forwards it.
fn forwarded(amount: i64) -> Request {
    Request::Execute {
        caller: Caller::new(UserId::new(), Role::Buyer),
        command: Command::Bid(bid(amount, None, None)),
    }
}

fn refused_code(answer: &Answer) -> Option<&str> {
    match answer {
        Answer::Refused { code, .. } => Some(code.as_str()),
        _ => None,
    }
}

#[actix_rt::test]
async fn under_a_held_lease_the_floor_refuses_and_once_it_is_lost_the_bid_goes_to_the_actor() {
    let lease = Arc::new(Lease {
        held: AtomicBool::new(true),
    });
    let t = leased_engine(lease.clone(), None);
    let auction = t.live(t.new_auction(1_000, 60_000)).await;
    t.bid(auction.id, UserId::new(), 1_000, None).await.unwrap();

    let below = place_bid(&t.engine, auction.id, UserId::new(), bid(1_000, None, None)).await;
    assert_eq!(
        below,
        Err(AuctionError::Rejected(Rejection::BidTooLow {
            min_bid: 1_050
        }))
    );
    let answer = t.engine.serve(auction.id, forwarded(1_049)).await;
    assert_eq!(refused_code(&answer), Some("bid_too_low"), "{answer:?}");
    let raised = t.bid(auction.id, UserId::new(), 1_050, None).await.unwrap();
    assert_eq!(raised.auction.current_price, Some(1_050));

    // Another node may append to the auction now: the floor shown here
    // no longer speaks for it, and the actor, which checks the lease on
    // every command, stops and says the auction moved.
    lease.lose();
    let answer = t.engine.serve(auction.id, forwarded(1_050)).await;
    assert!(matches!(answer, Answer::Moved), "{answer:?}");
    let below = place_bid(&t.engine, auction.id, UserId::new(), bid(1_050, None, None)).await;
    assert_eq!(below, Err(AuctionError::Moved));
    assert_eq!(
        t.store.events(auction.id).len(),
        4,
        "created, started, two bids"
    );
}

/// A node whose lease lapses as soon as it is given: auctions are created
/// under it, and the actor that reads them finds it gone.
#[derive(Debug)]
struct Lapsing;

impl Placement for Lapsing {
    fn fence(&self, _: AuctionId) -> Option<Fence> {
        Some(FENCE)
    }

    fn holds(&self, _: Fence) -> bool {
        false
    }

    fn fenced(&self, _: Fence) {}
}

/// The other nodes: each call is written down and answered that the
/// auction moved on.
#[derive(Debug, Default)]
struct Elsewhere {
    asked: Mutex<Vec<&'static str>>,
}

#[async_trait::async_trait]
impl Remote for Elsewhere {
    async fn call(&self, _: AuctionId, request: Request) -> Result<Answer, AuctionError> {
        let what = match request {
            Request::Create { .. } => "create",
            Request::View => "view",
            _ => "other",
        };
        self.asked.lock().unwrap().push(what);
        Ok(Answer::Moved)
    }
}

#[actix_rt::test]
async fn an_auction_whose_shard_moves_as_it_is_created_is_asked_of_its_owner_not_created_again() {
    let elsewhere = Arc::new(Elsewhere::default());
    let t = leased_engine(Arc::new(Lapsing), Some(elsewhere.clone()));
    let created = t
        .engine
        .create_auction(t.seller, t.new_auction(1_000, 60_000))
        .await;

    // Durable here; its view is the owner's to give, and the owner is
    // not reachable in this test.
    assert_eq!(created, Err(AuctionError::Unavailable));
    let asked = elsewhere.asked.lock().unwrap().clone();
    assert!(!asked.is_empty(), "the owner was not asked");
    assert!(
        asked.iter().all(|what| *what == "view"),
        "asked the other nodes {asked:?}"
    );
    let open = t.store.open_auctions().await.unwrap();
    assert_eq!(open.len(), 1, "one auction");
    assert_eq!(t.store.events(open[0]).len(), 1, "created once");
}
