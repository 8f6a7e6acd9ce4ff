//! Three server processes as one cluster (`BLYTZ_CLUSTER=on`) on the test
//! PostgreSQL and Redis: a bid at any node reaches the auction's owner and
//! every node's watchers see every event in seq order; the owner killed with
//! SIGKILL, or frozen with SIGSTOP past its lease, loses nothing that was
//! acknowledged. Needs `TEST_DATABASE_URL` (PostgreSQL) and `TEST_REDIS_URL`;
//! without them each test says so and passes (the SQLite pass of the suite).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use blytz::db::{Db, ScratchDb};
use blytz_actors::domain::AuctionId;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::server_process::{Account, ServerProcess};
use crate::stripe_stub::{self, CardBehaviour};
use crate::ws_client::WsClient;

const SHARDS: u32 = 64;
const LEASE_MS: u64 = 1_500;
const ADMIN_EMAIL: &str = "root@example.com";
const ADMIN_PASSWORD: &str = "correct horse battery";

/// The nodes of one cluster on a scratch database of their own.
pub struct Cluster {
    pub nodes: Vec<Option<ServerProcess>>,
    scratch: ScratchDb,
    redis_url: String,
    admin: String,
    /// Settings every node gets on top of the cluster's own.
    extra: Vec<(String, String)>,
}

fn settings() -> Option<(String, String)> {
    let database = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let redis = std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    Some((database, redis))
}

impl Cluster {
    /// `count` nodes, once every shard is leased and each node holds some.
    pub async fn start(count: usize) -> Option<Self> {
        Self::start_with(count, &[]).await
    }

    /// The same, every node with `extra` settings too.
    pub async fn start_with(count: usize, extra: &[(&str, &str)]) -> Option<Self> {
        let Some((database, redis_url)) = settings() else {
            eprintln!(
                "cluster tests need TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL: not run"
            );
            return None;
        };
        let scratch = ScratchDb::postgres(&database).await.unwrap();
        let mut cluster = Self {
            nodes: Vec::new(),
            scratch,
            redis_url,
            admin: String::new(),
            extra: extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        for index in 0..count {
            let node = cluster.start_node(index).await;
            cluster.nodes.push(Some(node));
        }
        cluster.admin = cluster.admin_token().await;
        cluster.wait_balanced(count).await;
        Some(cluster)
    }

    pub async fn start_node(&self, index: usize) -> ServerProcess {
        let node_id = format!("node-{index}");
        let lease = LEASE_MS.to_string();
        let mut env = vec![
            ("BLYTZ_CLUSTER", "on"),
            ("BLYTZ_NODE_ID", node_id.as_str()),
            ("REDIS_URL", self.redis_url.as_str()),
            ("BLYTZ_LEASE_MS", lease.as_str()),
            ("BLYTZ_LEASE_RENEW_MS", "250"),
            ("BLYTZ_OUTBOX_POLL_MS", "100"),
        ];
        env.extend(self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        ServerProcess::start_on(tempfile::tempdir().unwrap(), None, &self.scratch.url, &env).await
    }

    pub fn node(&self, index: usize) -> &ServerProcess {
        self.nodes[index].as_ref().expect("the node runs")
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        match &self.scratch.db {
            Db::Postgres(pool) => pool,
            Db::Sqlite(_) => unreachable!("cluster tests run on PostgreSQL"),
        }
    }

    /// An admin, made with the binary's own command, then signed in.
    async fn admin_token(&self) -> String {
        let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_blytz"))
            .args(["admin", "create", "--email", ADMIN_EMAIL])
            .env("BLYTZ_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("DATABASE_URL", &self.scratch.url)
            .env("JWT_SECRET", crate::helpers::JWT_SECRET)
            .env("BLYTZ_DATA_DIR", tempfile::tempdir().unwrap().path())
            .status()
            .await
            .unwrap();
        assert!(status.success());
        let res = self
            .node(0)
            .post(
                "/api/v1/auth/login",
                &json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// The view of the cluster of the first running node that answers in
    /// time (a frozen one does not).
    async fn status(&self) -> Value {
        for node in self.nodes.iter().flatten() {
            let answer = node
                .client
                .get(node.url("/api/v1/cluster"))
                .bearer_auth(&self.admin)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if let Ok(res) = answer {
                assert_eq!(res.status(), StatusCode::OK);
                return res.json().await.unwrap();
            }
        }
        panic!("no node answered");
    }

    /// Waits until `count` nodes are live and share every shard.
    pub async fn wait_balanced(&self, count: usize) {
        let started = Instant::now();
        loop {
            let status = self.status().await;
            let nodes = status["nodes"].as_array().unwrap();
            let live: Vec<&Value> = nodes.iter().filter(|n| n["live"] == true).collect();
            let leased: i64 = live.iter().map(|n| n["shards"].as_i64().unwrap()).sum();
            if live.len() == count
                && leased == i64::from(SHARDS)
                && live.iter().all(|n| n["shards"].as_i64().unwrap() > 0)
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the cluster never balanced: {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A live auction of a new seller, made through node 0 (which then
    /// serves it), of `duration_ms`.
    pub async fn live_auction(&self, duration_ms: u64) -> String {
        let seller = self.node(0).register("seller@example.com", "seller").await;
        self.node(0).live_auction(&seller, duration_ms).await
    }

    /// A live auction of `duration_ms` and the index of the node that owns it.
    pub async fn owned_auction(&self, duration_ms: u64) -> (String, usize) {
        let auction = self.live_auction(duration_ms).await;
        let owner = self.owner_of(&auction).await;
        (auction, owner)
    }

    /// The index of the node that holds `auction`'s shard now.
    pub async fn owner_of(&self, auction: &str) -> usize {
        let id = AuctionId::from(auction.parse::<Uuid>().unwrap());
        let shard = blytz::cluster::shard_of(id, SHARDS);
        let status = self.status().await;
        let lease = &status["leases"][shard as usize];
        let node = lease["node_id"].as_str().expect("the shard is leased");
        node.trim_start_matches("node-").parse().unwrap()
    }

    /// Waits until another node than `from` holds `auction`'s shard.
    async fn wait_taken_over(&self, auction: &str, from: usize) -> usize {
        let started = Instant::now();
        loop {
            let owner = self.owner_of(auction).await;
            if owner != from {
                return owner;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no node took the shard over"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Sends `sig` (`-STOP`, `-CONT`, ...) to `node`'s process.
fn signal(node: &ServerProcess, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &node.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The nodes of three other than `node`.
fn others_than(node: usize) -> Vec<usize> {
    (0..3).filter(|n| *n != node).collect()
}

/// A buyer registered through `node`.
pub async fn buyer(node: &ServerProcess, name: &str) -> Account {
    node.register(&format!("{name}@example.com"), "buyer").await
}

/// A bid through `node`'s REST API: the answer's status and body.
async fn bid(
    node: &ServerProcess,
    who: &Account,
    auction: &str,
    amount: i64,
    request_id: &str,
) -> (StatusCode, Value) {
    let res = node
        .post(
            &format!("/api/v1/auctions/{auction}/bids"),
            &json!({"amount": amount, "request_id": request_id}),
            Some(&who.token),
        )
        .await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The auction as `node` answers it.
pub async fn view(node: &ServerProcess, auction: &str) -> (StatusCode, Value) {
    let res = node.get(&format!("/api/v1/auctions/{auction}"), None).await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A watcher subscribed to `auction`'s room on `node`, and the seq of its
/// snapshot.
async fn watch(node: &ServerProcess, auction: &str) -> (WsClient, u64) {
    let mut client = WsClient::connect_to(&node.url(""), None).await;
    let reply = client.subscribe(&format!("auction:{auction}")).await;
    let seq = reply["snapshot"]["seq"].as_u64().unwrap();
    (client, seq)
}

/// Reads `watcher`'s auction frames until `last` and checks their seqs are
/// gapless after `from`; a snapshot frame heals a gap. Answers how many
/// `auction.bid` frames it saw.
async fn read_until(watcher: &mut WsClient, mut from: u64, last: u64) -> usize {
    let mut bids = 0;
    while from < last {
        let frame = watcher.recv().await;
        let Some(seq) = frame["seq"].as_u64() else {
            continue;
        };
        if frame["type"] == "auction.snapshot" {
            from = from.max(seq);
            continue;
        }
        assert_eq!(seq, from + 1, "a gap or a duplicate: {frame}");
        from = seq;
        if frame["type"] == "auction.bid" {
            bids += 1;
        }
    }
    bids
}

#[tokio::test]
async fn a_bid_at_a_node_that_does_not_own_the_auction_is_accepted_and_every_node_sees_every_event()
{
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let (auction, owner) = cluster.owned_auction(60_000).await;
    let buyers = [
        buyer(cluster.node(0), "ann").await,
        buyer(cluster.node(1), "bob").await,
    ];
    let mut watchers = Vec::new();
    for index in 0..3 {
        watchers.push(watch(cluster.node(index), &auction).await);
    }
    // Six bids, taking turns over the buyers and every node, the owner's
    // and the two that forward.
    let mut amount = 1_000;
    let mut last_seq = 0;
    let mut second = 0;
    for turn in 0..6_usize {
        if turn == 1 {
            second = amount;
        }
        let node = cluster.node(turn % 3);
        let (status, body) = bid(
            node,
            &buyers[turn % 2],
            &auction,
            amount,
            &format!("turn-{turn}"),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "turn {turn} at node {}: {body}",
            turn % 3
        );
        assert_eq!(body["bid"]["amount"], amount);
        last_seq = body["auction"]["seq"].as_u64().unwrap();
        amount = body["auction"]["min_next_bid"].as_i64().unwrap();
    }
    let forwarded = (0..6).filter(|turn| turn % 3 != owner).count();
    assert!(
        forwarded >= 4,
        "most bids went to a node that forwards them"
    );
    for (index, (watcher, from)) in watchers.iter_mut().enumerate() {
        let seen = tokio::time::timeout(
            Duration::from_secs(10),
            read_until(watcher, *from, last_seq),
        )
        .await
        .unwrap_or_else(|_| panic!("node {index}'s watcher did not see every event"));
        assert_eq!(seen, 6, "node {index}'s watcher saw every bid");
    }
    // The same retry of a forwarded bid answers the first outcome again.
    let node = (owner + 1) % 3;
    let (status, again) = bid(cluster.node(node), &buyers[1], &auction, second, "turn-1").await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["bid"]["amount"], second);
    // Counted in the journal, the record (the `bids` read model follows it).
    let events: (i64,) = sqlx::query_as(
        "SELECT count(*) FROM auction_events WHERE auction_id = $1 AND kind = 'bid_placed'",
    )
    .bind(auction.parse::<Uuid>().unwrap())
    .fetch_one(cluster.pool())
    .await
    .unwrap();
    assert_eq!(events.0, 6, "the retry added no bid");
}

/// Whether every bid in `acked` is in `auction`'s journal (placed, or a
/// leader's raise of their maximum, which the bid list does not show).
pub async fn journal_holds(cluster: &Cluster, auction: &str, acked: &Acked) -> bool {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT payload::text FROM auction_events WHERE auction_id = $1")
            .bind(auction.parse::<Uuid>().unwrap())
            .fetch_all(cluster.pool())
            .await
            .unwrap();
    acked
        .ids
        .iter()
        .all(|id| rows.iter().any(|(payload,)| payload.contains(id.as_str())))
}

/// `auction`'s journal seqs, in order, checked to have no gap.
pub async fn gapless_journal(cluster: &Cluster, auction: &str) -> Vec<i64> {
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT seq FROM auction_events WHERE auction_id = $1 ORDER BY seq")
            .bind(auction.parse::<Uuid>().unwrap())
            .fetch_all(cluster.pool())
            .await
            .unwrap();
    let seqs: Vec<i64> = rows.into_iter().map(|(seq,)| seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "the journal is gapless"
    );
    seqs
}

/// Acknowledged bids, as their answers said.
#[derive(Default)]
pub struct Acked {
    pub ids: HashSet<String>,
    pub last: Option<Value>,
}

impl Acked {
    pub fn record(&mut self, body: &Value) {
        self.ids
            .insert(body["bid"]["id"].as_str().unwrap().to_owned());
        let newer = self
            .last
            .as_ref()
            .is_none_or(|last| last["seq"].as_u64() < body["auction"]["seq"].as_u64());
        if newer {
            self.last = Some(body["auction"].clone());
        }
    }
}

/// Bids by `buyers` through `nodes` in turn for `duration`; each bids the
/// minimum next bid and retries a refused one with the minimum it was told.
async fn bid_for(
    cluster: &Cluster,
    nodes: &[usize],
    buyers: &[Account],
    auction: &str,
    duration: Duration,
    acked: &mut Acked,
) {
    let started = Instant::now();
    // A refused bid says the minimum; 1 is below any.
    let mut amount = view(cluster.node(nodes[0]), auction).await.1["min_next_bid"]
        .as_i64()
        .unwrap_or(1);
    let mut turn = 0_usize;
    while started.elapsed() < duration {
        let node = cluster.node(nodes[turn % nodes.len()]);
        let who = &buyers[turn % buyers.len()];
        let request_id = format!("r{turn}-{}", Uuid::now_v7().simple());
        let (status, body) = bid(node, who, auction, amount, &request_id).await;
        if status == StatusCode::CREATED {
            acked.record(&body);
            amount = body["auction"]["min_next_bid"].as_i64().unwrap();
        } else if let Some(min) = body["error"]["details"]["min_bid"].as_i64() {
            amount = min;
        }
        turn += 1;
    }
}

#[tokio::test]
async fn the_owner_killed_mid_bidding_loses_no_acknowledged_bid_and_the_auction_ends_on_time() {
    let Some(mut cluster) = Cluster::start(3).await else {
        return;
    };
    let (auction, owner) = cluster.owned_auction(12_000).await;
    let survivors = others_than(owner);
    let buyers = [
        buyer(cluster.node(0), "ann").await,
        buyer(cluster.node(1), "bob").await,
        buyer(cluster.node(2), "cid").await,
    ];
    let (mut watcher, from) = watch(cluster.node(survivors[0]), &auction).await;
    let mut acked = Acked::default();
    bid_for(
        &cluster,
        &[0, 1, 2],
        &buyers,
        &auction,
        Duration::from_millis(1_500),
        &mut acked,
    )
    .await;
    assert!(
        acked.ids.len() >= 3,
        "bids were acknowledged before the kill"
    );
    let before = acked.last.clone().unwrap();

    let mut killed = cluster.nodes[owner].take().unwrap();
    let kill_at = Instant::now();
    killed.child.kill().await.unwrap();
    // The first answer after the kill comes from the new owner.
    let (status, after) = view(cluster.node(survivors[0]), &auction).await;
    assert_eq!(status, StatusCode::OK, "{after}");
    for field in ["current_price", "leader_id", "ends_at", "seq", "bid_count"] {
        assert_eq!(after[field], before[field], "{field} after the takeover");
    }
    let accepted_before = acked.ids.len();
    while acked.ids.len() == accepted_before {
        assert!(
            kill_at.elapsed() < Duration::from_secs(20),
            "no bid was accepted after the kill"
        );
        bid_for(
            &cluster,
            &survivors,
            &buyers,
            &auction,
            Duration::from_millis(50),
            &mut acked,
        )
        .await;
    }
    let takeover = kill_at.elapsed();
    println!(
        "takeover after kill -9: the auction answered a bid again {takeover:?} after the kill"
    );
    let new_owner = cluster.wait_taken_over(&auction, owner).await;
    assert_ne!(new_owner, owner);

    // Every acknowledged bid is in the journal.
    assert!(
        journal_holds(&cluster, &auction, &acked).await,
        "an acknowledged bid is missing from the journal"
    );

    // The auction ends at its journaled deadline, once, with one order.
    let ends_at: chrono::DateTime<chrono::Utc> = view(cluster.node(survivors[0]), &auction).await.1
        ["ends_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let wait = (ends_at - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(1_500)).await;
    let (_, ended) = view(cluster.node(survivors[1]), &auction).await;
    assert_eq!(ended["status"], "ended", "{ended}");
    let (ended_at,): (chrono::DateTime<chrono::Utc>,) =
        sqlx::query_as("SELECT at FROM auction_events WHERE auction_id = $1 AND kind = 'ended'")
            .bind(auction.parse::<Uuid>().unwrap())
            .fetch_one(cluster.pool())
            .await
            .unwrap();
    let late = ended_at - ends_at;
    println!("ended {} ms after its deadline", late.num_milliseconds());
    assert!(
        late >= chrono::Duration::zero() && late < chrono::Duration::milliseconds(1_000),
        "ended {late} after the deadline"
    );
    let orders: Vec<(Uuid,)> = sqlx::query_as("SELECT buyer_id FROM orders WHERE auction_id = $1")
        .bind(auction.parse::<Uuid>().unwrap())
        .fetch_all(cluster.pool())
        .await
        .unwrap();
    let started = Instant::now();
    let mut orders = orders;
    while orders.is_empty() && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        orders = sqlx::query_as("SELECT buyer_id FROM orders WHERE auction_id = $1")
            .bind(auction.parse::<Uuid>().unwrap())
            .fetch_all(cluster.pool())
            .await
            .unwrap();
    }
    assert_eq!(orders.len(), 1, "exactly one order");
    assert_eq!(
        Some(orders[0].0.to_string()),
        ended["leader_id"].as_str().map(str::to_owned)
    );
    // The watcher on a surviving node saw every event in order.
    let last = ended["seq"].as_u64().unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        read_until(&mut watcher, from, last),
    )
    .await
    .expect("the watcher saw every event");
}

/// The frozen owner's late bid: above any price the others reach.
const LATE_AMOUNT: i64 = 1_000_000_000_000;

#[tokio::test]
async fn an_owner_frozen_past_its_lease_commits_nothing_once_it_wakes() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let (auction, owner) = cluster.owned_auction(60_000).await;
    let survivors = others_than(owner);
    let buyers = [
        buyer(cluster.node(survivors[0]), "ann").await,
        buyer(cluster.node(survivors[1]), "bob").await,
    ];
    // Bids once, while the owner is frozen: a new bid, never a leader's raise.
    let latecomer = buyer(cluster.node(survivors[0]), "cid").await;
    let (mut watcher, from) = watch(cluster.node(survivors[0]), &auction).await;
    let mut acked = Acked::default();
    bid_for(
        &cluster,
        &[0, 1, 2],
        &buyers,
        &auction,
        Duration::from_millis(500),
        &mut acked,
    )
    .await;

    let frozen = cluster.node(owner);
    signal(frozen, "-STOP");
    let new_owner = cluster.wait_taken_over(&auction, owner).await;
    // A bid sent to the frozen node waits in its socket until it wakes. Its
    // amount is far above what the others can reach meanwhile: at full
    // speed they raised the price past 1,000,000 within a second.
    let late_bid = {
        let url = frozen.url(&format!("/api/v1/auctions/{auction}/bids"));
        let client = frozen.client.clone();
        let token = latecomer.token.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"amount": LATE_AMOUNT, "request_id": "while-frozen"}))
                .send()
                .await
                .unwrap()
        })
    };
    bid_for(
        &cluster,
        &survivors,
        &buyers,
        &auction,
        Duration::from_millis(500),
        &mut acked,
    )
    .await;
    signal(frozen, "-CONT");
    // Woken, it serves nothing of the shard it lost: the late bid reaches
    // the new owner, and nothing it held reaches the journal.
    let answer = late_bid.await.unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
    let late: Value = answer.json().await.unwrap();
    assert_eq!(late["bid"]["amount"], LATE_AMOUNT, "{late}");
    acked.record(&late);
    bid_for(
        &cluster,
        &[owner],
        &buyers,
        &auction,
        Duration::from_millis(300),
        &mut acked,
    )
    .await;
    let seqs = gapless_journal(&cluster, &auction).await;
    assert!(
        journal_holds(&cluster, &auction, &acked).await,
        "an acknowledged bid is missing from the journal"
    );
    let (_, now) = view(cluster.node(new_owner), &auction).await;
    let last = now["seq"].as_u64().unwrap();
    assert_eq!(last, *seqs.last().unwrap() as u64);
    tokio::time::timeout(
        Duration::from_secs(10),
        read_until(&mut watcher, from, last),
    )
    .await
    .expect("the watcher saw every event once, in order");
    assert!(
        frozen.log_text().contains("lost the lease") || frozen.log_text().contains("shard moved"),
        "the woken node says it lost the shard"
    );
}

#[tokio::test]
async fn a_bidder_spreading_bids_over_the_nodes_gets_the_rate_of_one_node() {
    let Some(cluster) = Cluster::start_with(3, &[("BLYTZ_BID_RATE_PER_SEC", "3")]).await else {
        return;
    };
    let auction = cluster.live_auction(60_000).await;
    let eager = buyer(cluster.node(0), "eager").await;
    // Twelve bids at once, four through each node: each node alone would
    // let its four through (a burst of three, and a fourth a third of a
    // second later at most); counted across nodes, three pass.
    let ids: Vec<String> = (0..12).map(|turn| format!("eager-{turn}")).collect();
    let sent = ids.iter().enumerate().map(|(turn, id)| {
        bid(
            cluster.node(turn % 3),
            &eager,
            &auction,
            1_000 + 100 * turn as i64,
            id,
        )
    });
    let answers = futures_util::future::join_all(sent).await;
    let limited = answers
        .iter()
        .filter(|(status, body)| {
            *status == StatusCode::TOO_MANY_REQUESTS && body["error"]["code"] == "rate_limited"
        })
        .count();
    assert!(
        limited >= 8,
        "only {limited} of 12 were limited: {answers:?}"
    );
}

#[tokio::test]
async fn a_chatter_spreading_messages_over_the_nodes_gets_the_rate_of_one_node() {
    let Some(cluster) = Cluster::start_with(
        3,
        &[("BLYTZ_CHAT_RATE_PER_SEC", "1"), ("BLYTZ_CHAT_BURST", "3")],
    )
    .await
    else {
        return;
    };
    let auction = cluster.live_auction(60_000).await;
    let room = format!("auction:{auction}");
    let chatty = buyer(cluster.node(0), "chatty").await;
    let mut writers = Vec::new();
    for node in 0..3 {
        let mut writer =
            WsClient::connect_to(&cluster.node(node).url(""), Some(&chatty.token)).await;
        writer.subscribe(&room).await;
        writers.push(writer);
    }
    // Nine messages within a second, three through each node: each node's
    // room alone would take its three (a burst of three); counted across
    // the nodes, three pass, and a fourth only if a second went by.
    let mut seen = Vec::new();
    let mut answers = Vec::new();
    for turn in 0..9 {
        let said = writers[turn % 3]
            .request(
                json!({"type": "chat", "room": room, "text": format!("message {turn}")}),
                &mut seen,
            )
            .await;
        answers.push(said);
    }
    let accepted = answers
        .iter()
        .filter(|said| said["type"] == "chat.accepted")
        .count();
    let limited: Vec<&Value> = answers
        .iter()
        .filter(|said| said["type"] == "error" && said["code"] == "rate_limited")
        .collect();
    assert!(
        (3..=4).contains(&accepted) && accepted + limited.len() == 9,
        "{accepted} of 9 accepted: {answers:?}"
    );
    assert!(
        limited
            .iter()
            .all(|said| said["details"]["reason"] == "rate"
                && said["details"]["retry_after_ms"].as_u64().is_some()),
        "{limited:?}"
    );
}

#[tokio::test]
async fn presence_counts_the_watchers_of_every_node() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let auction = cluster.live_auction(60_000).await;
    let mut watchers = Vec::new();
    for node in [0, 0, 1, 1, 1, 2] {
        watchers.push(watch(cluster.node(node), &auction).await.0);
    }
    hear_connections(&mut watchers, 6).await;
    // One leaves node 1: everyone hears five.
    drop(watchers.remove(3));
    hear_connections(&mut watchers, 5).await;
}

/// Waits until every watcher is told the room has `count` connections.
async fn hear_connections(watchers: &mut [WsClient], count: u64) {
    for (index, watcher) in watchers.iter_mut().enumerate() {
        let counted = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let frame = watcher.recv().await;
                if frame["type"] == "presence" && frame["connections"] == count {
                    return;
                }
            }
        })
        .await;
        assert!(
            counted.is_ok(),
            "watcher {index} never heard of {count} connections"
        );
    }
}

/// A card removed at one node stops the buyer's next bid at another node
/// that had read the card for an earlier bid: the removing node announces
/// the change in the buyer's room, and the other forgets what it read,
/// well before the 5 s it would otherwise keep it.
#[actix_web::test]
async fn a_card_removed_at_one_node_stops_the_next_bid_at_another() {
    let stripe = stripe_stub::spawn();
    let Some(cluster) = Cluster::start_with(
        2,
        &[
            ("STRIPE_SECRET_KEY", stripe_stub::SECRET_KEY),
            ("STRIPE_WEBHOOK_SECRET", stripe_stub::WEBHOOK_SECRET),
            ("STRIPE_API_BASE", stripe.base.as_str()),
            ("BLYTZ_REQUIRE_CARD_TO_BID", "true"),
        ],
    )
    .await
    else {
        return;
    };
    let auction = cluster.live_auction(60_000).await;
    let buyer = cluster.node(0).register("buyer@example.com", "buyer").await;
    let token = Some(buyer.token.as_str());

    // The card, saved at node 0.
    let res = cluster
        .node(0)
        .post("/api/v1/payments/methods/setup", &json!({}), token)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let setup: Value = res.json().await.unwrap();
    let intent = setup["setup_intent_id"].as_str().unwrap();
    stripe.complete_setup(intent, "visa", "4242", 12, 2040, CardBehaviour::Succeeds);
    let res = cluster
        .node(0)
        .post(
            "/api/v1/payments/methods/confirm",
            &json!({"setup_intent_id": intent}),
            token,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let card: Value = res.json().await.unwrap();

    // Node 1 reads it for the buyer's first bid there, and keeps the answer.
    let (status, body) = bid(cluster.node(1), &buyer, &auction, 1_000, "with-card").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let res = cluster
        .node(0)
        .delete(
            &format!("/api/v1/payments/methods/{}", card["id"].as_str().unwrap()),
            token,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let removed = Instant::now();
    let mut amount = 2_000;
    loop {
        let (status, body) = bid(
            cluster.node(1),
            &buyer,
            &auction,
            amount,
            &format!("at-{amount}"),
        )
        .await;
        if status == StatusCode::PAYMENT_REQUIRED {
            assert_eq!(body["error"]["code"], "payment_method_required", "{body}");
            break;
        }
        assert!(
            removed.elapsed() < Duration::from_secs(2),
            "node 1 still takes bids on the removed card: {status} {body}"
        );
        amount += 1_000;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_mute_at_one_node_holds_at_every_node() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let seller = cluster
        .node(0)
        .register("seller@example.com", "seller")
        .await;
    let auction = cluster.node(0).live_auction(&seller, 60_000).await;
    let res = cluster
        .node(1)
        .post(
            "/api/v1/auth/register",
            &json!({"email": "chatty@example.com", "password": "correct horse battery",
                    "display_name": "Chatty", "role": "buyer"}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let chatty: Value = res.json().await.unwrap();
    let room = format!("auction:{auction}");
    let token = chatty["access_token"].as_str().unwrap();
    let mut writer = WsClient::connect_to(&cluster.node(1).url(""), Some(token)).await;
    writer.subscribe(&room).await;
    let mut seen = Vec::new();
    let said = writer
        .request(
            json!({"type": "chat", "room": room, "text": "first!"}),
            &mut seen,
        )
        .await;
    assert_eq!(said["type"], "chat.accepted", "{said}");

    let mut moderator = WsClient::connect_to(&cluster.node(0).url(""), Some(&seller.token)).await;
    moderator.subscribe(&room).await;
    let muted = moderator
        .request(
            json!({"type": "moderate", "room": room, "action": "mute", "user_id": chatty["user"]["id"]}),
            &mut seen,
        )
        .await;
    assert_eq!(muted["type"], "moderated", "{muted}");
    // Node 1's room had read the restrictions before the mute; it hears of
    // the change and reads them again.
    let started = Instant::now();
    loop {
        let said = writer
            .request(
                json!({"type": "chat", "room": room, "text": "still here"}),
                &mut seen,
            )
            .await;
        if said["type"] == "error" && said["code"] == "muted" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "node 1 never heard of the mute: {said}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_owner_frozen_while_bidders_keep_it_busy_is_taken_over_and_loses_nothing() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let (auction, owner) = cluster.owned_auction(60_000).await;
    let survivor = (owner + 1) % 3;
    let mut buyers = Vec::new();
    for name in ["ann", "bob", "cid", "dan"] {
        buyers.push(buyer(cluster.node(owner), name).await);
    }
    let frozen = cluster.node(owner);
    // Four bidders keep the owner busy when it freezes: their bids in
    // flight are answered by the new owner once it wakes, or refused.
    let mut acked: Vec<Acked> = (0..4).map(|_| Acked::default()).collect();
    let at_owner = [owner];
    let bidding = futures_util::future::join_all(acked.iter_mut().enumerate().map(|(n, acked)| {
        bid_for(
            &cluster,
            &at_owner,
            &buyers[n..=n],
            &auction,
            Duration::from_millis(600),
            acked,
        )
    }));
    let freeze = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        signal(frozen, "-STOP");
        let frozen_at = Instant::now();
        let new_owner = tokio::time::timeout(
            Duration::from_secs(10),
            cluster.wait_taken_over(&auction, owner),
        )
        .await
        .expect("the shard is taken over while its owner is frozen");
        println!(
            "frozen owner's shard taken over after {:?}",
            frozen_at.elapsed()
        );
        let mut more = Acked::default();
        bid_for(
            &cluster,
            &[survivor],
            &buyers[..1],
            &auction,
            Duration::from_millis(300),
            &mut more,
        )
        .await;
        signal(frozen, "-CONT");
        (new_owner, more)
    };
    let (_, (new_owner, more)) = futures_util::join!(bidding, freeze);
    assert_ne!(new_owner, owner);
    let mut all = Acked::default();
    for acked in acked.into_iter().chain([more]) {
        all.ids.extend(acked.ids);
    }
    assert!(
        journal_holds(&cluster, &auction, &all).await,
        "an acknowledged bid is missing from the journal"
    );
    gapless_journal(&cluster, &auction).await;
}
