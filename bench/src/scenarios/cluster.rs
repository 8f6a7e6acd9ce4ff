//! `cluster`: the `bids --auctions` bidders on an N-node cluster, spread
//! over the nodes, then the same on one node; the latency a forwarded bid
//! adds; how long an auction goes without an accepted bid once its owner
//! is killed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::bids::{self, AUCTION_LIFETIME, Stage};
use crate::bidding::{self, Answer, View};
use crate::cli::ClusterArgs;
use crate::client::{Api, User};
use crate::cluster::{self, Cluster, node_id};
use crate::procfs::{Usage, Watch};
use crate::report::{self, BidRun, Latency};

/// REST bids to each node before the measured ones (connections, caches).
const FORWARD_WARMUP: u32 = 10;
/// Bidders on the auction whose owner is killed (besides the probe).
const TAKEOVER_BIDDERS: u32 = 4;
/// How long they bid before the kill.
const BEFORE_KILL: Duration = Duration::from_secs(1);
/// The probe gives up when no bid is accepted this long after the kill.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// The probe's pause after an answer that is not about the amount.
const PROBE_PAUSE: Duration = Duration::from_millis(10);

/// Run the scenario, print and write its report.
pub async fn run(args: ClusterArgs) -> anyhow::Result<()> {
    let (Some(database_url), Some(redis_url)) = (&args.database_url, &args.redis_url) else {
        bail!(
            "cluster mode needs PostgreSQL and Redis: pass --database-url postgres://... \
             (a server the bench makes a fresh database on, e.g. \
             postgres://postgres@127.0.0.1:5432/postgres) and --redis-url redis://... \
             (e.g. redis://127.0.0.1:6379), or set BENCH_DATABASE_URL and BENCH_REDIS_URL"
        );
    };
    if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
        bail!("--database-url must be postgres://...: the nodes of a cluster share one PostgreSQL");
    }
    bids::check_bidders(args.vus, args.auctions)?;
    let settings = cluster::Settings {
        database_url: database_url.clone(),
        redis_url: redis_url.clone(),
        workers: args.workers,
        lease_ms: args.lease_ms,
        lease_renew_ms: args.lease_renew_ms,
    };
    let nodes = usize::try_from(args.nodes).context("--nodes")?;

    let mut many = Cluster::start(&settings, nodes).await?;
    let shards = many.shards;
    let measured = on_many_nodes(&mut many, &args).await;
    many.close().await?;
    let (many, forwarding, takeover) = measured?;

    let one = Cluster::start(&settings, 1).await?;
    let measured = bidding_run(&one, &args).await;
    one.close().await?;
    let (one, _, _) = measured?;

    println!();
    many.print();
    one.print();
    let ratios = report::ratios(&many.run, &one.run);
    let ratio = |key: &str| ratios[key].as_f64().unwrap_or(f64::NAN);
    println!(
        "{} nodes / 1 node: durable bids/s x{:.2} ({:.0} / {:.0}), accepted p50 x{:.2}, p99 x{:.2}",
        args.nodes,
        ratio("throughput_ratio"),
        many.run.throughput_per_s,
        one.run.throughput_per_s,
        ratio("p50_ratio"),
        ratio("p99_ratio"),
    );
    forwarding.print();
    takeover.print(&args);

    if let Some(path) = &args.json {
        let mut json = serde_json::to_value(&many.run).context("serializing the report")?;
        let mut single = serde_json::to_value(&one.run).context("serializing the report")?;
        report::merge(&mut single, json!({"node_usage": one.per_node}));
        report::merge(
            &mut json,
            json!({
                "scenario": "cluster",
                "backend": "postgres",
                "machine": crate::procfs::machine(),
                "nodes": args.nodes,
                "shards": shards,
                "lease_ms": args.lease_ms,
                "lease_renew_ms": args.lease_renew_ms,
                "node_usage": many.per_node,
                "bidders_at_owner": many.at_owner,
                "single_node": single,
                "vs_single_node": ratios,
                "forwarding": forwarding.json(),
                "takeover": takeover.json()?,
            }),
        );
        report::write_json(path, &json)?;
    }
    if let Some(path) = &args.svg {
        let series = vec![
            (many.run.label.clone(), &many.run.histogram),
            (one.run.label.clone(), &one.run.histogram),
            (
                format!("REST bid to the owner ({})", forwarding.owner),
                &forwarding.direct,
            ),
            (
                format!("REST bid forwarded by {}", forwarding.via),
                &forwarding.forwarded,
            ),
        ];
        let title = format!(
            "cluster: {} VUs, {} auction(s), {} nodes and 1, send to durable ack",
            args.vus, args.auctions, args.nodes
        );
        crate::plot::write_svg(path, &title, &series)?;
    }
    Ok(())
}

/// On the N-node cluster: the bidding run, forwarded bids, the takeover
/// (last: it kills a node).
async fn on_many_nodes(
    cluster: &mut Cluster,
    args: &ClusterArgs,
) -> anyhow::Result<(ClusterRun, Forwarding, Takeover)> {
    let (run, api, stage) = bidding_run(cluster, args).await?;
    let forwarding = forwarding(cluster, &api, &stage.seller, args.forward_bids).await?;
    let takeover = takeover(cluster, &api, &stage.seller, args.lease_ms).await?;
    Ok((run, forwarding, takeover))
}

/// One bid run on a cluster, and each node's use of the machine.
#[derive(Debug)]
struct ClusterRun {
    run: BidRun,
    per_node: Vec<NodeUsage>,
    /// Bidders whose WebSocket is on their auction's owner (the others'
    /// bids are forwarded).
    at_owner: usize,
}

/// A node's share of a bid run and its CPU and peak memory during it.
#[derive(Debug, Serialize)]
struct NodeUsage {
    node_id: String,
    /// The run's auctions this node owned when the bidding started.
    auctions_owned: usize,
    #[serde(flatten)]
    usage: Usage,
}

impl ClusterRun {
    fn print(&self) {
        self.run.print();
        println!(
            "  bidders on their auction's owner: {} of {} (the others' bids are forwarded)",
            self.at_owner, self.run.vus
        );
        for node in &self.per_node {
            let cpu = node
                .usage
                .cpu_s
                .map_or_else(|| "?".to_owned(), |s| format!("{s:.2} s"));
            let peak = node.usage.peak_rss_bytes.map_or_else(
                || "?".to_owned(),
                |b| format!("{:.1} MiB", b as f64 / 1_048_576.0),
            );
            println!(
                "  {}: owner of {} auction(s), CPU {cpu}, peak resident memory {peak}",
                node.node_id, node.auctions_owned
            );
        }
    }
}

/// The `bids --auctions` harness, unchanged, with bidder `i` signed up
/// through node `i % N` and its WebSocket (its room subscription too) on
/// that node. CPU is summed over the nodes; memory is per node. Answers
/// the run, a client of the first node and the stage.
async fn bidding_run(
    cluster: &Cluster,
    args: &ClusterArgs,
) -> anyhow::Result<(ClusterRun, Api, Stage)> {
    let nodes = &cluster.nodes;
    let apis = nodes
        .iter()
        .map(Api::new)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let stage = bids::stage(&apis, args.vus, args.auctions).await?;
    let owners = cluster.owners(&stage.auctions).await?;
    eprintln!(
        "{} bidders on {} live auction(s) over WebSocket, bidder i on node i % {}",
        args.vus,
        stage.auctions.len(),
        nodes.len()
    );
    let watches: Vec<Watch> = nodes.iter().map(|node| Watch::start(node.pid)).collect();
    let result = async {
        let vus = bids::ws_bidders(&stage.buyers, &stage.auctions, |i, user| {
            nodes[i % nodes.len()].ws_url(Some(&user.token))
        })
        .await?;
        let label = format!("{} node(s)", nodes.len());
        bids::drive(&label, vus, args.duration).await
    }
    .await;
    let usages: Vec<Usage> = watches.into_iter().map(Watch::finish).collect();
    let (tally, elapsed) = result?;
    let total = Usage {
        cpu_s: usages.iter().map(|usage| usage.cpu_s).sum(),
        // Per node, below.
        peak_rss_bytes: None,
        // One load generator, watched by every node's watch over the same run.
        load_generator_cpu_s: usages.first().and_then(|usage| usage.load_generator_cpu_s),
    };
    let label = match nodes.len() {
        1 => "blytz (ws, postgres, cluster of 1 node)".to_owned(),
        n => format!("blytz (ws, postgres, cluster of {n} nodes)"),
    };
    let run = BidRun::new(
        &label,
        args.vus,
        args.auctions,
        elapsed.as_secs_f64(),
        tally,
    )
    .with_usage(total);
    let per_node = usages
        .into_iter()
        .enumerate()
        .map(|(index, usage)| NodeUsage {
            node_id: node_id(index),
            auctions_owned: owners.iter().filter(|owner| **owner == index).count(),
            usage,
        })
        .collect();
    let at_owner = (0..stage.buyers.len())
        .filter(|i| owners[i % owners.len()] == i % nodes.len())
        .count();
    let api = apis.into_iter().next().context("a cluster of no nodes")?;
    Ok((
        ClusterRun {
            run,
            per_node,
            at_owner,
        },
        api,
        stage,
    ))
}

/// One REST bid through the node at `base`, with its own `request_id`.
async fn rest_bid(
    http: &reqwest::Client,
    base: &str,
    auction: &str,
    user: &User,
    amount: i64,
    request_id: &str,
) -> anyhow::Result<Answer> {
    let response = http
        .post(format!("{base}/api/v1/auctions/{auction}/bids"))
        .bearer_auth(&user.token)
        .json(&json!({"amount": amount, "request_id": request_id}))
        .send()
        .await
        .context("POST bids")?;
    let status = response.status();
    let body: Value = response.json().await.context("reading a bid answer")?;
    if status.is_success() {
        Ok(Answer::of_acceptance(&body))
    } else if body["error"].is_object() {
        Ok(Answer::of_error(&body["error"]))
    } else {
        bail!("bid answered {status}: {body}")
    }
}

/// Sequential REST bids to an auction's owner and through another node.
#[derive(Debug)]
struct Forwarding {
    owner: String,
    via: String,
    bids_each: u32,
    /// Send to answer of accepted bids sent to the owner (µs).
    direct: Histogram<u64>,
    /// The same, sent to the other node, which forwards them.
    forwarded: Histogram<u64>,
    /// Refused measured bids by code (none expected).
    rejected: BTreeMap<String, u64>,
    /// Whether the auction changed hands meanwhile (the numbers then mix).
    owner_moved: bool,
}

/// One client, two bidders taking turns (a leader's own minimum bid would
/// only raise its maximum): each bid the minimum next bid with a fresh
/// `request_id`, to the owner and to the next node alternately.
async fn forwarding(
    cluster: &Cluster,
    api: &Api,
    seller: &User,
    bids_each: u32,
) -> anyhow::Result<Forwarding> {
    let auction = api.live_auction(seller, AUCTION_LIFETIME).await?;
    let owner = cluster.owner_of(&auction).await?;
    let via = (owner + 1) % cluster.nodes.len();
    let pair = api.register_buyers("forward", 2).await?;
    eprintln!(
        "{bids_each} REST bids to the owner {} and {bids_each} through {}, alternating ...",
        node_id(owner),
        node_id(via)
    );
    let mut direct = bidding::histogram()?;
    let mut forwarded = bidding::histogram()?;
    let mut rejected = BTreeMap::new();
    // Below any minimum: the first answer says the minimum.
    let mut amount = 1;
    for turn in 0..2 * (FORWARD_WARMUP + bids_each) {
        let to_owner = turn % 2 == 0;
        let node = &cluster.nodes[if to_owner { owner } else { via }];
        let user = &pair[usize::from(!to_owner)];
        let sent = Instant::now();
        let answer = rest_bid(
            api.http(),
            &node.base,
            &auction,
            user,
            amount,
            &format!("forward-{turn}"),
        )
        .await?;
        let elapsed = bidding::micros(sent.elapsed());
        let measured = turn >= 2 * FORWARD_WARMUP;
        match answer {
            Answer::Accepted { min_bid } => {
                amount = min_bid.context("no min_next_bid in an accepted bid's answer")?;
                if measured {
                    let histogram = if to_owner {
                        &mut direct
                    } else {
                        &mut forwarded
                    };
                    histogram.saturating_record(elapsed);
                }
            }
            Answer::Rejected { code, min_bid } => {
                amount = min_bid.unwrap_or(amount);
                if measured {
                    *rejected.entry(code).or_default() += 1;
                }
            }
        }
    }
    let owner_moved = cluster.owner_of(&auction).await? != owner;
    Ok(Forwarding {
        owner: node_id(owner),
        via: node_id(via),
        bids_each,
        direct,
        forwarded,
        rejected,
        owner_moved,
    })
}

impl Forwarding {
    fn print(&self) {
        println!(
            "== forwarded bids (REST, one client, {} to each node, alternating) ==",
            self.bids_each
        );
        let direct = Latency::of(&self.direct);
        let forwarded = Latency::of(&self.forwarded);
        println!("  to the owner {:<10} {}", self.owner, direct.line());
        println!("  through {:<15} {}", self.via, forwarded.line());
        println!(
            "  added by forwarding: p50 {:+.2} ms, p99 {:+.2} ms",
            forwarded.p50 - direct.p50,
            forwarded.p99 - direct.p99
        );
        if !self.rejected.is_empty() {
            println!("  refused: {}", codes(&self.rejected));
        }
        if self.owner_moved {
            println!("  the auction changed owner during the measurement: the numbers mix both");
        }
    }

    fn json(&self) -> Value {
        let direct = Latency::of(&self.direct);
        let forwarded = Latency::of(&self.forwarded);
        json!({
            "owner": self.owner,
            "via": self.via,
            "bids_each": self.bids_each,
            "owner_ms": direct,
            "forwarded_ms": forwarded,
            "accepted": {"owner": self.direct.len(), "forwarded": self.forwarded.len()},
            "added_ms": {
                "p50": report::round3(forwarded.p50 - direct.p50),
                "p99": report::round3(forwarded.p99 - direct.p99),
            },
            "rejected_by_code": self.rejected,
            "owner_moved": self.owner_moved,
        })
    }
}

/// The owner of a busy auction killed, and a bid accepted again.
#[derive(Debug)]
struct Takeover {
    killed: String,
    via: String,
    new_owner: String,
    /// From the kill to the first accepted probe bid.
    after: Duration,
    probe_bids: u64,
    probe_refused: BTreeMap<String, u64>,
    /// The bidders on the other nodes, from before the kill to past it.
    bidders: BidRun,
}

/// Bidders on other nodes than the owner of a fresh auction bid in a closed
/// loop; after [`BEFORE_KILL`] the owner is killed with SIGKILL, and a probe
/// bids through another node until a bid is accepted.
async fn takeover(
    cluster: &mut Cluster,
    api: &Api,
    seller: &User,
    lease_ms: u64,
) -> anyhow::Result<Takeover> {
    let auction = api.live_auction(seller, AUCTION_LIFETIME).await?;
    let owner = cluster.owner_of(&auction).await?;
    let survivors: Vec<usize> = (0..cluster.nodes.len()).filter(|i| *i != owner).collect();
    let via = *survivors.first().context("no node besides the owner")?;
    let mut users = api
        .register_buyers("takeover", TAKEOVER_BIDDERS + 1)
        .await?;
    let prober = users.pop().context("no probe account")?;
    let vus = bids::ws_bidders(&users, std::slice::from_ref(&auction), |i, user| {
        cluster.nodes[survivors[i % survivors.len()]].ws_url(Some(&user.token))
    })
    .await?;
    // The probe learns the minimum from the room, as `http-bids` bidders do.
    let (views, _) = watch::channel(View::default());
    let views = Arc::new(views);
    let watcher = bidding::watch_room(
        &cluster.nodes[via].ws_url(None),
        &auction,
        Arc::clone(&views),
    )
    .await?;
    // Long enough for a lease to run out and be claimed, with room to spare.
    let window = BEFORE_KILL + Duration::from_millis(3 * lease_ms) + Duration::from_secs(2);
    eprintln!(
        "{TAKEOVER_BIDDERS} bidders on an auction of {} through the other nodes; \
         killing {} in {BEFORE_KILL:?} ...",
        node_id(owner),
        node_id(owner)
    );
    let load = tokio::spawn(bids::drive("takeover", vus, window));
    tokio::time::sleep(BEFORE_KILL).await;
    let probed = match cluster.kill(owner).await {
        Ok(killed_at) => {
            eprintln!("{} killed (SIGKILL)", node_id(owner));
            probe(
                api.http(),
                &cluster.nodes[via].base,
                &auction,
                &prober,
                &views,
                killed_at,
            )
            .await
        }
        Err(e) => Err(e),
    };
    let bidders = load.await.context("the takeover bidders failed");
    watcher.abort();
    let (after, probe_bids, probe_refused) = probed?;
    let (tally, elapsed) = bidders??;
    let new_owner = node_id(cluster.owner_of(&auction).await?);
    Ok(Takeover {
        killed: node_id(owner),
        via: node_id(via),
        new_owner,
        after,
        probe_bids,
        probe_refused,
        bidders: BidRun::new(
            "takeover bidders",
            TAKEOVER_BIDDERS,
            1,
            elapsed.as_secs_f64(),
            tally,
        ),
    })
}

/// Bid through `base` until a bid is accepted, a fresh `request_id` each:
/// twice the minimum the room shows or a refusal names, so that the probe
/// does not race the bidders (at the minimum it loses to their queued
/// bids, and the time would be the probe's luck, not the takeover's).
/// Answers the time from `since` to the accepted answer, the bids sent and
/// the refusals by code.
async fn probe(
    http: &reqwest::Client,
    base: &str,
    auction: &str,
    user: &User,
    views: &watch::Sender<View>,
    since: Instant,
) -> anyhow::Result<(Duration, u64, BTreeMap<String, u64>)> {
    let mut floor = 0;
    let mut sent = 0;
    let mut refused = BTreeMap::new();
    while since.elapsed() < PROBE_TIMEOUT {
        let amount = views.borrow().min_bid.max(floor).saturating_mul(2);
        sent += 1;
        let request_id = format!("probe-{sent}");
        match rest_bid(http, base, auction, user, amount, &request_id).await {
            Ok(Answer::Accepted { .. }) => return Ok((since.elapsed(), sent, refused)),
            Ok(Answer::Rejected { code, min_bid }) => {
                floor = floor.max(min_bid.unwrap_or(0));
                let outbid = code == "bid_too_low";
                *refused.entry(code).or_default() += 1;
                if !outbid {
                    tokio::time::sleep(PROBE_PAUSE).await;
                }
            }
            Err(e) => {
                eprintln!("probe bid: {e:#}");
                *refused.entry("error".to_owned()).or_default() += 1;
                tokio::time::sleep(PROBE_PAUSE).await;
            }
        }
    }
    bail!("no bid was accepted within {PROBE_TIMEOUT:?} of the kill ({sent} sent)")
}

impl Takeover {
    fn print(&self, args: &ClusterArgs) {
        println!(
            "== takeover ({} killed with SIGKILL; lease {} ms, renewal {} ms) ==",
            self.killed, args.lease_ms, args.lease_renew_ms
        );
        println!(
            "  a bid through {} accepted again {:.3} s after the kill; new owner {}",
            self.via,
            self.after.as_secs_f64(),
            self.new_owner
        );
        println!(
            "  probe: {} bid(s), refused: {}",
            self.probe_bids,
            codes(&self.probe_refused)
        );
        println!(
            "  {} bidders through the other nodes over {:.1} s: accepted {}, refused {} ({}), errors {}",
            self.bidders.vus,
            self.bidders.duration_s,
            self.bidders.ok,
            self.bidders.rejected,
            codes(&self.bidders.rejected_by_code),
            self.bidders.errors
        );
    }

    fn json(&self) -> anyhow::Result<Value> {
        Ok(json!({
            "killed": self.killed,
            "via": self.via,
            "new_owner": self.new_owner,
            "kill_to_accepted_ms": report::round3(self.after.as_secs_f64() * 1000.0),
            "probe_bids": self.probe_bids,
            "probe_refused_by_code": self.probe_refused,
            "bidders": serde_json::to_value(&self.bidders).context("serializing the report")?,
        }))
    }
}

/// `bid_too_low 3, unavailable 1`, or `none`.
fn codes(by_code: &BTreeMap<String, u64>) -> String {
    if by_code.is_empty() {
        return "none".to_owned();
    }
    by_code
        .iter()
        .map(|(code, n)| format!("{code} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
