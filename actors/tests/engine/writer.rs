//! The group-commit writer.

use std::sync::{Arc, Mutex};

use blytz_actors::domain::{AuctionId, Currency, ProductId, UserId};
use blytz_actors::domain::{Caller, Role};
use blytz_actors::journal_writer::{JournalWriter, WriterSettings};
use blytz_actors::ports::{
    InMemoryJournal, JournalEntry, JournalError, JournalStore, LoadedJournal, Snapshot,
};
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

/// An in-memory journal that notes, for each call that commits, how many
/// entries and snapshots it was handed, and what happened in turn (its
/// commits, its upkeep and what the test notes beside them).
#[derive(Debug, Default)]
struct Noting {
    inner: InMemoryJournal,
    commits: Mutex<Vec<(usize, usize)>>,
    happened: Mutex<Vec<&'static str>>,
}

impl Noting {
    fn note(&self, what: &'static str) {
        self.happened.lock().unwrap().push(what);
    }
}

#[async_trait::async_trait]
impl JournalStore for Noting {
    async fn append(&self, batch: &[JournalEntry]) -> Result<(), JournalError> {
        self.append_with_snapshots(batch, &[]).await.map(|_| ())
    }

    async fn append_with_snapshots(
        &self,
        batch: &[JournalEntry],
        snapshots: &[(AuctionId, Snapshot)],
    ) -> Result<bool, JournalError> {
        self.commits
            .lock()
            .unwrap()
            .push((batch.len(), snapshots.len()));
        self.note("commit");
        self.inner.append_with_snapshots(batch, snapshots).await
    }

    async fn after_answers(&self) {
        self.note("upkeep");
    }

    async fn load(&self, auction_id: AuctionId) -> Result<LoadedJournal, JournalError> {
        self.inner.load(auction_id).await
    }

    async fn save_snapshot(
        &self,
        auction_id: AuctionId,
        seq: u64,
        state: &AuctionState,
    ) -> Result<(), JournalError> {
        self.inner.save_snapshot(auction_id, seq, state).await
    }

    async fn open_auctions(&self) -> Result<Vec<AuctionId>, JournalError> {
        self.inner.open_auctions().await
    }
}

#[tokio::test]
async fn a_snapshot_is_written_with_the_next_group_in_its_commit() {
    let store = Arc::new(Noting::default());
    let writer = JournalWriter::spawn(store.clone(), WriterSettings::default());
    let seller = UserId::new();
    let (a, a_state) = created(seller);
    let (b, b_state) = created(seller);
    writer.submit(vec![a.clone()]).await.unwrap();
    writer.submit(vec![b.clone()]).await.unwrap();
    let start = |state: &AuctionState| -> Vec<JournalEntry> {
        let now = DateTime::from_timestamp_millis(1_700_000_000_001).unwrap();
        decide(
            state,
            Caller::new(seller, Role::Seller),
            Command::Start,
            BidIds::fresh(),
            now,
        )
        .unwrap()
        .into_iter()
        .map(|e| JournalEntry::new(e, state))
        .collect()
    };

    // A commit in flight; meanwhile a snapshot of B and B's next batch.
    store.inner.hold();
    let first = writer.submit(start(&a_state));
    tokio::task::yield_now().await;
    writer.save_snapshot(
        b.auction_id,
        Box::new(Snapshot {
            seq: 1,
            state: b_state.clone(),
        }),
    );
    let second = writer.submit(start(&b_state));
    store.inner.release();
    first.await.unwrap();
    second.await.unwrap();

    let commits = store.commits.lock().unwrap().clone();
    assert_eq!(commits.last(), Some(&(1, 1)), "{commits:?}");
    assert!(
        commits.iter().all(|(entries, _)| *entries > 0),
        "a commit of a snapshot alone: {commits:?}"
    );
    assert_eq!(store.inner.snapshot(b.auction_id).map(|s| s.seq), Some(1));
    assert_eq!(store.inner.events(b.auction_id).len(), 2);
}

#[tokio::test]
async fn a_snapshot_with_nothing_to_join_is_written_alone() {
    let store = Arc::new(Noting::default());
    let writer = JournalWriter::spawn(store.clone(), WriterSettings::default());
    let (a, a_state) = created(UserId::new());
    writer.submit(vec![a.clone()]).await.unwrap();
    writer.save_snapshot(
        a.auction_id,
        Box::new(Snapshot {
            seq: 1,
            state: a_state,
        }),
    );
    for _ in 0..10 {
        if store.inner.snapshot(a.auction_id).is_some() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(store.inner.snapshot(a.auction_id).map(|s| s.seq), Some(1));
    assert_eq!(store.commits.lock().unwrap().last(), Some(&(0, 1)));
}

#[tokio::test]
async fn the_stores_upkeep_follows_the_groups_answers() {
    let store = Arc::new(Noting::default());
    let writer = JournalWriter::spawn(store.clone(), WriterSettings::default());
    let (a, _) = created(UserId::new());
    let submitted = writer.submit(vec![a]);
    let answered = tokio::spawn({
        let store = store.clone();
        async move {
            submitted.await.unwrap();
            store.note("answered");
        }
    });
    answered.await.unwrap();
    for _ in 0..10 {
        if store.happened.lock().unwrap().len() == 3 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        *store.happened.lock().unwrap(),
        ["commit", "answered", "upkeep"]
    );
}
