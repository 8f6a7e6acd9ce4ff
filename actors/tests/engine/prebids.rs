//! Pre-bids: properties of the rules over random pre-bid sequences, and the
//! engine end to end (durable answers, recovery, the room at the start).

use std::collections::HashSet;

use blytz_actors::domain::{AuctionId, Caller, Currency, ProductId, Role, UserId};
use blytz_actors::rooms::RoomKey;
use blytz_actors::rules::{
    AuctionState, AuctionStatus, Bid, BidIds, Command, Event, EventKind, NewAuction, PreBid,
    Rejection, TimerMode, apply, create, decide,
};
use blytz_actors::view::{Outcome, PreBidOutcome, event_frame};
use blytz_actors::{AuctionError, Engine};
use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;

use crate::helpers::{command, frames_until, manual_engine, next_frame};

// ---------------------------------------------------------------------------
// Properties of the rules.

#[derive(Debug, Clone)]
enum Op {
    /// Bidder 0 is the seller.
    Place {
        bidder: usize,
        over_start: i64,
        request: Option<u8>,
    },
    Withdraw(usize),
    Advance(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..5usize, -200..8_000i64, proptest::option::of(0..3u8))
            .prop_map(|(bidder, over_start, request)| Op::Place { bidder, over_start, request }),
        2 => (0..5usize).prop_map(Op::Withdraw),
        2 => (0..5_000i64).prop_map(Op::Advance),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    start_price: i64,
    reserve_over: Option<i64>,
    sudden_death: bool,
    max_extensions: Option<u32>,
    duration_ms: i64,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        1..3_000i64,
        proptest::option::of(0..6_000i64),
        any::<bool>(),
        proptest::option::of(0..3u32),
        1_000..40_000i64,
    )
        .prop_map(
            |(start_price, reserve_over, sudden_death, max_extensions, duration_ms)| Setup {
                start_price,
                reserve_over,
                sudden_death,
                max_extensions,
                duration_ms,
            },
        )
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_700_000_000_000).unwrap()
}

fn new_auction(setup: &Setup) -> NewAuction {
    let mut new = NewAuction::new(
        ProductId::new(),
        Currency::USD,
        setup.start_price,
        setup.duration_ms,
    );
    new.reserve_price = setup.reserve_over.map(|r| setup.start_price + r);
    new.mode = if setup.sudden_death {
        TimerMode::SuddenDeath
    } else {
        TimerMode::Standard
    };
    new.max_extensions = setup.max_extensions;
    new
}

/// What a room and the state show of the bids: (bidder, amount, automatic,
/// leading, price).
fn bids(events: &[Event]) -> Vec<(UserId, i64, bool, bool, i64)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::BidPlaced(b) => Some((
                b.bidder_id,
                b.amount,
                b.automatic,
                b.leading,
                b.current_price,
            )),
            _ => None,
        })
        .collect()
}

/// The same event with another hidden maximum, if it carries one.
fn with_other_max(event: &Event) -> Option<Event> {
    let mut other = event.clone();
    match &mut other.kind {
        EventKind::PreBidPlaced(set) | EventKind::PreBidRaised(set) => {
            set.max_amount += 1;
            Some(other)
        }
        _ => None,
    }
}

fn apply_checked(
    state: &mut AuctionState,
    journal: &mut Vec<Event>,
    events: &[Event],
) -> Result<(), TestCaseError> {
    for event in events {
        prop_assert_eq!(event.seq, state.seq + 1, "seq is gapless");
        let before = state.clone();
        apply(state, event);
        // The room never learns who pre-bid or what maximum: the frame is
        // the same whatever the maximum, and names nobody.
        let frame = event_frame(state, event);
        let text = String::from_utf8(frame.to_vec()).unwrap();
        prop_assert!(!text.contains("max_amount"), "{}", text);
        if let EventKind::PreBidPlaced(set) | EventKind::PreBidRaised(set) = &event.kind {
            prop_assert!(!text.contains(&set.bidder_id.to_string()), "{}", text);
        }
        if let EventKind::PreBidWithdrawn { bidder_id } = &event.kind {
            prop_assert!(!text.contains(&bidder_id.to_string()), "{}", text);
        }
        if let Some(other) = with_other_max(event) {
            let mut alt = before;
            apply(&mut alt, &other);
            prop_assert_eq!(&event_frame(&alt, &other), &frame);
        }
    }
    journal.extend(events.iter().cloned());
    Ok(())
}

/// Runs `ops` on a scheduled auction, each checked against a model of the
/// pre-bid rules, then starts it and compares with the same bids placed
/// as ordinary bids, in order, right after the start.
fn check(setup: &Setup, ops: &[Op], start_after: i64) -> Result<(), TestCaseError> {
    let seller = UserId::new();
    let users = [
        seller,
        UserId::new(),
        UserId::new(),
        UserId::new(),
        UserId::new(),
    ];
    let config = new_auction(setup)
        .into_config(AuctionId::new(), seller)
        .unwrap();
    let mut now = t0();
    let created = create(config.clone(), now).unwrap();
    let mut state = AuctionState::replay([&created]).unwrap();
    let mut journal = vec![created.clone()];

    // The model: the entry order and the request ids seen, per bidder.
    let mut order: Vec<(usize, i64)> = Vec::new();
    let mut seen: HashSet<(usize, u8)> = HashSet::new();
    let start = setup.start_price;

    for op in ops {
        let (bidder, command, expected) = match op {
            Op::Advance(ms) => {
                now += TimeDelta::milliseconds(*ms);
                continue;
            }
            Op::Place {
                bidder,
                over_start,
                request,
            } => {
                let max = start + over_start;
                let held = order.iter().find(|(b, _)| b == bidder).map(|(_, m)| *m);
                let expected = if request.is_some_and(|r| seen.contains(&(*bidder, r))) {
                    Ok(false)
                } else if *bidder == 0 {
                    Err(Rejection::OwnAuction)
                } else if max < 1 {
                    Err(Rejection::InvalidAmount {
                        reason: "an amount is between 1 and 10^15 minor units",
                    })
                } else if max < start {
                    Err(Rejection::BidTooLow { min_bid: start })
                } else if let Some(held) = held.filter(|held| max <= *held) {
                    Err(Rejection::PreBidNotRaised { max_amount: held })
                } else {
                    order.retain(|(b, _)| b != bidder);
                    order.push((*bidder, max));
                    if let Some(r) = request {
                        seen.insert((*bidder, *r));
                    }
                    Ok(true)
                };
                let command = Command::PreBid(PreBid {
                    max_amount: max,
                    request_id: request.map(|r| format!("p-{r}")),
                });
                (*bidder, command, expected)
            }
            Op::Withdraw(bidder) => {
                let expected = if order.iter().any(|(b, _)| b == bidder) {
                    order.retain(|(b, _)| b != bidder);
                    Ok(true)
                } else {
                    Err(Rejection::NoPreBid)
                };
                (*bidder, Command::WithdrawPreBid, expected)
            }
        };
        let before = state.clone();
        let caller = Caller::new(users[bidder], Role::Buyer);
        match (
            decide(&state, caller, command, BidIds::fresh(), now),
            expected,
        ) {
            (Ok(events), Ok(changes)) => {
                prop_assert_eq!(!events.is_empty(), changes);
                apply_checked(&mut state, &mut journal, &events)?;
            }
            (Err(got), Err(want)) => {
                prop_assert_eq!(got, want);
                prop_assert_eq!(&state, &before, "a rejection changes nothing");
            }
            (got, want) => prop_assert!(false, "got {:?}, the model says {:?}", got, want),
        }
        let held: Vec<(UserId, i64)> = state
            .pre_bids
            .iter()
            .map(|p| (p.bidder_id, p.max_amount))
            .collect();
        let modelled: Vec<(UserId, i64)> = order.iter().map(|(b, m)| (users[*b], *m)).collect();
        prop_assert_eq!(held, modelled);
        prop_assert_eq!(state.bid_count, 0, "a pre-bid is not a bid");
        let rebuilt = AuctionState::replay(&journal);
        prop_assert_eq!(rebuilt.as_ref(), Some(&state));
    }

    // The start enters them.
    now += TimeDelta::milliseconds(start_after);
    let by = Caller::new(seller, Role::Seller);
    let started = decide(&state, by, Command::Start, BidIds::fresh(), now).unwrap();
    let opens = matches!(started[0].kind, EventKind::Started { .. });
    prop_assert!(opens, "the start opens with `started`");
    apply_checked(&mut state, &mut journal, &started)?;
    prop_assert!(state.pre_bids.is_empty());
    let rebuilt = AuctionState::replay(&journal);
    prop_assert_eq!(rebuilt.as_ref(), Some(&state));

    // The same bids placed as ordinary bids right after the start, in order.
    let mut reference = AuctionState::replay([&created]).unwrap();
    let ref_started = decide(&reference, by, Command::Start, BidIds::fresh(), now).unwrap();
    let mut ref_events = ref_started.clone();
    for event in &ref_started {
        apply(&mut reference, event);
    }
    for (bidder, max) in &order {
        let bid = Bid {
            amount: reference.min_next_bid(),
            max_amount: Some(*max),
            request_id: None,
        };
        let caller = Caller::new(users[*bidder], Role::Buyer);
        if let Ok(events) = decide(&reference, caller, Command::Bid(bid), BidIds::fresh(), now) {
            for event in &events {
                apply(&mut reference, event);
            }
            ref_events.extend(events);
        }
    }
    prop_assert_eq!(bids(&started), bids(&ref_events));
    prop_assert_eq!(reference.leader, state.leader);
    prop_assert_eq!(reference.current_price, state.current_price);
    prop_assert_eq!(reference.bid_count, state.bid_count);
    prop_assert_eq!(reference.reserve_met, state.reserve_met);
    prop_assert_eq!(reference.ends_at, state.ends_at);
    prop_assert_eq!(reference.extensions, state.extensions);
    prop_assert_eq!(
        started.len(),
        ref_events.len(),
        "the same events, extensions too"
    );

    // A withdrawn (or never placed) pre-bid takes no part.
    let entered: HashSet<UserId> = order.iter().map(|(b, _)| users[*b]).collect();
    for (bidder, ..) in bids(&started) {
        prop_assert!(entered.contains(&bidder));
    }
    // The highest maximum among the pre-bids that entered leads, the
    // earliest placed on a tie. One that could not enter was below the
    // minimum next bid by its turn, as a live bid with that maximum would
    // have been, so it is below the minimum now too.
    let placed: HashSet<UserId> = bids(&started)
        .iter()
        .filter(|(_, _, automatic, ..)| !automatic)
        .map(|(bidder, ..)| *bidder)
        .collect();
    let (went_in, left_out): (Vec<_>, Vec<_>) =
        order.iter().partition(|(b, _)| placed.contains(&users[*b]));
    for (_, max) in &left_out {
        prop_assert!(*max < state.min_next_bid(), "{max} could have entered");
    }
    if let Some(top) = went_in.iter().map(|(_, m)| *m).max() {
        let first = went_in.iter().find(|(_, m)| *m == top).unwrap().0;
        prop_assert_eq!(state.leader.map(|l| l.bidder_id), Some(users[first]));
        prop_assert_eq!(state.leader.map(|l| l.max_amount), Some(top));
    } else {
        prop_assert_eq!(state.leader, None);
        prop_assert_eq!(state.bid_count, 0);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn starting_with_pre_bids_equals_bidding_them_in_order_at_the_start(
        setup in setup(),
        ops in proptest::collection::vec(op(), 0..30),
        start_after in 0..60_000i64,
    ) {
        check(&setup, &ops, start_after)?;
    }
}

// ---------------------------------------------------------------------------
// The engine.

async fn pre_bid(
    engine: &Engine,
    auction_id: AuctionId,
    bidder: UserId,
    max_amount: i64,
    request_id: Option<&str>,
) -> Result<PreBidOutcome, AuctionError> {
    let command = Command::PreBid(PreBid {
        max_amount,
        request_id: request_id.map(str::to_owned),
    });
    match engine
        .execute(auction_id, Caller::new(bidder, Role::Buyer), command)
        .await?
    {
        Outcome::PreBid(outcome) => Ok(*outcome),
        other => panic!("a pre-bid answered {other:?}"),
    }
}

#[actix_rt::test]
async fn pre_bids_are_durable_private_and_enter_in_order_when_the_auction_starts() {
    let t = manual_engine();
    let created = t
        .engine
        .create_auction(t.seller, t.new_auction(1_000, 60_000))
        .await
        .unwrap();
    let id = created.id;
    let [ann, bob, cat, dan] = [(); 4].map(|()| UserId::new());

    let first = pre_bid(&t.engine, id, ann, 3_000, Some("a1"))
        .await
        .unwrap();
    assert_eq!(first.pre_bid.max_amount, 3_000);
    assert_eq!(first.pre_bid.bidder_id, ann);
    assert_eq!(first.auction.pre_bid_count, 1);
    assert_eq!(first.auction.current_price, None);
    // A retry answers the first outcome and places nothing.
    let retry = pre_bid(&t.engine, id, ann, 3_000, Some("a1"))
        .await
        .unwrap();
    assert_eq!(retry.pre_bid.id, first.pre_bid.id);
    assert_eq!(retry.auction.seq, first.auction.seq);
    pre_bid(&t.engine, id, bob, 5_000, None).await.unwrap();
    pre_bid(&t.engine, id, cat, 4_000, None).await.unwrap();
    pre_bid(&t.engine, id, dan, 9_000, None).await.unwrap();
    let withdrawn = command(
        &t.engine,
        id,
        Caller::new(dan, Role::Buyer),
        Command::WithdrawPreBid,
    )
    .await
    .unwrap();
    assert_eq!(withdrawn.pre_bid_count, 3);
    // The seller cannot pre-bid.
    let own = t
        .engine
        .execute(
            id,
            t.seller(),
            Command::PreBid(PreBid {
                max_amount: 2_000,
                request_id: None,
            }),
        )
        .await;
    assert!(matches!(
        own,
        Err(AuctionError::Rejected(Rejection::OwnAuction))
    ));

    // Each sees their own pre-bid, nobody else's.
    let mine = t.engine.pre_bid(id, bob).await.unwrap().unwrap();
    assert_eq!(mine.pre_bid.max_amount, 5_000);
    assert_eq!(t.engine.pre_bid(id, dan).await.unwrap(), None);
    assert_eq!(t.engine.pre_bid(id, t.seller).await.unwrap(), None);

    // A restart rebuilds them from snapshot and journal.
    let before = t.engine.view(id).await.unwrap();
    let restarted = t.restarted();
    assert_eq!(restarted.view(id).await.unwrap(), before);
    assert_eq!(
        restarted.pre_bid(id, bob).await.unwrap().map(|o| o.pre_bid),
        Some(mine.pre_bid)
    );

    // The room sees the start, then each pre-bid enter as a bid, in order.
    let mut room = restarted.subscribe(RoomKey::Auction(id));
    let live = command(&restarted, id, t.seller(), Command::Start)
        .await
        .unwrap();
    assert_eq!(live.status, AuctionStatus::Live);
    assert_eq!(live.leader_id, Some(bob));
    assert_eq!(live.current_price, Some(4_100));
    assert_eq!(live.bid_count, 4);
    assert_eq!(live.pre_bid_count, 0);
    let frames = frames_until(&mut room, "auction.started").await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    let mut seen = vec![frames[0].clone()];
    while seen.last().unwrap()["seq"] != live.seq {
        seen.push(next_frame(&mut room).await);
    }
    let seqs: Vec<u64> = seen.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (before.seq + 1..=live.seq).collect::<Vec<_>>());
    let entered: Vec<(String, i64, bool)> = seen[1..]
        .iter()
        .map(|f| {
            assert_eq!(f["type"], "auction.bid");
            (
                f["bidder_id"].as_str().unwrap().to_owned(),
                f["amount"].as_i64().unwrap(),
                f["automatic"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        entered,
        vec![
            (ann.to_string(), 1_000, false),
            (bob.to_string(), 3_100, false),
            (cat.to_string(), 3_200, false),
            (bob.to_string(), 4_100, true),
        ]
    );
    for frame in &seen {
        let text = frame.to_string();
        assert!(!text.contains("max_amount"));
        assert!(
            !text.contains(&dan.to_string()),
            "a withdrawn pre-bid takes no part"
        );
    }
    // Entered: no pre-bid is held any more, and none can be placed.
    assert_eq!(restarted.pre_bid(id, bob).await.unwrap(), None);
    let late = pre_bid(&restarted, id, dan, 9_000, None).await;
    assert!(matches!(
        late,
        Err(AuctionError::Rejected(
            Rejection::AuctionNotScheduled { .. }
        ))
    ));
    // A retry of a pre-bid that entered still answers its first outcome.
    let retry = pre_bid(&restarted, id, ann, 3_000, Some("a1"))
        .await
        .unwrap();
    assert_eq!(retry.pre_bid.id, first.pre_bid.id);
}
