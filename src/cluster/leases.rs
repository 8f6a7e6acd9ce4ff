//! Shard leases in PostgreSQL: who serves which auctions, under which epoch.
//!
//! Every renewal period a node (1) writes its heartbeat, (2) renews the
//! leases it holds, (3) gives back the shards above its fair share and
//! (4) claims free or expired shards up to it, each claim one
//! compare-and-set `UPDATE` that bumps the epoch. Lease ends are the
//! database's clock (`now()`); a node stops serving a shard by its own
//! monotonic clock a quarter of a lease before the database could let
//! another node claim it, so two nodes never serve one shard at once. Should
//! a frozen node wake up and try anyway, the journal's transaction refuses
//! its batch (the fence), and nothing it holds is acknowledged.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use blytz_actors::Engine;
use blytz_actors::domain::AuctionId;
use blytz_actors::ports::{Fence, Placement};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::{ClusterSettings, shard_of};

/// A lease this node holds.
#[derive(Debug, Clone, Copy)]
struct Held {
    epoch: u64,
    /// This node serves the shard until then (its own clock).
    serve_until: Instant,
}

/// Who holds a shard, as last read.
#[derive(Debug, Clone)]
struct Owner {
    node_id: String,
    address: String,
}

/// The lease table of one node: the engine's placement of auctions, and
/// the loop that keeps the leases. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Leases {
    settings: ClusterSettings,
    pool: PgPool,
    held: RwLock<HashMap<u32, Held>>,
    owners: RwLock<HashMap<u32, Owner>>,
    draining: std::sync::atomic::AtomicBool,
    relay_channel: String,
    cluster_id: String,
}

/// A node as `GET /api/v1/cluster` shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct NodeStatus {
    /// The node's name.
    pub node_id: String,
    /// Where other nodes reach it.
    pub address: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat (database time).
    pub heartbeat_at: DateTime<Utc>,
    /// Whether its heartbeat is within a lease.
    pub live: bool,
    /// Whether it is handing its shards over to stop.
    pub draining: bool,
    /// How many shards it holds.
    pub shards: i64,
}

/// A shard lease as `GET /api/v1/cluster` shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LeaseStatus {
    /// The shard.
    pub shard: i32,
    /// Who holds it (none: free).
    pub node_id: Option<String>,
    /// The epoch: it grows with every claim.
    pub epoch: i64,
    /// When the lease ends unless renewed (database time).
    pub lease_until: Option<DateTime<Utc>>,
}

/// The whole cluster, for operators.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClusterStatus {
    /// Whether this server runs as a cluster node.
    pub enabled: bool,
    /// The node that answered (none on a single node).
    pub node_id: Option<String>,
    /// How many shards auctions hash into.
    pub shards: u32,
    /// Every node that has heartbeated within the last hour.
    pub nodes: Vec<NodeStatus>,
    /// Every shard lease.
    pub leases: Vec<LeaseStatus>,
}

impl ClusterStatus {
    /// What a single node (no cluster) answers.
    #[must_use]
    pub const fn single() -> Self {
        Self {
            enabled: false,
            node_id: None,
            shards: 0,
            nodes: Vec::new(),
            leases: Vec::new(),
        }
    }
}

fn to_epoch(epoch: i64) -> u64 {
    u64::try_from(epoch).unwrap_or(0)
}

fn to_shard(shard: i32) -> u32 {
    u32::try_from(shard).unwrap_or(0)
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Leases {
    /// Joins the cluster: makes the shard rows if this is its first node,
    /// checks the shard count, writes the first heartbeat. Holds no shard
    /// yet; [`Leases::run`] claims them.
    ///
    /// # Errors
    /// The database is unreachable, or the cluster was made with another
    /// shard count.
    pub async fn join(settings: ClusterSettings, pool: PgPool) -> anyhow::Result<Arc<Self>> {
        let shards = i32::try_from(settings.shards)?;
        sqlx::query(
            "INSERT INTO shard_leases (shard) SELECT generate_series(0, $1 - 1) \
             ON CONFLICT (shard) DO NOTHING",
        )
        .bind(shards)
        .execute(&pool)
        .await?;
        let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM shard_leases")
            .fetch_one(&pool)
            .await?;
        if count != i64::from(shards) {
            anyhow::bail!(
                "BLYTZ_CLUSTER_SHARDS is {shards} but the cluster was made with {count} shards; \
                 every node must use the same count"
            );
        }
        // The relay's channel is named after the cluster, so clusters on one
        // Redis never hear each other.
        sqlx::query("INSERT INTO cluster_identity (cluster_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(uuid::Uuid::now_v7())
            .execute(&pool)
            .await?;
        let (cluster_id,): (uuid::Uuid,) =
            sqlx::query_as("SELECT cluster_id FROM cluster_identity")
                .fetch_one(&pool)
                .await?;
        let leases = Arc::new(Self {
            relay_channel: format!("blytz:relay:{cluster_id}"),
            cluster_id: cluster_id.to_string(),
            settings,
            pool,
            held: RwLock::default(),
            owners: RwLock::default(),
            draining: std::sync::atomic::AtomicBool::new(false),
        });
        leases.heartbeat().await?;
        // Leases under this node's name are an earlier process's (a restart
        // before they ran out): give them back, to be claimed under a new
        // epoch, which fences anything that process might still write.
        sqlx::query(
            "UPDATE shard_leases SET node_id = NULL, lease_until = '-infinity' \
             WHERE shard IN (SELECT shard FROM shard_leases WHERE node_id = $1 ORDER BY shard FOR UPDATE)",
        )
        .bind(&leases.settings.node_id)
        .execute(&leases.pool)
        .await?;
        tracing::info!(
            node_id = %leases.settings.node_id,
            address = %leases.settings.advertise_url,
            shards,
            "joined the cluster"
        );
        Ok(leases)
    }

    /// This node's name.
    #[must_use]
    pub fn node_id(&self) -> &str {
        &self.settings.node_id
    }

    /// The cluster's own id (made by its first node): what its Redis keys
    /// and channel are named after.
    #[must_use]
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The Redis channel this cluster's nodes relay room frames on.
    #[must_use]
    pub fn relay_channel(&self) -> &str {
        &self.relay_channel
    }

    /// The settings this node runs with.
    #[must_use]
    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    /// The shard of `auction_id`.
    #[must_use]
    pub fn shard_of(&self, auction_id: AuctionId) -> u32 {
        shard_of(auction_id, self.settings.shards)
    }

    /// How many shards this node serves now.
    #[must_use]
    pub fn held_count(&self) -> usize {
        let now = Instant::now();
        self.read_held()
            .values()
            .filter(|held| held.serve_until > now)
            .count()
    }

    /// Whether this node serves `shard` now.
    #[must_use]
    pub fn holds_shard(&self, shard: u32) -> bool {
        self.read_held()
            .get(&shard)
            .is_some_and(|held| held.serve_until > Instant::now())
    }

    fn read_held(&self) -> std::sync::RwLockReadGuard<'_, HashMap<u32, Held>> {
        self.held
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_held(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<u32, Held>> {
        self.held
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where the owner of `shard` was last seen, unless it is this node.
    #[must_use]
    pub fn owner_address(&self, shard: u32) -> Option<String> {
        self.owners
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&shard)
            .filter(|owner| owner.node_id != self.settings.node_id)
            .map(|owner| owner.address.clone())
    }

    /// Reads who holds `shard` now from the database (after a `moved`):
    /// the node and its address, `None` while nobody does.
    ///
    /// # Errors
    /// The database failed.
    pub async fn look_up_owner(&self, shard: u32) -> anyhow::Result<Option<(String, String)>> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT l.node_id, n.address FROM shard_leases l JOIN cluster_nodes n USING (node_id) \
             WHERE l.shard = $1 AND l.lease_until > now()",
        )
        .bind(i32::try_from(shard)?)
        .fetch_optional(&self.pool)
        .await?;
        let mut owners = self
            .owners
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &row {
            Some((node_id, address)) => {
                owners.insert(
                    shard,
                    Owner {
                        node_id: node_id.clone(),
                        address: address.clone(),
                    },
                );
            }
            None => {
                owners.remove(&shard);
            }
        }
        Ok(row)
    }

    async fn heartbeat(&self) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO cluster_nodes (node_id, address, started_at, heartbeat_at, draining) \
             VALUES ($1, $2, now(), now(), $3) \
             ON CONFLICT (node_id) DO UPDATE SET address = excluded.address, \
             heartbeat_at = now(), draining = excluded.draining",
        )
        .bind(&self.settings.node_id)
        .bind(&self.settings.advertise_url)
        .bind(self.draining.load(std::sync::atomic::Ordering::Relaxed))
        .execute(&self.pool)
        .await
        .map(|_| ())
    }

    /// Keeps this node's leases for as long as the process runs: see the
    /// module documentation. Claimed shards' open auctions are brought back
    /// on `engine` at once (timers re-armed from the journaled deadlines).
    pub async fn run(self: Arc<Self>, engine: Engine) {
        let mut ticker = tokio::time::interval(self.settings.renew_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match self.round().await {
                Ok(claimed) if claimed > 0 => {
                    let engine = engine.clone();
                    tokio::spawn(async move {
                        match engine.resume_open_auctions().await {
                            Ok(resumed) => tracing::info!(
                                resumed,
                                "claimed shards' open auctions are served here"
                            ),
                            Err(error) => {
                                tracing::warn!(%error, "resuming claimed auctions failed; the recovery sweep retries")
                            }
                        }
                    });
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "cluster lease round failed; shards stop being served when their leases run out");
                }
            }
            metrics::gauge!("cluster_shards_owned").set(self.held_count() as f64);
        }
    }

    /// One round; answers how many shards it claimed.
    async fn round(&self) -> anyhow::Result<usize> {
        let sent = Instant::now();
        let serve_until = sent + self.settings.lease - self.settings.lease / 4;
        self.heartbeat().await?;
        self.renew(serve_until).await?;
        let live: Vec<(String, bool)> = sqlx::query_as(
            "SELECT node_id, draining FROM cluster_nodes \
             WHERE heartbeat_at > now() - make_interval(secs => $1::float8 / 1000)",
        )
        .bind(ms(self.settings.lease) as f64)
        .fetch_all(&self.pool)
        .await?;
        metrics::gauge!("cluster_nodes_live").set(live.len() as f64);
        let serving = live.iter().filter(|(_, draining)| !draining).count().max(1);
        let draining = self.draining.load(std::sync::atomic::Ordering::Relaxed);
        let fair = if draining {
            0
        } else {
            (self.settings.shards as usize).div_ceil(serving)
        };
        let held = self.read_held().len();
        let mut claimed = 0;
        if held > fair {
            self.release(held - fair).await?;
        } else if held < fair {
            claimed = self.claim(fair - held, serve_until).await?;
        }
        self.read_owners().await?;
        Ok(claimed)
    }

    /// Renews every lease this node holds, each at the epoch it holds it
    /// under; a lease it no longer holds (taken over while it could not
    /// renew) is dropped.
    async fn renew(&self, serve_until: Instant) -> sqlx::Result<()> {
        let (shards, epochs): (Vec<i32>, Vec<i64>) = self
            .read_held()
            .iter()
            .filter_map(|(shard, held)| {
                Some((i32::try_from(*shard).ok()?, i64::try_from(held.epoch).ok()?))
            })
            .unzip();
        // Rows are locked in shard order, as the journal's fence locks them,
        // so the two never deadlock.
        let rows: Vec<(i32, i64)> = sqlx::query_as(
            "UPDATE shard_leases SET lease_until = now() + make_interval(secs => $4::float8 / 1000) \
             WHERE shard IN (SELECT shard FROM shard_leases \
               WHERE node_id = $1 AND (shard, epoch) IN (SELECT * FROM UNNEST($2::int[], $3::bigint[])) \
               ORDER BY shard FOR UPDATE) \
             AND node_id = $1 RETURNING shard, epoch",
        )
        .bind(&self.settings.node_id)
        .bind(&shards)
        .bind(&epochs)
        .bind(ms(self.settings.lease) as f64)
        .fetch_all(&self.pool)
        .await?;
        let renewed: HashMap<u32, Held> = rows
            .into_iter()
            .map(|(shard, epoch)| {
                (
                    to_shard(shard),
                    Held {
                        epoch: to_epoch(epoch),
                        serve_until,
                    },
                )
            })
            .collect();
        let mut held = self.write_held();
        for (shard, was) in held.iter() {
            if renewed.get(shard).is_none_or(|now| now.epoch != was.epoch) {
                tracing::warn!(shard, epoch = was.epoch, "lost the lease of a shard");
            }
        }
        *held = renewed;
        Ok(())
    }

    /// Gives `count` shards back: this node stops serving them first; a
    /// batch already committing under one finishes before the row changes
    /// (it holds the row), and any later one is fenced.
    async fn release(&self, count: usize) -> sqlx::Result<()> {
        let shards: Vec<i32> = {
            let mut held = self.write_held();
            let mut mine: Vec<u32> = held.keys().copied().collect();
            mine.sort_unstable();
            let give: Vec<u32> = mine.into_iter().rev().take(count).collect();
            for shard in &give {
                held.remove(shard);
            }
            give.into_iter()
                .filter_map(|s| i32::try_from(s).ok())
                .collect()
        };
        if shards.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE shard_leases SET node_id = NULL, lease_until = '-infinity' \
             WHERE shard IN (SELECT shard FROM shard_leases WHERE shard = ANY($1) AND node_id = $2 \
               ORDER BY shard FOR UPDATE) AND node_id = $2",
        )
        .bind(&shards)
        .bind(&self.settings.node_id)
        .execute(&self.pool)
        .await?;
        tracing::info!(?shards, "handed shards back for other nodes to claim");
        Ok(())
    }

    /// Claims up to `count` free or expired shards, each by compare-and-set
    /// with a new epoch; answers how many it got.
    async fn claim(&self, count: usize, serve_until: Instant) -> sqlx::Result<usize> {
        let rows: Vec<(i32, i64, Option<String>)> = sqlx::query_as(
            "WITH picked AS ( \
               SELECT shard, node_id AS was FROM shard_leases \
               WHERE node_id IS NULL OR lease_until < now() \
               ORDER BY random() LIMIT $2 FOR UPDATE SKIP LOCKED) \
             UPDATE shard_leases s SET node_id = $1, epoch = s.epoch + 1, \
               lease_until = now() + make_interval(secs => $3::float8 / 1000) \
             FROM picked WHERE s.shard = picked.shard \
               AND (s.node_id IS NULL OR s.lease_until < now()) \
             RETURNING s.shard, s.epoch, picked.was",
        )
        .bind(&self.settings.node_id)
        .bind(i64::try_from(count).unwrap_or(i64::MAX))
        .bind(ms(self.settings.lease) as f64)
        .fetch_all(&self.pool)
        .await?;
        let mut held = self.write_held();
        for (shard, epoch, was) in &rows {
            if let Some(was) = was.as_deref().filter(|was| *was != self.settings.node_id) {
                metrics::counter!("cluster_takeovers_total").increment(1);
                tracing::warn!(
                    shard,
                    epoch,
                    from = was,
                    "took over a shard whose lease ran out"
                );
            } else {
                tracing::debug!(shard, epoch, "claimed a shard");
            }
            held.insert(
                to_shard(*shard),
                Held {
                    epoch: to_epoch(*epoch),
                    serve_until,
                },
            );
        }
        Ok(rows.len())
    }

    async fn read_owners(&self) -> sqlx::Result<()> {
        let rows: Vec<(i32, String, String)> = sqlx::query_as(
            "SELECT l.shard, l.node_id, n.address FROM shard_leases l \
             JOIN cluster_nodes n USING (node_id) WHERE l.lease_until > now()",
        )
        .fetch_all(&self.pool)
        .await?;
        let owners = rows
            .into_iter()
            .map(|(shard, node_id, address)| (to_shard(shard), Owner { node_id, address }))
            .collect();
        *self
            .owners
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = owners;
        Ok(())
    }

    /// Stops taking shards and hands every one back (a rolling deploy):
    /// this node serves nothing afterwards, and the others claim them at
    /// their next round.
    ///
    /// # Errors
    /// The database failed (the leases then simply run out).
    pub async fn drain(&self) -> anyhow::Result<()> {
        self.draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.heartbeat().await?;
        let count = self.read_held().len();
        self.release(count).await?;
        Ok(())
    }

    /// Leaves the cluster at shutdown: the node's row goes.
    ///
    /// # Errors
    /// The database failed.
    pub async fn leave(&self) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM cluster_nodes WHERE node_id = $1")
            .bind(&self.settings.node_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The cluster as the database sees it now.
    ///
    /// # Errors
    /// The database failed.
    pub async fn status(&self) -> anyhow::Result<ClusterStatus> {
        let nodes: Vec<NodeStatus> = sqlx::query_as(
            "SELECT n.node_id, n.address, n.started_at, n.heartbeat_at, \
               n.heartbeat_at > now() - make_interval(secs => $1::float8 / 1000) AS live, \
               n.draining, \
               (SELECT count(*) FROM shard_leases l WHERE l.node_id = n.node_id AND l.lease_until > now()) AS shards \
             FROM cluster_nodes n WHERE n.heartbeat_at > now() - interval '1 hour' ORDER BY n.node_id",
        )
        .bind(ms(self.settings.lease) as f64)
        .fetch_all(&self.pool)
        .await?;
        let leases: Vec<LeaseStatus> = sqlx::query_as(
            "SELECT shard, node_id, epoch, \
               CASE WHEN lease_until = '-infinity' THEN NULL ELSE lease_until END AS lease_until \
             FROM shard_leases ORDER BY shard",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(ClusterStatus {
            enabled: true,
            node_id: Some(self.settings.node_id.clone()),
            shards: self.settings.shards,
            nodes,
            leases,
        })
    }
}

impl Placement for Leases {
    fn fence(&self, auction_id: AuctionId) -> Option<Fence> {
        let shard = self.shard_of(auction_id);
        let held = *self.read_held().get(&shard)?;
        (held.serve_until > Instant::now()).then_some(Fence {
            shard,
            epoch: held.epoch,
        })
    }

    fn holds(&self, fence: Fence) -> bool {
        self.read_held()
            .get(&fence.shard)
            .is_some_and(|held| held.epoch == fence.epoch && held.serve_until > Instant::now())
    }

    fn fenced(&self, fence: Fence) {
        let mut held = self.write_held();
        if held
            .get(&fence.shard)
            .is_some_and(|h| h.epoch == fence.epoch)
        {
            held.remove(&fence.shard);
        }
    }
}
