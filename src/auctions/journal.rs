//! The SQL journal: the engine's [`JournalStore`] on PostgreSQL or SQLite.
//!
//! One `append` is one transaction: the events, the outbox rows of endings,
//! and the `auctions` rows of the auctions whose lifecycle the batch
//! changes; the rows of auctions that only took bids follow in a
//! transaction of their own ([`ReadModels`]). Bid history is read from the
//! journal itself ([`super::history::bids`]); on SQLite the journal's key is
//! checked in the commit and its lookup by auction written behind it
//! ([`super::keys`]). Snapshots go to
//! `auction_snapshots` and, when Redis is configured, to Redis as well;
//! recovery takes whichever is newer and replays the events after it.

use std::collections::{BTreeSet, HashSet};
use std::convert::identity;
use std::sync::Arc;

use blytz_actors::domain::AuctionId;
use blytz_actors::ports::{
    Fence, JournalEntry, JournalError, JournalStore, LoadedJournal, Settlement, Snapshot,
};
use blytz_actors::rules::{AuctionConfig, AuctionState, EventKind};
use blytz_actors::runtime::in_runtime;
use blytz_actors::view::AuctionView;
use redis::AsyncCommands;
use sqlx::Connection as _;
use sqlx::postgres::PgBindIterExt as _;
use sqlx::types::Json;
use uuid::Uuid;

use super::inline::{Inline, InlineCommits, StoredSnapshot};
use super::keys;
use super::read_models::{
    Columns, ROWS_PER_STATEMENT, ReadModels, padded, rows_written_for, unavailable, write_rows,
};
use crate::db::{Db, Patience, RawJson, Writer};
use crate::redis_store::Redis;
use crate::shows;
use crate::{with_db, with_writer};

/// The outbox topic of auction endings; the key is the auction id.
pub const AUCTION_ENDED_TOPIC: &str = "auction.ended";

/// The engine's journal on the configured database (and Redis for snapshots).
#[derive(Debug, Clone)]
pub struct SqlJournal {
    db: Db,
    /// Where batches commit: `db`, or a connection of their own (see
    /// [`SqlJournal::committing_on`]).
    writer: Writer,
    /// Where snapshots are written: `writer` on SQLite; on PostgreSQL the
    /// shared pool, or a pool whose commits do not wait for their flush
    /// ([`SqlJournal::deriving_on`]).
    snapshots: Writer,
    /// The read models behind the journal, written where snapshots are.
    read_models: ReadModels,
    redis: Option<Redis>,
    /// In a cluster, this node's name: entries with a fence commit only
    /// while their shard's lease is this node's at that epoch.
    node_id: Option<String>,
    /// In a cluster, how long a fenced transaction may wait on this node
    /// (`idle_in_transaction_session_timeout`, PostgreSQL's own syntax).
    idle_limit: String,
    /// On SQLite, where batches of events alone commit: on the writer's
    /// own thread (see [`super::inline`]).
    inline: Option<Arc<InlineCommits>>,
}

impl SqlJournal {
    /// A journal over `db`, keeping snapshot copies in `redis` when given.
    pub fn new(db: Db, redis: Option<Redis>) -> Self {
        Self {
            writer: Writer::Pool(db.clone()),
            snapshots: Writer::Pool(db.clone()),
            read_models: ReadModels::new(Writer::Pool(db.clone()), &db),
            db,
            redis,
            node_id: None,
            idle_limit: String::new(),
            inline: None,
        }
    }

    /// Commits batches on `writer` (see [`Db::journal_writer`]); reads and
    /// recovery stay on the shared pool. On SQLite snapshots and the read
    /// models' settles are written on `writer` too: a snapshot written on
    /// another connection made the journal's connection drop its page cache
    /// and could hold the file's write lock when a commit wanted it; on the
    /// journal's own connection each takes its turn between commits. On
    /// PostgreSQL they stay on the shared pool: a settle rewrites up to a
    /// batch's worth of auction rows (milliseconds), and a snapshot is a
    /// commit and a flush of its own (a few hundred a second on 100 busy
    /// auctions), neither of which a commit of bids need wait for on
    /// another connection. [`SqlJournal::deriving_on`] then moves them to
    /// a pool whose commits do not wait for their flush.
    #[must_use]
    pub fn committing_on(mut self, writer: Writer) -> Self {
        self.snapshots = match &writer {
            Writer::Postgres(_) => Writer::Pool(self.db.clone()),
            _ => writer.clone(),
        };
        self.read_models = ReadModels::new(self.snapshots.clone(), &self.db);
        self.inline = match (&writer, &self.db) {
            (Writer::Sqlite(_), Db::Sqlite(pool)) => {
                InlineCommits::on(pool.connect_options().get_filename()).map(Arc::new)
            }
            _ => None,
        };
        self.writer = writer;
        self
    }

    /// Writes snapshots and the read models' settles on `db`
    /// ([`Db::write_behind`] on PostgreSQL): neither is a record, so their
    /// commits need not wait for a flush. Where `writer` is SQLite's own
    /// connection, they stay on it (see [`SqlJournal::committing_on`],
    /// which comes first).
    #[must_use]
    pub fn deriving_on(mut self, db: Db) -> Self {
        if matches!(self.writer, Writer::Sqlite(_)) {
            return self;
        }
        self.snapshots = Writer::Pool(db);
        self.read_models = ReadModels::new(self.snapshots.clone(), &self.db);
        self
    }

    /// The read models this journal writes (to settle before reading them).
    pub fn read_models(&self) -> ReadModels {
        self.read_models.clone()
    }

    /// The journal of cluster node `node_id`: every batch whose entries
    /// carry a fence checks it in its own transaction (see
    /// [`SqlJournal::append`]). Such a transaction holds its shards' lease
    /// rows, which a claim waits for: should this node freeze in the middle
    /// of one, PostgreSQL ends it after `lease` of waiting, so the shard can
    /// still be taken over (and nothing of it is acknowledged).
    #[must_use]
    pub fn fenced_for(mut self, node_id: &str, lease: std::time::Duration) -> Self {
        self.node_id = Some(node_id.to_owned());
        self.idle_limit = format!("{}ms", lease.as_millis().max(1));
        self
    }
}

/// `snapshots` as the journal stores them, taken now; none if a seq is
/// one the table cannot hold (each is then saved apart, where it fails
/// alone).
fn stored_snapshots(snapshots: &[(AuctionId, Snapshot)]) -> Vec<StoredSnapshot<'_>> {
    if snapshots.is_empty() {
        return Vec::new();
    }
    let taken_at = crate::time::now();
    snapshots
        .iter()
        .map(|(auction_id, snapshot)| {
            Ok(StoredSnapshot {
                auction_id: *auction_id,
                seq: seq_to_i64(*auction_id, snapshot.seq)?,
                state: &snapshot.state,
                taken_at,
            })
        })
        .collect::<Result<_, JournalError>>()
        .unwrap_or_default()
}

/// Redis's copy of `snapshot`. Only the snapshot store of record may fail
/// a save; the Redis copy is an accelerator, and its failure is logged.
async fn copy_snapshot_to_redis(redis: &Redis, auction_id: AuctionId, snapshot: &Snapshot) {
    let written = match serde_json::to_string(snapshot) {
        Ok(text) => redis
            .connection()
            .set::<_, _, ()>(redis_key(auction_id), text)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(error) = written {
        tracing::warn!(%auction_id, %error, "writing a snapshot to Redis failed");
    }
}

/// The distinct fences of a batch, in shard order.
fn fences_of(batch: &[JournalEntry]) -> Vec<Fence> {
    let set: BTreeSet<(u32, u64)> = batch
        .iter()
        .filter_map(|entry| entry.fence.map(|f| (f.shard, f.epoch)))
        .collect();
    set.into_iter()
        .map(|(shard, epoch)| Fence { shard, epoch })
        .collect()
}

/// The conflict of a multi-row insert that broke the journal's key: the
/// first entry of the rows is named (the whole batch is refused either way,
/// and the writer retries each submission alone to find the culprit).
pub(super) fn conflict_in<'a>(mut entries: impl Iterator<Item = &'a JournalEntry>) -> JournalError {
    match entries.next() {
        Some(entry) => JournalError::Conflict {
            auction_id: entry.auction_id,
            seq: entry.seq,
        },
        None => JournalError::Unavailable("an empty insert conflicted".to_owned()),
    }
}

pub(super) fn seq_to_i64(auction_id: AuctionId, seq: u64) -> Result<i64, JournalError> {
    i64::try_from(seq).map_err(|_| JournalError::Corrupt {
        auction_id,
        reason: format!("seq {seq} is out of range"),
    })
}

pub(super) fn seq_from_i64(auction_id: AuctionId, seq: i64) -> Result<u64, JournalError> {
    u64::try_from(seq).map_err(|_| JournalError::Corrupt {
        auction_id,
        reason: format!("stored seq {seq} is negative"),
    })
}

fn redis_key(auction_id: AuctionId) -> String {
    format!("blytz:auction:{auction_id}:snapshot")
}

/// The newest view of each auction in a batch, in the order the auctions
/// first appear (one read-model row each).
fn last_views(batch: &[JournalEntry]) -> Vec<&AuctionView> {
    let mut seen = HashSet::new();
    let mut views: Vec<&AuctionView> = batch
        .iter()
        .rev()
        .filter_map(|entry| entry.view.as_ref())
        .filter(|view| seen.insert(view.id))
        .collect();
    views.reverse();
    views
}

/// Whether an event is a bid's: a bid or a raised maximum. Nothing else
/// changes so little of an auction's row ([`Columns`]).
fn is_a_bid(kind: &EventKind) -> bool {
    matches!(kind, EventKind::BidPlaced(_) | EventKind::MaxRaised(_))
}

/// The auctions of a batch with an entry for which `pick` holds, each once.
fn auctions_where(batch: &[JournalEntry], pick: impl Fn(&JournalEntry) -> bool) -> Vec<AuctionId> {
    let mut auctions: Vec<AuctionId> = batch
        .iter()
        .filter(|entry| pick(entry))
        .map(|entry| entry.auction_id)
        .collect();
    auctions.sort_unstable();
    auctions.dedup();
    auctions
}

/// The auctions of a batch whose read-model rows are written with it: those
/// with an event other than a bid's (a lifecycle change: created, started,
/// paused, resumed, ended, cancelled, or a pre-bid) or a settlement. A bid,
/// a raised maximum or an anti-snipe extension alone is deferred.
fn lifecycle_of(batch: &[JournalEntry]) -> Vec<AuctionId> {
    auctions_where(batch, |entry| {
        entry.settlement.is_some()
            || !(is_a_bid(&entry.event.kind)
                || matches!(entry.event.kind, EventKind::Extended { .. }))
    })
}

/// The auctions of a batch with an event other than a bid's (an extension,
/// when deferred), whose view may change more of the row than a bid does.
fn beyond_bids(batch: &[JournalEntry]) -> Vec<AuctionId> {
    auctions_where(batch, |entry| !is_a_bid(&entry.event.kind))
}

/// The journal's insert of its rows, their values (PostgreSQL: their
/// arrays, `SELECT * FROM UNNEST(...)`) after it.
pub(super) const EVENTS_INSERT: &str =
    "INSERT INTO auction_events (auction_id, seq, kind, at, payload) ";
/// The head of the insert written for more rows than it has, values after
/// it, and then [`EVENTS_PADDED_TAIL`]: the padding rows are all NULL.
pub(super) const EVENTS_PADDED_HEAD: &str = "WITH v (auction_id, seq, kind, at, payload) AS (";
/// See [`EVENTS_PADDED_HEAD`].
pub(super) const EVENTS_PADDED_TAIL: &str = ") INSERT INTO auction_events \
     (auction_id, seq, kind, at, payload) SELECT * FROM v WHERE auction_id IS NOT NULL";

/// A snapshot's upsert, keeping a newer one.
pub(super) const SNAPSHOT_UPSERT: &str = "INSERT INTO auction_snapshots (auction_id, seq, state, taken_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (auction_id) DO UPDATE SET seq = excluded.seq, state = excluded.state, \
     taken_at = excluded.taken_at WHERE auction_snapshots.seq < excluded.seq";

/// A backend's one statement for a batch's journal rows.
trait EventsInsert: sqlx::Database {
    /// The insert of `rows` (an entry and its seq).
    fn events_insert(rows: &[(&JournalEntry, &i64)]) -> sqlx::QueryBuilder<Self>;
}

/// On SQLite, a multi-row `VALUES` written for a power of two rows
/// ([`rows_written_for`]): padding rows have no auction id and are skipped.
/// A batch with no padding (one row, above all: a hot auction's) is a plain
/// insert of its values, which SQLite writes straight into the table; an
/// insert from a select goes through a temporary table first, as the
/// journal's table has a trigger.
impl EventsInsert for sqlx::Sqlite {
    fn events_insert(rows: &[(&JournalEntry, &i64)]) -> sqlx::QueryBuilder<Self> {
        let is_padded = rows_written_for(rows.len()) != rows.len();
        let mut insert = sqlx::QueryBuilder::new(if is_padded {
            EVENTS_PADDED_HEAD
        } else {
            EVENTS_INSERT
        });
        insert.push_values(padded(rows), |mut row, entry| {
            row.push_bind(entry.map(|(entry, _)| Uuid::from(entry.auction_id)))
                .push_bind(entry.map(|(_, seq)| **seq))
                .push_bind(entry.map(|(entry, _)| entry.event.kind.name()))
                .push_bind(entry.map(|(entry, _)| entry.event.at))
                .push_bind(entry.map(|(entry, _)| RawJson(&entry.event.kind)));
        });
        if is_padded {
            insert.push(EVENTS_PADDED_TAIL);
        }
        insert
    }
}

/// On PostgreSQL, the rows as five arrays (`UNNEST`): one statement text
/// whatever the batch's size, five arguments instead of five a row, and no
/// padding rows to skip.
impl EventsInsert for sqlx::Postgres {
    fn events_insert(rows: &[(&JournalEntry, &i64)]) -> sqlx::QueryBuilder<Self> {
        let mut insert = sqlx::QueryBuilder::new(EVENTS_INSERT);
        insert.push("SELECT * FROM UNNEST(");
        let mut columns = insert.separated(", ");
        columns.push_bind(
            rows.iter()
                .map(|(entry, _)| Uuid::from(entry.auction_id))
                .bind_iter(),
        );
        columns.push_bind(rows.iter().map(|(_, seq)| **seq).bind_iter());
        columns.push_bind(
            rows.iter()
                .map(|(entry, _)| entry.event.kind.name())
                .bind_iter(),
        );
        columns.push_bind(rows.iter().map(|(entry, _)| entry.event.at).bind_iter());
        columns.push_bind(
            rows.iter()
                .map(|(entry, _)| RawJson(&entry.event.kind))
                .bind_iter(),
        );
        insert.push(")");
        insert
    }
}

/// Inserts `$rows: &[(&JournalEntry, &i64)]` (an entry and its seq) into
/// the journal in one statement on `$conn` (a pool, a connection or a
/// transaction of either backend, [`EventsInsert`]); a row already there
/// refuses them all as a conflict.
macro_rules! insert_events {
    ($conn:expr, $rows:expr) => {{
        let rows: &[(&JournalEntry, &i64)] = $rows;
        let mut insert = EventsInsert::events_insert(rows);
        insert.build().execute($conn).await.map_err(|e| {
            if keys::is_conflict(&e) {
                conflict_in(rows.iter().map(|(entry, _)| *entry))
            } else {
                unavailable(e)
            }
        })?;
    }};
}

impl SqlJournal {
    /// One transaction with a constant number of statements whatever the
    /// batch holds (per 1,024 rows): one multi-row insert each for the
    /// events, the new auctions and the outbox rows of endings, and for the
    /// read-model rows written with them, one update of the auctions' rows
    /// (`views`). A batch that is events alone is the one insert, with no
    /// `BEGIN` and `COMMIT` around it. On SQLite `snapshots` join that
    /// insert's transaction on the inline connection (one flush for both);
    /// whether they were written.
    async fn write_batch(
        &self,
        batch: &[JournalEntry],
        views: &[&AuctionView],
        snapshots: &[StoredSnapshot<'_>],
    ) -> Result<bool, JournalError> {
        let mut seqs = Vec::with_capacity(batch.len());
        for entry in batch {
            seqs.push(seq_to_i64(entry.auction_id, entry.seq)?);
        }
        let created: Vec<(&JournalEntry, &AuctionConfig, &AuctionView)> = batch
            .iter()
            .filter_map(|entry| match &entry.event.kind {
                EventKind::Created { config } => {
                    let view = views.iter().find(|v| v.id == entry.auction_id)?;
                    Some((entry, config, *view))
                }
                _ => None,
            })
            .collect();
        let settlements: Vec<(&JournalEntry, &Settlement)> = batch
            .iter()
            .filter_map(|entry| entry.settlement.as_ref().map(|s| (entry, s)))
            .collect();
        let is_postgres = self.writer.is_postgres();
        let fences = fences_of(batch);
        let node_id = match (&self.node_id, fences.first()) {
            (Some(node_id), _) => node_id.as_str(),
            (None, None) => "",
            (None, Some(_)) => {
                return Err(unavailable(
                    "a fenced batch reached a journal that is not a cluster node's",
                ));
            }
        };
        let rows: Vec<(&JournalEntry, &i64)> = batch.iter().zip(&seqs).collect();
        // A batch of events alone (bids, on one node) is one statement, and
        // a statement outside a transaction is a transaction of its own, as
        // atomic and as durable: one exchange with the database instead of
        // three (`BEGIN`, the insert, `COMMIT`).
        let lone_statement = fences.is_empty()
            && created.is_empty()
            && settlements.is_empty()
            && views.is_empty()
            && rows.len() <= ROWS_PER_STATEMENT;
        if lone_statement
            && self
                .inline_turn(|inline| inline.insert(&rows, snapshots))
                .await?
        {
            return Ok(true);
        }
        with_writer!(&self.writer, Patience::Full, pool, unavailable => {
            if lone_statement {
                insert_events!(pool, &rows);
                return Ok(());
            }
            let mut tx = pool.begin().await.map_err(unavailable)?;
            if !fences.is_empty() {
                // The fence: the batch's shard leases, share-locked in shard
                // order until the commit, must still be this node's at the
                // epochs its actors were spawned under. A claim (which bumps
                // the epoch) waits for this commit, and a batch after a claim
                // finds the new epoch and rolls back.
                // In the same statement: a transaction left waiting this long
                // on this node (frozen mid-commit) is ended by PostgreSQL.
                let mut check = sqlx::QueryBuilder::new(
                    "SELECT shard, epoch, set_config('idle_in_transaction_session_timeout', ",
                );
                check
                    .push_bind(self.idle_limit.as_str())
                    .push(", true) FROM shard_leases WHERE node_id = ")
                    .push_bind(node_id)
                    .push(" AND shard IN (");
                let mut shards = check.separated(", ");
                for fence in &fences {
                    shards.push_bind(i32::try_from(fence.shard).unwrap_or(i32::MAX));
                }
                check.push(") ORDER BY shard FOR SHARE");
                let held: Vec<(i32, i64, String)> = check
                    .build_query_as()
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                for fence in &fences {
                    let still = held.iter().any(|(shard, epoch, _)| {
                        i64::from(fence.shard) == i64::from(*shard)
                            && u64::try_from(*epoch).ok() == Some(fence.epoch)
                    });
                    if !still {
                        metrics::counter!("cluster_fenced_commits_total").increment(1);
                        return Err(JournalError::Fenced {
                            shard: fence.shard,
                            epoch: fence.epoch,
                        });
                    }
                }
            }
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                insert_events!(&mut *tx, chunk);
            }
            for chunk in created.chunks(ROWS_PER_STATEMENT) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO auctions (id, seller_id, product_id, show_id, status, currency, \
                     start_price, current_price, leader_id, bid_count, ends_at, seq, view, \
                     created_at, updated_at, require_payment_method) ",
                );
                insert.push_values(chunk, |mut row, (entry, config, view)| {
                    row.push_bind(Uuid::from(entry.auction_id))
                        .push_bind(Uuid::from(config.seller_id))
                        .push_bind(Uuid::from(config.product_id))
                        .push_bind(config.show_id.map(Uuid::from))
                        .push_bind(view.status.as_str())
                        .push_bind(config.currency.as_str())
                        .push_bind(config.start_price)
                        .push_bind(None::<i64>)
                        .push_bind(None::<Uuid>)
                        .push_bind(0_i64)
                        .push_bind(None::<chrono::DateTime<chrono::Utc>>)
                        .push_bind(1_i64)
                        .push_bind(RawJson(*view))
                        .push_bind(entry.event.at)
                        .push_bind(entry.event.at)
                        .push_bind(config.require_payment_method);
                });
                insert.build().execute(&mut *tx).await.map_err(unavailable)?;
                for (entry, config, _) in chunk {
                    if let Some(show) = config.show_id {
                        // A show's lot joins its queue as it comes to exist.
                        sqlx::query(shows::store::APPEND_LOT_SQL)
                            .bind(Uuid::from(show))
                            .bind(Uuid::from(entry.auction_id))
                            .execute(&mut *tx)
                            .await
                            .map_err(unavailable)?;
                    }
                }
            }
            for chunk in settlements.chunks(ROWS_PER_STATEMENT) {
                let mut insert =
                    sqlx::QueryBuilder::new("INSERT INTO outbox (id, topic, key, payload, created_at) ");
                insert.push_values(chunk, |mut row, (entry, settlement)| {
                    row.push_bind(Uuid::now_v7())
                        .push_bind(AUCTION_ENDED_TOPIC)
                        .push_bind(settlement.auction_id.to_string())
                        .push_bind(Json(*settlement))
                        .push_bind(entry.event.at);
                });
                insert.push(" ON CONFLICT (topic, key) DO NOTHING");
                insert.build().execute(&mut *tx).await.map_err(unavailable)?;
            }
            write_rows!(&mut *tx, is_postgres, views, Columns::All, unavailable);
            tx.commit().await.map_err(unavailable)
        })?;
        Ok(false)
    }

    /// Redis's copies of `snapshots`, written in a task of their own.
    fn copy_snapshots_to_redis(&self, snapshots: &[(AuctionId, Snapshot)]) {
        let Some(redis) = self.redis.as_ref().filter(|_| !snapshots.is_empty()) else {
            return;
        };
        let (redis, snapshots) = (redis.clone(), snapshots.to_vec());
        tokio::spawn(in_runtime(async move {
            for (auction_id, snapshot) in &snapshots {
                copy_snapshot_to_redis(&redis, *auction_id, snapshot).await;
            }
        }));
    }

    /// Runs `write` on the journal's inline connection (SQLite,
    /// [`super::inline`]), in a turn of its sqlx connection: never after
    /// the writer was closed, nor while a write of that connection (a
    /// settle) is under way. Whether it was written there; when not, the
    /// caller writes it on the sqlx connection.
    async fn inline_turn(
        &self,
        write: impl FnOnce(&InlineCommits) -> Result<Inline, JournalError>,
    ) -> Result<bool, JournalError> {
        Ok(self.in_inline_turn(write).await? == Some(Inline::Committed))
    }

    /// Runs `use_it` on the inline connection in a turn of the sqlx
    /// connection, as [`Self::inline_turn`] does; none where there is no
    /// inline connection.
    async fn in_inline_turn<T>(
        &self,
        use_it: impl FnOnce(&InlineCommits) -> Result<T, JournalError>,
    ) -> Result<Option<T>, JournalError> {
        let (Some(inline), Writer::Sqlite(held)) = (&self.inline, &self.writer) else {
            return Ok(None);
        };
        let turn = held.lock().await;
        if turn.is_closed() {
            inline.close();
            return Err(unavailable("the journal's connection was closed"));
        }
        use_it(inline).map(Some)
    }

    /// Writes the read-model rows of `auction_id` that its journal (as
    /// `loaded` for recovery) holds beyond them: the rows a process deferred
    /// and did not live to write. Cheap when there are none (one query).
    async fn repair_read_models(
        &self,
        auction_id: AuctionId,
        loaded: &LoadedJournal,
    ) -> Result<(), JournalError> {
        let newest = match (loaded.events.last(), &loaded.snapshot) {
            (Some(event), _) => event.seq,
            (None, Some(snapshot)) => snapshot.seq,
            (None, None) => return Ok(()),
        };
        let id = Uuid::from(auction_id);
        let stored: Option<(i64,)> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT seq FROM auctions WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
        })
        .map_err(unavailable)?;
        let Some((stored,)) = stored else {
            return Ok(());
        };
        if seq_from_i64(auction_id, stored)? >= newest {
            return Ok(());
        }
        let query = keys::events_query!(self.db.backend(), "seq > $2", "ORDER BY seq DESC LIMIT 1");
        let last: Option<keys::EventRow> = with_db!(&self.db, pool => {
            sqlx::query_as(query)
            .bind(id)
            .bind(stored)
            .fetch_optional(pool)
            .await
        })
        .map_err(unavailable)?;
        let Some(last) = last else {
            return Ok(());
        };
        let last = keys::event_of(auction_id, last)?;
        let views: Vec<(AuctionView, Columns)> = loaded
            .clone()
            .rebuild(auction_id)?
            .map(|state| (AuctionView::of(&state, last.at), Columns::All))
            .into_iter()
            .collect();
        tracing::info!(%auction_id, from = stored, to = last.seq, "read models brought up to the journal");
        self.read_models.repair(&views).await
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
        self.append_with_snapshots(batch, &[]).await.map(|_| ())
    }

    /// On SQLite, a batch of events alone commits with `snapshots` in one
    /// transaction of the inline connection ([`super::inline`]): a
    /// snapshot costs no flush of its own, and the writer's thread, which
    /// the auctions share, waits for one flush, not two. Their Redis
    /// copies follow in a task of their own. Elsewhere the snapshots are
    /// not taken, and the caller saves them apart.
    async fn append_with_snapshots(
        &self,
        batch: &[JournalEntry],
        snapshots: &[(AuctionId, Snapshot)],
    ) -> Result<bool, JournalError> {
        let joining = stored_snapshots(snapshots);
        if batch.is_empty() {
            let joined = !joining.is_empty()
                && matches!(
                    self.inline_turn(|inline| inline.insert(&[], &joining))
                        .await,
                    Ok(true)
                );
            if joined {
                self.copy_snapshots_to_redis(snapshots);
            }
            return Ok(joined);
        }
        let in_commit = lifecycle_of(batch);
        let (now, later): (Vec<&AuctionView>, Vec<&AuctionView>) = last_views(batch)
            .into_iter()
            .partition(|view| in_commit.contains(&view.id));
        if !in_commit.is_empty() {
            // A lifecycle change is read from the tables at once (a status,
            // an ending's bid history): nothing deferred may trail it.
            self.read_models.settle().await?;
        }
        let started = std::time::Instant::now();
        let result = self.write_batch(batch, &now, &joining).await;
        let joined = matches!(result, Ok(true)) && !joining.is_empty();
        if result.is_ok() {
            self.read_models
                .defer(&later, &beyond_bids(batch), batch.len());
        }
        if joined {
            self.copy_snapshots_to_redis(snapshots);
        }
        metrics::histogram!("journal_commit_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("journal_batch_events").record(batch.len() as f64);
        if result.is_err() {
            metrics::counter!("journal_failures_total").increment(1);
        }
        result.map(|_| joined)
    }

    /// The read models' backlog settled when it is due (so that no
    /// group's bids wait for it before their commit), then, on SQLite, the
    /// WAL copied into the file once the inline connection's last commit
    /// left it long enough ([`InlineCommits::checkpoint`]), in a turn of
    /// the sqlx connection.
    async fn after_answers(&self) {
        self.read_models.settle_if_due().await;
        if !self
            .inline
            .as_ref()
            .is_some_and(|inline| inline.checkpoint_due())
        {
            return;
        }
        let started = std::time::Instant::now();
        match self.in_inline_turn(InlineCommits::checkpoint).await {
            Ok(_) => metrics::histogram!("journal_checkpoint_seconds")
                .record(started.elapsed().as_secs_f64()),
            Err(e) => tracing::warn!(error = %e, "the journal's WAL was not copied into its file"),
        }
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
        let query = keys::events_query!(self.db.backend(), "seq > $2", "ORDER BY seq");
        let rows: Vec<keys::EventRow> = with_db!(&self.db, pool => {
            sqlx::query_as(query)
            .bind(id)
            .bind(after)
            .fetch_all(pool)
            .await
        })
        .map_err(unavailable)?;
        let loaded = LoadedJournal {
            snapshot,
            events: rows
                .into_iter()
                .map(|row| keys::event_of(auction_id, row))
                .collect::<Result<_, _>>()?,
        };
        if let Err(e) = self.repair_read_models(auction_id, &loaded).await {
            tracing::warn!(%auction_id, error = %e, "could not bring the read models up to the journal");
        }
        Ok(loaded)
    }

    async fn save_snapshot(
        &self,
        auction_id: AuctionId,
        seq: u64,
        state: &AuctionState,
    ) -> Result<(), JournalError> {
        let stored = StoredSnapshot {
            auction_id,
            seq: seq_to_i64(auction_id, seq)?,
            state,
            taken_at: crate::time::now(),
        };
        let (stored_seq, taken_at) = (stored.seq, stored.taken_at);
        let written_inline = self
            .inline_turn(|inline| inline.save_snapshot(&stored))
            .await?;
        if !written_inline {
            with_writer!(&self.snapshots, Patience::Full, pool, identity => {
                sqlx::query(SNAPSHOT_UPSERT)
                .bind(Uuid::from(auction_id))
                .bind(stored_seq)
                .bind(RawJson(state))
                .bind(taken_at)
                .execute(pool)
                .await
                .map(|_| ())
            })
            .map_err(unavailable)?;
        }
        if let Some(redis) = &self.redis {
            let snapshot = Snapshot {
                seq,
                state: state.clone(),
            };
            copy_snapshot_to_redis(redis, auction_id, &snapshot).await;
        }
        Ok(())
    }

    async fn open_auctions(&self) -> Result<Vec<AuctionId>, JournalError> {
        let rows: Vec<(Uuid,)> = with_db!(&self.db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id FROM auctions WHERE status IN {} ORDER BY id",
                crate::catalog::LIVE_AUCTION
            )))
            .fetch_all(pool)
            .await
        })
        .map_err(unavailable)?;
        Ok(rows.into_iter().map(|(id,)| AuctionId::from(id)).collect())
    }
}
