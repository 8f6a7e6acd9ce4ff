//! The auction read model (the `auctions` row of each auction), written
//! behind the journal.
//!
//! The journal is the record; this table answers lists and searches (bid
//! history is read from the journal itself). A batch of bids alone commits
//! its events only: each auction's newest view waits in a backlog, and the
//! backlog is written in one transaction of its own, [`SETTLE_AFTER`] after
//! its oldest row at most (or before any read of the table through
//! [`ReadModels::settle`]). An auction's row is then rewritten once per
//! settle instead of once per commit.
//!
//! What stays in the commit itself: everything of a batch that changes an
//! auction's lifecycle (created, started, paused, ended ...), with the whole
//! backlog settled first, so a status, a winner or an ending is never read
//! behind the journal.
//!
//! On SQLite the same ticker that settles when the journal is quiet also
//! catches the journal's lookup by auction up with its rows
//! ([`super::keys`]), which a commit does not write either, once they trail
//! the rows by [`KEYS_AFTER`] or by 16,384 rows, whichever comes first. The
//! keys are a file of their own, written on a connection of the main pool,
//! so no commit waits for them. Reads find the rows past the keys without
//! them, so the keys only bound how far such a read scans.
//!
//! Writes are idempotent and ordered by `seq`: a view replaces only an
//! older one, so a settle may race a commit or repeat a repair. A backlog
//! lost with the process is rebuilt from the journal when the auction is
//! next loaded ([`super::SqlJournal`]'s `load`).
//!
//! On SQLite a settle shares the journal's connection, and waits only
//! briefly for the file's write lock ([`Patience::Brief`]): a settle that
//! must happen (before a read, a lifecycle commit or a repair) tries again
//! in turns for as long as a commit would wait, and the commits waiting for
//! the connection go between its turns; one that can wait for the next
//! tick leaves the backlog as it was.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use blytz_actors::domain::AuctionId;
use blytz_actors::ports::JournalError;
use blytz_actors::view::AuctionView;
use sqlx::{Connection as _, SqlitePool};
use uuid::Uuid;

use super::keys;
use crate::db::{Db, LOCK_WAIT, Patience, Writer, is_locked};
use crate::with_writer;

/// The longest a deferred row waits for its settle.
pub const SETTLE_AFTER: Duration = Duration::from_millis(100);

/// A backlog this large is settled whatever its age.
const SETTLE_ROWS: usize = 4_096;

/// The longest the journal's keys trail its rows (SQLite, [`super::keys`]).
/// Each catch-up writes the newest leaf of every auction that took bids,
/// whether it adds a few keys to it or fills it: caught up every 100 ms,
/// that was a page a bidding auction every 100 ms.
pub const KEYS_AFTER: Duration = Duration::from_secs(1);

/// Journal rows past the keys that make them due whatever their age: a read
/// scans at most about this many rows past the keys.
const KEYS_ROWS: usize = 16_384;

/// Rows per multi-row statement (see the journal's own limit): a power of
/// two, so that [`rows_written_for`] never passes it.
pub(super) const ROWS_PER_STATEMENT: usize = 1_024;

/// The rows a multi-row statement for `rows` rows is written for: `rows`
/// up to the next power of two, the rest padding rows of NULLs that the
/// statement skips. A database prepares a statement's text once and then
/// reuses it; a text per row count was a new one for most batches, and
/// SQLite prepared it anew each time (a tenth of the server's instructions
/// on 100 bidding auctions). Now at most eleven texts exist per statement.
pub(super) const fn rows_written_for(rows: usize) -> usize {
    rows.next_power_of_two()
}

/// `rows` as a statement written for [`rows_written_for`] rows binds them:
/// each row, then `None` for each padding row.
pub(super) fn padded<T>(rows: &[T]) -> impl Iterator<Item = Option<&T>> {
    let padding = rows_written_for(rows.len()) - rows.len();
    rows.iter()
        .map(Some)
        .chain(std::iter::repeat_n(None, padding))
}

/// Which of an auction's row's columns a view is written to.
///
/// An index entry of every column that an `UPDATE` names in its `SET` is
/// rewritten for each row, whether or not the value changed; on SQLite the
/// entries of `status` and `ends_at` were about 40 % of the `UPDATE` of a
/// hundred bidding auctions' views (`docs/performance.md`). A bid or a
/// raised maximum changes neither, and a view that had nothing else since
/// its row was written is written without them. Anything else (an
/// extension; a lifecycle change, written in its own commit anyway) is
/// written to every column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Columns {
    /// Every column: a lifecycle change, a repair, a deferred view with
    /// more than bids behind it (an extension).
    All,
    /// All but `status` and `ends_at`, which the view has as stored: a view
    /// of bids and raised maximums alone.
    Bids,
}

impl Columns {
    /// What a row needs written for two views merged into it.
    fn and(self, other: Self) -> Self {
        if self == Self::Bids && other == Self::Bids {
            Self::Bids
        } else {
            Self::All
        }
    }
}

/// What is not written yet.
#[derive(Debug, Default)]
struct Backlog {
    /// The newest view of each auction, and the columns of its row that
    /// changed since the row was last written.
    views: HashMap<AuctionId, (AuctionView, Columns)>,
    /// When the oldest view was deferred.
    since: Option<Instant>,
    /// Journal rows committed since the keys were last caught up (SQLite:
    /// [`super::keys`]).
    keys: Keys,
}

/// Journal rows past the keys' mark, and since when (`None`: none).
#[derive(Debug, Default, Clone, Copy)]
struct Keys {
    rows: usize,
    since: Option<Instant>,
}

impl Keys {
    /// `rows` rows committed now.
    fn committed(rows: usize) -> Self {
        Self {
            rows,
            since: (rows > 0).then(Instant::now),
        }
    }

    /// Rows an earlier process may have left past the mark, as many as it
    /// let trail: caught up once they are due, like rows committed now.
    fn left_behind() -> Self {
        Self {
            rows: 0,
            since: Some(Instant::now()),
        }
    }

    fn merge(&mut self, other: Self) {
        self.rows = self.rows.saturating_add(other.rows);
        self.since = match (self.since, other.since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    fn due(&self) -> bool {
        self.rows >= KEYS_ROWS
            || self
                .since
                .is_some_and(|since| since.elapsed() >= KEYS_AFTER)
    }
}

impl Backlog {
    /// Adds views, each merged with the one held for its auction.
    fn add_views(&mut self, views: Vec<(AuctionView, Columns)>) {
        if self.since.is_none() && !views.is_empty() {
            self.since = Some(Instant::now());
        }
        for (view, columns) in views {
            match self.views.get_mut(&view.id) {
                Some((held, held_columns)) => {
                    *held_columns = held_columns.and(columns);
                    if held.seq < view.seq {
                        *held = view;
                    }
                }
                None => {
                    self.views.insert(view.id, (view, columns));
                }
            }
        }
    }

    /// Takes the views.
    fn take_views(&mut self) -> Vec<(AuctionView, Columns)> {
        self.since = None;
        std::mem::take(&mut self.views).into_values().collect()
    }

    /// Takes the keys when `anyway` or they are due.
    fn take_keys(&mut self, anyway: bool) -> Option<Keys> {
        (anyway || self.keys.due()).then(|| std::mem::take(&mut self.keys))
    }
}

/// The read models' writer: the backlog and the connection it is written on
/// (the journal's own, so that on SQLite a settle and a commit take turns
/// rather than wait for each other's file lock), and on SQLite the pool
/// the journal's keys are caught up on.
#[derive(Debug, Clone)]
pub struct ReadModels {
    writer: Writer,
    /// SQLite: the main file's pool, whose connections attach the keys'
    /// file ([`super::keys`]).
    keys: Option<SqlitePool>,
    backlog: Arc<Mutex<Backlog>>,
    /// Held by a settle from taking the backlog until its rows are
    /// committed: a settle that found the backlog taken by another waits
    /// for that one, so that once it returns every row deferred before it
    /// was called is in the tables.
    settling: Arc<tokio::sync::Mutex<()>>,
    /// The same for the keys' catch-up.
    catching_up: Arc<tokio::sync::Mutex<()>>,
}

impl ReadModels {
    /// The read models of a journal over `db`, written on `writer`.
    pub(super) fn new(writer: Writer, db: &Db) -> Self {
        let keys = match db {
            Db::Sqlite(pool) => Some(pool.clone()),
            Db::Postgres(_) => None,
        };
        let mut backlog = Backlog::default();
        if keys.is_some() {
            backlog.keys = Keys::left_behind();
        }
        Self {
            writer,
            keys,
            backlog: Arc::new(Mutex::new(backlog)),
            settling: Arc::default(),
            catching_up: Arc::default(),
        }
    }

    fn backlog(&self) -> std::sync::MutexGuard<'_, Backlog> {
        // The backlog is plain data, consistent after every statement.
        self.backlog.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the backlog's views are due to be written: [`SETTLE_ROWS`]
    /// of them, or the oldest deferred [`SETTLE_AFTER`] ago.
    fn due(&self) -> bool {
        let backlog = self.backlog();
        backlog.views.len() >= SETTLE_ROWS
            || backlog
                .since
                .is_some_and(|since| since.elapsed() >= SETTLE_AFTER)
    }

    /// Defers the newest views of a committed batch's auctions (those of
    /// `beyond_bids`, which had more than bids, to all their columns) and,
    /// on SQLite, the keys of its `rows` journal rows.
    pub(super) fn defer(&self, views: &[&AuctionView], beyond_bids: &[AuctionId], rows: usize) {
        let keys = if self.keys.is_some() {
            Keys::committed(rows)
        } else {
            Keys::default()
        };
        if views.is_empty() && keys.since.is_none() {
            return;
        }
        let views = views
            .iter()
            .map(|view| {
                let columns = if beyond_bids.contains(&view.id) {
                    Columns::All
                } else {
                    Columns::Bids
                };
                ((*view).clone(), columns)
            })
            .collect();
        let mut backlog = self.backlog();
        backlog.keys.merge(keys);
        backlog.add_views(views);
    }

    /// Writes every view deferred so far, in one transaction. A read of the
    /// read models settles first, so it never trails what was acknowledged.
    ///
    /// # Errors
    /// When the database refuses the write, or SQLite's file stays locked
    /// for [`LOCK_WAIT`]; the rows stay in the backlog.
    pub async fn settle(&self) -> Result<(), JournalError> {
        let _turn = self.settling.lock().await;
        patiently(|| self.write_backlog()).await
    }

    /// Settles, and on SQLite catches the journal's keys up with its rows
    /// whatever their age, so that every row committed before the call is
    /// found through them.
    ///
    /// # Errors
    /// As [`ReadModels::settle`].
    pub async fn settle_with_keys(&self) -> Result<(), JournalError> {
        self.settle().await?;
        let _turn = self.catching_up.lock().await;
        patiently(|| self.catch_up(true)).await
    }

    /// Settles when the backlog is due and no other settle is under way
    /// (one that is will have written it), in one brief turn: for the
    /// journal's upkeep after a group's answers, which no bid waits for.
    pub(super) async fn settle_if_due(&self) {
        if let Ok(_turn) = self.settling.try_lock()
            && self.due()
        {
            log_for_later(self.write_backlog().await);
        }
    }

    /// Takes the backlog's views and writes them; the caller holds
    /// `settling`.
    async fn write_backlog(&self) -> Result<(), Failed> {
        let views = self.backlog().take_views();
        if views.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let written = self.write(&views).await;
        metrics::histogram!("read_model_settle_seconds").record(started.elapsed().as_secs_f64());
        if written.is_err() {
            // Back in, before whatever was deferred meanwhile.
            let mut backlog = self.backlog();
            let newer = backlog.take_views();
            backlog.add_views(views);
            backlog.add_views(newer);
        }
        written
    }

    /// On SQLite, catches the journal's keys up with its rows when `anyway`
    /// or they are due; the caller holds `catching_up`.
    async fn catch_up(&self, anyway: bool) -> Result<(), Failed> {
        let Some(pool) = &self.keys else {
            return Ok(());
        };
        let Some(keys) = self.backlog().take_keys(anyway) else {
            return Ok(());
        };
        let started = Instant::now();
        let caught_up = keys::catch_up(pool).await.map_err(failed);
        metrics::histogram!("journal_keys_catch_up_seconds")
            .record(started.elapsed().as_secs_f64());
        if caught_up.is_err() {
            self.backlog().keys.merge(keys);
        }
        caught_up
    }

    /// Settles, and catches the keys up once due, every `period`: for a
    /// journal that goes quiet with rows deferred, and for the keys, which
    /// no commit waits for. The two take their own turns, so a long
    /// catch-up (a server upgraded over a large journal) delays no settle.
    pub async fn settle_every(self, period: Duration) {
        let period = period.max(Duration::from_millis(10));
        tokio::join!(
            every(period, || async {
                let _turn = self.settling.lock().await;
                self.write_backlog().await
            }),
            every(period, || async {
                let _turn = self.catching_up.lock().await;
                self.catch_up(false).await
            }),
        );
    }

    /// Writes `views` (a repair of rows found behind the journal), trying
    /// again as [`ReadModels::settle`] does.
    ///
    /// # Errors
    /// As [`ReadModels::settle`].
    pub(super) async fn repair(
        &self,
        views: &[(AuctionView, Columns)],
    ) -> Result<(), JournalError> {
        patiently(|| self.write(views)).await
    }

    /// Writes `views`, each to its columns, in a transaction of their own,
    /// in a brief turn.
    async fn write(&self, views: &[(AuctionView, Columns)]) -> Result<(), Failed> {
        if views.is_empty() {
            return Ok(());
        }
        let to = |columns: Columns| -> Vec<&AuctionView> {
            views
                .iter()
                .filter(|(_, of)| *of == columns)
                .map(|(view, _)| view)
                .collect()
        };
        let (all, bids) = (to(Columns::All), to(Columns::Bids));
        let is_postgres = self.writer.is_postgres();
        with_writer!(&self.writer, Patience::Brief, pool, failed => {
            let mut tx = pool.begin().await.map_err(failed)?;
            write_rows!(&mut *tx, is_postgres, &all, Columns::All, failed);
            write_rows!(&mut *tx, is_postgres, &bids, Columns::Bids, failed);
            tx.commit().await.map_err(failed)
        })
    }
}

/// Why a write of the read models failed.
#[derive(Debug)]
enum Failed {
    /// SQLite's file was locked by another connection for longer than a
    /// brief turn waits.
    Locked(sqlx::Error),
    /// Anything else.
    Journal(JournalError),
}

fn failed(e: sqlx::Error) -> Failed {
    if is_locked(&e) {
        Failed::Locked(e)
    } else {
        Failed::Journal(unavailable(e))
    }
}

impl From<JournalError> for Failed {
    fn from(e: JournalError) -> Self {
        Self::Journal(e)
    }
}

impl From<Failed> for JournalError {
    fn from(failed: Failed) -> Self {
        match failed {
            Failed::Locked(e) => unavailable(e),
            Failed::Journal(e) => e,
        }
    }
}

/// Logs a write that is tried again later: a file locked elsewhere
/// quietly (the journal's own commits report an outage), any other failure
/// as a warning.
fn log_for_later(written: Result<(), Failed>) {
    match written {
        Ok(()) => {}
        Err(Failed::Locked(e)) => {
            tracing::debug!(error = %e, "the read models wait for a locked database");
        }
        Err(Failed::Journal(e)) => {
            tracing::warn!(error = %e, "could not write the auction read models; will retry");
        }
    }
}

/// Runs `work` every `period`, leaving what fails for the next time.
async fn every<F>(period: Duration, mut work: impl FnMut() -> F)
where
    F: Future<Output = Result<(), Failed>>,
{
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        log_for_later(work().await);
    }
}

/// Runs `attempt` (a write in brief turns) until the file is not found
/// locked, for as long as a commit would wait for it ([`LOCK_WAIT`]). Each
/// attempt queues for the connection again, behind the commits that came
/// meanwhile.
async fn patiently<F>(mut attempt: impl FnMut() -> F) -> Result<(), JournalError>
where
    F: Future<Output = Result<(), Failed>>,
{
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match attempt().await {
            Err(Failed::Locked(_)) if Instant::now() < deadline => {}
            written => return written.map_err(JournalError::from),
        }
    }
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> JournalError {
    JournalError::Unavailable(e.to_string())
}

/// Writes `views: &[&AuctionView]` on `$conn` (a connection or transaction
/// of either backend): one update of `$columns` ([`Columns`]) of every
/// auction's row whose stored `seq` is older than its view's. `$map_err`
/// turns a database error into the caller's.
macro_rules! write_rows {
    ($conn:expr, $is_postgres:expr, $views:expr, $columns:expr, $map_err:expr) => {{
        use $crate::auctions::journal::seq_to_i64;
        use $crate::auctions::read_models::{Columns, ROWS_PER_STATEMENT, padded};
        for chunk in $views.chunks(ROWS_PER_STATEMENT) {
            // One statement for every auction's row: the new values as a
            // table joined on the id (PostgreSQL needs the types spelled out).
            // Padding rows have no id, so they join no row.
            let cast = |ty: &'static str| if $is_postgres { ty } else { "" };
            let mut update = sqlx::QueryBuilder::new(
                "WITH v (id, status, current_price, leader_id, bid_count, ends_at, seq, view, \
                 updated_at) AS (VALUES ",
            );
            for (i, view) in padded(chunk).enumerate() {
                let view: Option<&AuctionView> = view.map(|view| &**view);
                update.push(if i == 0 { "(" } else { ", (" });
                update
                    .push_bind(view.map(|view| Uuid::from(view.id)))
                    .push(cast("::uuid"))
                    .push(", ")
                    .push_bind(view.map(|view| view.status.as_str()))
                    .push(cast("::text"))
                    .push(", ")
                    .push_bind(view.and_then(|view| view.current_price))
                    .push(cast("::bigint"))
                    .push(", ")
                    .push_bind(view.and_then(|view| view.leader_id.map(Uuid::from)))
                    .push(cast("::uuid"))
                    .push(", ")
                    .push_bind(view.map(|view| i64::from(view.bid_count)))
                    .push(cast("::bigint"))
                    .push(", ")
                    .push_bind(view.and_then(|view| view.ends_at))
                    .push(cast("::timestamptz"))
                    .push(", ")
                    .push_bind(view.map(|view| seq_to_i64(view.id, view.seq)).transpose()?)
                    .push(cast("::bigint"))
                    .push(", ")
                    .push_bind(view.map($crate::db::RawJson))
                    .push(cast("::json"))
                    .push(", ")
                    .push_bind(view.map(|view| view.server_time))
                    .push(cast("::timestamptz"))
                    .push(")");
            }
            update.push(") UPDATE auctions SET ");
            if $columns == Columns::All {
                update.push("status = v.status, ends_at = v.ends_at, ");
            }
            update.push(
                "current_price = v.current_price, leader_id = v.leader_id, \
                 bid_count = v.bid_count, seq = v.seq, view = v.view, updated_at = v.updated_at \
                 FROM v WHERE auctions.id = v.id AND auctions.seq < v.seq",
            );
            update.build().execute($conn).await.map_err($map_err)?;
        }
    }};
}
pub(super) use write_rows;
