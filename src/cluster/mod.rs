//! Cluster mode: N nodes on one PostgreSQL (the authority) and one Redis
//! (messaging), each auction served by exactly one node at a time.
//!
//! - [`Leases`]: auctions hash into shards; each shard is leased to one node
//!   under an epoch that only grows, with heartbeats and lease times taken
//!   from the database's clock. It is the engine's
//!   [`Placement`](blytz_actors::ports::Placement): an auction actor runs
//!   only on the node holding its shard and stamps its journal entries with
//!   the lease's fence, which the journal's transaction checks.
//! - [`Forwarder`]: the engine's [`Remote`](blytz_actors::remote::Remote):
//!   a call for an auction served elsewhere goes to its owner over HTTP.
//! - [`Relay`]: every frame published on a node reaches the watchers on
//!   every other node through Redis; per-auction `seq` is checked there.
//!
//! How to run it and what each part guarantees: `docs/cluster.md`.

mod forward;
mod leases;
mod relay;

use std::time::Duration;

use anyhow::{Context, bail};
use blytz_actors::domain::AuctionId;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use forward::Forwarder;
pub use leases::{ClusterStatus, LeaseStatus, Leases, NodeStatus};
pub use relay::Relay;

use crate::Config;

/// Whether this node runs the cluster's single-runner jobs (the outbox
/// consumer and money steps, the show lot loop, the reservation sweep): on a
/// single node always; in a cluster, the node holding shard 0, so they run on
/// one node at a time and move with that shard. (Every step they take is
/// also claimed row by row in the database, so a second runner during a
/// hand-over does no harm.)
#[derive(Debug, Clone, Default)]
pub struct Duty(Option<std::sync::Arc<Leases>>);

impl Duty {
    /// The duty of a node with `leases` (none: a single node).
    #[must_use]
    pub const fn new(leases: Option<std::sync::Arc<Leases>>) -> Self {
        Self(leases)
    }

    /// Whether the jobs run here now.
    #[must_use]
    pub fn mine(&self) -> bool {
        self.0.as_ref().is_none_or(|leases| leases.holds_shard(0))
    }
}

/// The header a node's token travels in on calls between nodes.
pub const NODE_TOKEN_HEADER: &str = "x-blytz-node-token";

/// The path prefix of calls between nodes (never exposed by a proxy).
pub const INTERNAL_PREFIX: &str = "/internal/v1";

/// What a node of a cluster is, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// This node's name.
    pub node_id: String,
    /// Where other nodes reach this node's HTTP port.
    pub advertise_url: String,
    /// How many shards auctions hash into.
    pub shards: u32,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
    /// How often leases and the heartbeat are renewed.
    pub renew_every: Duration,
    /// The Redis URL the relay uses.
    pub redis_url: String,
    /// The token nodes show each other (derived from the JWT secret, which
    /// every node shares).
    pub node_token: String,
}

impl ClusterSettings {
    /// The cluster settings when `BLYTZ_CLUSTER` is on, `None` when off.
    ///
    /// # Errors
    /// A clear start-up error: an unknown `BLYTZ_CLUSTER` value, cluster mode
    /// without a PostgreSQL `DATABASE_URL` or without `REDIS_URL`, or lease
    /// timings that cannot work.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Self>> {
        let on = match config.cluster.as_deref().map(str::trim) {
            None | Some("" | "off" | "false" | "0") => false,
            Some("on" | "true" | "1") => true,
            Some(other) => bail!("BLYTZ_CLUSTER must be `on` or `off`, got {other:?}"),
        };
        if !on {
            return Ok(None);
        }
        let database_url = config.database_url();
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            bail!(
                "BLYTZ_CLUSTER=on needs DATABASE_URL=postgres://... (the nodes share one \
                 PostgreSQL; SQLite is for a single node)"
            );
        }
        let redis_url = match config.redis_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => url.to_owned(),
            _ => bail!(
                "BLYTZ_CLUSTER=on needs REDIS_URL (room frames travel between nodes through Redis)"
            ),
        };
        if config.cluster_shards == 0 || config.cluster_shards > 4096 {
            bail!("BLYTZ_CLUSTER_SHARDS must be between 1 and 4096");
        }
        if config.lease_renew_ms == 0 || config.lease_renew_ms.saturating_mul(3) > config.lease_ms {
            bail!(
                "BLYTZ_LEASE_RENEW_MS must be above 0 and at most a third of BLYTZ_LEASE_MS \
                 (a lease must survive a missed renewal)"
            );
        }
        let node_id = match config.node_id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => {
                if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
                    bail!("BLYTZ_NODE_ID must be 1 to 64 printable ASCII characters");
                }
                id.to_owned()
            }
            _ => {
                let id = format!("node-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
                tracing::info!(node_id = %id, "BLYTZ_NODE_ID is not set: generated one");
                id
            }
        };
        let advertise_url = match config.advertise_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => url.trim_end_matches('/').to_owned(),
            _ => format!("http://{}", config.bind),
        };
        Ok(Some(Self {
            node_id,
            advertise_url,
            shards: config.cluster_shards,
            lease: Duration::from_millis(config.lease_ms),
            renew_every: Duration::from_millis(config.lease_renew_ms),
            redis_url,
            node_token: node_token(config.jwt_secret_bytes()?)?,
        }))
    }
}

/// The token nodes show each other: HMAC-SHA256 of a fixed label under the
/// shared JWT secret, so no second secret has to be distributed.
fn node_token(secret: &[u8]) -> anyhow::Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).context("keying the node token")?;
    mac.update(b"blytz cluster node token v1");
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// The shard `auction_id` hashes into, the same on every node: the id's
/// low (random) bits modulo the shard count.
#[must_use]
pub fn shard_of(auction_id: AuctionId, shards: u32) -> u32 {
    let id = uuid::Uuid::from(auction_id).as_u128();
    // The remainder is below `shards`, a u32.
    u32::try_from(id % u128::from(shards.max(1))).unwrap_or(0)
}

/// Whether `given` is the node token, in constant time.
#[must_use]
pub fn token_matches(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
