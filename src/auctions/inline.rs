//! Bids and snapshots committed on the journal writer's own thread (SQLite).
//!
//! sqlx runs each SQLite connection on a thread of its own and hands it
//! every statement over a channel. A commit woke that thread, and its
//! answer woke the journal writer's thread again, each a wait for one of
//! the machine's cores: on the hot auction the writer saw 306-397 µs a
//! commit where SQLite's own work and the flush take 136-210 µs. A batch
//! of events alone (bids, the journal's busiest case) is one insert, a
//! transaction of its own, and a snapshot is one upsert; the snapshots the
//! writer hands over with a batch join its insert in one transaction, so
//! they cost no flush of their own. All are written here, on a connection
//! of the journal's own, by the writer's thread itself: the thread waits
//! for SQLite and the flush, and no other thread wakes for it. That thread
//! is the auctions' too; they wait with it, as their bids wait for the
//! commit anyway, and the writer lets them judge
//! what arrived before it takes the next group
//! ([`blytz_actors::journal_writer`]). Everything else (a batch that
//! creates, starts, ends or fences, the read models, the keys) stays on the
//! journal's sqlx connection. `docs/performance.md` has the measurements.
//!
//! A write here takes a turn of the journal's sqlx connection (its lock),
//! so it never runs beside that connection's own writes (the read models'
//! settles) nor after the writer was closed. It never waits for the file's
//! write lock: when another connection holds it (the shared pool's
//! writes), the write reports [`Inline::Busy`], having written nothing,
//! and the journal writes it on its sqlx connection instead, which waits
//! for the lock without holding the thread. It commits as the others do:
//! `synchronous = FULL` in WAL mode. It copies the WAL into the file at
//! SQLite's default size, 1,000 pages (left to the sqlx connection's
//! settles, the WAL grew between two of them and the settle that
//! checkpointed it held the journal back for the whole of it), but not in
//! the commit that takes it there, as SQLite would: the journal writer asks
//! for it once that commit's answers are out
//! ([`InlineCommits::checkpoint`]), so they never wait for the copy
//! and its flush. The rows are the ones sqlx writes, byte for byte (the
//! tests below compare them).

use std::cell::Cell;
use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

use blytz_actors::domain::AuctionId;
use blytz_actors::ports::{JournalEntry, JournalError};
use blytz_actors::rules::AuctionState;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::hooks::Wal;
use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior, types::Null};
use uuid::Uuid;

use super::journal::{
    EVENTS_INSERT, EVENTS_PADDED_HEAD, EVENTS_PADDED_TAIL, SNAPSHOT_UPSERT, conflict_in,
};
use super::keys::SQLITE_CONFLICT;
use super::read_models::{ROWS_PER_STATEMENT, padded, rows_written_for, unavailable};
use crate::db::RawJson;

/// Columns of a journal row.
const COLUMNS: usize = 5;

/// The inserts of a power of two rows, 1 to [`ROWS_PER_STATEMENT`], each
/// as written for that many rows and as padded to it: built once, not per
/// commit (the largest is about 17 KB of text).
static INSERTS: LazyLock<Vec<[String; 2]>> = LazyLock::new(|| {
    (0..=ROWS_PER_STATEMENT.trailing_zeros())
        .map(|power| {
            let rows = 1 << power;
            [insert_statement(rows, false), insert_statement(rows, true)]
        })
        .collect()
});

/// The pages the WAL holds when the journal copies it into the file
/// (SQLite's own default for its automatic checkpoint).
const CHECKPOINT_PAGES: i32 = 1000;

thread_local! {
    /// The pages in the WAL after the last commit on this thread's
    /// connection, as SQLite's WAL hook tells it ([`note_wal_pages`]).
    static WAL_PAGES: Cell<i32> = const { Cell::new(0) };
}

/// The inline connection's WAL hook: called in each of its commits, on the
/// committing thread, with the pages the WAL then holds. A connection
/// with a hook of its own makes no automatic checkpoint.
fn note_wal_pages(_: &Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(pages);
    Ok(())
}

/// The journal's own SQLite connection, driven on the caller's thread.
#[derive(Debug)]
pub(super) struct InlineCommits {
    path: PathBuf,
    /// Opened at the first write; dropped after a failure other than a
    /// conflict or a busy file, and opened again at the next.
    connection: Mutex<Option<Connection>>,
    /// The pages in the WAL after this connection's last commit.
    wal_pages: AtomicI32,
}

/// What became of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Inline {
    /// Committed and flushed.
    Committed,
    /// Another connection held the file's write lock: nothing was written.
    Busy,
}

impl InlineCommits {
    /// Commits to the SQLite file at `path`; none for a database in memory,
    /// which another connection would not see.
    pub(super) fn on(path: &Path) -> Option<Self> {
        let name = path.to_string_lossy();
        if name.is_empty() || name.contains(":memory:") || name.contains("mode=memory") {
            return None;
        }
        Some(Self {
            path: path.to_owned(),
            connection: Mutex::new(None),
            wal_pages: AtomicI32::new(0),
        })
    }

    /// Inserts `rows` (each with its seq as stored) in one statement and
    /// upserts `snapshots` (each keeping a newer one), all in one
    /// transaction: alone, the insert is a transaction of its own.
    ///
    /// # Errors
    /// [`JournalError::Conflict`] when a row is at or before its auction's
    /// newest seq; [`JournalError::Unavailable`] when the database fails.
    /// Either way nothing was written.
    pub(super) fn insert(
        &self,
        rows: &[(&JournalEntry, &i64)],
        snapshots: &[StoredSnapshot<'_>],
    ) -> Result<Inline, JournalError> {
        let written = if snapshots.is_empty() {
            self.write(|connection| insert_rows(connection, rows))
        } else {
            self.write(|connection| {
                // Begun at once or not at all: a file another connection
                // is writing is busy before anything is written. Rolled
                // back when dropped uncommitted.
                let transaction =
                    Transaction::new_unchecked(connection, TransactionBehavior::Immediate)?;
                if !rows.is_empty() {
                    insert_rows(&transaction, rows)?;
                }
                for snapshot in snapshots {
                    upsert_snapshot(&transaction, snapshot)?;
                }
                transaction.commit()
            })
        };
        written.map_err(|e| match e {
            Failed::Conflict => conflict_in(rows.iter().map(|(entry, _)| *entry)),
            other => unavailable(other),
        })
    }

    /// Upserts `snapshot`, keeping a newer one.
    ///
    /// # Errors
    /// [`JournalError::Unavailable`] when the database fails.
    pub(super) fn save_snapshot(
        &self,
        snapshot: &StoredSnapshot<'_>,
    ) -> Result<Inline, JournalError> {
        self.write(|connection| upsert_snapshot(connection, snapshot))
            .map_err(unavailable)
    }

    /// Whether this connection's last commit left [`CHECKPOINT_PAGES`] or
    /// more in the WAL, so that [`Self::checkpoint`] is due.
    pub(super) fn checkpoint_due(&self) -> bool {
        self.wal_pages.load(Ordering::Relaxed) >= CHECKPOINT_PAGES
    }

    /// Copies the WAL into the database file: a passive checkpoint, which
    /// waits for no other connection. This is the copy SQLite's automatic
    /// checkpoint makes inside the commit that leaves the WAL at
    /// [`CHECKPOINT_PAGES`], made when the journal writer has given that
    /// commit's answers, so that none of them waits for it. Like SQLite's,
    /// it is due again after each commit for as long as the WAL stays that
    /// long (a reader kept part of it from being copied).
    ///
    /// # Errors
    /// When the database fails. Nothing is lost: what the WAL holds is
    /// committed, and the next commit makes it due again.
    pub(super) fn checkpoint(&self) -> Result<(), JournalError> {
        self.write(|connection| {
            connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        })
        .map(|_| ())
        .map_err(unavailable)
    }

    /// Closes the connection (the journal's writer was closed); a write
    /// after it opens it again.
    pub(super) fn close(&self) {
        *self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn write(
        &self,
        statement: impl FnOnce(&Connection) -> rusqlite::Result<()>,
    ) -> Result<Inline, Failed> {
        let mut slot = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let connection = match slot.as_mut() {
            Some(connection) => connection,
            None => slot.insert(open(&self.path)?),
        };
        WAL_PAGES.set(0);
        let outcome = statement(connection);
        self.wal_pages.store(WAL_PAGES.get(), Ordering::Relaxed);
        match outcome {
            Ok(()) => Ok(Inline::Committed),
            Err(e) if is_busy(&e) => Ok(Inline::Busy),
            Err(e) if is_conflict(&e) => Err(Failed::Conflict),
            Err(e) => {
                *slot = None;
                Err(Failed::Database(e))
            }
        }
    }
}

/// A snapshot as the journal stores it: its auction, the seq it is as of
/// (as stored), when it was taken.
#[derive(Debug, Clone, Copy)]
pub(super) struct StoredSnapshot<'a> {
    pub(super) auction_id: AuctionId,
    pub(super) seq: i64,
    pub(super) state: &'a AuctionState,
    pub(super) taken_at: DateTime<Utc>,
}

fn upsert_snapshot(connection: &Connection, snapshot: &StoredSnapshot<'_>) -> rusqlite::Result<()> {
    connection.prepare_cached(SNAPSHOT_UPSERT)?.execute((
        &Uuid::from(snapshot.auction_id).as_bytes()[..],
        snapshot.seq,
        RawJson(snapshot.state).text(),
        time_as_sqlx_writes_it(snapshot.taken_at),
    ))?;
    Ok(())
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
enum Failed {
    #[error("a journal row at or before its auction's newest seq")]
    Conflict,
    #[error("the journal's file is in {0} mode, not WAL")]
    NotWal(String),
    #[error(transparent)]
    Database(#[from] rusqlite::Error),
}

fn open(path: &Path) -> Result<Connection, Failed> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(Duration::ZERO)?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.wal_hook(Some(note_wal_pages));
    let mode: String = connection.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Failed::NotWal(mode));
    }
    Ok(connection)
}

fn insert_rows(connection: &Connection, rows: &[(&JournalEntry, &i64)]) -> rusqlite::Result<()> {
    let written = rows_written_for(rows.len());
    let sql = INSERTS
        .get(written.trailing_zeros() as usize)
        .map(|[whole, padded]| if written == rows.len() { whole } else { padded })
        .ok_or(rusqlite::Error::InvalidQuery)?;
    let mut statement = connection.prepare_cached(sql)?;
    for (row, values) in padded(rows).enumerate() {
        let first = row * COLUMNS + 1;
        match values {
            Some((entry, seq)) => {
                statement
                    .raw_bind_parameter(first, &Uuid::from(entry.auction_id).as_bytes()[..])?;
                statement.raw_bind_parameter(first + 1, **seq)?;
                statement.raw_bind_parameter(first + 2, entry.event.kind.name())?;
                statement.raw_bind_parameter(first + 3, time_as_sqlx_writes_it(entry.event.at))?;
                statement.raw_bind_parameter(first + 4, RawJson(&entry.event.kind).text())?;
            }
            None => {
                for column in first..first + COLUMNS {
                    statement.raw_bind_parameter(column, Null)?;
                }
            }
        }
    }
    statement.raw_execute()?;
    Ok(())
}

/// The insert of `rows` rows, the last of them padding when `padded`: the
/// journal's sqlx statement with SQLite's `?` for its placeholders.
fn insert_statement(rows: usize, padded: bool) -> String {
    let values = vec!["(?, ?, ?, ?, ?)"; rows].join(", ");
    if padded {
        format!("{EVENTS_PADDED_HEAD}VALUES {values}{EVENTS_PADDED_TAIL}")
    } else {
        format!("{EVENTS_INSERT}VALUES {values}")
    }
}

/// A time as sqlx writes a `DateTime<Utc>` to SQLite.
fn time_as_sqlx_writes_it(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

fn is_conflict(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(_, Some(message)) if message.starts_with(SQLITE_CONFLICT))
}

#[cfg(test)]
mod tests {
    use blytz_actors::domain::{Caller, Currency, ProductId, Role, UserId};
    use blytz_actors::ports::JournalStore;
    use blytz_actors::rules::{Bid, BidIds, Command, NewAuction, apply, create, decide};
    use sqlx::Connection as _;

    use super::*;
    use crate::auctions::SqlJournal;
    use crate::db::{Db, ScratchDb};

    /// An auction's creation and start, then three bids: each batch's
    /// entries.
    fn batches() -> (AuctionId, Vec<Vec<JournalEntry>>) {
        let seller = UserId::new();
        let now = Utc::now();
        let config = NewAuction::new(ProductId::new(), Currency::USD, 100, 600_000)
            .into_config(AuctionId::new(), seller)
            .unwrap();
        let id = config.id;
        let created = create(config, now).unwrap();
        let mut state = AuctionState::replay([&created]).unwrap();
        let mut batches = vec![vec![JournalEntry::new(created, &state)]];
        let step = |state: &mut AuctionState, caller: Caller, command: Command| {
            let events = decide(state, caller, command, BidIds::fresh(), Utc::now()).unwrap();
            events
                .into_iter()
                .map(|event| {
                    apply(state, &event);
                    JournalEntry::new(event, state)
                })
                .collect::<Vec<_>>()
        };
        batches.push(step(
            &mut state,
            Caller::new(seller, Role::Seller),
            Command::Start,
        ));
        for _ in 0..3 {
            let bid = Bid {
                amount: state.min_next_bid(),
                max_amount: None,
                request_id: Some(Uuid::now_v7().to_string()),
            };
            let bidder = Caller::new(UserId::new(), Role::Buyer);
            batches.push(step(&mut state, bidder, Command::Bid(bid)));
        }
        (id, batches)
    }

    /// `batch` inserted on `inline`.
    fn insert(inline: &InlineCommits, batch: &[JournalEntry]) -> Result<Inline, JournalError> {
        insert_with(inline, batch, &[])
    }

    /// `batch` inserted on `inline` with `snapshots`.
    fn insert_with(
        inline: &InlineCommits,
        batch: &[JournalEntry],
        snapshots: &[StoredSnapshot<'_>],
    ) -> Result<Inline, JournalError> {
        let seqs: Vec<i64> = batch
            .iter()
            .map(|entry| i64::try_from(entry.seq).unwrap())
            .collect();
        let rows: Vec<(&JournalEntry, &i64)> = batch.iter().zip(&seqs).collect();
        inline.insert(&rows, snapshots)
    }

    /// The snapshot of `state` as of its seq.
    fn snapshot_of(id: AuctionId, state: &AuctionState) -> StoredSnapshot<'_> {
        StoredSnapshot {
            auction_id: id,
            seq: i64::try_from(state.seq).unwrap(),
            state,
            taken_at: Utc::now(),
        }
    }

    /// The state after `batches`.
    fn state_after(batches: &[Vec<JournalEntry>]) -> AuctionState {
        let mut state = AuctionState::replay([&batches[0][0].event]).unwrap();
        for entry in batches.iter().skip(1).flatten() {
            apply(&mut state, &entry.event);
        }
        state
    }

    async fn snapshot_seqs(db: &Db) -> Vec<i64> {
        sqlx::query_scalar("SELECT seq FROM auction_snapshots ORDER BY seq")
            .fetch_all(sqlite_pool(db))
            .await
            .unwrap()
    }

    fn sqlite_pool(db: &Db) -> &sqlx::SqlitePool {
        let Db::Sqlite(pool) = db else {
            unreachable!("a SQLite database")
        };
        pool
    }

    fn inline_on(db: &Db) -> InlineCommits {
        InlineCommits::on(sqlite_pool(db).connect_options().get_filename()).unwrap()
    }

    type Row = (Vec<u8>, i64, String, String, String);

    async fn journal_rows(db: &Db) -> Vec<Row> {
        sqlx::query_as("SELECT auction_id, seq, kind, at, payload FROM auction_events ORDER BY pos")
            .fetch_all(sqlite_pool(db))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn bids_written_on_this_thread_are_the_rows_sqlx_writes() {
        let (inline_db, sqlx_db) = (
            ScratchDb::sqlite().await.unwrap(),
            ScratchDb::sqlite().await.unwrap(),
        );
        let inline = inline_on(&inline_db.db);
        // The journal's sqlx statement: a journal without a connection of
        // its own has no inline commits.
        let through_sqlx = SqlJournal::new(sqlx_db.db.clone(), None);
        let (_, batches) = batches();
        for batch in batches.iter().skip(2) {
            assert_eq!(insert(&inline, batch).unwrap(), Inline::Committed);
            through_sqlx.append(batch).await.unwrap();
        }
        // Three rows at once: a statement padded to four.
        let three: Vec<JournalEntry> = batches.iter().skip(2).flatten().cloned().collect();
        let renumbered: Vec<JournalEntry> = three
            .iter()
            .map(|entry| {
                let mut entry = entry.clone();
                entry.seq += 3;
                entry.event.seq += 3;
                entry
            })
            .collect();
        assert_eq!(insert(&inline, &renumbered).unwrap(), Inline::Committed);
        through_sqlx.append(&renumbered).await.unwrap();

        let written = journal_rows(&inline_db.db).await;
        assert_eq!(written.len(), 6);
        assert_eq!(written, journal_rows(&sqlx_db.db).await);
    }

    /// `template` again with each seq after its own.
    fn bids_after(template: &JournalEntry) -> impl Iterator<Item = JournalEntry> + '_ {
        (1..).map(|n| {
            let mut entry = template.clone();
            entry.seq += n;
            entry.event.seq += n;
            entry
        })
    }

    #[tokio::test]
    async fn the_wal_is_copied_into_the_file_when_asked_not_in_the_commit() {
        let scratch = ScratchDb::sqlite().await.unwrap();
        let inline = inline_on(&scratch.db);
        let (_, batches) = batches();
        let bid = &batches[2][0];
        let wal = PathBuf::from(format!("{}-wal", inline.path.display()));
        let mut bids = bids_after(bid);
        let mut commit = |rows: usize| {
            let batch: Vec<JournalEntry> = bids.by_ref().take(rows).collect();
            assert_eq!(insert(&inline, &batch).unwrap(), Inline::Committed);
        };
        // Commits of 64 rows until the WAL holds a checkpoint's pages; the
        // commit that takes it there copies nothing.
        let mut commits = 0;
        while !inline.checkpoint_due() {
            assert!(commits < 500, "the WAL never reached a checkpoint's size");
            commit(64);
            commits += 1;
        }
        let long = std::fs::metadata(&wal).unwrap().len();
        assert!(long >= 1000 * 4096, "{long} bytes of WAL");
        // Nor does any commit after it: the WAL grows until asked.
        commit(64);
        assert!(inline.checkpoint_due());
        assert!(std::fs::metadata(&wal).unwrap().len() > long);

        inline.checkpoint().unwrap();
        // The next commit starts the WAL again, from its beginning.
        commit(1);
        assert!(!inline.checkpoint_due());
        let written = std::fs::metadata(&wal).unwrap().len();
        for _ in 0..20 {
            commit(64);
        }
        assert!(!inline.checkpoint_due());
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), written);
        // Every row is there, read from the file and the WAL alike.
        let rows = (commits + 1) * 64 + 1 + 20 * 64;
        assert_eq!(journal_rows(&scratch.db).await.len(), rows);
    }

    #[tokio::test]
    async fn a_repeated_seq_is_a_conflict_and_writes_nothing() {
        let scratch = ScratchDb::sqlite().await.unwrap();
        let inline = inline_on(&scratch.db);
        let (id, batches) = batches();
        assert_eq!(insert(&inline, &batches[2]).unwrap(), Inline::Committed);
        let again = insert(&inline, &batches[2]).unwrap_err();
        assert!(
            matches!(again, JournalError::Conflict { auction_id, seq: 3 } if auction_id == id),
            "{again:?}"
        );
        assert_eq!(journal_rows(&scratch.db).await.len(), 1);
        // The connection goes on.
        assert_eq!(insert(&inline, &batches[3]).unwrap(), Inline::Committed);
    }

    #[tokio::test]
    async fn a_file_another_connection_is_writing_is_busy_and_nothing_is_written() {
        let scratch = ScratchDb::sqlite().await.unwrap();
        let inline = inline_on(&scratch.db);
        let mut other = sqlite_pool(&scratch.db).acquire().await.unwrap();
        let mut holding = other.begin_with("BEGIN IMMEDIATE").await.unwrap();
        let (id, batches) = batches();
        assert_eq!(insert(&inline, &batches[2]).unwrap(), Inline::Busy);
        let state = AuctionState::replay([&batches[0][0].event]).unwrap();
        assert_eq!(
            inline.save_snapshot(&snapshot_of(id, &state)).unwrap(),
            Inline::Busy
        );
        assert_eq!(
            insert_with(&inline, &batches[2], &[snapshot_of(id, &state)]).unwrap(),
            Inline::Busy
        );
        sqlx::query("SELECT 1")
            .execute(&mut *holding)
            .await
            .unwrap();
        holding.commit().await.unwrap();
        assert!(journal_rows(&scratch.db).await.is_empty());
        assert!(snapshot_seqs(&scratch.db).await.is_empty());
        assert_eq!(insert(&inline, &batches[2]).unwrap(), Inline::Committed);
        assert_eq!(journal_rows(&scratch.db).await.len(), 1);
    }

    #[tokio::test]
    async fn a_snapshot_written_on_this_thread_is_the_one_sqlx_writes_and_loads() {
        let scratch = ScratchDb::sqlite().await.unwrap();
        let inline = inline_on(&scratch.db);
        let journal = SqlJournal::new(scratch.db.clone(), None);
        let (id, batches) = batches();
        let state = state_after(&batches);
        assert_eq!(
            inline.save_snapshot(&snapshot_of(id, &state)).unwrap(),
            Inline::Committed
        );
        // An older one does not replace it.
        let older = AuctionState::replay([&batches[0][0].event]).unwrap();
        assert_eq!(
            inline.save_snapshot(&snapshot_of(id, &older)).unwrap(),
            Inline::Committed
        );
        let loaded = journal.load(id).await.unwrap().snapshot.unwrap();
        assert_eq!((loaded.seq, loaded.state), (state.seq, state.clone()));
        let (text,): (String,) = sqlx::query_as("SELECT state FROM auction_snapshots")
            .fetch_one(sqlite_pool(&scratch.db))
            .await
            .unwrap();
        assert_eq!(text, serde_json::to_string(&state).unwrap());
    }

    #[tokio::test]
    async fn a_batch_and_snapshots_commit_together_or_not_at_all() {
        let scratch = ScratchDb::sqlite().await.unwrap();
        let inline = inline_on(&scratch.db);
        let (id, batches) = batches();
        let before_bids = state_after(&batches[..2]);
        assert_eq!(
            insert_with(&inline, &batches[2], &[snapshot_of(id, &before_bids)]).unwrap(),
            Inline::Committed
        );
        assert_eq!(journal_rows(&scratch.db).await.len(), 1);
        assert_eq!(snapshot_seqs(&scratch.db).await, vec![2]);

        // The batch conflicts: the newer snapshot with it is not written.
        let after_first_bid = state_after(&batches[..3]);
        let conflict =
            insert_with(&inline, &batches[2], &[snapshot_of(id, &after_first_bid)]).unwrap_err();
        assert!(
            matches!(conflict, JournalError::Conflict { seq: 3, .. }),
            "{conflict:?}"
        );
        assert_eq!(journal_rows(&scratch.db).await.len(), 1);
        assert_eq!(snapshot_seqs(&scratch.db).await, vec![2]);

        // Snapshots alone, and the connection goes on.
        assert_eq!(
            insert_with(&inline, &[], &[snapshot_of(id, &after_first_bid)]).unwrap(),
            Inline::Committed
        );
        assert_eq!(snapshot_seqs(&scratch.db).await, vec![3]);
        assert_eq!(insert(&inline, &batches[3]).unwrap(), Inline::Committed);
        assert_eq!(journal_rows(&scratch.db).await.len(), 2);
    }

    #[test]
    fn a_database_in_memory_has_no_second_connection() {
        assert!(InlineCommits::on(Path::new(":memory:")).is_none());
        assert!(InlineCommits::on(Path::new("")).is_none());
        assert!(InlineCommits::on(Path::new("/tmp/blytz.db")).is_some());
    }
}
