//! The journal port: where events, snapshots and the outbox live.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Fence;
use crate::domain::{AuctionId, Currency, ProductId, ShowId, UserId};
use crate::rules::{AuctionState, EndReason, Event, EventKind, apply};
use crate::view::AuctionView;

/// A journal failure. Messages never carry SQL text or secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// An entry's `(auction_id, seq)` exists already or leaves a gap.
    #[error("event {seq} of auction {auction_id} conflicts with the journal")]
    Conflict {
        /// The auction.
        auction_id: AuctionId,
        /// The seq that conflicts.
        seq: u64,
    },
    /// The journal does not hold a usable history for the auction.
    #[error("the journal of auction {auction_id} is corrupt: {reason}")]
    Corrupt {
        /// The auction.
        auction_id: AuctionId,
        /// What is wrong.
        reason: String,
    },
    /// The backend failed (connection, timeout, ...); the batch is not durable.
    #[error("the journal is unavailable: {0}")]
    Unavailable(String),
    /// The batch was written under a shard lease this node no longer holds
    /// (another node took the shard over); nothing of it is durable.
    #[error("shard {shard} is no longer leased to this node under epoch {epoch}")]
    Fenced {
        /// The shard.
        shard: u32,
        /// The epoch the writer held.
        epoch: u64,
    },
}

/// What the outbox row of an ending says: consumed idempotently (one order
/// per auction, ever) to create the winner's order and send notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// The auction (the outbox row's idempotency key).
    pub auction_id: AuctionId,
    /// The seller.
    pub seller_id: UserId,
    /// The product sold (or not).
    pub product_id: ProductId,
    /// The show, if any.
    pub show_id: Option<ShowId>,
    /// The winner, if any.
    pub winner_id: Option<UserId>,
    /// What the winner pays (minor units).
    pub final_price: Option<i64>,
    /// The currency.
    pub currency: Currency,
    /// Whether the reserve was met.
    pub reserve_met: bool,
    /// Why it ended.
    pub reason: EndReason,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
}

/// One event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// The auction (primary key part one).
    pub auction_id: AuctionId,
    /// The seq (primary key part two).
    pub seq: u64,
    /// The event itself.
    pub event: Event,
    /// Set on `Ended` events: the store writes this outbox row in the same
    /// transaction as the event.
    pub settlement: Option<Settlement>,
    /// The public view right after this event, for the read model the
    /// store keeps in step with the journal (lists, filters). Only the last
    /// entry of each submission carries one: the store keeps the newest
    /// view of each auction in a batch, so earlier ones would be built for
    /// nothing.
    pub view: Option<AuctionView>,
    /// The shard lease the entry is written under, in a cluster: the store
    /// commits it only while the lease is still this node's, at this epoch.
    pub fence: Option<Fence>,
}

impl JournalEntry {
    /// The entry for `event` of the auction configured in `state`, which
    /// must already include `event`, with the public view after it.
    #[must_use]
    pub fn new(event: Event, state: &AuctionState) -> Self {
        let view = AuctionView::of(state, event.at);
        let mut entry = Self::without_view(event, state);
        entry.view = Some(view);
        entry
    }

    /// The entry for `event` without the public view: for every entry of a
    /// submission but its last.
    #[must_use]
    pub fn without_view(event: Event, state: &AuctionState) -> Self {
        let settlement = match &event.kind {
            EventKind::Ended {
                winner_id,
                final_price,
                reserve_met,
                reason,
            } => Some(Settlement {
                auction_id: state.config.id,
                seller_id: state.config.seller_id,
                product_id: state.config.product_id,
                show_id: state.config.show_id,
                winner_id: *winner_id,
                final_price: *final_price,
                currency: state.config.currency,
                reserve_met: *reserve_met,
                reason: *reason,
                ended_at: event.at,
            }),
            _ => None,
        };
        Self {
            auction_id: event.auction_id,
            seq: event.seq,
            view: None,
            event,
            settlement,
            fence: None,
        }
    }
}

/// A stored snapshot: the state as of `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The seq of the last event the state includes.
    pub seq: u64,
    /// The state.
    pub state: AuctionState,
}

/// What recovery reads: the newest snapshot and the events after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadedJournal {
    /// The newest snapshot, if any.
    pub snapshot: Option<Snapshot>,
    /// Every event after the snapshot (all events without one), by seq.
    pub events: Vec<Event>,
}

impl LoadedJournal {
    /// Rebuilds the state; `Ok(None)` when the auction does not exist.
    ///
    /// # Errors
    /// [`JournalError::Corrupt`] when events leave a gap or the history does
    /// not start with `Created`.
    pub fn rebuild(self, auction_id: AuctionId) -> Result<Option<AuctionState>, JournalError> {
        let corrupt = |reason: &str| JournalError::Corrupt {
            auction_id,
            reason: reason.to_owned(),
        };
        let (mut state, rest) = match self.snapshot {
            Some(snapshot) => (snapshot.state, self.events.as_slice()),
            None => match self.events.split_first() {
                None => return Ok(None),
                Some((first, rest)) => (
                    AuctionState::replay([first])
                        .ok_or_else(|| corrupt("the first event is not `created`"))?,
                    rest,
                ),
            },
        };
        for event in rest {
            if event.seq != state.seq + 1 {
                return Err(corrupt("a gap in seq"));
            }
            apply(&mut state, event);
        }
        Ok(Some(state))
    }
}

/// Storage of the journal. Implementations: SQL (in the `blytz` crate) and
/// [`super::InMemoryJournal`] for tests.
#[async_trait::async_trait]
pub trait JournalStore: Send + Sync + fmt::Debug + 'static {
    /// Appends every entry of `batch` in ONE transaction: all or nothing.
    /// `(auction_id, seq)` is the primary key; an entry with a
    /// [`Settlement`] also writes its outbox row in that transaction.
    async fn append(&self, batch: &[JournalEntry]) -> Result<(), JournalError>;

    /// The newest snapshot of `auction_id` and the events after it (empty
    /// when the auction does not exist).
    async fn load(&self, auction_id: AuctionId) -> Result<LoadedJournal, JournalError>;

    /// Stores a snapshot as of `seq`, keeping the newest if one is newer.
    async fn save_snapshot(
        &self,
        auction_id: AuctionId,
        seq: u64,
        state: &AuctionState,
    ) -> Result<(), JournalError>;

    /// [`JournalStore::append`] of `batch` (which may be empty), with
    /// `snapshots` (each as of a seq already durable) written in the same
    /// commit where the store can: one flush for both. Whether it took the
    /// snapshots; when it did not, the caller saves each apart
    /// ([`JournalStore::save_snapshot`]), without holding the batch's
    /// answer for them. An error is the batch's, and then no snapshot was
    /// written. By default the batch is appended and no snapshot taken.
    async fn append_with_snapshots(
        &self,
        batch: &[JournalEntry],
        snapshots: &[(AuctionId, Snapshot)],
    ) -> Result<bool, JournalError> {
        let _ = snapshots;
        if !batch.is_empty() {
            self.append(batch).await?;
        }
        Ok(false)
    }

    /// Auctions that are neither ended nor cancelled (to re-arm their timers
    /// after a restart).
    async fn open_auctions(&self) -> Result<Vec<AuctionId>, JournalError>;

    /// Upkeep the store leaves until a group's answers are out: the group
    /// commit calls it after each group, once the auctions have had their
    /// answers, and before it takes the next group (the SQL journal's
    /// settle of its read models; on SQLite, the copy of the WAL into the
    /// database file). It loses nothing by failing; by default there is
    /// none.
    async fn after_answers(&self) {}
}

/// Saves each of `snapshots` in turn ([`JournalStore::save_snapshot`]). One
/// that fails is logged and let go: a snapshot only shortens its auction's
/// replay.
pub(crate) async fn save_each(store: &dyn JournalStore, snapshots: &[(AuctionId, Snapshot)]) {
    for (auction_id, snapshot) in snapshots {
        if let Err(error) = store
            .save_snapshot(*auction_id, snapshot.seq, &snapshot.state)
            .await
        {
            tracing::warn!(%auction_id, seq = snapshot.seq, %error, "snapshot not saved");
        }
    }
}
