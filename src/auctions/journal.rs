//! The SQL journal: the engine's [`JournalStore`] on PostgreSQL or SQLite.
//!
//! One `append` is one transaction: the events, the read-model rows they
//! imply (`auctions`, `bids`) and the outbox rows of endings. Snapshots go to
//! `auction_snapshots` and, when Redis is configured, to Redis as well;
//! recovery takes whichever is newer and replays the events after it.

use std::collections::HashSet;

use blytz_actors::domain::AuctionId;
use blytz_actors::ports::{JournalEntry, JournalError, JournalStore, LoadedJournal, Snapshot};
use blytz_actors::rules::{AuctionState, Event, EventKind};
use blytz_actors::view::AuctionView;
use redis::AsyncCommands;
use sqlx::types::Json;
use uuid::Uuid;

use crate::db::{Db, is_unique_violation};
use crate::redis_store::Redis;
use crate::shows;
use crate::with_db;

/// The outbox topic of auction endings; the key is the auction id.
pub const AUCTION_ENDED_TOPIC: &str = "auction.ended";

/// The engine's journal on the configured database (and Redis for snapshots).
#[derive(Debug, Clone)]
pub struct SqlJournal {
    db: Db,
    redis: Option<Redis>,
}

impl SqlJournal {
    /// A journal over `db`, keeping snapshot copies in `redis` when given.
    pub fn new(db: Db, redis: Option<Redis>) -> Self {
        Self { db, redis }
    }
}

fn unavailable(e: impl std::fmt::Display) -> JournalError {
    JournalError::Unavailable(e.to_string())
}

fn seq_to_i64(auction_id: AuctionId, seq: u64) -> Result<i64, JournalError> {
    i64::try_from(seq).map_err(|_| JournalError::Corrupt {
        auction_id,
        reason: format!("seq {seq} is out of range"),
    })
}

fn seq_from_i64(auction_id: AuctionId, seq: i64) -> Result<u64, JournalError> {
    u64::try_from(seq).map_err(|_| JournalError::Corrupt {
        auction_id,
        reason: format!("stored seq {seq} is negative"),
    })
}

fn redis_key(auction_id: AuctionId) -> String {
    format!("blytz:auction:{auction_id}:snapshot")
}

/// The newest view of each auction in a batch (one read-model update each).
fn last_views(batch: &[JournalEntry]) -> Vec<&AuctionView> {
    let mut seen = HashSet::new();
    let mut views: Vec<&AuctionView> = batch
        .iter()
        .rev()
        .filter(|entry| seen.insert(entry.auction_id))
        .map(|entry| &entry.view)
        .collect();
    views.reverse();
    views
}

impl SqlJournal {
    /// One transaction: the events, their read-model rows and outbox rows.
    async fn write_batch(&self, batch: &[JournalEntry]) -> Result<(), JournalError> {
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await.map_err(unavailable)?;
            for entry in batch {
                let seq = seq_to_i64(entry.auction_id, entry.seq)?;
                let auction = Uuid::from(entry.auction_id);
                sqlx::query(
                    "INSERT INTO auction_events (auction_id, seq, kind, at, payload) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(auction)
                .bind(seq)
                .bind(entry.event.kind.name())
                .bind(entry.event.at)
                .bind(Json(&entry.event))
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        JournalError::Conflict { auction_id: entry.auction_id, seq: entry.seq }
                    } else {
                        unavailable(e)
                    }
                })?;
                match &entry.event.kind {
                    EventKind::Created { config } => {
                        sqlx::query(
                            "INSERT INTO auctions (id, seller_id, product_id, show_id, status, currency, \
                             start_price, current_price, leader_id, bid_count, ends_at, seq, view, \
                             created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, 0, NULL, $8, $9, $10, $10)",
                        )
                        .bind(auction)
                        .bind(Uuid::from(config.seller_id))
                        .bind(Uuid::from(config.product_id))
                        .bind(config.show_id.map(Uuid::from))
                        .bind(entry.view.status.as_str())
                        .bind(config.currency.as_str())
                        .bind(config.start_price)
                        .bind(seq)
                        .bind(Json(&entry.view))
                        .bind(entry.event.at)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                        if let Some(show) = config.show_id {
                            // A show's lot joins its queue as it comes to exist.
                            sqlx::query(shows::store::APPEND_LOT_SQL)
                                .bind(Uuid::from(show))
                                .bind(auction)
                                .execute(&mut *tx)
                                .await
                                .map_err(unavailable)?;
                        }
                    }
                    EventKind::BidPlaced(bid) => {
                        sqlx::query(
                            "INSERT INTO bids (id, auction_id, seq, bidder_id, amount, automatic, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        )
                        .bind(Uuid::from(bid.bid_id))
                        .bind(auction)
                        .bind(seq)
                        .bind(Uuid::from(bid.bidder_id))
                        .bind(bid.amount)
                        .bind(bid.automatic)
                        .bind(entry.event.at)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    }
                    _ => {}
                }
                if let Some(settlement) = &entry.settlement {
                    sqlx::query(
                        "INSERT INTO outbox (id, topic, key, payload, created_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (topic, key) DO NOTHING",
                    )
                    .bind(Uuid::now_v7())
                    .bind(AUCTION_ENDED_TOPIC)
                    .bind(settlement.auction_id.to_string())
                    .bind(Json(settlement))
                    .bind(entry.event.at)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                }
            }
            for view in last_views(batch) {
                sqlx::query(
                    "UPDATE auctions SET status = $1, current_price = $2, leader_id = $3, \
                     bid_count = $4, ends_at = $5, seq = $6, view = $7, updated_at = $8 WHERE id = $9",
                )
                .bind(view.status.as_str())
                .bind(view.current_price)
                .bind(view.leader_id.map(Uuid::from))
                .bind(i64::from(view.bid_count))
                .bind(view.ends_at)
                .bind(seq_to_i64(view.id, view.seq)?)
                .bind(Json(view))
                .bind(view.server_time)
                .bind(Uuid::from(view.id))
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            }
            tx.commit().await.map_err(unavailable)
        })
    }

    /// The Redis copy of a snapshot; a missing or unreadable one is no snapshot.
    async fn redis_snapshot(&self, auction_id: AuctionId) -> Option<Snapshot> {
        let redis = self.redis.as_ref()?;
        let mut conn = redis.connection();
        let text: Option<String> = match conn.get(redis_key(auction_id)).await {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(%auction_id, error = %e, "reading a snapshot from Redis failed");
                return None;
            }
        };
        let text = text?;
        match serde_json::from_str(&text) {
            Ok(snapshot) => Some(snapshot),
            Err(e) => {
                tracing::warn!(%auction_id, error = %e, "ignoring an unreadable Redis snapshot");
                None
            }
        }
    }
}

#[async_trait::async_trait]
impl JournalStore for SqlJournal {
    async fn append(&self, batch: &[JournalEntry]) -> Result<(), JournalError> {
        if batch.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let result = self.write_batch(batch).await;
        metrics::histogram!("journal_commit_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("journal_batch_events").record(batch.len() as f64);
        if result.is_err() {
            metrics::counter!("journal_failures_total").increment(1);
        }
        result
    }

    async fn load(&self, auction_id: AuctionId) -> Result<LoadedJournal, JournalError> {
        let id = Uuid::from(auction_id);
        let stored: Option<(i64, Json<AuctionState>)> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT seq, state FROM auction_snapshots WHERE auction_id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
        })
        .map_err(unavailable)?;
        let mut snapshot = match stored {
            Some((seq, Json(state))) => Some(Snapshot {
                seq: seq_from_i64(auction_id, seq)?,
                state,
            }),
            None => None,
        };
        if let Some(cached) = self.redis_snapshot(auction_id).await
            && snapshot.as_ref().is_none_or(|s| s.seq < cached.seq)
        {
            snapshot = Some(cached);
        }
        let after = match &snapshot {
            Some(s) => seq_to_i64(auction_id, s.seq)?,
            None => 0,
        };
        let rows: Vec<(Json<Event>,)> = with_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT payload FROM auction_events WHERE auction_id = $1 AND seq > $2 ORDER BY seq",
            )
            .bind(id)
            .bind(after)
            .fetch_all(pool)
            .await
        })
        .map_err(unavailable)?;
        Ok(LoadedJournal {
            snapshot,
            events: rows.into_iter().map(|(Json(event),)| event).collect(),
        })
    }

    async fn save_snapshot(
        &self,
        auction_id: AuctionId,
        seq: u64,
        state: &AuctionState,
    ) -> Result<(), JournalError> {
        let stored_seq = seq_to_i64(auction_id, seq)?;
        with_db!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO auction_snapshots (auction_id, seq, state, taken_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (auction_id) DO UPDATE SET seq = excluded.seq, state = excluded.state, \
                 taken_at = excluded.taken_at WHERE auction_snapshots.seq < excluded.seq",
            )
            .bind(Uuid::from(auction_id))
            .bind(stored_seq)
            .bind(Json(state))
            .bind(crate::time::now())
            .execute(pool)
            .await
            .map(|_| ())
        })
        .map_err(unavailable)?;
        if let Some(redis) = &self.redis {
            let snapshot = Snapshot {
                seq,
                state: state.clone(),
            };
            let text = serde_json::to_string(&snapshot).map_err(unavailable)?;
            let mut conn = redis.connection();
            // Only the snapshot store of record may fail the call; the Redis
            // copy is an accelerator.
            if let Err(e) = conn.set::<_, _, ()>(redis_key(auction_id), text).await {
                tracing::warn!(%auction_id, error = %e, "writing a snapshot to Redis failed");
            }
        }
        Ok(())
    }

    async fn open_auctions(&self) -> Result<Vec<AuctionId>, JournalError> {
        let rows: Vec<(Uuid,)> = with_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id FROM auctions WHERE status IN ('scheduled', 'live', 'paused') ORDER BY id",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(unavailable)?;
        Ok(rows.into_iter().map(|(id,)| AuctionId::from(id)).collect())
    }
}
