//! Pre-bids: placing, raising, withdrawing, and how they enter at the start.

use super::*;

impl Fixture {
    pub fn pre_bid(
        &mut self,
        bidder: UserId,
        max_amount: i64,
        request_id: Option<&str>,
        ms: i64,
    ) -> Result<Vec<Event>, Rejection> {
        let command = Command::PreBid(PreBid {
            max_amount,
            request_id: request_id.map(str::to_owned),
        });
        self.run(buyer(bidder), command, ms)
    }

    pub fn withdraw_pre_bid(&mut self, bidder: UserId, ms: i64) -> Result<Vec<Event>, Rejection> {
        self.run(buyer(bidder), Command::WithdrawPreBid, ms)
    }

    pub fn start(&mut self, ms: i64) -> Vec<Event> {
        self.run(self.seller(), Command::Start, ms).unwrap()
    }
}

/// The order pre-bids will enter in: (bidder, max).
fn order(f: &Fixture) -> Vec<(UserId, i64)> {
    f.state
        .pre_bids
        .iter()
        .map(|p| (p.bidder_id, p.max_amount))
        .collect()
}

#[test]
fn three_pre_bids_enter_in_order_through_the_proxy_rules() {
    let mut f = Fixture::scheduled(new_auction(1_000));
    let (ann, bob, cat) = (UserId::new(), UserId::new(), UserId::new());
    f.pre_bid(ann, 3_000, None, 1).unwrap();
    f.pre_bid(bob, 5_000, None, 2).unwrap();
    f.pre_bid(cat, 4_000, None, 3).unwrap();
    assert_eq!(f.state.pre_bids.len(), 3);
    assert_eq!(f.price(), None, "a pre-bid is not a bid");
    assert_eq!(f.state.bid_count, 0);
    let ann_pre_bid = f.state.pre_bid_of(ann).unwrap().bid_id;

    let events = f.start(10);
    assert!(matches!(events[0].kind, EventKind::Started { .. }));
    // Ann opens at the start price; Bob's 5 000 outbids her 3 000 at
    // 3 000 + 100; Cat's 4 000 is recorded at the minimum (3 200) and Bob's
    // proxy answers at 4 000 + 100.
    assert_eq!(
        bids(&events),
        vec![
            (ann, 1_000, false, true),
            (bob, 3_100, false, true),
            (cat, 3_200, false, false),
            (bob, 4_100, true, true),
        ]
    );
    assert_eq!((f.leader(), f.price()), (Some(bob), Some(4_100)));
    assert_eq!(f.state.bid_count, 4);
    assert!(f.state.pre_bids.is_empty(), "they have entered");
    assert_eq!(f.state.status, AuctionStatus::Live);
    // The entered bid takes the pre-bid's id.
    let first = events.iter().find_map(|e| match &e.kind {
        EventKind::BidPlaced(b) => Some(b.bid_id),
        _ => None,
    });
    assert_eq!(first, Some(ann_pre_bid));
}

#[test]
fn starting_with_pre_bids_equals_bidding_them_in_order_at_the_start() {
    let (ann, bob, cat) = (UserId::new(), UserId::new(), UserId::new());
    let mut pre = Fixture::scheduled(new_auction(1_000));
    for (i, (bidder, max)) in [(ann, 2_000), (bob, 2_000), (cat, 2_600)]
        .iter()
        .enumerate()
    {
        pre.pre_bid(*bidder, *max, None, i as i64).unwrap();
    }
    pre.start(100);

    let mut live = Fixture::scheduled(new_auction(1_000));
    live.config_from(&pre);
    live.start(100);
    for (bidder, max) in [(ann, 2_000), (bob, 2_000), (cat, 2_600)] {
        let amount = live.state.min_next_bid();
        live.bid(bidder, amount, Some(max), 100).unwrap();
    }
    assert_eq!(pre.leader(), live.leader());
    assert_eq!(pre.price(), live.price());
    assert_eq!(pre.state.bid_count, live.state.bid_count);
    assert_eq!(pre.leader(), Some(cat));
}

impl Fixture {
    /// Uses `other`'s seller, so the same callers act on both.
    fn config_from(&mut self, other: &Fixture) {
        let mut config = other.state.config.clone();
        config.id = self.state.config.id;
        let created = create(config, t0()).unwrap();
        self.state = AuctionState::replay([&created]).unwrap();
        self.events = vec![created];
        self.seller = other.seller;
    }
}

#[test]
fn equal_maxima_the_earlier_pre_bid_wins() {
    let mut f = Fixture::scheduled(new_auction(1_000));
    let (ann, bob) = (UserId::new(), UserId::new());
    f.pre_bid(ann, 3_000, None, 1).unwrap();
    f.pre_bid(bob, 3_000, None, 2).unwrap();
    let events = f.start(10);
    assert_eq!(
        bids(&events),
        vec![
            (ann, 1_000, false, true),
            (bob, 1_050, false, false),
            (ann, 3_000, true, true),
        ]
    );
    assert_eq!((f.leader(), f.price()), (Some(ann), Some(3_000)));
}

#[test]
fn a_raise_moves_the_pre_bid_to_the_end_so_it_never_takes_an_earlier_tie() {
    let mut f = Fixture::scheduled(new_auction(1_000));
    let (ann, bob) = (UserId::new(), UserId::new());
    f.pre_bid(ann, 3_000, None, 1).unwrap();
    f.pre_bid(bob, 4_000, None, 2).unwrap();
    let events = f.pre_bid(ann, 4_000, None, 3).unwrap();
    assert!(matches!(events[0].kind, EventKind::PreBidRaised(_)));
    assert_eq!(order(&f), vec![(bob, 4_000), (ann, 4_000)]);
    assert_eq!(f.state.pre_bids[1].placed_at, at(3));
    f.start(10);
    // Bob committed to 4 000 first.
    assert_eq!((f.leader(), f.price()), (Some(bob), Some(4_000)));
}

#[test]
fn a_raise_must_be_higher_and_a_withdrawn_pre_bid_takes_no_part() {
    let mut f = Fixture::scheduled(new_auction(1_000));
    let (ann, bob) = (UserId::new(), UserId::new());
    f.pre_bid(ann, 3_000, None, 1).unwrap();
    f.pre_bid(bob, 5_000, None, 2).unwrap();
    assert_eq!(
        f.pre_bid(bob, 5_000, None, 3),
        Err(Rejection::PreBidNotRaised { max_amount: 5_000 })
    );
    assert_eq!(
        f.pre_bid(bob, 4_000, None, 3),
        Err(Rejection::PreBidNotRaised { max_amount: 5_000 })
    );
    f.withdraw_pre_bid(bob, 4).unwrap();
    assert_eq!(f.withdraw_pre_bid(bob, 5), Err(Rejection::NoPreBid));
    assert_eq!(order(&f), vec![(ann, 3_000)]);
    let events = f.start(10);
    assert_eq!(bids(&events), vec![(ann, 1_000, false, true)]);
    assert_eq!((f.leader(), f.price()), (Some(ann), Some(1_000)));
}

#[test]
fn a_withdrawn_pre_bid_placed_again_goes_to_the_end() {
    let mut f = Fixture::scheduled(new_auction(1_000));
    let (ann, bob) = (UserId::new(), UserId::new());
    f.pre_bid(ann, 3_000, None, 1).unwrap();
    f.pre_bid(bob, 3_000, None, 2).unwrap();
    f.withdraw_pre_bid(ann, 3).unwrap();
    f.pre_bid(ann, 2_000, None, 4).unwrap();
    assert_eq!(order(&f), vec![(bob, 3_000), (ann, 2_000)]);
    f.start(10);
    assert_eq!((f.leader(), f.price()), (Some(bob), Some(2_050)));
}

#[test]
fn a_pre_bid_outbid_before_its_turn_enters_as_nothing() {
    let mut f = Fixture::scheduled(new_auction(1_000));
    let (ann, bob) = (UserId::new(), UserId::new());
    f.pre_bid(ann, 5_000, None, 1).unwrap();
    // At the start price: by its turn the minimum is 1 050.
    f.pre_bid(bob, 1_000, None, 2).unwrap();
    let events = f.start(10);
    assert_eq!(bids(&events), vec![(ann, 1_000, false, true)]);
    assert_eq!(f.state.bid_count, 1);
}

#[test]
fn pre_bids_meet_the_reserve_as_bids_do() {
    let mut new = new_auction(1_000);
    new.reserve_price = Some(4_000);
    let mut f = Fixture::scheduled(new);
    let ann = UserId::new();
    f.pre_bid(ann, 5_000, None, 1).unwrap();
    f.start(10);
    assert_eq!((f.leader(), f.price()), (Some(ann), Some(4_000)));
    assert!(f.state.reserve_met);
}

#[test]
fn pre_bids_are_judged_as_bids_are() {
    let mut f = Fixture::scheduled(new_auction(1_000));
    let ann = UserId::new();
    let seller = f.seller;
    assert_eq!(
        f.run(
            f.seller(),
            Command::PreBid(PreBid {
                max_amount: 5_000,
                request_id: None
            }),
            1
        ),
        Err(Rejection::OwnAuction)
    );
    assert_eq!(f.state.pre_bid_of(seller), None);
    assert_eq!(
        f.pre_bid(ann, 999, None, 1),
        Err(Rejection::BidTooLow { min_bid: 1_000 })
    );
    assert!(matches!(
        f.pre_bid(ann, 0, None, 1),
        Err(Rejection::InvalidAmount { .. })
    ));
    assert!(matches!(
        f.pre_bid(ann, crate::domain::MAX_AMOUNT + 1, None, 1),
        Err(Rejection::InvalidAmount { .. })
    ));
    assert_eq!(
        f.pre_bid(ann, 2_000, Some("has space"), 1),
        Err(Rejection::InvalidRequestId)
    );
    assert!(f.state.pre_bids.is_empty());
}

#[test]
fn pre_bids_are_taken_only_while_scheduled() {
    let mut f = Fixture::live(new_auction(1_000));
    let ann = UserId::new();
    assert_eq!(
        f.pre_bid(ann, 2_000, None, 1),
        Err(Rejection::AuctionNotScheduled {
            status: AuctionStatus::Live
        })
    );
    assert_eq!(
        f.withdraw_pre_bid(ann, 1),
        Err(Rejection::AuctionNotScheduled {
            status: AuctionStatus::Live
        })
    );
    assert_eq!(
        Rejection::AuctionNotScheduled {
            status: AuctionStatus::Live
        }
        .code(),
        crate::Code::AuctionNotScheduled
    );

    let mut f = Fixture::scheduled(new_auction(1_000));
    f.pre_bid(ann, 2_000, None, 1).unwrap();
    f.run(f.seller(), Command::Cancel, 2).unwrap();
    assert!(f.state.pre_bids.is_empty());
    assert_eq!(
        f.pre_bid(ann, 3_000, None, 3),
        Err(Rejection::AuctionClosed)
    );
    assert_eq!(f.withdraw_pre_bid(ann, 3), Err(Rejection::AuctionClosed));
}

#[test]
fn a_retried_pre_bid_answers_its_first_outcome_even_after_the_start() {
    let mut f = Fixture::scheduled(new_auction(1_000));
    let ann = UserId::new();
    f.pre_bid(ann, 2_000, Some("p1"), 1).unwrap();
    assert_eq!(f.pre_bid(ann, 2_000, Some("p1"), 2), Ok(vec![]));
    let recorded = f.state.recorded_pre_bid(ann, "p1").unwrap();
    assert_eq!((recorded.amount, recorded.pre_bid), (2_000, true));
    // A pre-bid's request id is not a bid's.
    assert_eq!(f.state.recorded_bid(ann, "p1"), None);
    f.start(10);
    assert_eq!(f.pre_bid(ann, 2_000, Some("p1"), 11), Ok(vec![]));
    // A bid under the same request id is judged as a new bid.
    let bob = UserId::new();
    f.bid(bob, 1_050, Some(3_000), 12).unwrap();
    let events = f
        .run(buyer(ann), bid(2_500, None, Some("p1".to_owned())), 13)
        .unwrap();
    assert_eq!(bids(&events)[0], (ann, 2_500, false, false));
    assert!(f.state.recorded_bid(ann, "p1").is_some());
}

#[test]
fn pre_bids_survive_a_snapshot_and_replay() {
    let mut f = Fixture::scheduled(new_auction(1_000));
    let (ann, bob) = (UserId::new(), UserId::new());
    f.pre_bid(ann, 3_000, Some("a"), 1).unwrap();
    f.pre_bid(bob, 2_000, None, 2).unwrap();
    let json = serde_json::to_string(&f.state).unwrap();
    let restored: AuctionState = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, f.state);
    // A snapshot written before pre-bids existed still reads.
    let mut old: serde_json::Value =
        serde_json::to_value(AuctionState::replay([&f.events[0]]).unwrap()).unwrap();
    assert!(old.get("pre_bids").is_none());
    old.as_object_mut().unwrap().remove("pre_bids");
    let old: AuctionState = serde_json::from_value(old).unwrap();
    assert!(old.pre_bids.is_empty());
}
