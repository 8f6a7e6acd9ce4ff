//! The group-commit writer.

use std::sync::Arc;

use blytz_actors::domain::{AuctionId, Currency, ProductId, UserId};
use blytz_actors::domain::{Caller, Role};
use blytz_actors::journal_writer::{JournalWriter, WriterSettings};
use blytz_actors::ports::{InMemoryJournal, JournalEntry, JournalError, JournalStore};
use blytz_actors::rules::{AuctionState, BidIds, Command, NewAuction, create, decide};
use chrono::DateTime;

fn created(seller: UserId) -> (JournalEntry, AuctionState) {
    let config = NewAuction::new(ProductId::new(), Currency::USD, 1_000, 60_000)
        .into_config(AuctionId::new(), seller)
        .unwrap();
    let now = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
    let event = create(config, now).unwrap();
    let state = AuctionState::replay([&event]).unwrap();
    (JournalEntry::new(event, &state), state)
}

#[tokio::test]
async fn one_bad_batch_in_a_group_fails_only_its_own_auction() {
    let store = Arc::new(InMemoryJournal::new());
    let writer = JournalWriter::spawn(store.clone(), WriterSettings::default());
    let seller = UserId::new();
    let (a, _) = created(seller);
    let (b, b_state) = created(seller);
    writer.submit(vec![a.clone()]).await.unwrap();

    store.hold();
    // A's seq 1 again: a conflict. B's creation, then its start: fine.
    let dup = writer.submit(vec![a.clone()]);
    let ok = writer.submit(vec![b.clone()]);
    let now = DateTime::from_timestamp_millis(1_700_000_000_001).unwrap();
    let start = decide(
        &b_state,
        Caller::new(seller, Role::Seller),
        Command::Start,
        BidIds::fresh(),
        now,
    )
    .unwrap();
    let next = writer.submit(
        start
            .into_iter()
            .map(|e| JournalEntry::new(e, &b_state))
            .collect(),
    );
    store.release();

    assert!(matches!(
        dup.await,
        Err(JournalError::Conflict { seq: 1, .. })
    ));
    ok.await.unwrap();
    next.await.unwrap();
    assert_eq!(store.events(b.auction_id).len(), 2);
    assert_eq!(store.events(a.auction_id).len(), 1);
    let loaded = store
        .load(b.auction_id)
        .await
        .unwrap()
        .rebuild(b.auction_id)
        .unwrap()
        .unwrap();
    assert_eq!(loaded.seq, 2);
}
