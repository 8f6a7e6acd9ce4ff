//! How an auction's journal rows are found by `seq`.
//!
//! On PostgreSQL, through the unique index on `(auction_id, seq)`. On
//! SQLite, that index cost a commit of bids of many auctions one whole page
//! of the WAL a bid (each auction's own leaf of it), so the key is checked
//! in the commit against a table of each auction's newest seq
//! (`auction_event_heads`, kept by a trigger), and the lookup by auction
//! (`auction_event_keys`) is filled behind the commit by the read models'
//! settle ([`catch_up`]) up to the row `auction_event_keys_upto` names. A
//! read takes the keys up to that mark and scans the rows after it: the same
//! rows whatever the settles have done, in one statement's snapshot.

use std::convert::identity;

#[cfg(doc)]
use crate::db::Backend;
use crate::db::{Patience, Writer, is_unique_violation};
use crate::with_writer;

/// The text of the trigger's refusal (migration
/// `20261203000001_journal_keys_behind_the_commit.sql`).
const SQLITE_CONFLICT: &str = "journal conflict:";

/// Whether an insert of journal rows was refused for its key: the unique
/// index on PostgreSQL, the heads' trigger on SQLite.
pub(super) fn is_conflict(e: &sqlx::Error) -> bool {
    is_unique_violation(e)
        || matches!(e, sqlx::Error::Database(db) if db.message().starts_with(SQLITE_CONFLICT))
}

/// Fills `auction_event_keys` from the journal's rows after its mark and
/// moves the mark (SQLite, on the journal's connection). Each statement is a
/// transaction of its own, taking its own brief turn on `writer`
/// ([`Patience::Brief`]), so a commit waits for one of them at most, not for
/// the whole catch-up: the
/// newest row is read first, the keys up to it are inserted (a key there
/// already, from a catch-up that did not move the mark, is skipped), and
/// only then does the mark move to it. Reads take keys up to the mark only,
/// so keys past it are never read twice.
///
/// # Errors
/// When the database refuses a statement; the mark stays where it was.
pub(super) async fn catch_up(writer: &Writer) -> Result<(), sqlx::Error> {
    let (newest,): (Option<i64>,) = with_writer!(writer, Patience::Brief, conn, identity => {
        sqlx::query_as("SELECT max(pos) FROM auction_events")
            .fetch_one(conn)
            .await
    })?;
    let Some(newest) = newest else {
        return Ok(());
    };
    with_writer!(writer, Patience::Brief, conn, identity => {
        sqlx::query(
            "INSERT INTO auction_event_keys (auction_id, seq, kind, pos) \
             SELECT auction_id, seq, kind, pos FROM auction_events \
             WHERE pos > (SELECT pos FROM auction_event_keys_upto) AND pos <= $1 \
             ON CONFLICT DO NOTHING",
        )
        .bind(newest)
        .execute(conn)
        .await
        .map(|_| ())
    })?;
    with_writer!(writer, Patience::Brief, conn, identity => {
        sqlx::query("UPDATE auction_event_keys_upto SET pos = $1 WHERE pos < $1")
            .bind(newest)
            .execute(conn)
            .await
            .map(|_| ())
    })?;
    Ok(())
}

/// The query (a `&'static str`) of `seq, payload` of auction `$1`'s
/// journal rows on `backend` ([`Backend`]) that pass `filter` (a literal over
/// `seq` and `kind`, placeholders from `$2`), then `tail` (a literal:
/// `ORDER BY seq ...`, a `LIMIT`). On SQLite the keys' side walks
/// `auction_event_keys` in key order and is merged with the sorted rows
/// after the mark, so a `LIMIT` stops early.
macro_rules! events_query {
    ($backend:expr, $filter:literal, $tail:literal $(,)?) => {
        match $backend {
            $crate::db::Backend::Postgres => concat!(
                "SELECT seq, payload FROM auction_events WHERE auction_id = $1 AND ",
                $filter,
                " ",
                $tail
            ),
            $crate::db::Backend::Sqlite => concat!(
                "SELECT seq, payload FROM (",
                "SELECT k.seq AS seq, k.kind AS kind, e.payload AS payload ",
                "FROM auction_event_keys k JOIN auction_events e ON e.pos = k.pos ",
                "WHERE k.auction_id = $1 AND k.pos <= (SELECT pos FROM auction_event_keys_upto)) ",
                "WHERE ",
                $filter,
                " UNION ALL SELECT seq, payload FROM auction_events ",
                "WHERE pos > (SELECT pos FROM auction_event_keys_upto) AND auction_id = $1 AND ",
                $filter,
                " ",
                $tail
            ),
        }
    };
}
pub(super) use events_query;
