//! Bids: minimums, proxy wars, ties, reserve, buy-now, anti-snipe, retries.

use super::*;

#[test]
fn first_bid_leads_at_its_amount_and_must_reach_the_start_price() {
    let mut f = Fixture::live(new_auction(1_000));
    let alice = UserId::new();
    assert_eq!(f.state.min_next_bid(), 1_000);
    assert_eq!(
        f.bid(alice, 999, None, 1),
        Err(Rejection::BidTooLow { min_bid: 1_000 })
    );
    let events = f.bid(alice, 1_200, Some(5_000), 2).unwrap();
    assert_eq!(bids(&events), vec![(alice, 1_200, false, true)]);
    assert_eq!(f.price(), Some(1_200));
    // 1 200 is in the 500..2 500 tier: +50.
    assert_eq!(f.state.min_next_bid(), 1_250);
}

#[test]
fn proxy_war_new_max_above_the_leaders_leads_one_increment_above() {
    let mut f = Fixture::live(new_auction(1_000));
    let (alice, bob) = (UserId::new(), UserId::new());
    f.bid(alice, 1_000, Some(3_000), 1).unwrap();
    // Bob's max 5 000 > Alice's 3 000: Bob leads at min(5 000, 3 000 + 100).
    let events = f.bid(bob, 1_050, Some(5_000), 2).unwrap();
    assert_eq!(bids(&events), vec![(bob, 3_100, false, true)]);
    assert_eq!((f.leader(), f.price()), (Some(bob), Some(3_100)));
}

#[test]
fn proxy_war_new_max_just_above_the_leaders_leads_at_its_max() {
    let mut f = Fixture::live(new_auction(1_000));
    let (alice, bob) = (UserId::new(), UserId::new());
    f.bid(alice, 1_000, Some(3_000), 1).unwrap();
    f.bid(bob, 1_050, Some(3_050), 2).unwrap();
    assert_eq!((f.leader(), f.price()), (Some(bob), Some(3_050)));
}

#[test]
fn proxy_war_visible_amount_above_the_outbid_price_stands() {
    let mut f = Fixture::live(new_auction(1_000));
    let (alice, bob) = (UserId::new(), UserId::new());
    f.bid(alice, 1_000, Some(1_500), 1).unwrap();
    f.bid(bob, 4_000, Some(6_000), 2).unwrap();
    assert_eq!((f.leader(), f.price()), (Some(bob), Some(4_000)));
}

#[test]
fn a_lower_max_is_recorded_and_the_leaders_proxy_answers() {
    let mut f = Fixture::live(new_auction(1_000));
    let (alice, bob) = (UserId::new(), UserId::new());
    f.bid(alice, 1_000, Some(3_000), 1).unwrap();
    let events = f.bid(bob, 1_500, Some(2_000), 2).unwrap();
    // Bob's 1 500 is recorded, then Alice's proxy answers at 2 000 + 50.
    assert_eq!(
        bids(&events),
        vec![(bob, 1_500, false, false), (alice, 2_050, true, true)]
    );
    assert_eq!((f.leader(), f.price()), (Some(alice), Some(2_050)));
    assert_eq!(f.state.bid_count, 3);
}

#[test]
fn the_proxy_answer_never_exceeds_the_leaders_max() {
    let mut f = Fixture::live(new_auction(1_000));
    let (alice, bob) = (UserId::new(), UserId::new());
    f.bid(alice, 1_000, Some(2_020), 1).unwrap();
    f.bid(bob, 2_000, None, 2).unwrap();
    // 2 000 + 50 would pass Alice's max: her proxy stops at 2 020.
    assert_eq!((f.leader(), f.price()), (Some(alice), Some(2_020)));
}

#[test]
fn equal_maxima_the_earlier_bid_wins_at_that_max() {
    let mut f = Fixture::live(new_auction(1_000));
    let (alice, bob) = (UserId::new(), UserId::new());
    f.bid(alice, 1_000, Some(3_000), 1).unwrap();
    let events = f.bid(bob, 1_500, Some(3_000), 2).unwrap();
    assert_eq!(
        bids(&events),
        vec![(bob, 1_500, false, false), (alice, 3_000, true, true)]
    );
    assert_eq!((f.leader(), f.price()), (Some(alice), Some(3_000)));
    assert_eq!(f.state.min_next_bid(), 3_100);
}

#[test]
fn a_leader_raising_their_max_changes_no_visible_price() {
    let mut f = Fixture::live(new_auction(1_000));
    let (alice, bob) = (UserId::new(), UserId::new());
    f.bid(alice, 1_000, Some(2_000), 1).unwrap();
    let events = f.bid(alice, 1_050, Some(9_000), 2).unwrap();
    assert!(matches!(events[0].kind, EventKind::MaxRaised(_)));
    assert_eq!(f.price(), Some(1_000));
    assert_eq!(f.state.leader.unwrap().max_amount, 9_000);
    assert_eq!(
        f.bid(alice, 1_050, Some(8_000), 3),
        Err(Rejection::AlreadyLeading { max_amount: 9_000 })
    );
    f.bid(bob, 5_000, None, 4).unwrap();
    assert_eq!((f.leader(), f.price()), (Some(alice), Some(5_100)));
}

#[test]
fn invalid_amounts_are_refused() {
    let mut f = Fixture::live(new_auction(1_000));
    let alice = UserId::new();
    assert!(matches!(
        f.bid(alice, 0, None, 1),
        Err(Rejection::InvalidAmount { .. })
    ));
    assert!(matches!(
        f.bid(alice, 2_000, Some(1_500), 1),
        Err(Rejection::InvalidAmount { .. })
    ));
    assert!(matches!(
        f.bid(alice, i64::MAX, None, 1),
        Err(Rejection::InvalidAmount { .. })
    ));
}

#[test]
fn the_seller_never_bids_or_buys_on_their_own_auction() {
    let mut new = new_auction(1_000);
    new.buy_now_price = Some(9_000);
    let mut f = Fixture::live(new);
    let seller = f.seller;
    assert_eq!(f.bid(seller, 1_000, None, 1), Err(Rejection::OwnAuction));
    assert_eq!(
        f.run(buyer(seller), Command::BuyNow, 1),
        Err(Rejection::OwnAuction)
    );
}

#[test]
fn bids_need_a_live_auction_before_its_deadline() {
    let mut f = Fixture::scheduled(new_auction(1_000));
    let alice = UserId::new();
    assert_eq!(
        f.bid(alice, 1_000, None, 0),
        Err(Rejection::AuctionNotLive {
            status: AuctionStatus::Scheduled
        })
    );
    let seller = f.seller();
    f.run(seller, Command::Start, 0).unwrap();
    assert_eq!(
        f.bid(alice, 1_000, None, 60_000),
        Err(Rejection::AuctionClosed)
    );
    f.close(60_000).unwrap();
    assert_eq!(
        f.bid(alice, 1_000, None, 60_001),
        Err(Rejection::AuctionClosed)
    );
}

#[test]
fn hidden_reserve_raises_the_price_when_a_max_reaches_it() {
    let mut new = new_auction(1_000);
    new.reserve_price = Some(5_000);
    let mut f = Fixture::live(new);
    let (alice, bob) = (UserId::new(), UserId::new());
    f.bid(alice, 1_000, Some(2_000), 1).unwrap();
    assert!(!f.state.reserve_met);
    assert_eq!(f.price(), Some(1_000));
    // Bob's max reaches the reserve: the price jumps to 5 000, not 2 100.
    f.bid(bob, 1_100, Some(7_000), 2).unwrap();
    assert!(f.state.reserve_met);
    assert_eq!((f.leader(), f.price()), (Some(bob), Some(5_000)));
}

#[test]
fn reserve_met_by_the_leader_raising_their_max() {
    let mut new = new_auction(1_000);
    new.reserve_price = Some(5_000);
    let mut f = Fixture::live(new);
    let alice = UserId::new();
    f.bid(alice, 1_000, None, 1).unwrap();
    f.bid(alice, 1_050, Some(6_000), 2).unwrap();
    assert!(f.state.reserve_met);
    assert_eq!(f.price(), Some(5_000));
}

#[test]
fn reserve_not_met_means_no_winner() {
    let mut new = new_auction(1_000);
    new.reserve_price = Some(5_000);
    let mut f = Fixture::live(new);
    f.bid(UserId::new(), 1_000, Some(4_000), 1).unwrap();
    let events = f.close(60_000).unwrap();
    assert_eq!(
        events[0].kind,
        EventKind::Ended {
            winner_id: None,
            final_price: None,
            reserve_met: false,
            reason: EndReason::Timer
        }
    );
}

#[test]
fn buy_now_ends_the_auction_with_the_buyer_as_winner() {
    let mut new = new_auction(1_000);
    new.buy_now_price = Some(9_000);
    let mut f = Fixture::live(new);
    let carol = UserId::new();
    f.run(buyer(carol), Command::BuyNow, 5).unwrap();
    assert_eq!(f.state.status, AuctionStatus::Ended);
    assert_eq!(f.state.winner_id(), Some(carol));
    assert_eq!(f.price(), Some(9_000));
    assert_eq!(
        f.bid(UserId::new(), 9_500, None, 6),
        Err(Rejection::AuctionClosed)
    );
}

#[test]
fn buy_now_goes_with_the_first_bid() {
    let mut new = new_auction(1_000);
    new.buy_now_price = Some(9_000);
    let mut f = Fixture::live(new);
    f.bid(UserId::new(), 1_000, None, 1).unwrap();
    let carol = UserId::new();
    assert_eq!(
        f.run(buyer(carol), Command::BuyNow, 2),
        Err(Rejection::BuyNowUnavailable)
    );
}

#[test]
fn with_a_reserve_buy_now_stays_until_the_reserve_is_met() {
    let mut new = new_auction(1_000);
    new.reserve_price = Some(5_000);
    new.buy_now_price = Some(9_000);
    let mut f = Fixture::live(new);
    f.bid(UserId::new(), 1_000, None, 1).unwrap();
    assert!(f.state.buy_now_available());
    f.bid(UserId::new(), 5_000, None, 2).unwrap();
    assert!(!f.state.buy_now_available());
    assert_eq!(
        f.run(buyer(UserId::new()), Command::BuyNow, 3),
        Err(Rejection::BuyNowUnavailable)
    );
}

#[test]
fn a_late_bid_resets_the_remaining_time_to_extend_to() {
    let mut f = Fixture::live(new_auction(1_000));
    let alice = UserId::new();
    // 5 s left (< 10 s window): the deadline becomes bid time + 10 s.
    let events = f.bid(alice, 1_000, None, 55_000).unwrap();
    assert_eq!(
        events.last().unwrap().kind,
        EventKind::Extended {
            ends_at: at(65_000),
            extensions: 1,
            reason: ExtendReason::AntiSnipe
        }
    );
    // An early bid does not extend.
    let mut g = Fixture::live(new_auction(1_000));
    assert_eq!(g.bid(alice, 1_000, None, 40_000).unwrap().len(), 1);
    assert_eq!(g.state.ends_at, Some(at(60_000)));
}

#[test]
fn anti_snipe_is_capped_by_max_extensions() {
    let mut new = new_auction(1_000);
    new.max_extensions = Some(1);
    let mut f = Fixture::live(new);
    let (alice, bob) = (UserId::new(), UserId::new());
    f.bid(alice, 1_000, None, 55_000).unwrap();
    assert_eq!(f.state.ends_at, Some(at(65_000)));
    let events = f.bid(bob, 1_050, None, 64_000).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(f.state.ends_at, Some(at(65_000)));
    assert_eq!(f.state.extensions, 1);
}

#[test]
fn anti_snipe_is_capped_by_the_hard_close() {
    let mut new = new_auction(1_000);
    new.hard_close_at = Some(at(62_000));
    let mut f = Fixture::live(new);
    f.bid(UserId::new(), 1_000, None, 55_000).unwrap();
    assert_eq!(f.state.ends_at, Some(at(62_000)));
    // At the hard close already: no further extension.
    let events = f.bid(UserId::new(), 1_050, None, 61_000).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(f.state.ends_at, Some(at(62_000)));
}

#[test]
fn sudden_death_never_extends() {
    let mut new = new_auction(1_000);
    new.mode = TimerMode::SuddenDeath;
    let mut f = Fixture::live(new);
    let events = f.bid(UserId::new(), 1_000, None, 59_999).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(f.state.ends_at, Some(at(60_000)));
}

#[test]
fn a_rejected_bid_never_extends_the_timer() {
    let mut f = Fixture::live(new_auction(1_000));
    assert!(f.bid(UserId::new(), 10, None, 59_000).is_err());
    assert_eq!(f.state.ends_at, Some(at(60_000)));
}

#[test]
fn a_retried_request_returns_the_first_outcome_and_records_no_second_bid() {
    let mut f = Fixture::live(new_auction(1_000));
    let alice = UserId::new();
    let request = |amount| bid(amount, None, Some("r-1".to_owned()));
    let first = f.run(buyer(alice), request(1_000), 1).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(f.run(buyer(alice), request(1_000), 2).unwrap(), vec![]);
    assert_eq!(f.run(buyer(alice), request(4_000), 3).unwrap(), vec![]);
    assert_eq!(f.state.bid_count, 1);
    let recorded = f.state.recorded_bid(alice, "r-1").unwrap();
    assert_eq!(
        (recorded.amount, recorded.leading, recorded.seq),
        (1_000, true, first[0].seq)
    );
    // The same key from another bidder is another request.
    let bob = UserId::new();
    let other = bid(1_050, None, Some("r-1".to_owned()));
    assert_eq!(f.run(buyer(bob), other, 4).unwrap().len(), 1);
}

#[test]
fn the_proxy_war_of_docs_bidding_md() {
    let mut f = Fixture::live(new_auction(1_000));
    let (alice, bob, carol, dave) = (UserId::new(), UserId::new(), UserId::new(), UserId::new());
    f.bid(alice, 1_000, Some(3_000), 1).unwrap();
    assert_eq!((f.leader(), f.price()), (Some(alice), Some(1_000)));
    f.bid(bob, 1_500, Some(2_000), 2).unwrap();
    assert_eq!(
        (f.leader(), f.price(), f.state.bid_count),
        (Some(alice), Some(2_050), 3)
    );
    f.bid(carol, 2_100, Some(5_000), 3).unwrap();
    assert_eq!((f.leader(), f.price()), (Some(carol), Some(3_100)));
    f.bid(dave, 4_000, None, 4).unwrap();
    assert_eq!((f.leader(), f.price()), (Some(carol), Some(4_100)));
}
