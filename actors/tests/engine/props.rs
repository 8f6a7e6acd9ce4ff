//! Property tests of the rules over random command sequences.

use blytz_actors::domain::{AuctionId, Caller, Currency, ProductId, Role, UserId};
use blytz_actors::rules::{
    AuctionState, AuctionStatus, Bid, BidIds, Command, EndReason, Event, EventKind, NewAuction,
    PreBid, TimerMode, apply, close, create, decide,
};
use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Bid {
        bidder: usize,
        over_min: i64,
        extra_max: Option<i64>,
        request: Option<u8>,
    },
    Advance(i64),
    Pause,
    Resume,
    Extend(i64),
    BuyNow(usize),
    Close,
    End,
    Cancel,
    Start,
    PreBid {
        bidder: usize,
        over_min: i64,
        request: Option<u8>,
    },
    WithdrawPreBid(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0..4usize, -60..600i64, proptest::option::of(0..6_000i64), proptest::option::of(0..3u8))
            .prop_map(|(bidder, over_min, extra_max, request)| Op::Bid { bidder, over_min, extra_max, request }),
        6 => (0..3_000i64).prop_map(Op::Advance),
        1 => (0..30_000i64).prop_map(Op::Advance),
        1 => Just(Op::Pause),
        1 => Just(Op::Resume),
        1 => (-10..30_000i64).prop_map(Op::Extend),
        1 => (0..4usize).prop_map(Op::BuyNow),
        1 => Just(Op::Close),
        1 => prop::bool::weighted(0.2).prop_map(|end| if end { Op::End } else { Op::Close }),
        1 => prop::bool::weighted(0.1).prop_map(|cancel| if cancel { Op::Cancel } else { Op::Start }),
        4 => (0..4usize, -60..6_000i64, proptest::option::of(0..3u8))
            .prop_map(|(bidder, over_min, request)| Op::PreBid { bidder, over_min, request }),
        1 => (0..4usize).prop_map(Op::WithdrawPreBid),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    start_price: i64,
    reserve_over: Option<i64>,
    buy_now_over: Option<i64>,
    sudden_death: bool,
    max_extensions: Option<u32>,
    hard_close_after: Option<i64>,
    duration_ms: i64,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        1..3_000i64,
        proptest::option::of(0..5_000i64),
        proptest::option::of(1..8_000i64),
        any::<bool>(),
        proptest::option::of(0..4u32),
        proptest::option::of(1_000..200_000i64),
        1_000..40_000i64,
    )
        .prop_map(
            |(
                start_price,
                reserve_over,
                buy_now_over,
                sudden_death,
                max_extensions,
                hard_close_after,
                duration_ms,
            )| Setup {
                start_price,
                reserve_over,
                buy_now_over,
                sudden_death,
                max_extensions,
                hard_close_after,
                duration_ms,
            },
        )
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_700_000_000_000).unwrap()
}

/// Runs `ops` and checks every invariant after every step.
fn check(setup: &Setup, ops: &[Op]) -> Result<(), TestCaseError> {
    let seller = UserId::new();
    let bidders = [seller, UserId::new(), UserId::new(), UserId::new()];
    let mut new = NewAuction::new(
        ProductId::new(),
        Currency::USD,
        setup.start_price,
        setup.duration_ms,
    );
    new.reserve_price = setup.reserve_over.map(|r| setup.start_price + r);
    new.buy_now_price = setup
        .buy_now_over
        .map(|b| new.reserve_price.unwrap_or(setup.start_price) + b);
    new.mode = if setup.sudden_death {
        TimerMode::SuddenDeath
    } else {
        TimerMode::Standard
    };
    new.max_extensions = setup.max_extensions;
    new.hard_close_at = setup
        .hard_close_after
        .map(|ms| t0() + TimeDelta::milliseconds(ms));
    let config = new.into_config(AuctionId::new(), seller).unwrap();

    let mut now = t0();
    let created = create(config, now).unwrap();
    let mut state = AuctionState::replay([&created]).unwrap();
    let mut journal: Vec<Event> = vec![created];
    let mut maxima: Vec<(UserId, i64)> = Vec::new();
    let by = Caller::new(seller, Role::Seller);
    let mut started = false;

    for op in ops {
        // `None`: the timer's check.
        let command = match op {
            Op::Advance(ms) => {
                now += TimeDelta::milliseconds(*ms);
                None
            }
            Op::Bid {
                bidder,
                over_min,
                extra_max,
                request,
            } => {
                let amount = state.min_next_bid() + over_min;
                let mut bidder_id = bidders[*bidder];
                if *bidder == 0 && started {
                    bidder_id = bidders[1 + (amount as usize % 3)];
                }
                let bid = Bid {
                    amount,
                    max_amount: extra_max.map(|m| amount + m),
                    request_id: request.map(|r| format!("req-{r}")),
                };
                Some((Caller::new(bidder_id, Role::Buyer), Command::Bid(bid)))
            }
            Op::Pause => Some((by, Command::Pause)),
            Op::Resume => Some((by, Command::Resume)),
            Op::Extend(ms) => Some((by, Command::Extend { by_ms: *ms })),
            Op::BuyNow(b) => Some((Caller::new(bidders[*b], Role::Buyer), Command::BuyNow)),
            Op::Close => None,
            Op::End => Some((by, Command::End)),
            Op::Cancel => Some((by, Command::Cancel)),
            Op::Start => Some((by, Command::Start)),
            Op::PreBid {
                bidder,
                over_min,
                request,
            } => {
                let pre_bid = PreBid {
                    max_amount: state.min_next_bid() + over_min,
                    request_id: request.map(|r| format!("req-{r}")),
                };
                let caller = Caller::new(bidders[*bidder], Role::Buyer);
                Some((caller, Command::PreBid(pre_bid)))
            }
            Op::WithdrawPreBid(b) => Some((
                Caller::new(bidders[*b], Role::Buyer),
                Command::WithdrawPreBid,
            )),
        };
        started |= matches!(command, Some((_, Command::Start)));
        let before = state.clone();
        let decided = match command {
            Some((caller, command)) => decide(&state, caller, command, BidIds::fresh(), now),
            None => Ok(close(&state, now)),
        };
        match decided {
            Err(_) => prop_assert_eq!(&state, &before, "a rejection changes nothing"),
            Ok(events) => {
                if before.status.is_final() {
                    prop_assert!(events.is_empty(), "nothing happens after the end");
                }
                for event in &events {
                    prop_assert_eq!(event.seq, state.seq + 1, "seq is gapless");
                    apply(&mut state, event);
                    match &event.kind {
                        EventKind::BidPlaced(b) if !b.automatic => {
                            maxima.push((b.bidder_id, b.max_amount))
                        }
                        EventKind::MaxRaised(r) => maxima.push((r.bidder_id, r.max_amount)),
                        EventKind::Ended {
                            winner_id: Some(w),
                            final_price: Some(p),
                            reason: EndReason::BuyNow,
                            ..
                        } => {
                            maxima.push((*w, *p));
                        }
                        _ => {}
                    }
                }
                journal.extend(events);
            }
        }
        // The visible price never falls and stays within the leader's max.
        if let Some(old) = before.current_price {
            prop_assert!(state.current_price.is_some_and(|p| p >= old), "price fell");
        }
        if let Some(price) = state.current_price {
            prop_assert!(price >= setup.start_price);
            prop_assert!(state.leader.is_some_and(|l| price <= l.max_amount));
        }
        // The leader holds the highest max, the earliest on ties.
        if let Some(leader) = state.leader {
            let top = maxima.iter().map(|(_, m)| *m).max().unwrap();
            let first = maxima.iter().find(|(_, m)| *m == top).unwrap().0;
            prop_assert_eq!(leader.max_amount, top);
            prop_assert_eq!(leader.bidder_id, first);
        }
        // Pre-bids wait only while scheduled, one per bidder, never the seller's.
        if state.status != AuctionStatus::Scheduled {
            prop_assert!(state.pre_bids.is_empty());
        }
        for (i, p) in state.pre_bids.iter().enumerate() {
            prop_assert!(p.bidder_id != seller);
            prop_assert!(p.max_amount >= setup.start_price);
            prop_assert!(
                state.pre_bids[..i]
                    .iter()
                    .all(|q| q.bidder_id != p.bidder_id)
            );
        }
        // A timer only moves later while live, and never past the hard close.
        if let (Some(hard), Some(ends_at)) = (setup.hard_close_after, state.ends_at)
            && state.status == AuctionStatus::Live
        {
            prop_assert!(ends_at <= t0() + TimeDelta::milliseconds(hard));
        }
        // Zero or one winner, who is the leader with the reserve met.
        let endings = journal.iter().filter(|e| e.kind.is_ended()).count();
        prop_assert!(endings <= 1);
        if let Some(winner) = state.winner_id() {
            prop_assert_eq!(state.status, AuctionStatus::Ended);
            prop_assert!(state.reserve_met);
            prop_assert_eq!(state.leader.map(|l| l.bidder_id), Some(winner));
        }
        // The journal alone rebuilds exactly the live state.
        let rebuilt = AuctionState::replay(&journal);
        prop_assert_eq!(rebuilt.as_ref(), Some(&state));
    }
    let seqs: Vec<u64> = journal.iter().map(|e| e.seq).collect();
    prop_assert_eq!(seqs, (1..=journal.len() as u64).collect::<Vec<_>>());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn rules_hold_over_random_command_sequences(
        setup in setup(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let mut ops = ops;
        ops.insert(0, Op::Start);
        check(&setup, &ops)?;
    }

    #[test]
    fn rules_hold_even_without_a_start_first(
        setup in setup(),
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        check(&setup, &ops)?;
    }
}
