//! The optional Redis connection (snapshots, rate-limit counters, cross-node fan-out).

use anyhow::Context;
use redis::aio::ConnectionManager;

/// A shared, reconnecting Redis connection.
#[derive(Clone)]
pub struct Redis {
    conn: ConnectionManager,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").finish_non_exhaustive()
    }
}

impl Redis {
    /// Connect to `url` (`redis://host:port/db`).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("parsing REDIS_URL")?;
        let conn = ConnectionManager::new(client)
            .await
            .context("connecting to Redis")?;
        Ok(Self { conn })
    }

    /// A clone of the connection (cheap: it is multiplexed).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// A round trip, for readiness checks.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .context("Redis PING")?;
        Ok(())
    }
}
