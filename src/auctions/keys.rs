//! How an auction's journal rows are found by `seq`.
//!
//! On PostgreSQL, through the unique index on `(auction_id, seq)`. On
//! SQLite, that index cost a commit of bids of many auctions one whole page
//! of the WAL a bid (each auction's own leaf of it), so the key is checked
//! in the commit against a table of each auction's newest seq
//! (`auction_event_heads`, kept by a trigger), and the lookup by auction
//! (`keys.auction_event_keys`, in a file of its own: [`Db`]) is filled
//! behind the commit ([`catch_up`]) up to the row `auction_event_keys_upto`
//! names. A read takes the keys up to that mark and scans the rows after
//! it: the same rows whatever the catch-ups have done, in one statement.

use blytz_actors::domain::AuctionId;
use blytz_actors::ports::JournalError;
use blytz_actors::rules::{Event, EventKind};
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use sqlx::types::Json;

use super::journal::seq_from_i64;
use crate::db::is_unique_violation;
#[cfg(doc)]
use crate::db::{Backend, Db};

/// The text of the trigger's refusal (migration
/// `20261203000001_journal_keys_behind_the_commit.sql`).
pub(super) const SQLITE_CONFLICT: &str = "journal conflict:";

/// Whether an insert of journal rows was refused for its key: the unique
/// index on PostgreSQL, the heads' trigger on SQLite.
pub(super) fn is_conflict(e: &sqlx::Error) -> bool {
    is_unique_violation(e)
        || matches!(e, sqlx::Error::Database(db) if db.message().starts_with(SQLITE_CONFLICT))
}

/// Rows a catch-up keys in one transaction at most: a catch-up of a large
/// journal (a server upgraded to the keys' own file starts from the first
/// row) is a series of bounded transactions, and reads find more of it
/// through the keys after each. Once a second of bids on 100 auctions is
/// about 20,000 rows, one transaction.
const CATCH_UP_ROWS: i64 = 65_536;

/// Fills the keys from the journal's rows after their mark, up to the
/// newest row at the call, and moves the mark, in transactions of at most
/// [`CATCH_UP_ROWS`] rows on a connection of `pool` (SQLite, whose
/// connections attach the keys' file). It writes the keys' file alone, and
/// takes that file's write lock, not the journal's: commits go on
/// meanwhile.
///
/// A read sees the journal's rows as of its own snapshot of the main file
/// whatever the keys' file has: it joins the keys to the rows by `pos` (and
/// checks their auction and seq), so a key whose row its snapshot does not
/// have yet finds none, and the rows after the mark it scans are all there.
/// A main file put back from an older copy, or a keys' file of another
/// database, is mended at start ([`fit_to_journal`]).
///
/// # Errors
/// When the database refuses a statement; the mark stays where the last
/// transaction left it.
pub(super) async fn catch_up(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    let (newest,): (Option<i64>,) = sqlx::query_as("SELECT max(pos) FROM main.auction_events")
        .fetch_one(pool)
        .await?;
    let Some(newest) = newest else {
        return Ok(());
    };
    loop {
        let mut tx = pool.begin().await?;
        let (mark,): (i64,) = sqlx::query_as("SELECT pos FROM keys.auction_event_keys_upto")
            .fetch_one(&mut *tx)
            .await?;
        if mark >= newest {
            return Ok(());
        }
        let upto = newest.min(mark.saturating_add(CATCH_UP_ROWS));
        sqlx::query(
            "INSERT INTO keys.auction_event_keys (auction_id, seq, kind, pos) \
             SELECT auction_id, seq, kind, pos FROM main.auction_events \
             WHERE pos > $1 AND pos <= $2 \
             ON CONFLICT DO NOTHING",
        )
        .bind(mark)
        .bind(upto)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE keys.auction_event_keys_upto SET pos = $1 WHERE pos < $1")
            .bind(upto)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
}

/// Fits the keys' file to the main file's journal at start (SQLite): the
/// keys' file is derived from the journal and kept apart from it, so the
/// two can come from different copies.
///
/// - A main file put back from an older copy than its keys' file would have
///   keys of rows it no longer holds, whose positions its next rows take:
///   those rows would be neither keyed nor scanned. The keys past the
///   journal's newest row go, and the mark comes back to that row.
/// - A keys' file of another database entirely: the newest row up to the
///   mark is not keyed at its position. Every key goes, and the catch-up
///   rebuilds them from the first row.
///
/// Two lookups by key when the files belong together.
///
/// # Errors
/// When the database refuses a statement; nothing is changed then.
pub(crate) async fn fit_to_journal(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let (mut mark, newest): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT pos FROM keys.auction_event_keys_upto), \
         (SELECT coalesce(max(pos), 0) FROM main.auction_events)",
    )
    .fetch_one(&mut *tx)
    .await?;
    if mark > newest {
        tracing::warn!(
            mark,
            newest,
            "the journal's keys were ahead of the journal; trimmed"
        );
        sqlx::query("DELETE FROM keys.auction_event_keys WHERE pos > $1")
            .bind(newest)
            .execute(&mut *tx)
            .await?;
        mark = newest;
    }
    let (keyed,): (bool,) = sqlx::query_as(
        "SELECT NOT EXISTS (SELECT 1 FROM main.auction_events WHERE pos <= $1) \
         OR EXISTS (SELECT 1 FROM keys.auction_event_keys k \
                    JOIN (SELECT auction_id, seq, pos FROM main.auction_events \
                          WHERE pos <= $1 ORDER BY pos DESC LIMIT 1) e \
                    ON k.auction_id = e.auction_id AND k.seq = e.seq AND k.pos = e.pos)",
    )
    .bind(mark)
    .fetch_one(&mut *tx)
    .await?;
    if !keyed {
        tracing::warn!(
            mark,
            "the journal's keys belong to another journal; rebuilt from the first row"
        );
        sqlx::query("DELETE FROM keys.auction_event_keys")
            .execute(&mut *tx)
            .await?;
        mark = 0;
    }
    sqlx::query("UPDATE keys.auction_event_keys_upto SET pos = $1 WHERE pos <> $1")
        .bind(mark)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// The query (a `&'static str`) of `seq, at, payload` ([`EventRow`]) of
/// auction `$1`'s journal rows on `backend` ([`Backend`]) that pass
/// `filter` (a literal over `seq` and `kind`, placeholders from `$2`), then
/// `tail` (a literal: `ORDER BY seq ...`, a `LIMIT`). On SQLite the keys'
/// side walks `auction_event_keys` in key order and is merged with the
/// sorted rows after the mark, so a `LIMIT` stops early.
macro_rules! events_query {
    ($backend:expr, $filter:literal, $tail:literal $(,)?) => {
        match $backend {
            $crate::db::Backend::Postgres => concat!(
                "SELECT seq, at, payload FROM auction_events WHERE auction_id = $1 AND ",
                $filter,
                " ",
                $tail
            ),
            $crate::db::Backend::Sqlite => concat!(
                "SELECT seq, at, payload FROM (",
                "SELECT k.seq AS seq, k.kind AS kind, e.at AS at, e.payload AS payload ",
                "FROM keys.auction_event_keys k JOIN main.auction_events e ",
                "ON e.pos = k.pos AND e.auction_id = k.auction_id AND e.seq = k.seq ",
                "WHERE k.auction_id = $1 AND k.pos <= (SELECT pos FROM keys.auction_event_keys_upto)) ",
                "WHERE ",
                $filter,
                " UNION ALL SELECT seq, at, payload FROM main.auction_events ",
                "WHERE pos > (SELECT pos FROM keys.auction_event_keys_upto) AND auction_id = $1 AND ",
                $filter,
                " ",
                $tail
            ),
        }
    };
}
pub(super) use events_query;

/// A journal row as [`events_query!`] reads it: its `seq`, its time, and
/// its payload, the event's kind. The row's auction is the query's.
pub(super) type EventRow = (i64, DateTime<Utc>, Json<EventKind>);

/// The event of auction `auction_id`'s journal row `row`.
pub(super) fn event_of(auction_id: AuctionId, row: EventRow) -> Result<Event, JournalError> {
    let (seq, at, Json(kind)) = row;
    Ok(Event {
        auction_id,
        seq: seq_from_i64(auction_id, seq)?,
        at,
        kind,
    })
}
