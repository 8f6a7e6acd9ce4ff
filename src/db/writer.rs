//! The connection the auction journal commits on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{
    AssertSqlSafe, Connection as _, Database, PgConnection, Pool, Postgres, Sqlite,
    SqliteConnection,
};

use super::{Backend, Db, LOCK_WAIT};

/// Where the journal's batches, its snapshots and its read models are
/// written: a pool ([`Db`]), or one connection kept checked out.
///
/// A connection taken from an sqlx pool is pinged as it leaves (unless the
/// pool says otherwise) and always as it comes back. On SQLite each ping is
/// a round trip to the connection's worker thread, on PostgreSQL one to the
/// server. With SQLite's pool of one connection, a commit waited for the
/// previous commit's ping on release, then for its own on acquire; on
/// PostgreSQL every commit waited for its acquire's ping, and each release
/// cost the server another exchange. Kept checked out, the connection goes
/// straight to its statement. Its users take turns on it through a lock.
#[derive(Debug, Clone)]
pub enum Writer {
    /// Statements go through a pool.
    Pool(Db),
    /// SQLite: the one connection of a pool of its own, checked out once.
    Sqlite(Held<Sqlite>),
    /// PostgreSQL: one connection of the shared pool, checked out once.
    Postgres(Held<Postgres>),
}

/// A [`HeldConnection`] its users take turns on.
pub type Held<DB> = Arc<tokio::sync::Mutex<HeldConnection<DB>>>;

impl Writer {
    /// The database behind it.
    #[must_use]
    pub fn backend(&self) -> Backend {
        match self {
            Self::Pool(db) => db.backend(),
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Gives a held connection back for good, and closes SQLite's pool of
    /// its own: done at shutdown, before the shared pool closes (which waits
    /// for every connection it lent). Its users get an error afterwards.
    pub async fn close(&self) {
        match self {
            Self::Pool(_) => {}
            Self::Sqlite(held) => held.lock().await.close().await,
            Self::Postgres(held) => held.lock().await.close().await,
        }
    }

    /// Whether it writes to PostgreSQL.
    #[must_use]
    pub fn is_postgres(&self) -> bool {
        self.backend() == Backend::Postgres
    }
}

/// How long a turn on a held SQLite connection waits for the file's write
/// lock while another connection holds it (SQLite's `busy_timeout`, which
/// is the connection's, so each turn sets the one it needs when the turn
/// before it left another). The connection is held for the whole wait, and
/// every turn behind it waits too: a commit waited a settle's five seconds
/// on a locked file before its own five, and was refused after ten.
/// PostgreSQL waits for no such lock, and its turns ignore this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// [`LOCK_WAIT`]: a journal commit or a snapshot, which its caller
    /// waits for.
    Full,
    /// [`BRIEF_LOCK_WAIT`]: work that is tried again rather than wait on
    /// the connection (the read models' settles), so that it keeps no
    /// commit waiting for long.
    Brief,
}

/// [`Patience::Brief`]'s wait: longer than the other connections' own
/// writes hold the lock (a few milliseconds), far shorter than a commit's.
pub const BRIEF_LOCK_WAIT: Duration = Duration::from_millis(50);

impl Patience {
    /// How long a statement waits for the lock.
    #[must_use]
    pub const fn wait(self) -> Duration {
        match self {
            Self::Full => LOCK_WAIT,
            Self::Brief => BRIEF_LOCK_WAIT,
        }
    }
}

/// A connection checked out of `pool` when first needed, and kept.
#[derive(Debug)]
pub struct HeldConnection<DB: Database> {
    pool: Pool<DB>,
    /// The pool is the connection's alone, and closes with it.
    owns_pool: bool,
    connection: Option<PoolConnection<DB>>,
    /// The [`Patience`] the connection has now (SQLite), `None` when not
    /// known: a new connection, or a turn cut short while setting it.
    patience: Option<Patience>,
    /// When the connection was last handed out.
    used: Instant,
    /// Given back for good ([`Writer::close`]).
    closed: bool,
}

/// A held connection left unused this long is tested before its next use,
/// as the pool tests one on acquire: a server restarted, or a connection
/// closed while idle, then costs a new connection instead of a failed
/// statement. A busy journal uses it far more often than this and is never
/// slowed by the test.
const TESTED_AFTER: Duration = Duration::from_secs(1);

impl<DB: Database> HeldConnection<DB> {
    /// One connection of `pool`, a pool others use too, kept checked out.
    #[must_use]
    pub fn shared(pool: Pool<DB>) -> Held<DB> {
        Self::held(pool, false)
    }

    /// The connection of `pool`, a pool of its own: it closes with the
    /// connection.
    #[must_use]
    pub fn own(pool: Pool<DB>) -> Held<DB> {
        Self::held(pool, true)
    }

    fn held(pool: Pool<DB>, owns_pool: bool) -> Held<DB> {
        Arc::new(tokio::sync::Mutex::new(Self {
            pool,
            owns_pool,
            connection: None,
            patience: None,
            used: Instant::now(),
            closed: false,
        }))
    }

    /// The held connection, checked out now if it is not yet.
    ///
    /// # Errors
    /// When the pool cannot give a connection, or the writer is closed.
    pub async fn connection(&mut self) -> Result<&mut DB::Connection, sqlx::Error> {
        if self.closed {
            return Err(sqlx::Error::PoolClosed);
        }
        if let Some(connection) = &mut self.connection
            && self.used.elapsed() >= TESTED_AFTER
            && connection.ping().await.is_err()
        {
            self.release();
        }
        if self.connection.is_none() {
            self.connection = Some(self.pool.acquire().await?);
        }
        self.used = Instant::now();
        self.connection
            .as_deref_mut()
            .ok_or(sqlx::Error::PoolClosed)
    }

    /// Whether it was given back for good ([`Writer::close`]).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Gives the connection back to its pool, which tests it as it
    /// returns (and replaces it if it is broken): done after any error,
    /// which is rare on this connection, so that nothing an error may have
    /// left behind on it outlives the error.
    pub fn release(&mut self) {
        self.connection = None;
        self.patience = None;
    }

    async fn close(&mut self) {
        self.closed = true;
        self.release();
        if self.owns_pool {
            self.pool.close().await;
        }
    }
}

impl HeldConnection<Sqlite> {
    /// [`HeldConnection::connection`], waiting at most `patience` for the
    /// file's write lock.
    ///
    /// # Errors
    /// As [`HeldConnection::connection`], and when the wait cannot be set.
    pub async fn connection_with(
        &mut self,
        patience: Patience,
    ) -> Result<&mut SqliteConnection, sqlx::Error> {
        self.connection().await?;
        let connection = self
            .connection
            .as_deref_mut()
            .ok_or(sqlx::Error::PoolClosed)?;
        if self.patience != Some(patience) {
            self.patience = None;
            let pragma = format!("PRAGMA busy_timeout = {}", patience.wait().as_millis());
            sqlx::query(AssertSqlSafe(pragma))
                .execute(&mut *connection)
                .await?;
            self.patience = Some(patience);
        }
        Ok(connection)
    }
}

impl HeldConnection<Postgres> {
    /// [`HeldConnection::connection`]: PostgreSQL's turns wait for no file
    /// lock.
    ///
    /// # Errors
    /// As [`HeldConnection::connection`].
    pub async fn connection_with(&mut self, _: Patience) -> Result<&mut PgConnection, sqlx::Error> {
        self.connection().await
    }
}

/// Run the same code on a [`Writer`]'s connection:
/// `with_writer!(writer, patience, conn, map_err => expr)`. `conn` is a pool
/// of either backend or a held connection of either (`&mut
/// SqliteConnection`, `&mut PgConnection`), so the body is compiled four
/// times. It must be a
/// `Result`, and runs inside an async block: its `?` and `return` leave the
/// block, whose value is the macro's. `patience` ([`Patience`]) is how long
/// a held SQLite connection waits for the file's write lock (a pool's
/// connections keep their own). `map_err` turns a failure to check the
/// connection out into the body's error. After an error the held connection
/// is given back.
#[macro_export]
macro_rules! with_writer {
    ($writer:expr, $patience:expr, $conn:ident, $map_err:expr => $body:expr) => {
        match $writer {
            $crate::db::Writer::Pool($crate::db::Db::Postgres($conn)) => async { $body }.await,
            $crate::db::Writer::Pool($crate::db::Db::Sqlite($conn)) => async { $body }.await,
            $crate::db::Writer::Sqlite(held) => {
                $crate::with_held!(held, $patience, $conn, $map_err => $body)
            }
            $crate::db::Writer::Postgres(held) => {
                $crate::with_held!(held, $patience, $conn, $map_err => $body)
            }
        }
    };
}

/// [`with_writer!`]'s turn on a held connection.
#[doc(hidden)]
#[macro_export]
macro_rules! with_held {
    ($held:expr, $patience:expr, $conn:ident, $map_err:expr => $body:expr) => {{
        let mut held = $held.lock().await;
        let result = async {
            let $conn = held.connection_with($patience).await.map_err($map_err)?;
            $body
        }
        .await;
        if result.is_err() {
            held.release();
        }
        result
    }};
}
