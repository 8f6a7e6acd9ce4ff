//! A cluster a scenario drives: N child servers in cluster mode
//! (`BLYTZ_CLUSTER=on`, node `i` named `node-i`) on one fresh PostgreSQL
//! database and a shared Redis, with an admin to read `GET /api/v1/cluster`.

use std::time::Duration;

use anyhow::{Context, bail};
use blytz::db::ScratchDb;
use futures_util::future;
use serde_json::Value;
use tokio::time::Instant;

use crate::client::Api;
use crate::server::{self, NodeSettings, ServerProcess};
use crate::target::Target;

/// The admin the bench makes to read the cluster's state.
const ADMIN_EMAIL: &str = "bench-admin@example.com";
const ADMIN_PASSWORD: &str = "bench admin password 123";
/// How long the nodes may take to share every shard.
const BALANCE_TIMEOUT: Duration = Duration::from_secs(60);

/// Where and how the nodes run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A PostgreSQL server: each cluster gets a fresh database on it.
    pub database_url: String,
    /// The Redis the nodes share.
    pub redis_url: String,
    /// HTTP worker threads of each node (0 = the server's default).
    pub workers: usize,
    /// `BLYTZ_LEASE_MS`.
    pub lease_ms: u64,
    /// `BLYTZ_LEASE_RENEW_MS`.
    pub lease_renew_ms: u64,
}

/// Running nodes of one cluster. Dropping it kills them; [`Self::close`]
/// stops them gracefully first.
#[derive(Debug)]
pub struct Cluster {
    /// The nodes, `node-0` first. A killed node stays, without a pid.
    pub nodes: Vec<Target>,
    /// How many shards auctions hash into.
    pub shards: u32,
    http: reqwest::Client,
    admin: String,
    scratch: ScratchDb,
}

/// The `BLYTZ_NODE_ID` of node `index`.
pub fn node_id(index: usize) -> String {
    format!("node-{index}")
}

impl Cluster {
    /// Make a fresh database, start `count` nodes on it, make an admin, and
    /// wait until every node is live and they share every shard.
    pub async fn start(settings: &Settings, count: usize) -> anyhow::Result<Self> {
        eprintln!("starting {count} cluster node(s) on a fresh PostgreSQL database ...");
        let scratch = ScratchDb::postgres(&settings.database_url)
            .await
            .context("making the cluster's database")?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .context("building the HTTP client")?;
        let mut cluster = Self {
            nodes: Vec::new(),
            shards: 0,
            http,
            admin: String::new(),
            scratch,
        };
        match cluster.prepare(settings, count).await {
            Ok(()) => Ok(cluster),
            Err(e) => {
                if let Err(stop) = cluster.close().await {
                    eprintln!("stopping the cluster: {stop:#}");
                }
                Err(e)
            }
        }
    }

    async fn prepare(&mut self, settings: &Settings, count: usize) -> anyhow::Result<()> {
        for index in 0..count {
            let node = NodeSettings {
                node_id: node_id(index),
                database_url: self.scratch.url.clone(),
                redis_url: settings.redis_url.clone(),
                lease_ms: settings.lease_ms,
                lease_renew_ms: settings.lease_renew_ms,
            };
            let server = ServerProcess::start_node(&node, settings.workers)
                .await
                .with_context(|| format!("starting {}", node.node_id))?;
            eprintln!(
                "{} pid {} on 127.0.0.1:{}",
                node.node_id, server.pid, server.port
            );
            self.nodes.push(Target::started(server, "postgres"));
        }
        server::create_admin(&self.scratch.url, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
        let first = self.nodes.first().context("a cluster of no nodes")?;
        self.admin = Api::new(first)?
            .login(ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .context("signing the admin in")?;
        self.wait_balanced().await
    }

    /// `GET /api/v1/cluster` from the first running node that answers.
    pub async fn status(&self) -> anyhow::Result<Value> {
        let mut failure = None;
        // A killed node has no pid left.
        for node in self.nodes.iter().filter(|node| node.pid.is_some()) {
            let answer = self
                .http
                .get(format!("{}/api/v1/cluster", node.base))
                .bearer_auth(&self.admin)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status);
            match answer {
                Ok(response) => {
                    return response.json().await.context("reading /api/v1/cluster");
                }
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) => Err(e).context("GET /api/v1/cluster"),
            None => bail!("no node runs"),
        }
    }

    /// Wait until every node is live, all shards are held and none holds
    /// more than its fair share, `ceil(shards / nodes)`.
    async fn wait_balanced(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let status = self.status().await?;
            let shards = status["shards"]
                .as_u64()
                .context("no shard count in /api/v1/cluster")?;
            let nodes = status["nodes"]
                .as_array()
                .context("no nodes in /api/v1/cluster")?;
            let live: Vec<&Value> = nodes.iter().filter(|n| n["live"] == true).collect();
            let held: u64 = live.iter().filter_map(|n| n["shards"].as_u64()).sum();
            let fair = shards.div_ceil(self.nodes.len().max(1) as u64);
            if live.len() == self.nodes.len()
                && held == shards
                && live.iter().all(|n| n["shards"].as_u64() <= Some(fair))
            {
                self.shards = u32::try_from(shards).context("the shard count")?;
                eprintln!(
                    "{} live node(s) share the {shards} shards after {:.1} s",
                    live.len(),
                    started.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            if started.elapsed() > BALANCE_TIMEOUT {
                bail!("the nodes did not share every shard within {BALANCE_TIMEOUT:?}: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The index of the node that holds `auction`'s shard now.
    pub async fn owner_of(&self, auction: &str) -> anyhow::Result<usize> {
        let owners = self.owners(std::slice::from_ref(&auction)).await?;
        owners.first().copied().context("no owner")
    }

    /// The indexes of the nodes that hold `auctions`' shards now
    /// (`blytz::cluster::shard_of` and the lease table).
    pub async fn owners(&self, auctions: &[impl AsRef<str>]) -> anyhow::Result<Vec<usize>> {
        let status = self.status().await?;
        let leases = status["leases"]
            .as_array()
            .context("no leases in /api/v1/cluster")?;
        auctions
            .iter()
            .map(|auction| {
                let auction = auction.as_ref();
                let id = auction
                    .parse()
                    .with_context(|| format!("the auction id {auction:?}"))?;
                let shard = blytz::cluster::shard_of(id, self.shards);
                let holder = leases
                    .iter()
                    .find(|lease| lease["shard"] == shard)
                    .and_then(|lease| lease["node_id"].as_str())
                    .with_context(|| format!("shard {shard} is not held: {status}"))?;
                (0..self.nodes.len())
                    .find(|index| node_id(*index) == holder)
                    .with_context(|| {
                        format!("shard {shard} is held by {holder}, not by a node here")
                    })
            })
            .collect()
    }

    /// Kill node `index` with SIGKILL; answers when the signal was sent.
    pub async fn kill(&mut self, index: usize) -> anyhow::Result<Instant> {
        self.nodes
            .get_mut(index)
            .with_context(|| format!("no node {index}"))?
            .kill()
            .await
    }

    /// Stop every node still running, all at once.
    pub async fn close(self) -> anyhow::Result<()> {
        future::join_all(self.nodes.into_iter().map(Target::close))
            .await
            .into_iter()
            .collect()
    }
}
