//! The lifecycle: start, pause, resume, extend, end, cancel, close.

use super::*;

#[test]
fn created_event_carries_the_whole_config() {
    let f = Fixture::scheduled(new_auction(1_000));
    let EventKind::Created { config } = &f.events[0].kind else {
        panic!("first event is Created");
    };
    assert_eq!(config, &f.state.config);
    assert_eq!(f.events[0].seq, 1);
    assert_eq!(f.state.status, AuctionStatus::Scheduled);
}

#[test]
fn invalid_configs_are_refused() {
    let seller = UserId::new();
    let mut new = new_auction(0);
    assert!(new.clone().into_config(AuctionId::new(), seller).is_err());
    new.start_price = 1_000;
    new.buy_now_price = Some(1_000);
    assert!(new.clone().into_config(AuctionId::new(), seller).is_err());
    new.buy_now_price = None;
    new.reserve_price = Some(500);
    assert!(new.clone().into_config(AuctionId::new(), seller).is_err());
    new.reserve_price = None;
    new.increments = Some(vec![crate::domain::IncrementTier { from: 10, step: 5 }]);
    let err = new
        .clone()
        .into_config(AuctionId::new(), seller)
        .unwrap_err();
    assert_eq!(err.code(), "invalid_config");
    new.increments = None;
    new.hard_close_at = Some(t0());
    let config = new.into_config(AuctionId::new(), seller).unwrap();
    assert!(create(config, t0()).is_err());
}

#[test]
fn only_the_seller_or_an_admin_runs_the_lifecycle() {
    let mut f = Fixture::scheduled(new_auction(1_000));
    let stranger = buyer(UserId::new());
    assert_eq!(
        f.run(stranger, Command::Start, 0),
        Err(Rejection::Forbidden)
    );
    f.run(admin(UserId::new()), Command::Start, 0).unwrap();
    assert_eq!(f.state.status, AuctionStatus::Live);
    assert_eq!(f.state.ends_at, Some(at(60_000)));
}

#[test]
fn pausing_keeps_the_remaining_time_and_resuming_restores_it() {
    let mut f = Fixture::live(new_auction(1_000));
    let seller = f.seller();
    f.run(seller, Command::Pause, 20_000).unwrap();
    assert_eq!(f.state.status, AuctionStatus::Paused);
    assert_eq!(f.state.remaining_ms, Some(40_000));
    assert_eq!(
        f.bid(UserId::new(), 1_000, None, 30_000),
        Err(Rejection::AuctionNotLive {
            status: AuctionStatus::Paused
        })
    );
    // The deadline does not pass while paused.
    assert_eq!(f.close(100_000).unwrap(), vec![]);
    f.run(seller, Command::Resume, 100_000).unwrap();
    assert_eq!(f.state.ends_at, Some(at(140_000)));
    assert_eq!(
        f.run(seller, Command::Resume, 100_001),
        Err(Rejection::InvalidTransition {
            action: "resume",
            status: AuctionStatus::Live
        })
    );
}

#[test]
fn extend_moves_the_deadline_by_a_duration() {
    let mut f = Fixture::live(new_auction(1_000));
    let seller = f.seller();
    f.run(seller, Command::Extend { by_ms: 30_000 }, 1_000)
        .unwrap();
    assert_eq!(f.state.ends_at, Some(at(90_000)));
    assert_eq!(
        f.state.extensions, 0,
        "manual extensions are not anti-snipe ones"
    );
    assert!(matches!(
        f.run(seller, Command::Extend { by_ms: 0 }, 1_000),
        Err(Rejection::InvalidAmount { .. })
    ));
}

#[test]
fn the_tick_ends_the_auction_only_at_the_deadline() {
    let mut f = Fixture::live(new_auction(1_000));
    let alice = UserId::new();
    f.bid(alice, 1_500, None, 1_000).unwrap();
    assert_eq!(f.close(59_999).unwrap(), vec![]);
    let events = f.close(60_000).unwrap();
    assert_eq!(
        events[0].kind,
        EventKind::Ended {
            winner_id: Some(alice),
            final_price: Some(1_500),
            reserve_met: true,
            reason: EndReason::Timer
        }
    );
    assert_eq!(f.close(70_000).unwrap(), vec![], "one ending only");
}

#[test]
fn no_bids_means_no_winner() {
    let mut f = Fixture::live(new_auction(1_000));
    let events = f.close(60_000).unwrap();
    assert!(matches!(
        events[0].kind,
        EventKind::Ended {
            winner_id: None,
            final_price: None,
            ..
        }
    ));
}

#[test]
fn end_now_hammers_to_the_leader() {
    let mut f = Fixture::live(new_auction(1_000));
    let seller = f.seller();
    let alice = UserId::new();
    f.bid(alice, 1_000, Some(5_000), 1).unwrap();
    f.run(seller, Command::Pause, 2).unwrap();
    f.run(seller, Command::End, 3).unwrap();
    assert_eq!(f.state.winner_id(), Some(alice));
    assert_eq!(f.state.outcome.unwrap().final_price, Some(1_000));
    assert_eq!(
        f.run(seller, Command::Cancel, 4),
        Err(Rejection::AuctionClosed)
    );
}

#[test]
fn cancelled_is_final_and_has_no_winner() {
    let mut f = Fixture::live(new_auction(1_000));
    let seller = f.seller();
    f.bid(UserId::new(), 1_000, None, 1).unwrap();
    f.run(seller, Command::Cancel, 2).unwrap();
    assert_eq!(f.state.status, AuctionStatus::Cancelled);
    assert_eq!(f.state.winner_id(), None);
    assert_eq!(
        f.run(seller, Command::Start, 3),
        Err(Rejection::AuctionClosed)
    );
    assert_eq!(f.close(100_000).unwrap(), vec![]);
}

#[test]
fn rejection_codes_are_stable() {
    let codes: Vec<&str> = [
        Rejection::BidTooLow { min_bid: 1 },
        Rejection::AuctionNotLive {
            status: AuctionStatus::Paused,
        },
        Rejection::AuctionClosed,
        Rejection::OwnAuction,
        Rejection::Forbidden,
        Rejection::InvalidAmount { reason: "x" },
        Rejection::NotFound,
        Rejection::BuyNowUnavailable,
        Rejection::InvalidTransition {
            action: "start",
            status: AuctionStatus::Live,
        },
        Rejection::AlreadyLeading { max_amount: 1 },
        Rejection::InvalidConfig { reason: "x".into() },
    ]
    .iter()
    .map(|rejection| rejection.code().as_str())
    .collect();
    assert_eq!(
        codes,
        [
            "bid_too_low",
            "auction_not_live",
            "auction_closed",
            "own_auction",
            "forbidden",
            "invalid_amount",
            "not_found",
            "buy_now_unavailable",
            "invalid_transition",
            "already_leading",
            "invalid_config"
        ]
    );
    assert_eq!(
        Rejection::BidTooLow { min_bid: 1_600 }.details(),
        serde_json::json!({"min_bid": 1600})
    );
}

#[test]
fn state_round_trips_through_json_for_snapshots() {
    let mut f = Fixture::live(new_auction(1_000));
    let alice = UserId::new();
    f.run(buyer(alice), bid(1_000, Some(3_000), Some("k".into())), 1)
        .unwrap();
    let json = serde_json::to_string(&f.state).unwrap();
    let back: AuctionState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, f.state);
    let events = serde_json::to_string(&f.events).unwrap();
    let back: Vec<Event> = serde_json::from_str(&events).unwrap();
    assert_eq!(back, f.events);
}
