//! An in-memory journal for tests, with switches to hold or fail appends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use super::{JournalEntry, JournalError, JournalStore, LoadedJournal, Settlement, Snapshot};
use crate::domain::AuctionId;
use crate::rules::{AuctionState, Event};

#[derive(Debug, Default)]
struct Tables {
    events: HashMap<AuctionId, Vec<Event>>,
    snapshots: HashMap<AuctionId, Snapshot>,
    outbox: Vec<Settlement>,
    batch_sizes: Vec<usize>,
}

/// A [`JournalStore`] in memory. Appends are all-or-nothing and enforce
/// gapless seqs per auction, like the SQL stores.
#[derive(Debug)]
pub struct InMemoryJournal {
    tables: Mutex<Tables>,
    /// While `true`, appends wait (to observe what happens before a commit).
    held: watch::Sender<bool>,
    /// Appends still to fail before appends succeed again.
    failures: AtomicUsize,
}

impl Default for InMemoryJournal {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryJournal {
    /// An empty journal.
    #[must_use]
    pub fn new() -> Self {
        Self {
            tables: Mutex::new(Tables::default()),
            held: watch::channel(false).0,
            failures: AtomicUsize::new(0),
        }
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes appends wait until [`release`](Self::release).
    pub fn hold(&self) {
        self.held.send_replace(true);
    }

    /// Lets held and future appends proceed.
    pub fn release(&self) {
        self.held.send_replace(false);
    }

    /// Fails the next `n` appends with [`JournalError::Unavailable`].
    pub fn fail_next_appends(&self, n: usize) {
        self.failures.store(n, Ordering::SeqCst);
    }

    /// The durable events of `auction_id`.
    #[must_use]
    pub fn events(&self, auction_id: AuctionId) -> Vec<Event> {
        self.tables()
            .events
            .get(&auction_id)
            .cloned()
            .unwrap_or_default()
    }

    /// The outbox rows written so far.
    #[must_use]
    pub fn outbox(&self) -> Vec<Settlement> {
        self.tables().outbox.clone()
    }

    /// The newest snapshot of `auction_id`.
    #[must_use]
    pub fn snapshot(&self, auction_id: AuctionId) -> Option<Snapshot> {
        self.tables().snapshots.get(&auction_id).cloned()
    }

    /// The number of entries of each successful append, in order.
    #[must_use]
    pub fn batch_sizes(&self) -> Vec<usize> {
        self.tables().batch_sizes.clone()
    }

    fn take_failure(&self) -> bool {
        self.failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    fn commit(&self, batch: &[JournalEntry]) -> Result<(), JournalError> {
        let mut tables = self.tables();
        // Validate the whole batch first: all or nothing.
        let mut next: HashMap<AuctionId, u64> = HashMap::new();
        for entry in batch {
            let expected = next.entry(entry.auction_id).or_insert_with(|| {
                tables
                    .events
                    .get(&entry.auction_id)
                    .and_then(|events| events.last())
                    .map_or(1, |e| e.seq + 1)
            });
            if entry.seq != *expected || entry.event.seq != entry.seq {
                return Err(JournalError::Conflict {
                    auction_id: entry.auction_id,
                    seq: entry.seq,
                });
            }
            *expected += 1;
        }
        for entry in batch {
            tables
                .events
                .entry(entry.auction_id)
                .or_default()
                .push(entry.event.clone());
            if let Some(settlement) = &entry.settlement {
                tables.outbox.push(settlement.clone());
            }
        }
        tables.batch_sizes.push(batch.len());
        Ok(())
    }
}

#[async_trait::async_trait]
impl JournalStore for InMemoryJournal {
    async fn append(&self, batch: &[JournalEntry]) -> Result<(), JournalError> {
        let mut gate = self.held.subscribe();
        // The sender lives as long as `self`: waiting cannot fail.
        let _ = gate.wait_for(|held| !held).await;
        if self.take_failure() {
            return Err(JournalError::Unavailable("injected failure".to_owned()));
        }
        self.commit(batch)
    }

    /// The batch, then the snapshots: in memory nothing waits for them.
    async fn append_with_snapshots(
        &self,
        batch: &[JournalEntry],
        snapshots: &[(AuctionId, Snapshot)],
    ) -> Result<bool, JournalError> {
        if !batch.is_empty() {
            self.append(batch).await?;
        }
        super::save_each(self, snapshots).await;
        Ok(true)
    }

    async fn load(&self, auction_id: AuctionId) -> Result<LoadedJournal, JournalError> {
        let tables = self.tables();
        let snapshot = tables.snapshots.get(&auction_id).cloned();
        let after = snapshot.as_ref().map_or(0, |s| s.seq);
        let events = tables
            .events
            .get(&auction_id)
            .map(|events| events.iter().filter(|e| e.seq > after).cloned().collect())
            .unwrap_or_default();
        Ok(LoadedJournal { snapshot, events })
    }

    async fn save_snapshot(
        &self,
        auction_id: AuctionId,
        seq: u64,
        state: &AuctionState,
    ) -> Result<(), JournalError> {
        let mut tables = self.tables();
        let durable = tables
            .events
            .get(&auction_id)
            .and_then(|events| events.last())
            .map_or(0, |e| e.seq);
        if seq > durable {
            return Err(JournalError::Conflict { auction_id, seq });
        }
        let newer = tables
            .snapshots
            .get(&auction_id)
            .is_some_and(|s| s.seq >= seq);
        if !newer {
            tables.snapshots.insert(
                auction_id,
                Snapshot {
                    seq,
                    state: state.clone(),
                },
            );
        }
        Ok(())
    }

    async fn open_auctions(&self) -> Result<Vec<AuctionId>, JournalError> {
        let tables = self.tables();
        let mut open = Vec::new();
        for (id, events) in &tables.events {
            let state = LoadedJournal {
                snapshot: None,
                events: events.clone(),
            }
            .rebuild(*id)?;
            if state.is_some_and(|s| !s.status.is_final()) {
                open.push(*id);
            }
        }
        Ok(open)
    }
}
