//! Auction actors over the in-memory journal.

use std::time::Duration;

use blytz_actors::AuctionError;
use blytz_actors::auction::MAX_SNAPSHOT_STRETCH;
use blytz_actors::domain::{AuctionId, ShowId, UserId};
use blytz_actors::rooms::RoomKey;
use blytz_actors::rules::{AuctionStatus, Command, Rejection, TimerMode};
use blytz_actors::view::BidOutcome;
use tokio::sync::broadcast::error::TryRecvError;

use crate::helpers::*;

#[actix_rt::test]
async fn a_bid_is_acknowledged_and_published_only_after_the_journal_commits() {
    let t = manual_engine();
    let auction = t.live(t.new_auction(1_000, 60_000)).await;
    let mut room = t.engine.subscribe(RoomKey::Auction(auction.id));
    t.store.hold();

    let (alice, bob) = (UserId::new(), UserId::new());
    let engine = t.engine.clone();
    let first = actix_rt::spawn(async move {
        place_bid(&engine, auction.id, alice, bid(1_000, None, None)).await
    });
    let engine = t.engine.clone();
    let second = actix_rt::spawn(async move {
        place_bid(&engine, auction.id, bob, bid(1_000, None, None)).await
    });
    actix_rt::time::sleep(Duration::from_millis(50)).await;
    assert!(!first.is_finished(), "no ack before the commit");
    assert!(
        !second.is_finished(),
        "no answer (even a rejection) before the commit"
    );
    assert_eq!(
        room.try_recv(),
        Err(TryRecvError::Empty),
        "nothing published before the commit"
    );
    assert_eq!(
        t.store.events(auction.id).len(),
        2,
        "created and started only"
    );

    t.store.release();
    let outcome = first.await.unwrap().unwrap();
    assert!(outcome.leading);
    assert_eq!(outcome.auction.current_price, Some(1_000));
    // The second bid was judged against the first, applied in memory.
    assert_eq!(
        second.await.unwrap(),
        Err(AuctionError::Rejected(Rejection::BidTooLow {
            min_bid: 1_050
        }))
    );
    let frame = next_frame(&mut room).await;
    assert_eq!(frame["type"], "auction.bid");
    assert_eq!(frame["amount"], 1_000);
    assert_eq!(t.store.events(auction.id).len(), 3);
}

#[actix_rt::test]
async fn bids_below_a_floor_not_yet_durable_are_refused_once_it_is_with_its_minimum() {
    let t = manual_engine();
    let auction = t.live(t.new_auction(1_000, 60_000)).await;
    t.store.hold();
    let engine = t.engine.clone();
    let first = actix_rt::spawn(async move {
        place_bid(&engine, auction.id, UserId::new(), bid(1_000, None, None)).await
    });
    actix_rt::time::sleep(Duration::from_millis(50)).await;
    // The first bid is applied: the floor is 1 050, not yet durable.
    let below = |amount| {
        let engine = t.engine.clone();
        actix_rt::spawn(async move {
            place_bid(&engine, auction.id, UserId::new(), bid(amount, None, None)).await
        })
    };
    let (second, third) = (below(1_000), below(1_049));
    actix_rt::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !second.is_finished() && !third.is_finished(),
        "refused before the floor is durable"
    );

    t.store.release();
    assert!(first.await.unwrap().unwrap().leading);
    for refused in [second, third] {
        assert_eq!(
            refused.await.unwrap(),
            Err(AuctionError::Rejected(Rejection::BidTooLow {
                min_bid: 1_050
            }))
        );
    }
    assert_eq!(
        t.store.events(auction.id).len(),
        3,
        "created, started, one bid"
    );
}

#[actix_rt::test]
async fn a_bid_below_a_floor_whose_append_fails_is_judged_again_by_the_rebuilt_auction() {
    let t = manual_engine();
    let auction = t.live(t.new_auction(1_000, 60_000)).await;
    t.store.hold();
    t.store.fail_next_appends(1);
    let engine = t.engine.clone();
    let lost = actix_rt::spawn(async move {
        place_bid(&engine, auction.id, UserId::new(), bid(1_000, None, None)).await
    });
    actix_rt::time::sleep(Duration::from_millis(50)).await;
    let bob = UserId::new();
    let engine = t.engine.clone();
    let second = actix_rt::spawn(async move {
        place_bid(&engine, auction.id, bob, bid(1_000, None, None)).await
    });
    actix_rt::time::sleep(Duration::from_millis(50)).await;
    assert!(!second.is_finished());

    t.store.release();
    let lost = lost.await.unwrap();
    assert!(matches!(lost, Err(AuctionError::Journal(_))), "{lost:?}");
    // Never refused against a bid that was not kept: the rebuilt auction
    // takes it.
    let outcome = second.await.unwrap().unwrap();
    assert!(outcome.leading);
    assert_eq!(outcome.bid.bidder_id, bob);
    assert_eq!(outcome.auction.current_price, Some(1_000));
    assert_eq!(outcome.auction.bid_count, 1);
}

#[actix_rt::test]
async fn a_failed_append_fails_the_reply_and_the_auction_is_rebuilt_from_the_journal() {
    let t = manual_engine();
    let auction = t.live(t.new_auction(1_000, 60_000)).await;
    let alice = UserId::new();
    t.bid(auction.id, alice, 1_000, Some(5_000)).await.unwrap();
    let durable = t.engine.view(auction.id).await.unwrap();

    let mut room = t.engine.subscribe(RoomKey::Auction(auction.id));
    t.store.fail_next_appends(1);
    let failed = t.bid(auction.id, UserId::new(), 2_000, Some(9_000)).await;
    assert!(
        matches!(failed, Err(AuctionError::Journal(_))),
        "{failed:?}"
    );
    assert_eq!(
        room.try_recv(),
        Err(TryRecvError::Empty),
        "a failed bid is never published"
    );

    // The next request reaches an actor rebuilt from the journal alone.
    let rebuilt = t.engine.view(auction.id).await.unwrap();
    assert_eq!(rebuilt.seq, durable.seq);
    assert_eq!(rebuilt.leader_id, Some(alice));
    assert_eq!(rebuilt.current_price, Some(1_000));
    assert_eq!(rebuilt.bid_count, 1);
    // And it takes bids again.
    let outcome = t.bid(auction.id, UserId::new(), 2_000, None).await.unwrap();
    assert!(!outcome.leading, "Alice's proxy (max 5 000) answers");
    assert_eq!(outcome.auction.current_price, Some(2_050));
}

#[actix_rt::test]
async fn a_restart_rebuilds_the_same_view_from_snapshot_and_journal() {
    let t = manual_engine();
    let mut new = t.new_auction(1_000, 60_000);
    new.reserve_price = Some(4_000);
    let auction = t.live(new).await;
    let bidders: Vec<UserId> = (0..3).map(|_| UserId::new()).collect();
    for (i, amount) in [1_000, 1_500, 2_600, 3_000, 5_000].into_iter().enumerate() {
        let _ = t
            .bid(auction.id, bidders[i % 3], amount, Some(amount + 700))
            .await;
    }
    let seller = t.seller();
    command(&t.engine, auction.id, seller, Command::Pause)
        .await
        .unwrap();
    let before = t.engine.view(auction.id).await.unwrap();
    let snapshot = t.store.snapshot(auction.id).expect("a snapshot on pause");
    assert_eq!(snapshot.seq, before.seq);

    let restarted = t.restarted();
    let after = restarted.view(auction.id).await.unwrap();
    assert_eq!(after, before);
    let resumed = command(&restarted, auction.id, seller, Command::Resume)
        .await
        .unwrap();
    assert_eq!(resumed.status, AuctionStatus::Live);
    assert_eq!(resumed.seq, before.seq + 1);
}

/// How far the newest snapshot is behind each of `bids` placed in turn by
/// two bidders, each with `request_id` if one is made; the widest gap and
/// the first bid (its bidder, request id and receipt).
async fn snapshot_gaps(
    t: &TestEngine,
    auction: AuctionId,
    bids: usize,
    request_id: impl Fn(usize) -> Option<String>,
) -> (u64, (UserId, Option<String>, BidOutcome)) {
    let bidders = [UserId::new(), UserId::new()];
    let mut amount = 1_000;
    let (mut widest, mut first) = (0, None);
    for i in 0..bids {
        let (who, id) = (bidders[i % 2], request_id(i));
        let outcome = place_bid(&t.engine, auction, who, bid(amount, None, id.clone()))
            .await
            .unwrap();
        amount = outcome.auction.min_next_bid;
        // A snapshot is saved after the reply: one more turn of the actor.
        let seq = t.engine.view(auction).await.unwrap().seq;
        let saved = t.store.snapshot(auction).map_or(0, |s| s.seq);
        widest = widest.max(seq - saved);
        first.get_or_insert((who, id, outcome));
    }
    (widest, first.unwrap())
}

#[actix_rt::test]
async fn snapshots_space_out_for_the_request_ids_they_carry_and_keep_them() {
    let t = manual_engine();
    let every = settings().auction.snapshot_every;

    // Bids without ids: a snapshot every `snapshot_every` events.
    let plain = t.live(t.new_auction(1_000, 60_000)).await;
    let (widest, _) = snapshot_gaps(&t, plain.id, 30, |_| None).await;
    assert!(widest <= every, "{widest} events without a snapshot");

    // Bids with ids: as many events apart as the ids the state remembers,
    // and never more than the stretch allows.
    let remembering = t.live(t.new_auction(1_000, 60_000)).await;
    let (widest, (first_bidder, first_id, first)) =
        snapshot_gaps(&t, remembering.id, 60, |i| Some(format!("bid-{i}"))).await;
    assert!(widest > every, "snapshots still {every} events apart");
    assert!(
        widest <= every * MAX_SNAPSHOT_STRETCH,
        "{widest} events without a snapshot"
    );

    // After a restart (the newest snapshot, then the events after it) the
    // first id is still remembered: its retry answers the bid it placed.
    let before = t.engine.view(remembering.id).await.unwrap();
    let restarted = t.restarted();
    let retried = place_bid(
        &restarted,
        remembering.id,
        first_bidder,
        bid(first.bid.amount, None, first_id),
    )
    .await
    .unwrap();
    assert_eq!(retried.bid.id, first.bid.id);
    assert_eq!(restarted.view(remembering.id).await.unwrap(), before);
}

#[actix_rt::test]
async fn the_manual_clock_and_a_tick_end_the_auction() {
    let t = manual_engine();
    let auction = t.live(t.new_auction(1_000, 60_000)).await;
    let alice = UserId::new();
    t.bid(auction.id, alice, 1_200, None).await.unwrap();
    t.clock.as_ref().unwrap().advance(59_999);
    assert_eq!(
        t.engine.tick(auction.id).await.unwrap().status,
        AuctionStatus::Live
    );
    t.clock.as_ref().unwrap().advance(1);
    let ended = t.engine.tick(auction.id).await.unwrap();
    assert_eq!(ended.status, AuctionStatus::Ended);
    let outbox = t.store.outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].winner_id, Some(alice));
    assert_eq!(outbox[0].final_price, Some(1_200));
    let late = t.bid(auction.id, UserId::new(), 5_000, None).await;
    assert_eq!(late, Err(AuctionError::Rejected(Rejection::AuctionClosed)));
}

/// A refused bid leaves the ids it was offered to the next command; every
/// recorded bid still has an id of its own.
#[actix_rt::test]
async fn every_recorded_bid_has_an_id_of_its_own_whatever_was_refused_between() {
    let t = manual_engine();
    let auction = t.live(t.new_auction(1_000, 60_000)).await;
    let (alice, bob, carol) = (UserId::new(), UserId::new(), UserId::new());
    let mut ids = vec![t.bid(auction.id, alice, 1_000, None).await.unwrap().bid.id];
    for bidder in [bob, alice, bob] {
        let low = t.bid(auction.id, carol, 1, None).await;
        assert!(
            matches!(
                low,
                Err(AuctionError::Rejected(Rejection::BidTooLow { .. }))
            ),
            "{low:?}"
        );
        let min = t.engine.view(auction.id).await.unwrap().min_next_bid;
        ids.push(t.bid(auction.id, bidder, min, None).await.unwrap().bid.id);
    }
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "{ids:?}");
}

#[actix_rt::test]
async fn the_timer_ends_the_auction_on_its_own() {
    let t = system_engine(settings());
    let mut new = t.new_auction(1_000, 300);
    new.mode = TimerMode::SuddenDeath;
    let created = t.engine.create_auction(t.seller, new).await.unwrap();
    let mut room = t.engine.subscribe(RoomKey::Auction(created.id));
    command(&t.engine, created.id, t.seller(), Command::Start)
        .await
        .unwrap();
    let alice = UserId::new();
    // Early enough or not, the bid either stands or the auction already ended.
    let _ = t.bid(created.id, alice, 1_000, None).await;
    let frames = frames_until(&mut room, "auction.ended").await;
    let ended = frames.last().unwrap();
    let view = t.engine.view(created.id).await.unwrap();
    assert_eq!(view.status, AuctionStatus::Ended);
    assert_eq!(ended["seq"], view.seq);
    assert_eq!(
        ended["winner_id"].as_str().map(str::to_owned),
        view.leader_id.map(|l| l.to_string())
    );
}

#[actix_rt::test]
async fn rooms_receive_every_event_once_with_gapless_seq() {
    let t = manual_engine();
    let show = ShowId::new();
    let mut new = t.new_auction(1_000, 60_000);
    new.show_id = Some(show);
    let created = t.engine.create_auction(t.seller, new).await.unwrap();
    let mut auction_room = t.engine.subscribe(RoomKey::Auction(created.id));
    let mut show_room = t.engine.subscribe(RoomKey::Show(show));
    command(&t.engine, created.id, t.seller(), Command::Start)
        .await
        .unwrap();
    let (alice, bob) = (UserId::new(), UserId::new());
    t.bid(created.id, alice, 1_000, Some(3_000)).await.unwrap();
    t.bid(created.id, bob, 1_500, None).await.unwrap(); // recorded + automatic answer
    t.clock.as_ref().unwrap().advance(55_000);
    t.bid(created.id, bob, 3_100, None).await.unwrap(); // leads + anti-snipe extension
    command(&t.engine, created.id, t.seller(), Command::Pause)
        .await
        .unwrap();
    let last = t.engine.view(created.id).await.unwrap();

    let mut frames = Vec::new();
    while frames
        .last()
        .is_none_or(|f: &serde_json::Value| f["seq"] != last.seq)
    {
        frames.push(next_frame(&mut auction_room).await);
    }
    let seqs: Vec<u64> = frames.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (created.seq + 1..=last.seq).collect::<Vec<_>>());
    let types: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "auction.started",
            "auction.bid",
            "auction.bid",
            "auction.bid",
            "auction.bid",
            "auction.extended",
            "auction.paused"
        ]
    );
    assert_eq!(frames[3]["automatic"], true);
    assert_eq!(frames[4]["leader_id"], bob.to_string());
    for frame in &frames {
        assert_eq!(frame["auction_id"], created.id.to_string());
        assert!(frame["server_time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            next_frame(&mut show_room).await,
            *frame,
            "the show room gets the same frames"
        );
    }
    let snapshot: serde_json::Value =
        serde_json::from_slice(&t.engine.snapshot_frame(created.id).await.unwrap().bytes).unwrap();
    assert_eq!(snapshot["type"], "auction.snapshot");
    assert_eq!(snapshot["seq"], last.seq);
    assert_eq!(snapshot["auction"]["status"], "paused");
}

#[actix_rt::test]
async fn a_retried_request_returns_the_first_outcome() {
    let t = manual_engine();
    let auction = t.live(t.new_auction(1_000, 60_000)).await;
    let alice = UserId::new();
    let tap = |amount| bid(amount, None, Some("tap-1".to_owned()));
    let first = place_bid(&t.engine, auction.id, alice, tap(1_000))
        .await
        .unwrap();
    let retry = place_bid(&t.engine, auction.id, alice, tap(1_000))
        .await
        .unwrap();
    assert_eq!(retry.bid, first.bid);
    assert_eq!(retry.leading, first.leading);
    assert_eq!(retry.auction.bid_count, 1);
    // Even after a restart: the journal remembers the request.
    let again = place_bid(&t.restarted(), auction.id, alice, tap(1_000))
        .await
        .unwrap();
    assert_eq!(again.bid, first.bid);
}

#[actix_rt::test]
async fn auctions_on_worker_arbiters_share_group_commits_and_stay_independent() {
    let mut s = settings();
    s.arbiters = 2;
    s.writer_thread = true;
    // The in-memory journal commits at once, so nothing queues while a
    // commit is in flight (a database's commit takes milliseconds): a
    // window lets the concurrent bids gather.
    s.writer.window = Duration::from_millis(2);
    let t = system_engine(s);
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(t.live(t.new_auction(1_000, 600_000)).await.id);
    }
    let mut handles = Vec::new();
    for round in 0..5 {
        for &id in &ids {
            let engine = t.engine.clone();
            handles.push(actix_rt::spawn(async move {
                place_bid(
                    &engine,
                    id,
                    UserId::new(),
                    bid(1_000 + round * 1_000, None, None),
                )
                .await
            }));
        }
    }
    for handle in handles {
        match handle.await.unwrap() {
            Ok(_) | Err(AuctionError::Rejected(Rejection::BidTooLow { .. })) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    for &id in &ids {
        let view = t.engine.view(id).await.unwrap();
        assert!(view.bid_count >= 1);
        assert_eq!(t.store.events(id).len() as u64, view.seq);
    }
    assert!(
        t.store.batch_sizes().iter().any(|&n| n > 1),
        "concurrent bids share appends: {:?}",
        t.store.batch_sizes()
    );
}

#[actix_rt::test]
async fn unknown_auctions_are_not_found() {
    let t = manual_engine();
    let missing = blytz_actors::domain::AuctionId::new();
    assert_eq!(
        t.engine.view(missing).await,
        Err(AuctionError::Rejected(Rejection::NotFound))
    );
}

#[actix_rt::test]
async fn an_ended_auction_is_evicted_after_its_grace_and_respawned_on_demand() {
    let mut s = settings();
    s.auction.eviction_grace = Duration::from_millis(20);
    let t = system_engine(s);
    let auction = t.live(t.new_auction(1_000, 60_000)).await;
    let ended = command(&t.engine, auction.id, t.seller(), Command::End)
        .await
        .unwrap();
    assert_eq!(ended.status, AuctionStatus::Ended);
    for _ in 0..250 {
        if t.engine.index().get(auction.id).is_none() {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(t.engine.index().get(auction.id).is_none(), "evicted");
    let again = t.engine.view(auction.id).await.unwrap();
    assert_eq!((again.status, again.seq), (AuctionStatus::Ended, ended.seq));
}
