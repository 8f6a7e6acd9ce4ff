//! The SQL journal behind the engine, on both backends.

use std::str::FromStr as _;
use std::time::Instant;

use blytz::Db;
use blytz::accounts::{Caller, Registration, Role};
use blytz::auctions::{AUCTION_ENDED_TOPIC, KEYS_AFTER, SETTLE_AFTER, SqlJournal};
use blytz::db::{Backend, LOCK_WAIT, ScratchDb, Writer};
use blytz_actors::domain::to_millis;
use blytz_actors::domain::{AuctionId, Currency, ProductId, UserId};
use blytz_actors::ports::{JournalEntry, JournalError, JournalStore, LoadedJournal, Snapshot};
use blytz_actors::rules::{AuctionState, Bid, BidIds, Command, NewAuction, apply, create, decide};
use blytz_actors::view::AuctionView;
use chrono::{DateTime, Duration, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use crate::helpers::{accounts, backends};

async fn seller(db: &Db) -> UserId {
    let session = accounts(db)
        .await
        .register(Registration {
            email: format!("{}@example.com", Uuid::now_v7().simple()),
            password: "correct horse".into(),
            display_name: "Seller".into(),
            role: Role::Seller,
        })
        .await
        .unwrap();
    session.user.id
}

/// Now, in whole milliseconds: the engine's clock's precision, which the
/// journal keeps (a row's time is its `at` column, microseconds on
/// PostgreSQL).
fn now() -> DateTime<Utc> {
    to_millis(Utc::now())
}

/// Decide `command`, apply its events, and return the journal entries.
fn step(
    state: &mut AuctionState,
    (caller, command): (Caller, Command),
    now: chrono::DateTime<Utc>,
) -> Vec<JournalEntry> {
    let events = decide(state, caller, command, BidIds::fresh(), now).unwrap();
    events
        .into_iter()
        .map(|event| {
            apply(state, &event);
            JournalEntry::new(event, state)
        })
        .collect()
}

fn bid(bidder: UserId, amount: i64, max: Option<i64>) -> (Caller, Command) {
    let bid = Bid {
        amount,
        max_amount: max,
        request_id: Some(Uuid::now_v7().to_string()),
    };
    (Caller::new(bidder, Role::Buyer), Command::Bid(bid))
}

/// Journals a bid of the minimum next amount by a new bidder, now, and
/// returns the amount.
async fn bid_minimum(journal: &SqlJournal, state: &mut AuctionState) -> i64 {
    let amount = state.min_next_bid();
    let batch = step(state, bid(UserId::new(), amount, None), now());
    journal.append(&batch).await.unwrap();
    amount
}

/// The seller running a lifecycle command.
fn by_seller(seller: UserId, command: Command) -> (Caller, Command) {
    (Caller::new(seller, Role::Seller), command)
}

/// A new live auction of a fresh seller, journaled: its id, seller and state.
async fn live_auction(
    journal: &SqlJournal,
    db: &Db,
    currency: &str,
) -> (AuctionId, UserId, AuctionState) {
    let seller = seller(db).await;
    let now = now();
    let config = NewAuction::new(
        ProductId::new(),
        currency.parse::<Currency>().unwrap(),
        1_000,
        60_000,
    )
    .into_config(AuctionId::new(), seller)
    .unwrap();
    let id = config.id;
    let created = create(config, now).unwrap();
    let mut state = AuctionState::replay([&created]).unwrap();
    let mut batch = vec![JournalEntry::new(created, &state)];
    batch.extend(step(&mut state, by_seller(seller, Command::Start), now));
    journal.append(&batch).await.unwrap();
    (id, seller, state)
}

/// A new live auction (as [`live_auction`]) with `bids` minimum bids
/// journaled on it: its id and state.
async fn live_auction_with_bids(
    journal: &SqlJournal,
    db: &Db,
    bids: usize,
) -> (AuctionId, AuctionState) {
    let (id, _, mut state) = live_auction(journal, db, "USD").await;
    for _ in 0..bids {
        bid_minimum(journal, &mut state).await;
    }
    (id, state)
}

#[tokio::test]
async fn append_load_snapshot_and_outbox_round_trip() {
    for scratch in backends().await {
        let db = &scratch.db;
        let journal = SqlJournal::new(db.clone(), None);
        let (id, seller, mut state) = live_auction(&journal, db, "USD").await;
        let now = now();

        let (ann, bob) = (UserId::new(), UserId::new());
        let later = now + Duration::milliseconds(10);
        let mut batch = step(&mut state, bid(ann, 1_000, Some(5_000)), later);
        batch.extend(step(&mut state, bid(bob, 2_000, Some(4_000)), later));
        journal.append(&batch).await.unwrap();

        // Recovery rebuilds exactly the live state.
        let rebuilt = journal
            .load(id)
            .await
            .unwrap()
            .rebuild(id)
            .unwrap()
            .unwrap();
        assert_eq!(rebuilt, state, "{:?}", db.backend());

        // A snapshot plus later events rebuilds it too; an older snapshot never replaces a newer one.
        journal.save_snapshot(id, state.seq, &state).await.unwrap();
        let stale = {
            let mut s = state.clone();
            s.seq -= 1;
            s
        };
        journal.save_snapshot(id, stale.seq, &stale).await.unwrap();
        let end_at = later + Duration::milliseconds(10);
        let batch = step(&mut state, by_seller(seller, Command::End), end_at);
        journal.append(&batch).await.unwrap();
        let loaded = journal.load(id).await.unwrap();
        assert_eq!(loaded.snapshot.as_ref().map(|s| s.seq), Some(state.seq - 1));
        assert_eq!(loaded.events.len(), 1);
        assert_eq!(loaded.rebuild(id).unwrap().unwrap(), state);

        // The ending wrote one outbox row; a replayed append is a conflict and writes nothing.
        let err = journal.append(&batch).await.unwrap_err();
        assert!(matches!(err, JournalError::Conflict { .. }), "{err:?}");
        let rows: Vec<(String, String)> = blytz::with_db!(db, pool => {
            sqlx::query_as("SELECT topic, key FROM outbox").fetch_all(pool).await
        })
        .unwrap();
        assert_eq!(rows, vec![(AUCTION_ENDED_TOPIC.to_owned(), id.to_string())]);

        // Read models: the auction row and the bid history.
        let (status, price, bids): (String, Option<i64>, i64) = blytz::with_db!(db, pool => {
            sqlx::query_as("SELECT status, current_price, bid_count FROM auctions WHERE id = $1")
                .bind(Uuid::from(id))
                .fetch_one(pool)
                .await
        })
        .unwrap();
        assert_eq!(status, "ended");
        assert_eq!(price, state.current_price);
        assert_eq!(bids, i64::from(state.bid_count));
        assert_eq!(history_of(db, id).await, vec![1_000, 2_000, 4_100]);

        assert!(journal.open_auctions().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_failed_batch_writes_nothing() {
    for scratch in backends().await {
        let db = &scratch.db;
        let journal = SqlJournal::new(db.clone(), None);
        let seller = seller(db).await;
        let now = now();
        let config = NewAuction::new(
            ProductId::new(),
            "EUR".parse::<Currency>().unwrap(),
            500,
            60_000,
        )
        .into_config(AuctionId::new(), seller)
        .unwrap();
        let id = config.id;
        let created = create(config, now).unwrap();
        let mut state = AuctionState::replay([&created]).unwrap();
        journal
            .append(&[JournalEntry::new(created, &state)])
            .await
            .unwrap();
        assert_eq!(journal.open_auctions().await.unwrap(), vec![id]);

        // A batch whose second entry repeats the first seq fails whole.
        let good = step(&mut state, by_seller(seller, Command::Start), now);
        let batch = vec![good[0].clone(), good[0].clone()];
        assert!(journal.append(&batch).await.is_err());
        let loaded = journal.load(id).await.unwrap();
        assert_eq!(loaded.events.len(), 1, "nothing of the failed batch stayed");
    }
}

/// The server's journal commits on a connection of its own, kept checked
/// out on SQLite: a failed transaction on it is rolled back and the
/// connection given back, and the next batch, a snapshot, a settle and the
/// keys' catch-up all go through.
#[tokio::test]
async fn the_journal_on_its_own_connection_goes_on_after_a_failed_batch() {
    for scratch in backends().await {
        let db = &scratch.db;
        let journal =
            SqlJournal::new(db.clone(), None).committing_on(db.journal_writer().await.unwrap());
        let (id, seller, mut state) = live_auction(&journal, db, "USD").await;
        let first = state.min_next_bid();
        let bid_batch = step(&mut state, bid(UserId::new(), first, None), now());
        journal.append(&bid_batch).await.unwrap();
        // A batch of bids alone is one statement; written again, it conflicts.
        let err = journal.append(&bid_batch).await.unwrap_err();
        assert!(
            matches!(err, JournalError::Conflict { .. }),
            "{:?}: {err:?}",
            db.backend()
        );
        // A lifecycle batch is a transaction; its repeated seq fails it whole.
        let paused = step(&mut state, by_seller(seller, Command::Pause), now());
        let twice = vec![paused[0].clone(), paused[0].clone()];
        assert!(journal.append(&twice).await.is_err(), "{:?}", db.backend());

        journal.append(&paused).await.unwrap();
        journal.save_snapshot(id, state.seq, &state).await.unwrap();
        journal.read_models().settle_with_keys().await.unwrap();
        let loaded = journal.load(id).await.unwrap();
        assert_eq!(loaded.snapshot.map(|s| s.seq), Some(state.seq));
        assert_eq!(
            journal
                .load(id)
                .await
                .unwrap()
                .rebuild(id)
                .unwrap()
                .unwrap(),
            state
        );
        let (bids, seq, status) = read_models_of(db, id).await;
        assert_eq!(bids, vec![first], "{:?}", db.backend());
        assert_eq!(seq, i64::try_from(state.seq).unwrap());
        assert_eq!(status, "paused");
    }
}

/// The JSON column `column` of the rows `from` (a table and a condition on
/// `$1`, auction `id`) as the database gives its text back: PostgreSQL
/// gives a `json` column's text as written, a `jsonb` column's reformatted.
async fn stored_json(db: &Db, column: &str, from: &str, id: AuctionId) -> Vec<String> {
    let text = match db.backend() {
        Backend::Postgres => format!("{column}::text"),
        Backend::Sqlite => column.to_owned(),
    };
    let query = format!("SELECT {text} FROM {from}");
    let rows: Vec<(String,)> = blytz::with_db!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(query.clone()))
            .bind(Uuid::from(id))
            .fetch_all(pool)
            .await
    })
    .unwrap();
    rows.into_iter().map(|(text,)| text).collect()
}

/// The payloads of auction `id`'s journal rows, in seq order, as stored.
async fn stored_payloads(db: &Db, id: AuctionId) -> Vec<String> {
    stored_json(
        db,
        "payload",
        "auction_events WHERE auction_id = $1 ORDER BY seq",
        id,
    )
    .await
}

/// Each journal row keeps its event's kind as JSON as it was written, the
/// text serde writes, byte for byte (the row's columns hold its auction,
/// `seq` and time), and so does an auction's row its settled view: on
/// PostgreSQL a `json` column stores the text where `jsonb` stored a tree
/// of it, written back otherwise.
#[tokio::test]
async fn the_journal_keeps_each_event_and_view_as_written() {
    for scratch in backends().await {
        let db = &scratch.db;
        let journal = SqlJournal::new(db.clone(), None);
        let (id, _, mut state) = live_auction(&journal, db, "USD").await;
        let amount = state.min_next_bid();
        let batch = step(&mut state, bid(UserId::new(), amount, None), now());
        journal.append(&batch).await.unwrap();
        let stored = stored_payloads(db, id).await;
        assert_eq!(
            stored.last().cloned(),
            Some(serde_json::to_string(&batch[0].event.kind).unwrap()),
            "{:?}",
            db.backend()
        );
        assert_eq!(stored.len(), usize::try_from(state.seq).unwrap());

        journal.read_models().settle().await.unwrap();
        let view = batch.last().and_then(|entry| entry.view.clone()).unwrap();
        let stored = stored_json(db, "view", "auctions WHERE id = $1", id).await;
        assert_eq!(
            stored,
            [serde_json::to_string(&view).unwrap()],
            "{:?}",
            db.backend()
        );
    }
}

/// A journal written before its payloads were the events' kinds alone
/// (each row's payload the whole event) is read back the same after the
/// migration that cuts them, on both backends: the same events, the same
/// bid history, each payload now its event's kind. Rows already cut are
/// left as they are.
#[tokio::test]
async fn a_journal_of_whole_events_reads_the_same_once_its_payloads_are_cut() {
    for scratch in backends().await {
        let db = &scratch.db;
        let journal = SqlJournal::new(db.clone(), None);
        let (id, _) = live_auction_with_bids(&journal, db, 3).await;
        let written = journal.load(id).await.unwrap();
        assert!(written.snapshot.is_none());
        let history = history_of(db, id).await;
        // The journal as an earlier build wrote it, but for its last row (on
        // PostgreSQL in `jsonb`'s text, as rows written before the payload
        // was `json` are).
        let earlier = &written.events[..written.events.len() - 1];
        for event in earlier {
            blytz::with_db!(db, pool => {
                sqlx::query("UPDATE auction_events SET payload = $1 WHERE auction_id = $2 AND seq = $3")
                    .bind(Json(event))
                    .bind(Uuid::from(id))
                    .bind(i64::try_from(event.seq).unwrap())
                    .execute(pool)
                    .await
                    .map(drop)
            })
            .unwrap();
        }
        let cut = match db.backend() {
            Backend::Sqlite => include_str!(
                "../../../migrations/sqlite/20261206000001_journal_payload_the_events_kind.sql"
            ),
            Backend::Postgres => include_str!(
                "../../../migrations/postgres/20261206000001_journal_payload_the_events_kind.sql"
            ),
        };
        blytz::with_db!(db, pool => sqlx::raw_sql(cut).execute(pool).await.map(drop)).unwrap();

        assert_eq!(journal.load(id).await.unwrap().events, written.events);
        assert_eq!(history_of(db, id).await, history);
        let stored = stored_payloads(db, id).await;
        let stored: Vec<serde_json::Value> = stored
            .iter()
            .map(|text| serde_json::from_str(text).unwrap())
            .collect();
        let kinds: Vec<serde_json::Value> = written
            .events
            .iter()
            .map(|event| serde_json::to_value(&event.kind).unwrap())
            .collect();
        assert_eq!(stored, kinds, "{:?}", db.backend());
    }
}

/// A snapshot keeps its state's JSON as it was written, as the journal keeps
/// its events: on PostgreSQL a `json` column, not a `jsonb` tree.
#[tokio::test]
async fn a_snapshot_keeps_its_state_as_written() {
    for scratch in backends().await {
        let db = &scratch.db;
        let journal = SqlJournal::new(db.clone(), None);
        // Each bid's request id is remembered in the state: several KB of
        // it, more than PostgreSQL keeps in the row uncompressed.
        let (id, state) = live_auction_with_bids(&journal, db, 40).await;
        journal.save_snapshot(id, state.seq, &state).await.unwrap();
        let stored = stored_json(db, "state", "auction_snapshots WHERE auction_id = $1", id).await;
        assert_eq!(
            stored,
            [serde_json::to_string(&state).unwrap()],
            "{:?}",
            db.backend()
        );
        let loaded = journal.load(id).await.unwrap();
        assert_eq!(loaded.snapshot.map(|s| s.state), Some(state));
    }
}

/// The views of a PostgreSQL database made before they were `json` (a
/// `jsonb` column, its pages full) read back the same after the migration
/// that turns them into `json`, and the table then leaves half of each page
/// for the next versions of its rows.
#[tokio::test]
async fn auction_views_stored_as_jsonb_read_the_same_as_json() {
    for scratch in backends().await {
        let db = &scratch.db;
        let Db::Postgres(pool) = db else { continue };
        let journal = SqlJournal::new(db.clone(), None);
        let (id, _) = live_auction_with_bids(&journal, db, 3).await;
        journal.read_models().settle().await.unwrap();
        let listed = || async {
            let rows: Vec<(Json<AuctionView>,)> =
                sqlx::query_as("SELECT view FROM auctions WHERE id = $1")
                    .bind(Uuid::from(id))
                    .fetch_all(pool)
                    .await
                    .unwrap();
            rows.into_iter()
                .map(|(Json(view),)| view)
                .collect::<Vec<_>>()
        };
        let written = listed().await;
        assert_eq!(written.len(), 1);
        sqlx::raw_sql(
            "ALTER TABLE auctions RESET (fillfactor); \
             ALTER TABLE auctions ALTER COLUMN view TYPE jsonb USING view::jsonb",
        )
        .execute(pool)
        .await
        .unwrap();

        sqlx::raw_sql(include_str!(
            "../../../migrations/postgres/20261207000001_auction_views_as_written.sql"
        ))
        .execute(pool)
        .await
        .unwrap();

        assert_eq!(listed().await, written);
        let (column, options): (String, Vec<String>) = sqlx::query_as(
            "SELECT format_type(a.atttypid, a.atttypmod), c.reloptions FROM pg_class c \
             JOIN pg_attribute a ON a.attrelid = c.oid \
             WHERE c.relname = 'auctions' AND a.attname = 'view'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(
            (column.as_str(), options),
            ("json", vec!["fillfactor=50".to_owned()])
        );
    }
}

/// On PostgreSQL a snapshot is written off the journal's own connection
/// (on the shared pool here; the server's goes to its write-behind pool,
/// tested below): it never waits for that connection, busy with a commit.
#[tokio::test]
async fn on_postgresql_a_snapshot_does_not_wait_for_the_journals_connection() {
    for scratch in backends().await {
        let db = &scratch.db;
        let writer = db.journal_writer().await.unwrap();
        let journal = SqlJournal::new(db.clone(), None).committing_on(writer.clone());
        let (id, _, state) = live_auction(&journal, db, "USD").await;
        let Writer::Postgres(held) = &writer else {
            continue;
        };
        let busy = held.lock().await;
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            journal.save_snapshot(id, state.seq, &state),
        )
        .await
        .expect("the snapshot waited for the journal's connection")
        .unwrap();
        drop(busy);
        let loaded = journal.load(id).await.unwrap();
        assert_eq!(loaded.snapshot.map(|s| s.seq), Some(state.seq));
        writer.close().await;
    }
}

/// On PostgreSQL snapshots and the read models' settles go to a pool of
/// their own whose commits do not wait for a flush; the journal's commits
/// still do.
#[tokio::test]
async fn on_postgresql_snapshots_and_settles_commit_on_a_pool_that_does_not_flush() {
    for scratch in backends().await {
        let db = &scratch.db;
        let Some(behind) = db.write_behind() else {
            assert_eq!(db.backend(), Backend::Sqlite);
            continue;
        };
        let (Db::Postgres(shared), Db::Postgres(behind_pool)) = (db, &behind) else {
            unreachable!("a write-behind pool is PostgreSQL's")
        };
        let writer = db.journal_writer().await.unwrap();
        let journal = SqlJournal::new(db.clone(), None)
            .committing_on(writer.clone())
            .deriving_on(behind.clone());
        let (id, _, mut state) = live_auction(&journal, db, "USD").await;

        let amount = bid_minimum(&journal, &mut state).await;
        journal.read_models().settle().await.unwrap();
        journal.save_snapshot(id, state.seq, &state).await.unwrap();
        let seq = i64::try_from(state.seq).unwrap();
        assert_eq!(
            read_models_of(db, id).await,
            (vec![amount], seq, "live".to_owned())
        );
        let loaded = journal.load(id).await.unwrap();
        assert_eq!(loaded.snapshot.map(|s| s.seq), Some(state.seq));
        assert!(
            behind_pool.size() >= 1,
            "the settle and the snapshot went elsewhere"
        );

        let setting = |pool: &sqlx::PgPool| {
            let pool = pool.clone();
            async move {
                let (value,): (String,) = sqlx::query_as("SHOW synchronous_commit")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                value
            }
        };
        assert_eq!(setting(behind_pool).await, "off");
        // The journal's connection is the shared pool's, which flushes.
        assert_eq!(setting(shared).await, "on");
        writer.close().await;
        behind.close().await;
    }
}

#[tokio::test]
async fn a_held_connection_the_server_closed_while_idle_is_replaced_before_a_commit() {
    for scratch in backends().await {
        let db = &scratch.db;
        let Db::Postgres(pool) = db else { continue };
        let journal =
            SqlJournal::new(db.clone(), None).committing_on(db.journal_writer().await.unwrap());
        let (id, _, mut state) = live_auction(&journal, db, "USD").await;
        let first = bid_minimum(&journal, &mut state).await;

        // The server ends every other session of this database, the
        // journal's held connection among them.
        let ended: Vec<(bool,)> = sqlx::query_as(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        assert!(ended.iter().any(|(ended,)| *ended));
        // Idle past the point where the held connection is tested.
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;

        let second = bid_minimum(&journal, &mut state).await;
        assert_eq!(history_of(db, id).await, vec![first, second]);
    }
}

#[tokio::test]
async fn storage_closes_once_the_journal_gives_its_connection_back() {
    for scratch in backends().await {
        let db = &scratch.db;
        let writer = db.journal_writer().await.unwrap();
        let journal = SqlJournal::new(db.clone(), None).committing_on(writer.clone());
        let (_, _, mut state) = live_auction(&journal, db, "USD").await;

        writer.close().await;
        // A commit after the close is refused and checks nothing out.
        let first = state.min_next_bid();
        let batch = step(&mut state, bid(UserId::new(), first, None), now());
        assert!(journal.append(&batch).await.is_err(), "{:?}", db.backend());
        // The shared pool's close waits for every connection it lent.
        tokio::time::timeout(std::time::Duration::from_secs(10), db.close())
            .await
            .unwrap_or_else(|_| panic!("{:?}: a connection was still lent", db.backend()));
    }
}

#[tokio::test]
async fn snapshots_are_also_kept_in_redis() {
    let Some(url) = std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return;
    };
    let redis = blytz::redis_store::Redis::connect(&url).await.unwrap();
    for scratch in backends().await {
        let db = &scratch.db;
        let journal = SqlJournal::new(db.clone(), Some(redis.clone()));
        let (id, _, state) = live_auction(&journal, db, "USD").await;
        journal.save_snapshot(id, state.seq, &state).await.unwrap();

        // With the database copy gone, recovery still finds the Redis one.
        blytz::with_db!(db, pool => {
            sqlx::query("DELETE FROM auction_snapshots").execute(pool).await.map(|_| ())
        })
        .unwrap();
        let loaded = journal.load(id).await.unwrap();
        assert_eq!(loaded.snapshot.as_ref().map(|s| s.seq), Some(state.seq));
        assert!(loaded.events.is_empty());
        assert_eq!(loaded.rebuild(id).unwrap().unwrap(), state);
    }
}

/// Waits (up to five seconds) until `id`'s newest snapshot is as of `seq`.
async fn snapshot_reaches(journal: &SqlJournal, id: AuctionId, seq: u64) -> LoadedJournal {
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let loaded = journal.load(id).await.unwrap();
        if loaded.snapshot.as_ref().map(|s| s.seq) == Some(seq) || Instant::now() > deadline {
            return loaded;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A snapshot handed to the journal with a batch (on SQLite, written in
/// the batch's commit; on PostgreSQL, not taken, and saved apart by the
/// caller) is saved, and its Redis copy kept.
#[tokio::test]
async fn a_snapshot_handed_with_a_batch_is_saved_and_kept_in_redis() {
    let redis = match std::env::var("TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(blytz::redis_store::Redis::connect(&url).await.unwrap()),
        _ => None,
    };
    for scratch in backends().await {
        let db = &scratch.db;
        let writer = db.journal_writer().await.unwrap();
        let journal = SqlJournal::new(db.clone(), redis.clone()).committing_on(writer.clone());
        let (id, _, mut state) = live_auction(&journal, db, "USD").await;
        let before = state.clone();
        let amount = state.min_next_bid();
        let batch = step(&mut state, bid(UserId::new(), amount, None), now());
        let snapshot = Snapshot {
            seq: before.seq,
            state: before.clone(),
        };
        let taken = journal
            .append_with_snapshots(&batch, &[(id, snapshot.clone())])
            .await
            .unwrap();
        // What the store does not take with the batch, its caller (the
        // journal writer) saves apart.
        assert_eq!(taken, db.backend() == Backend::Sqlite, "{:?}", db.backend());
        if !taken {
            journal
                .save_snapshot(id, snapshot.seq, &snapshot.state)
                .await
                .unwrap();
        }

        let loaded = snapshot_reaches(&journal, id, before.seq).await;
        assert_eq!(
            loaded.snapshot.as_ref().map(|s| (s.seq, &s.state)),
            Some((before.seq, &before)),
            "{:?}",
            db.backend()
        );
        assert_eq!(loaded.events.len(), batch.len());
        assert_eq!(loaded.rebuild(id).unwrap().unwrap(), state);
        assert_eq!(history_of(db, id).await, vec![amount]);

        if redis.is_some() {
            // With the database copy gone, recovery still finds Redis's.
            blytz::with_db!(db, pool => {
                sqlx::query("DELETE FROM auction_snapshots").execute(pool).await.map(|_| ())
            })
            .unwrap();
            let loaded = snapshot_reaches(&journal, id, before.seq).await;
            assert_eq!(loaded.snapshot.map(|s| s.seq), Some(before.seq));
        }
        writer.close().await;
    }
}

/// The amounts of `id`'s bid history, in seq order.
async fn history_of(db: &Db, id: AuctionId) -> Vec<i64> {
    blytz::auctions::all_bids(db, id)
        .await
        .unwrap()
        .into_iter()
        .map(|bid| bid.amount)
        .collect()
}

/// `id`'s bid history (amounts in seq order) and its row's seq and status.
async fn read_models_of(db: &Db, id: AuctionId) -> (Vec<i64>, i64, String) {
    let bids = history_of(db, id).await;
    let (seq, status): (i64, String) = blytz::with_db!(db, pool => {
        sqlx::query_as("SELECT seq, status FROM auctions WHERE id = $1")
            .bind(Uuid::from(id))
            .fetch_one(pool)
            .await
    })
    .unwrap();
    (bids, seq, status)
}

#[tokio::test]
async fn an_auctions_row_follows_the_commit_and_its_bid_history_never_does() {
    for scratch in backends().await {
        let db = &scratch.db;
        let journal = SqlJournal::new(db.clone(), None);
        let (id, seller, mut state) = live_auction(&journal, db, "USD").await;
        let started_seq = i64::try_from(state.seq).unwrap();
        let now = now();

        // Bids alone commit their events, which are the bid history at
        // once; the auction's row waits.
        let batch = step(&mut state, bid(UserId::new(), 1_000, None), now);
        journal.append(&batch).await.unwrap();
        assert_eq!(
            read_models_of(db, id).await,
            (vec![1_000], started_seq, "live".to_owned()),
            "{:?}",
            db.backend()
        );

        // A settle writes the auction's newest view.
        journal.read_models().settle().await.unwrap();
        let seq = i64::try_from(state.seq).unwrap();
        assert_eq!(
            read_models_of(db, id).await,
            (vec![1_000], seq, "live".to_owned())
        );

        // A later bid's view is deferred, and the ending writes the row in
        // its own commit.
        let second = state.min_next_bid();
        let batch = step(&mut state, bid(UserId::new(), second, None), now);
        journal.append(&batch).await.unwrap();
        assert_eq!(
            read_models_of(db, id).await,
            (vec![1_000, second], seq, "live".to_owned())
        );
        let batch = step(&mut state, by_seller(seller, Command::End), now);
        journal.append(&batch).await.unwrap();
        let seq = i64::try_from(state.seq).unwrap();
        assert_eq!(
            read_models_of(db, id).await,
            (vec![1_000, second], seq, "ended".to_owned())
        );
    }
}

/// An auction's events are found by seq whether or not the settle has
/// caught the journal's keys up with them (SQLite writes that lookup behind
/// the commit), and a key already taken is refused either way.
#[tokio::test]
async fn events_are_read_in_order_on_both_sides_of_the_keys_catch_up() {
    for scratch in backends().await {
        let db = &scratch.db;
        let journal = SqlJournal::new(db.clone(), None);
        let (id, _, mut state) = live_auction(&journal, db, "USD").await;
        let (_, _, mut other) = live_auction(&journal, db, "USD").await;
        let now = now();
        let mut amounts = Vec::new();
        let mut replayed = Vec::new();
        for round in 0..4 {
            if round == 2 {
                journal.read_models().settle_with_keys().await.unwrap();
            }
            let amount = state.min_next_bid();
            amounts.push(amount);
            let mut batch = step(&mut state, bid(UserId::new(), amount, None), now);
            let next = other.min_next_bid();
            batch.extend(step(&mut other, bid(UserId::new(), next, None), now));
            replayed = batch.clone();
            journal.append(&batch).await.unwrap();
        }
        assert_eq!(history_of(db, id).await, amounts, "{:?}", db.backend());
        if let Db::Sqlite(pool) = db {
            // A catch-up that inserted its keys and did not live to move the
            // mark: those keys are not read twice, and the next one skips them.
            sqlx::query(
                "INSERT INTO auction_event_keys (auction_id, seq, kind, pos) \
                 SELECT auction_id, seq, kind, pos FROM auction_events \
                 WHERE pos > (SELECT pos FROM auction_event_keys_upto)",
            )
            .execute(pool)
            .await
            .unwrap();
            assert_eq!(history_of(db, id).await, amounts);
        }
        let loaded = journal.load(id).await.unwrap();
        assert_eq!(loaded.clone().rebuild(id).unwrap().unwrap(), state);

        let err = journal.append(&replayed).await.unwrap_err();
        assert!(matches!(err, JournalError::Conflict { .. }), "{err:?}");
        journal.read_models().settle_with_keys().await.unwrap();
        assert_eq!(history_of(db, id).await, amounts);
        assert_eq!(journal.load(id).await.unwrap().events, loaded.events);
        let err = journal.append(&replayed).await.unwrap_err();
        assert!(matches!(err, JournalError::Conflict { .. }), "{err:?}");
    }
}

/// A settle writes a deferred extension's new end to the auction's row,
/// though the rows of bids alone are written without it; the status and
/// the end the commits wrote stay as they are.
#[tokio::test]
async fn a_deferred_extension_moves_the_rows_end_and_bids_keep_it() {
    for scratch in backends().await {
        let db = &scratch.db;
        let journal = SqlJournal::new(db.clone(), None);
        let (id, seller, mut state) = live_auction(&journal, db, "USD").await;
        let ends_at = || async {
            let (ends_at, status): (Option<chrono::DateTime<Utc>>, String) =
                blytz::with_db!(db, pool => {
                    sqlx::query_as("SELECT ends_at, status FROM auctions WHERE id = $1")
                        .bind(Uuid::from(id))
                        .fetch_one(pool)
                        .await
                })
                .unwrap();
            (ends_at.map(|at| at.timestamp_millis()), status)
        };
        let started = state.ends_at.map(|at| at.timestamp_millis());
        let first = bid_minimum(&journal, &mut state).await;
        journal.read_models().settle().await.unwrap();
        assert_eq!(ends_at().await, (started, "live".to_owned()));

        // An extension, then a bid: both deferred, settled together.
        journal
            .append(&step(
                &mut state,
                by_seller(seller, Command::Extend { by_ms: 30_000 }),
                now(),
            ))
            .await
            .unwrap();
        let second = bid_minimum(&journal, &mut state).await;
        journal.read_models().settle().await.unwrap();
        let extended = state.ends_at.map(|at| at.timestamp_millis());
        assert_ne!(extended, started);
        assert_eq!(
            ends_at().await,
            (extended, "live".to_owned()),
            "{:?}",
            db.backend()
        );
        assert_eq!(
            read_models_of(db, id).await.1,
            i64::try_from(state.seq).unwrap()
        );

        // Bids alone after it leave the end where the extension put it.
        let third = bid_minimum(&journal, &mut state).await;
        journal.read_models().settle().await.unwrap();
        assert_eq!(ends_at().await, (extended, "live".to_owned()));
        assert_eq!(read_models_of(db, id).await.0, vec![first, second, third]);
    }
}

/// The pool of a SQLite database.
fn sqlite_pool(db: &Db) -> &sqlx::SqlitePool {
    match db {
        Db::Sqlite(pool) => pool,
        Db::Postgres(_) => unreachable!("a SQLite database"),
    }
}

/// The journal's keys' mark (SQLite).
async fn keys_mark(pool: &sqlx::SqlitePool) -> i64 {
    let (pos,): (i64,) = sqlx::query_as("SELECT pos FROM keys.auction_event_keys_upto")
        .fetch_one(pool)
        .await
        .unwrap();
    pos
}

/// Waits, a few seconds at most, for the journal's keys' mark to pass
/// `from`, and returns it.
async fn keys_mark_past(pool: &sqlx::SqlitePool, from: i64) -> i64 {
    let deadline = Instant::now() + KEYS_AFTER * 5;
    loop {
        let mark = keys_mark(pool).await;
        if mark > from || Instant::now() > deadline {
            return mark;
        }
        tokio::time::sleep(SETTLE_AFTER).await;
    }
}

/// On SQLite the journal's keys trail its rows until they are due: neither
/// a settle for a read nor a commit moves them, and the ticker catches them
/// up once they are [`KEYS_AFTER`] old. The rows are read either way.
#[tokio::test]
async fn the_journal_keys_are_caught_up_once_due() {
    for scratch in backends().await {
        let db = &scratch.db;
        let Db::Sqlite(pool) = db else { continue };
        let journal = SqlJournal::new(db.clone(), None);
        let (id, _, mut state) = live_auction(&journal, db, "USD").await;
        journal.read_models().settle_with_keys().await.unwrap();
        let caught_up = keys_mark(pool).await;

        let first = bid_minimum(&journal, &mut state).await;
        journal.read_models().settle().await.unwrap();
        tokio::time::sleep(KEYS_AFTER).await;
        let second = bid_minimum(&journal, &mut state).await;
        assert_eq!(
            keys_mark(pool).await,
            caught_up,
            "a settle for a read, or a commit, moved the keys"
        );
        assert_eq!(history_of(db, id).await, vec![first, second]);

        let ticker = tokio::spawn(journal.read_models().settle_every(SETTLE_AFTER));
        let mark = keys_mark_past(pool, caught_up).await;
        ticker.abort();
        assert!(mark > caught_up, "keys due were not caught up");
        assert_eq!(history_of(db, id).await, vec![first, second]);
    }
}

/// Keys a process left behind its rows (it stopped before they were due)
/// are caught up by the next process once due, with no new commit.
#[tokio::test]
async fn keys_left_behind_by_a_former_process_are_caught_up() {
    for scratch in backends().await {
        let db = &scratch.db;
        let Db::Sqlite(pool) = db else { continue };
        let former = SqlJournal::new(db.clone(), None);
        let (_, _, mut state) = live_auction(&former, db, "USD").await;
        let amount = state.min_next_bid();
        let batch = step(&mut state, bid(UserId::new(), amount, None), now());
        former.append(&batch).await.unwrap();
        drop(former);

        let next = SqlJournal::new(db.clone(), None);
        let ticker = tokio::spawn(next.read_models().settle_every(SETTLE_AFTER));
        let before = keys_mark(pool).await;
        let mark = keys_mark_past(pool, before).await;
        ticker.abort();
        let (newest,): (i64,) = sqlx::query_as("SELECT max(pos) FROM auction_events")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(mark, newest, "the rows left behind were never keyed");
    }
}

/// A batch of bids alone is one statement with no transaction around it:
/// a row that conflicts refuses the whole batch, and nothing of it is kept.
#[tokio::test]
async fn a_batch_of_bids_is_written_whole_or_not_at_all() {
    for scratch in backends().await {
        let db = &scratch.db;
        let journal = SqlJournal::new(db.clone(), None);
        let (first, _, mut one) = live_auction(&journal, db, "USD").await;
        let (_, _, mut two) = live_auction(&journal, db, "USD").await;
        let now = now();
        let replayed = step(&mut two, bid(UserId::new(), 1_000, None), now);
        journal.append(&replayed).await.unwrap();
        let kept = journal.load(first).await.unwrap().events.len();

        let mut batch = step(&mut one, bid(UserId::new(), 1_000, None), now);
        batch.extend(replayed);
        let err = journal.append(&batch).await.unwrap_err();
        assert!(matches!(err, JournalError::Conflict { .. }), "{err:?}");
        assert_eq!(
            journal.load(first).await.unwrap().events.len(),
            kept,
            "{:?}",
            db.backend()
        );
    }
}

/// A statement is written for a power of two rows and padded with empty
/// ones on SQLite, and takes the rows as arrays on PostgreSQL: every batch
/// size keeps all of its events and only them, a settle writes every
/// auction's row, and a conflict in a batch of several rows (a padded one
/// on SQLite) still refuses the whole of it.
#[tokio::test]
async fn every_batch_size_is_written_whole_whatever_pads_its_statement() {
    for scratch in backends().await {
        let db = &scratch.db;
        let journal = SqlJournal::new(db.clone(), None);
        let mut auctions = Vec::new();
        for _ in 0..3 {
            auctions.push(live_auction(&journal, db, "USD").await);
        }
        let now = now();
        let mut kept = vec![0_usize; auctions.len()];
        for size in 1..=9 {
            let mut batch = Vec::new();
            for turn in 0..size {
                let (_, _, state) = &mut auctions[turn % 3];
                let amount = state.min_next_bid();
                batch.extend(step(state, bid(UserId::new(), amount, None), now));
                kept[turn % 3] += 1;
            }
            assert_eq!(batch.len(), size);
            journal.append(&batch).await.unwrap();
        }
        journal.read_models().settle().await.unwrap();
        for ((id, _, state), bids) in auctions.iter().zip(&kept) {
            let (history, seq, status) = read_models_of(db, *id).await;
            assert_eq!(history.len(), *bids, "{:?}", db.backend());
            assert_eq!(seq, i64::try_from(state.seq).unwrap());
            assert_eq!(status, "live");
            let loaded = journal.load(*id).await.unwrap();
            assert_eq!(loaded.events.last().map(|e| e.seq), Some(state.seq));
        }

        // Three rows (written as four), the last repeating the first's seq.
        let (first, _, one) = &mut auctions[0];
        let before = journal.load(*first).await.unwrap().events.len();
        let taken = step(
            &mut one.clone(),
            bid(UserId::new(), one.min_next_bid(), None),
            now,
        );
        let mut batch = Vec::new();
        for _ in 0..2 {
            let amount = one.min_next_bid();
            batch.extend(step(one, bid(UserId::new(), amount, None), now));
        }
        batch.extend(taken);
        let err = journal.append(&batch).await.unwrap_err();
        assert!(matches!(err, JournalError::Conflict { .. }), "{err:?}");
        assert_eq!(journal.load(*first).await.unwrap().events.len(), before);
    }
}

#[tokio::test]
async fn a_late_settle_never_puts_an_older_view_over_a_newer_one() {
    for scratch in backends().await {
        let db = &scratch.db;
        let bidding = SqlJournal::new(db.clone(), None);
        let (id, seller, mut state) = live_auction(&bidding, db, "EUR").await;
        let now = now();
        let batch = step(&mut state, bid(UserId::new(), 1_000, None), now);
        bidding.append(&batch).await.unwrap();

        // Another writer of the same tables commits a newer lifecycle change
        // before the first one settles its older view.
        let other = SqlJournal::new(db.clone(), None);
        let batch = step(&mut state, by_seller(seller, Command::Pause), now);
        other.append(&batch).await.unwrap();
        bidding.read_models().settle().await.unwrap();

        let seq = i64::try_from(state.seq).unwrap();
        assert_eq!(
            read_models_of(db, id).await,
            (vec![1_000], seq, "paused".to_owned()),
            "{:?}",
            db.backend()
        );
    }
}

#[tokio::test]
async fn rows_a_process_did_not_live_to_write_are_rebuilt_at_recovery() {
    for scratch in backends().await {
        let db = &scratch.db;
        let (id, state, second) = {
            let journal = SqlJournal::new(db.clone(), None);
            let (id, _, mut state) = live_auction(&journal, db, "USD").await;
            let now = now();
            let (ann, bob) = (UserId::new(), UserId::new());
            journal
                .append(&step(&mut state, bid(ann, 1_000, None), now))
                .await
                .unwrap();
            journal.save_snapshot(id, state.seq, &state).await.unwrap();
            let second = state.min_next_bid();
            journal
                .append(&step(&mut state, bid(bob, second, None), now))
                .await
                .unwrap();
            (id, state, second)
            // The journal, its deferred rows with it, is gone here.
        };
        let (bids, stored_seq, _) = read_models_of(db, id).await;
        assert_eq!(bids, vec![1_000, second], "the history is the journal's");
        assert!(stored_seq < i64::try_from(state.seq).unwrap());

        // Recovery loads the auction (from the snapshot, then one event) and
        // writes the newest view the journal holds beyond the row.
        let journal = SqlJournal::new(db.clone(), None);
        let loaded = journal.load(id).await.unwrap();
        assert_eq!(loaded.events.len(), 1);
        let seq = i64::try_from(state.seq).unwrap();
        assert_eq!(
            read_models_of(db, id).await,
            (vec![1_000, second], seq, "live".to_owned()),
            "{:?}",
            db.backend()
        );
        let price: Option<i64> = blytz::with_db!(db, pool => {
            sqlx::query_scalar("SELECT current_price FROM auctions WHERE id = $1")
                .bind(Uuid::from(id))
                .fetch_one(pool)
                .await
        })
        .unwrap();
        assert_eq!(price, state.current_price);

        // Loading again finds nothing to write.
        journal.load(id).await.unwrap();
        assert_eq!(read_models_of(db, id).await.0, vec![1_000, second]);
    }
}

#[tokio::test]
async fn a_settle_returns_once_the_settle_under_way_has_written() {
    for scratch in backends().await {
        let db = &scratch.db;
        let journal = SqlJournal::new(db.clone(), None);
        let (id, _, mut state) = live_auction(&journal, db, "USD").await;
        let batch = step(&mut state, bid(UserId::new(), 1_000, None), now());
        journal.append(&batch).await.unwrap();

        // A settle takes the backlog and waits on the database; a read's
        // settle meanwhile finds nothing left to take, and must still not
        // answer before those rows are in.
        let read_models = journal.read_models();
        let under_way = tokio::spawn({
            let read_models = read_models.clone();
            async move { read_models.settle().await }
        });
        tokio::task::yield_now().await;
        read_models.settle().await.unwrap();
        assert_eq!(
            read_models_of(db, id).await.0,
            vec![1_000],
            "{:?}",
            db.backend()
        );
        under_way.await.unwrap().unwrap();
    }
}

/// A journal far ahead of its keys (a server upgraded to the keys' own file
/// starts from the first row) is keyed whole by one catch-up, in several
/// bounded transactions, and read through the keys afterwards.
#[tokio::test]
async fn a_journal_far_ahead_of_its_keys_is_keyed_whole() {
    const ROWS: i64 = 150_000;
    let scratch = ScratchDb::sqlite().await.unwrap();
    let db = &scratch.db;
    let pool = sqlite_pool(db);
    let journal = SqlJournal::new(db.clone(), None);
    let (id, _, mut state) = live_auction(&journal, db, "USD").await;
    let first = bid_minimum(&journal, &mut state).await;
    let other = Uuid::now_v7();
    sqlx::query(
        "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2) \
         INSERT INTO auction_events (auction_id, seq, kind, at, payload) \
         SELECT $1, i, 'bid_placed', '2026-12-04T12:00:00Z', '{}' FROM n",
    )
    .bind(other)
    .bind(ROWS)
    .execute(pool)
    .await
    .unwrap();
    let second = bid_minimum(&journal, &mut state).await;

    journal.read_models().settle_with_keys().await.unwrap();
    let (newest,): (i64,) = sqlx::query_as("SELECT max(pos) FROM auction_events")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(keys_mark(pool).await, newest);
    let (keyed,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM keys.auction_event_keys WHERE auction_id = $1")
            .bind(other)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(keyed, ROWS);
    assert_eq!(history_of(db, id).await, vec![first, second]);
}

/// A main file put back from an older copy than its keys' file: at start
/// the keys of the rows it lost are dropped, and the rows that take their
/// positions are keyed and read for their own auction.
#[tokio::test]
async fn keys_ahead_of_a_journal_put_back_are_trimmed_at_start() {
    let scratch = ScratchDb::sqlite().await.unwrap();
    let db = &scratch.db;
    let pool = sqlite_pool(db);
    let journal = SqlJournal::new(db.clone(), None);
    let (lost, _, mut state) = live_auction(&journal, db, "USD").await;
    let kept = bid_minimum(&journal, &mut state).await;
    let (kept_at,): (i64,) = sqlx::query_as("SELECT max(pos) FROM auction_events")
        .fetch_one(pool)
        .await
        .unwrap();
    // Enough rows lost that the next auction's bid takes one of their
    // positions, not only its creation.
    for _ in 0..4 {
        bid_minimum(&journal, &mut state).await;
    }
    journal.read_models().settle_with_keys().await.unwrap();
    assert!(keys_mark(pool).await > kept_at);
    // The older copy: the journal as it was after the first bid.
    sqlx::query("DELETE FROM auction_events WHERE pos > $1")
        .bind(kept_at)
        .execute(pool)
        .await
        .unwrap();

    db.migrate().await.unwrap();
    assert_eq!(keys_mark(pool).await, kept_at);
    let journal = SqlJournal::new(db.clone(), None);
    let (id, _, mut state) = live_auction(&journal, db, "USD").await;
    let first = bid_minimum(&journal, &mut state).await;
    journal.read_models().settle_with_keys().await.unwrap();
    assert_eq!(history_of(db, lost).await, vec![kept]);
    assert_eq!(history_of(db, id).await, vec![first]);
}

/// A keys' file of another database (here: the same positions keyed to
/// other auctions) is dropped at start and rebuilt from the first row: no
/// row of this journal is hidden behind a key of another.
#[tokio::test]
async fn a_keys_file_of_another_database_is_rebuilt_at_start() {
    let scratch = ScratchDb::sqlite().await.unwrap();
    let db = &scratch.db;
    let pool = sqlite_pool(db);
    let journal = SqlJournal::new(db.clone(), None);
    let (id, _, mut state) = live_auction(&journal, db, "USD").await;
    let mut bids = Vec::new();
    for _ in 0..3 {
        bids.push(bid_minimum(&journal, &mut state).await);
    }
    journal.read_models().settle_with_keys().await.unwrap();
    let mark = keys_mark(pool).await;
    assert!(mark > 0);
    sqlx::query("UPDATE keys.auction_event_keys SET auction_id = randomblob(16)")
        .execute(pool)
        .await
        .unwrap();

    db.migrate().await.unwrap();
    assert_eq!(keys_mark(pool).await, 0);
    journal.read_models().settle_with_keys().await.unwrap();
    assert_eq!(keys_mark(pool).await, mark);
    assert_eq!(history_of(db, id).await, bids);
}

/// A SQLite journal on a connection of its own, with a live auction that
/// took one bid: the scratch database, the journal, the auction, its state
/// and the bid's amount.
async fn sqlite_journal_with_a_bid() -> (ScratchDb, SqlJournal, AuctionId, AuctionState, i64) {
    let scratch = ScratchDb::sqlite().await.unwrap();
    let db = &scratch.db;
    let journal =
        SqlJournal::new(db.clone(), None).committing_on(db.journal_writer().await.unwrap());
    let (id, _, mut state) = live_auction(&journal, db, "USD").await;
    let first = bid_minimum(&journal, &mut state).await;
    (scratch, journal, id, state, first)
}

/// While another connection holds SQLite's file locked, a settle that must
/// happen tries again in brief turns on the journal's connection: a commit
/// that comes meanwhile is refused after its own wait for the lock, not
/// after the settle's as well, and once the lock is gone both go through.
#[tokio::test]
async fn a_settle_on_a_locked_sqlite_file_keeps_no_commit_waiting() {
    use sqlx::Connection as _;

    let (scratch, journal, id, mut state, first) = sqlite_journal_with_a_bid().await;
    let db = &scratch.db;

    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&scratch.url).unwrap();
    let mut holder = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let settle = tokio::spawn({
        let read_models = journal.read_models();
        async move { read_models.settle().await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let mut refused = state.clone();
    let amount = refused.min_next_bid();
    let batch = step(&mut refused, bid(UserId::new(), amount, None), now());
    let started = Instant::now();
    let append = journal.append(&batch).await;
    let waited = started.elapsed();
    assert!(
        matches!(append, Err(JournalError::Unavailable(_))),
        "{append:?}"
    );
    assert!(
        waited < LOCK_WAIT + LOCK_WAIT / 2,
        "the commit waited {waited:?} behind the settle"
    );
    let settled = settle.await.unwrap();
    assert!(
        matches!(settled, Err(JournalError::Unavailable(_))),
        "{settled:?}"
    );

    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let second = bid_minimum(&journal, &mut state).await;
    journal.read_models().settle().await.unwrap();
    assert_eq!(
        read_models_of(db, id).await,
        (
            vec![first, second],
            i64::try_from(state.seq).unwrap(),
            "live".to_owned()
        )
    );
}

/// The main SQLite file's migrations before `version`, which exists.
fn sqlite_migrations_before(version: i64) -> sqlx::migrate::Migrator {
    let mut before = sqlx::migrate!("../migrations/sqlite");
    assert!(before.migrations.iter().any(|m| m.version == version));
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before
}

/// Events journaled while SQLite's `auction_events` was clustered on
/// (auction_id, seq) are all there after the migration that stores them in
/// commit order, read back per auction in seq order, keyed by auction for
/// reads, and the pair is still refused twice. Then the keys move to a file
/// of their own, and are caught up there.
#[tokio::test]
async fn the_sqlite_journal_keeps_its_events_when_stored_in_commit_order() {
    const COMMIT_ORDER: i64 = 20_261_202_000_002;
    const KEYS_OF_THEIR_OWN: i64 = 20_261_204_000_001;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("journal.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&file)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlite_migrations_before(COMMIT_ORDER)
        .run(&pool)
        .await
        .unwrap();

    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    // Interleaved, as a group commit of two auctions writes them.
    for seq in 1..=3_i64 {
        for auction in [second, first] {
            sqlx::query(
                "INSERT INTO auction_events (auction_id, seq, kind, at, payload) \
                 VALUES ($1, $2, 'bid_placed', '2026-12-02T12:00:00Z', $3)",
            )
            .bind(auction)
            .bind(seq)
            .bind(format!("{auction}/{seq}"))
            .execute(&pool)
            .await
            .unwrap();
        }
    }
    sqlite_migrations_before(KEYS_OF_THEIR_OWN)
        .run(&pool)
        .await
        .unwrap();

    for auction in [first, second] {
        let payloads: Vec<(String,)> = sqlx::query_as(
            "SELECT payload FROM auction_events WHERE auction_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(auction)
        .bind(0_i64)
        .fetch_all(&pool)
        .await
        .unwrap();
        let expected: Vec<(String,)> = (1..=3).map(|seq| (format!("{auction}/{seq}"),)).collect();
        assert_eq!(payloads, expected);
    }
    // The later migration found them by auction, and took their heads.
    let keyed: Vec<(i64,)> =
        sqlx::query_as("SELECT seq FROM auction_event_keys WHERE auction_id = $1 ORDER BY seq")
            .bind(first)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(keyed, vec![(1,), (2,), (3,)]);
    let (upto,): (i64,) = sqlx::query_as("SELECT pos FROM auction_event_keys_upto")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(upto, 6);
    pool.close().await;

    // Opened as the server opens it: the keys leave the main file, and the
    // ticker catches them up in their own from the first row.
    let db = Db::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let pool = sqlite_pool(&db);
    let (left,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM main.sqlite_master WHERE name LIKE 'auction_event_keys%'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(left, 0, "the keys are still in the main file");
    assert_eq!(keys_mark(pool).await, 0);
    let ticker = tokio::spawn(
        SqlJournal::new(db.clone(), None)
            .read_models()
            .settle_every(SETTLE_AFTER),
    );
    assert_eq!(keys_mark_past(pool, 0).await, 6);
    ticker.abort();
    let keyed: Vec<(i64,)> = sqlx::query_as(
        "SELECT seq FROM keys.auction_event_keys WHERE auction_id = $1 ORDER BY seq",
    )
    .bind(second)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(keyed, vec![(1,), (2,), (3,)]);

    let again = sqlx::query(
        "INSERT INTO auction_events (auction_id, seq, kind, at, payload) \
         VALUES ($1, 2, 'bid_placed', '2026-12-02T12:00:00Z', 'again')",
    )
    .bind(first)
    .execute(pool)
    .await
    .unwrap_err();
    assert!(again.to_string().contains("journal conflict"), "{again:?}");
}

/// On SQLite a batch of bids commits on the journal writer's own thread, on
/// a connection that never waits for the file's write lock. While another
/// connection holds it, the batch goes to the journal's sqlx connection,
/// which waits for the lock, and it is written once.
#[tokio::test]
async fn on_sqlite_a_batch_of_bids_waits_for_another_connections_write_and_is_written_once() {
    use sqlx::Connection as _;

    let (scratch, journal, id, mut state, first) = sqlite_journal_with_a_bid().await;
    let db = &scratch.db;

    let mut other = sqlite_pool(db).acquire().await.unwrap();
    let holding = other.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let second = state.min_next_bid();
    let batch = step(&mut state, bid(UserId::new(), second, None), now());
    let appending = tokio::spawn({
        let journal = journal.clone();
        async move { journal.append(&batch).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !appending.is_finished(),
        "the batch did not wait for the lock"
    );
    holding.commit().await.unwrap();
    appending.await.unwrap().unwrap();

    assert_eq!(history_of(db, id).await, vec![first, second]);
    let third = bid_minimum(&journal, &mut state).await;
    assert_eq!(history_of(db, id).await, vec![first, second, third]);
}
