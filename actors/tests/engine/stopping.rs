//! An engine stopped while a snapshot is being written.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use blytz_actors::domain::{AuctionId, Caller, Currency, ProductId, Role, UserId};
use blytz_actors::ports::{
    InMemoryJournal, JournalEntry, JournalError, JournalStore, LoadedJournal, SystemClock,
};
use blytz_actors::rules::{AuctionState, Command, NewAuction};
use blytz_actors::{Engine, EngineSettings};

/// 0: not dropped yet; 1: dropped inside a tokio runtime; 2: outside one.
#[derive(Debug, Default)]
struct DropSeen(AtomicU8);

/// Held by a snapshot write that never finishes; notes where it is dropped,
/// as a pooled database connection would need a runtime to go back to its pool.
struct Probe(Arc<DropSeen>);

impl Drop for Probe {
    fn drop(&mut self) {
        let inside = tokio::runtime::Handle::try_current().is_ok();
        self.0.0.store(if inside { 1 } else { 2 }, Ordering::SeqCst);
    }
}

/// The in-memory journal, but a snapshot write hangs until it is dropped.
#[derive(Debug)]
struct HangingSnapshots {
    journal: InMemoryJournal,
    seen: Arc<DropSeen>,
}

#[async_trait::async_trait]
impl JournalStore for HangingSnapshots {
    async fn append(&self, batch: &[JournalEntry]) -> Result<(), JournalError> {
        self.journal.append(batch).await
    }

    async fn load(&self, auction_id: AuctionId) -> Result<LoadedJournal, JournalError> {
        self.journal.load(auction_id).await
    }

    async fn save_snapshot(
        &self,
        _: AuctionId,
        _: u64,
        _: &AuctionState,
    ) -> Result<(), JournalError> {
        let _probe = Probe(Arc::clone(&self.seen));
        std::future::pending::<()>().await;
        Ok(())
    }

    async fn open_auctions(&self) -> Result<Vec<AuctionId>, JournalError> {
        self.journal.open_auctions().await
    }
}

#[actix_rt::test]
async fn a_snapshot_write_cut_by_a_stop_is_dropped_inside_a_runtime() {
    let seen = Arc::new(DropSeen::default());
    let store = Arc::new(HangingSnapshots {
        journal: InMemoryJournal::new(),
        seen: Arc::clone(&seen),
    });
    let settings = EngineSettings {
        arbiters: 1,
        writer_thread: true,
        ..EngineSettings::default()
    };
    let engine = Engine::start(store, Arc::new(SystemClock), settings);
    let seller = UserId::new();
    let new = NewAuction::new(ProductId::new(), Currency::USD, 100, 600_000);
    let auction = engine.create_auction(seller, new).await.unwrap().id;
    let caller = Caller::new(seller, Role::Seller);
    engine
        .execute(auction, caller, Command::Start)
        .await
        .unwrap();
    // A pause is durable, then snapshotted: the write hangs.
    engine
        .execute(auction, caller, Command::Pause)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(seen.0.load(Ordering::SeqCst), 0, "the write is still going");

    engine.stop();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while seen.0.load(Ordering::SeqCst) == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        seen.0.load(Ordering::SeqCst),
        1,
        "the unfinished write was dropped outside any runtime"
    );
}
