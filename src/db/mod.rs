//! Storage: one handle over PostgreSQL (production) or SQLite (the embedded default).
//!
//! Queries are runtime-checked (`sqlx::query_as` with `FromRow`), written once
//! in SQL both backends accept (`$1` placeholders, `RETURNING`, `ON CONFLICT`)
//! and run on either pool with [`with_db!`](crate::with_db). Where the two
//! dialects differ, a module matches on [`Db`] and writes each. The shared
//! store suite (`src/tests/store`) is what proves every query on both.

mod json;
mod scratch;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use json::{RawJson, WrittenJson};
pub use scratch::ScratchDb;
pub use writer::{Held, HeldConnection, Patience, Writer};

static PG_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static SQLITE_CHAT_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("../migrations/sqlite-chat");
static SQLITE_KEYS_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("../migrations/sqlite-keys");

/// A connection pool to one of the two supported databases.
#[derive(Debug, Clone)]
pub enum Db {
    /// PostgreSQL.
    Postgres(PgPool),
    /// SQLite (WAL, foreign keys on, full sync: a commit survives a crash).
    Sqlite(SqlitePool),
}

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

/// Run the same code on whichever pool a [`Db`] holds: `with_db!(db, pool => expr)`.
///
/// The body is compiled once per backend, so every type it binds or decodes
/// must be supported by both.
#[macro_export]
macro_rules! with_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Postgres($pool) => $body,
            $crate::db::Db::Sqlite($pool) => $body,
        }
    };
}

impl Db {
    /// Connect to `url` (`postgres://…` or `sqlite://…`). A SQLite file and its
    /// folder are created when missing.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).context("parsing DATABASE_URL")?;
            Self::connect_postgres(options).await
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url).context("parsing DATABASE_URL")?;
            if let Some(parent) = options
                .get_filename()
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).with_context(|| {
                    format!("creating the database folder {}", parent.display())
                })?;
            }
            Self::connect_sqlite(options).await
        } else {
            anyhow::bail!("DATABASE_URL must start with postgres:// or sqlite:")
        }
    }

    async fn connect_postgres(options: PgConnectOptions) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .context("connecting to PostgreSQL")?;
        Ok(Self::Postgres(pool))
    }

    /// The main file's pool. Its connections attach the journal's keys
    /// (`blytz-keys.db` beside `blytz.db`, migrated first) as `keys`: the
    /// lookup of the journal's rows by auction, which only the keys'
    /// catch-up writes (`auctions::keys`). SQLite has one write lock per
    /// file, so a catch-up there keeps no commit of the journal waiting. The
    /// file is derived from the journal and commits with
    /// `synchronous=NORMAL`: what a crash of the machine takes from it is
    /// caught up again from its mark.
    async fn connect_sqlite(options: SqliteConnectOptions) -> anyhow::Result<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(LOCK_WAIT);
        let keys = beside(options.get_filename(), "keys");
        let migrating = Self::sqlite_pool(keys.clone(), 1).await?;
        SQLITE_KEYS_MIGRATIONS
            .run(&migrating)
            .await
            .context("applying the journal keys' migrations")?;
        migrating.close().await;
        let keys = keys
            .get_filename()
            .to_str()
            .context("the SQLite file's path is not UTF-8")?
            .to_owned();
        let pool = sqlite_pool_options(8)
            .after_connect(move |conn, _| {
                let keys = keys.clone();
                Box::pin(async move {
                    sqlx::query("ATTACH DATABASE $1 AS keys")
                        .bind(keys)
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA keys.synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await
                        .map(|_| ())
                })
            })
            .connect_with(options)
            .await
            .context("opening the SQLite database")?;
        Ok(Self::Sqlite(pool))
    }

    /// The connection the auction journal commits on. On SQLite, a pool of
    /// one connection of its own: a connection's page cache is dropped
    /// whenever another connection of the file has written, so a journal
    /// that took whichever pooled connection was free read its pages from
    /// the file again for almost every commit. Its temporary files are kept
    /// in memory: a multi-row statement inside a transaction keeps the pages
    /// it changes in a statement journal, which SQLite otherwise spills to a
    /// temporary file, opened and closed in every commit. The connection is
    /// kept checked out of that pool ([`Writer`]). On PostgreSQL, one
    /// connection of this pool, kept checked out the same way.
    ///
    /// # Errors
    /// When the connection cannot be opened.
    pub async fn journal_writer(&self) -> anyhow::Result<Writer> {
        match self {
            Self::Postgres(pool) => Ok(Writer::Postgres(HeldConnection::shared(pool.clone()))),
            Self::Sqlite(pool) => {
                let options = (*pool.connect_options())
                    .clone()
                    .pragma("temp_store", "memory");
                Ok(Writer::Sqlite(HeldConnection::own(
                    Self::sqlite_pool(options, 1).await?,
                )))
            }
        }
    }

    /// Where the journal writes what it derives from itself, on
    /// PostgreSQL: a pool of its own, of up to [`WRITE_BEHIND_CONNECTIONS`]
    /// connections opened as needed, each with `synchronous_commit = off`,
    /// so that its commits do not wait for their WAL flush. Snapshots and
    /// the read models' settles are written there
    /// ([`crate::auctions::SqlJournal::deriving_on`]); none of them is a
    /// record: a crash of the database server may take the last fraction
    /// of a second of them, and the journal, flushed at every commit, gives
    /// it back (an older snapshot and a longer replay; a settle repaired
    /// when its auction is next loaded). The WAL is flushed in order, so a
    /// commit of bids makes whatever committed here before it durable too.
    /// The setting is the connections' own, from their start: none of them
    /// ever serves another statement, so it cannot reach a commit of bids.
    /// None on SQLite, where both stay on the journal's connection.
    #[must_use]
    pub fn write_behind(&self) -> Option<Self> {
        let Self::Postgres(pool) = self else {
            return None;
        };
        let options = (*pool.connect_options())
            .clone()
            .options([("synchronous_commit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(WRITE_BEHIND_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        Some(Self::Postgres(pool))
    }

    async fn open_sqlite(options: SqliteConnectOptions, connections: u32) -> anyhow::Result<Self> {
        Ok(Self::Sqlite(Self::sqlite_pool(options, connections).await?))
    }

    async fn sqlite_pool(
        options: SqliteConnectOptions,
        connections: u32,
    ) -> anyhow::Result<SqlitePool> {
        sqlite_pool_options(connections)
            .connect_with(options)
            .await
            .context("opening the SQLite database")
    }

    /// Apply the backend's migrations (`migrations/postgres` or `migrations/sqlite`).
    /// On SQLite it then fits the journal's keys' file to the journal
    /// (`auctions::keys::fit_to_journal`): a file put back from a copy
    /// leaves no row unkeyed.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Self::Postgres(pool) => PG_MIGRATIONS.run(pool).await,
            Self::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
        }
        .context("applying database migrations")?;
        if let Self::Sqlite(pool) = self {
            crate::auctions::fit_journal_keys(pool)
                .await
                .context("fitting the journal's keys to the journal")?;
        }
        Ok(())
    }

    /// Where chat history is written: this same database on PostgreSQL; on
    /// SQLite a file of its own beside this one (`blytz.db` gets
    /// `blytz-chat.db`), connected and migrated.
    ///
    /// SQLite has one writer per file, and a writer that finds the file
    /// locked sleeps in steps of milliseconds. Thousands of chat messages a
    /// second, written in batches, would otherwise hold the lock the bid
    /// journal commits under. The chat file commits with `synchronous=NORMAL`:
    /// a batch survives a crash of the server, not of the machine (chat is
    /// acknowledged before it is written in any case).
    pub async fn chat_history(&self) -> anyhow::Result<Self> {
        let pool = match self {
            Self::Postgres(_) => return Ok(self.clone()),
            Self::Sqlite(pool) => pool,
        };
        let options = beside(pool.connect_options().get_filename(), "chat");
        let chat = Self::open_sqlite(options, 4).await?;
        if let Self::Sqlite(pool) = &chat {
            SQLITE_CHAT_MIGRATIONS
                .run(pool)
                .await
                .context("applying the chat database's migrations")?;
        }
        Ok(chat)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgres(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// A round trip to the database, for readiness checks. On SQLite it
    /// also takes the write lock for a moment on a connection of its own
    /// (readers go on while another connection holds the file locked, so a
    /// read alone would not see that nothing can be committed), waiting at
    /// most [`WRITE_PROBE_WAIT`].
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        with_db!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        if let Self::Sqlite(pool) = self {
            use sqlx::Connection;
            let options = (*pool.connect_options())
                .clone()
                .busy_timeout(WRITE_PROBE_WAIT);
            let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
            let probe = async {
                sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await?;
                sqlx::query("ROLLBACK").execute(&mut conn).await
            }
            .await;
            // Closing the connection ends anything the probe left open.
            let closed = conn.close().await;
            probe?;
            closed?;
        }
        Ok(())
    }

    /// Close every connection (waits for queries in flight).
    pub async fn close(&self) {
        with_db!(self, pool => pool.close().await)
    }
}

/// The most connections of [`Db::write_behind`]'s pool: a settle and the
/// snapshots of a group or two at once.
pub const WRITE_BEHIND_CONNECTIONS: u32 = 3;

/// A pool of up to `connections` SQLite connections.
fn sqlite_pool_options(connections: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(5))
}

/// A SQLite file of its own beside the main `file` (`blytz.db` gets
/// `blytz-{suffix}.db`), in WAL mode, committing with `synchronous=NORMAL`.
fn beside(file: &Path, suffix: &str) -> SqliteConnectOptions {
    let stem = file
        .file_stem()
        .map_or_else(|| "blytz".to_owned(), |s| s.to_string_lossy().into_owned());
    SqliteConnectOptions::new()
        .filename(file.with_file_name(format!("{stem}-{suffix}.db")))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(LOCK_WAIT)
}

/// How long a statement on SQLite waits for a lock another connection
/// holds (the write lock, in WAL mode) before it fails as busy.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// How long the readiness probe waits for SQLite's write lock.
pub const WRITE_PROBE_WAIT: Duration = Duration::from_millis(250);

/// Whether a database error means the database cannot be reached or
/// written right now (a retry later may succeed), as opposed to a bad query
/// or a broken rule: pool timeouts, I/O and TLS failures;
/// PostgreSQL's connection exceptions (class 08), shutdowns and refusals
/// (57P01–57P03), too many connections (53300), read-only transactions
/// (25006); SQLite's busy, locked, read-only, I/O, full and cannot-open.
/// A pool the server closed itself is not an outage (it stays `internal`).
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLite reports the extended code; the primary is its low byte.
                code.parse::<i32>()
                    .is_ok_and(|extended| matches!(extended & 0xff, 5 | 6 | 8 | 10 | 13 | 14))
            } else {
                code.starts_with("08")
                    || matches!(
                        code.as_ref(),
                        "57P01" | "57P02" | "57P03" | "53300" | "25006"
                    )
            }
        }
        _ => false,
    }
}

/// Whether a database error is SQLite's busy or locked: another connection
/// held a lock for longer than the statement waited.
pub fn is_locked(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
            && db.code().and_then(|code| code.parse::<i32>().ok())
                .is_some_and(|extended| matches!(extended & 0xff, 5 | 6)))
}

/// Whether a database error is a unique-constraint violation.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
