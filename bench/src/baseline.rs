//! The seed's design as a baseline: a bid is one `EVALSHA` of a Lua script
//! that rejects when the auction has ended or the bid is not above the
//! current one, writes the new high bid, extends the end time when under
//! 60 s remain, and `PUBLISH`es the update. Redis runs with the append-only
//! file, fsync'd every second or on every write (`always`: the durability
//! Blytz gives, an acknowledged bid survives a crash).
//!
//! The bench starts its own `redis-server` on a free loopback port in a
//! temporary folder and stops it at the end.

use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use serde::Deserialize;
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::bidding::{Answer, Transport, View, offer};

/// The bid script. KEYS: the auction hash, its channel. ARGV: amount, bidder.
/// Answers `{status, seq, min_next, leader}`: 1 accepted, 0 too low, -1 ended.
const BID_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local a = redis.call('HMGET', KEYS[1], 'ends_at', 'price', 'leader', 'seq')
local ends = tonumber(a[1])
if ends == nil or now >= ends then
  return {-1, 0, 0, ''}
end
local price = tonumber(a[2])
local seq = tonumber(a[4])
local amount = tonumber(ARGV[1])
if amount <= price then
  return {0, seq, price + 1, a[3] or ''}
end
seq = seq + 1
if ends - now < 60000 then
  ends = now + 60000
end
redis.call('HSET', KEYS[1], 'price', amount, 'leader', ARGV[2], 'seq', seq, 'ends_at', ends)
redis.call('PUBLISH', KEYS[2], cjson.encode({seq = seq, price = amount, leader = ARGV[2], ends_at = ends}))
return {1, seq, amount + 1, ARGV[2]}
";

/// A `redis-server` the bench started. Killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    /// `redis://127.0.0.1:<port>/`.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// The server's process id, for `/proc` readings.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Start `binary` with the append-only file and `appendfsync` = `fsync`.
    pub async fn start(binary: &Path, fsync: &str) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("blytz-bench-redis-")
            .tempdir()
            .context("creating a temporary folder for Redis")?;
        let port = TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .context("finding a free port")?
            .port();
        let child = Command::new(binary)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .arg("--dir")
            .arg(dir.path())
            .args(["--appendonly", "yes", "--appendfsync", fsync])
            .args(["--save", "", "--daemonize", "no", "--maxclients", "10000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let server = Self {
            child,
            url: format!("redis://127.0.0.1:{port}/"),
            _dir: dir,
        };
        let client = redis::Client::open(server.url.as_str()).context("the Redis URL")?;
        let started = tokio::time::Instant::now();
        loop {
            if let Ok(mut con) = client.get_multiplexed_async_connection().await {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut con).await;
                if pong.is_ok() {
                    break;
                }
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("redis-server did not answer PING within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(server)
    }

    /// A client for it.
    pub fn client(&self) -> anyhow::Result<redis::Client> {
        redis::Client::open(self.url.as_str()).context("the Redis URL")
    }

    /// Stop it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await.context("stopping redis-server")
    }
}

/// Create auction `index`: open for an hour, price below the start price.
pub async fn create_auction(client: &redis::Client, index: u32) -> anyhow::Result<()> {
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .context("connecting to Redis")?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let _: () = redis::cmd("HSET")
        .arg(auction_key(index))
        .arg(&[("ends_at", now_ms + 3_600_000), ("price", 99), ("seq", 0)])
        .query_async(&mut con)
        .await
        .context("creating a baseline auction")?;
    Ok(())
}

fn auction_key(index: u32) -> String {
    format!("auction:{index}")
}

fn channel(index: u32) -> String {
    format!("auction:{index}:events")
}

/// A baseline bidder: its own connection for the script, and its own
/// subscription to the auction's channel for the views.
#[derive(Debug)]
pub struct RedisBidder {
    con: MultiplexedConnection,
    script: Arc<redis::Script>,
    key: String,
    channel: String,
    me: String,
    views: Arc<watch::Sender<View>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for RedisBidder {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A `PUBLISH`ed update.
#[derive(Debug, Deserialize)]
struct Update {
    seq: u64,
    price: i64,
    leader: String,
}

impl RedisBidder {
    /// Connect bidder `me` to auction `index`.
    pub async fn connect(
        client: &redis::Client,
        index: u32,
        me: String,
    ) -> anyhow::Result<(Self, watch::Receiver<View>)> {
        let con = client
            .get_multiplexed_async_connection()
            .await
            .context("connecting to Redis")?;
        let mut pubsub = client
            .get_async_pubsub()
            .await
            .context("connecting to Redis pub/sub")?;
        pubsub
            .subscribe(channel(index))
            .await
            .context("subscribing")?;
        let (tx, views) = watch::channel(View {
            seq: 0,
            leader: None,
            min_bid: 100,
        });
        let tx = Arc::new(tx);
        let feed = Arc::clone(&tx);
        let reader = tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let Ok(payload) = message.get_payload::<String>() else {
                    continue;
                };
                if let Ok(update) = serde_json::from_str::<Update>(&payload) {
                    offer(
                        &feed,
                        View {
                            seq: update.seq,
                            leader: Some(update.leader),
                            min_bid: update.price + 1,
                        },
                    );
                }
            }
        });
        Ok((
            Self {
                con,
                script: Arc::new(redis::Script::new(BID_SCRIPT)),
                key: auction_key(index),
                channel: channel(index),
                me,
                views: tx,
                reader,
            },
            views,
        ))
    }
}

impl Transport for RedisBidder {
    async fn place(&mut self, amount: i64) -> anyhow::Result<Answer> {
        let (status, seq, min_next, leader): (i64, u64, i64, String) = self
            .script
            .key(&self.key)
            .key(&self.channel)
            .arg(amount)
            .arg(&self.me)
            .invoke_async(&mut self.con)
            .await
            .context("EVALSHA")?;
        let leader = (!leader.is_empty()).then_some(leader);
        match status {
            1 => {
                offer(
                    &self.views,
                    View {
                        seq,
                        leader,
                        min_bid: min_next,
                    },
                );
                Ok(Answer::Accepted {
                    min_bid: Some(min_next),
                })
            }
            0 => {
                offer(
                    &self.views,
                    View {
                        seq,
                        leader,
                        min_bid: min_next,
                    },
                );
                Ok(Answer::Rejected {
                    code: "bid_too_low".into(),
                    min_bid: Some(min_next),
                })
            }
            _ => Ok(Answer::Rejected {
                code: "auction_closed".into(),
                min_bid: None,
            }),
        }
    }
}
