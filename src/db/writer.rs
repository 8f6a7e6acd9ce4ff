//! The connection the auction journal commits on.

use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

use super::{Backend, Db};

/// Where the journal's batches, its snapshots and its read models are
/// written: a pool ([`Db`]), or on SQLite one connection kept checked out.
///
/// A connection taken from an sqlx pool is pinged as it leaves (unless the
/// pool says otherwise) and always as it comes back, and on SQLite each ping
/// is a round trip to the connection's worker thread. With a pool of one
/// connection, a commit waited for the previous commit's ping on release,
/// then for its own on acquire: two hand-offs between threads around every
/// statement. Kept checked out, the connection goes straight to its
/// statement. Its users take turns on it through a lock, as they took turns
/// on the pool's one connection.
#[derive(Debug, Clone)]
pub enum Writer {
    /// Statements go through a pool.
    Pool(Db),
    /// SQLite: the one connection of a pool of its own, checked out once.
    Sqlite(Arc<tokio::sync::Mutex<HeldConnection>>),
}

impl Writer {
    /// A writer that keeps one connection of `pool` checked out.
    #[must_use]
    pub fn holding(pool: SqlitePool) -> Self {
        Self::Sqlite(Arc::new(tokio::sync::Mutex::new(HeldConnection {
            pool,
            connection: None,
        })))
    }

    /// The database behind it.
    #[must_use]
    pub fn backend(&self) -> Backend {
        match self {
            Self::Pool(db) => db.backend(),
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Whether it writes to PostgreSQL.
    #[must_use]
    pub fn is_postgres(&self) -> bool {
        self.backend() == Backend::Postgres
    }
}

/// A connection checked out of `pool` when first needed, and kept.
#[derive(Debug)]
pub struct HeldConnection {
    pool: SqlitePool,
    connection: Option<PoolConnection<Sqlite>>,
}

impl HeldConnection {
    /// The held connection, checked out now if it is not yet.
    ///
    /// # Errors
    /// When the pool cannot give a connection.
    pub async fn connection(&mut self) -> Result<&mut SqliteConnection, sqlx::Error> {
        if self.connection.is_none() {
            self.connection = Some(self.pool.acquire().await?);
        }
        self.connection
            .as_deref_mut()
            .ok_or(sqlx::Error::PoolClosed)
    }

    /// Gives the connection back to its pool, which tests it as it
    /// returns (and replaces it if it is broken): done after any error,
    /// which is rare on this connection, so that nothing an error may have
    /// left behind on it outlives the error.
    pub fn release(&mut self) {
        self.connection = None;
    }
}

/// Run the same code on a [`Writer`]'s connection:
/// `with_writer!(writer, conn, map_err => expr)`. `conn` is a pool of either
/// backend or the held SQLite connection (`&mut SqliteConnection`), so the
/// body is compiled three times. It must be a `Result`, and runs inside an
/// async block: its `?` and `return` leave the block, whose value is the
/// macro's. `map_err` turns a failure to check the connection out into the
/// body's error. After an error the held connection is given back.
#[macro_export]
macro_rules! with_writer {
    ($writer:expr, $conn:ident, $map_err:expr => $body:expr) => {
        match $writer {
            $crate::db::Writer::Pool($crate::db::Db::Postgres($conn)) => async { $body }.await,
            $crate::db::Writer::Pool($crate::db::Db::Sqlite($conn)) => async { $body }.await,
            $crate::db::Writer::Sqlite(held) => {
                let mut held = held.lock().await;
                let result = async {
                    let $conn = held.connection().await.map_err($map_err)?;
                    $body
                }
                .await;
                if result.is_err() {
                    held.release();
                }
                result
            }
        }
    };
}
