//! `bids` and `http-bids`: N closed-loop bidders on one hot auction (or K),
//! then the same harness against the Redis baseline (and, with `--against`,
//! against the server of another build of this program).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use futures_util::stream::{self, TryStreamExt};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::baseline::{self, RedisBidder, RedisServer};
use crate::bidding::{self, HttpBidder, Progress, Tally, Transport, View, WsBidder};
use crate::cli::BidsArgs;
use crate::client::{Api, User, register_buyers_over};
use crate::procfs::{Usage, Watch};
use crate::report::{self, BidRun, verdict};
use crate::target::Target;

/// How the Blytz bidders talk to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    WebSocket,
    Http,
}

/// Targets of the issue, printed beside the numbers.
const TARGET_P50_MS: f64 = 1.0;
const TARGET_P99_MS: f64 = 3.0;
const TARGET_BIDS_PER_S: f64 = 20_000.0;
/// Auctions outlive every run.
pub(super) const AUCTION_LIFETIME: Duration = Duration::from_secs(3600);

/// The baselines, by their `appendfsync`.
const BASELINE_FSYNCS: [&str; 2] = ["everysec", "always"];

/// A run this build's is compared with: `--against`'s build or a Redis
/// baseline. Each round runs each once; their ratios are printed and
/// reported the same way.
#[derive(Debug, Clone, Copy)]
enum Compared<'a> {
    /// The server of the `blytz-bench` binary at this path.
    Build(&'a Path),
    /// Redis with this `appendfsync`.
    Baseline(&'static str),
}

impl Compared<'_> {
    /// Its key in the JSON report.
    fn name(self) -> &'static str {
        match self {
            Self::Build(_) => "other_build",
            Self::Baseline(fsync) => fsync,
        }
    }

    /// Its report's label, beside this build's `blytz_label`.
    fn label(self, blytz_label: &str) -> String {
        match self {
            Self::Build(build) => format!("{blytz_label}, the build at {}", build.display()),
            Self::Baseline(fsync) => format!("seed baseline (redis EVALSHA, appendfsync {fsync})"),
        }
    }

    /// How the ratios to it are headed.
    fn title(self) -> String {
        match self {
            Self::Build(_) => "this build / the other build".to_owned(),
            Self::Baseline(fsync) => format!("blytz / redis appendfsync {fsync}"),
        }
    }

    /// How the plot names it (`label`: its report's label).
    fn series(self, label: &str) -> String {
        match self {
            Self::Build(_) => label.to_owned(),
            Self::Baseline(fsync) => format!("redis appendfsync {fsync}"),
        }
    }

    /// One run of it. A baseline that cannot run (no redis-server) is
    /// left out, `None`: the Blytz numbers stand on their own. Another
    /// build that cannot run fails the scenario.
    async fn measure(self, args: &BidsArgs, via: Via) -> anyhow::Result<Option<Measured>> {
        match self {
            Self::Build(build) => {
                let target = Target::open_build(&args.common, Some(build)).await?;
                let measured = blytz_run(&target, args, via).await;
                target.close().await?;
                measured.map(Some)
            }
            Self::Baseline(fsync) => match baseline_run(args, fsync).await {
                Ok(measured) => Ok(Some(measured)),
                Err(e) => {
                    eprintln!("the Redis baseline (appendfsync {fsync}) did not run: {e:#}");
                    Ok(None)
                }
            },
        }
    }
}

/// What one run measured: the bidders' tally, the time they bid, the
/// server's use of the machine meanwhile.
type Measured = (Tally, Duration, Usage);

/// One round: Blytz's run and each compared run's, by [`Compared::name`].
type Round = (BidRun, Vec<(&'static str, BidRun)>);

/// Run the scenario, print and write its reports.
pub async fn run(args: BidsArgs, via: Via) -> anyhow::Result<()> {
    check_bidders(args.vus, args.auctions)?;
    let (scenario, transport) = match via {
        Via::WebSocket => ("bids", "ws"),
        Via::Http => ("http-bids", "http"),
    };
    let ids = if args.request_ids {
        ", request ids"
    } else {
        ""
    };
    let mut blytz_label = String::new();
    let mut backend = "";
    let mut rounds: Vec<Round> = Vec::new();
    let mut merged_blytz: Option<Measured> = None;
    let baselines = if args.no_baseline {
        &[][..]
    } else {
        &BASELINE_FSYNCS[..]
    };
    let mut merged: Vec<(Compared, Option<Measured>)> = args
        .against
        .as_deref()
        .map(Compared::Build)
        .into_iter()
        .chain(baselines.iter().map(|fsync| Compared::Baseline(fsync)))
        .map(|compared| (compared, None))
        .collect();
    for round in 1..=args.rounds {
        if args.rounds > 1 {
            eprintln!("round {round} of {}", args.rounds);
        }
        // The other build goes first in every second round, so that
        // neither build always has the turn after the other's.
        let mut before = None;
        if round % 2 == 0
            && let Some((compared @ Compared::Build(_), _)) = merged.first()
        {
            before = Some(compared.measure(&args, via).await?);
        }
        let target = Target::open(&args.common).await?;
        backend = target.backend;
        blytz_label = format!("blytz ({transport}, {backend}{ids})");
        let blytz = blytz_run(&target, &args, via).await;
        target.close().await?;
        let blytz = blytz?;
        merge_into(&mut merged_blytz, &blytz)?;
        let blytz = bid_run(&blytz_label, &args, blytz);

        let mut runs = Vec::new();
        for (compared, merged) in &mut merged {
            let measured = match before.take() {
                Some(measured) => measured,
                None => compared.measure(&args, via).await?,
            };
            if let Some(measured) = measured {
                merge_into(merged, &measured)?;
                let label = compared.label(&blytz_label);
                runs.push((compared.name(), bid_run(&label, &args, measured)));
            }
        }
        rounds.push((blytz, runs));
    }
    // The report is the rounds merged (one round merged is that round);
    // with several, each round's ratios are printed and kept beside it.
    let merged_label = |label: String| match args.rounds {
        1 => label,
        n => format!("{label}, {n} rounds merged"),
    };
    let blytz = bid_run(
        &merged_label(blytz_label.clone()),
        &args,
        merged_blytz.context("no round ran")?,
    );
    let (kinds, compared): (Vec<Compared>, Vec<(&str, BidRun)>) = merged
        .into_iter()
        .filter_map(|(kind, merged)| {
            let label = merged_label(kind.label(&blytz_label));
            Some((kind, (kind.name(), bid_run(&label, &args, merged?))))
        })
        .unzip();
    println!();
    blytz.print();
    for (_, run) in &compared {
        run.print();
    }
    for (kind, (_, run)) in kinds.iter().zip(&compared) {
        let r = report::ratios(&blytz, run);
        println!(
            "{}: throughput x{:.2}, p50 x{:.2}, p99 x{:.2} \
             (throughput above 1 and latency below 1 favour this build)",
            kind.title(),
            r["throughput_ratio"].as_f64().unwrap_or(f64::NAN),
            r["p50_ratio"].as_f64().unwrap_or(f64::NAN),
            r["p99_ratio"].as_f64().unwrap_or(f64::NAN),
        );
        if r["comparable"] != json!(true) {
            println!(
                "  not comparable: {} error(s) in this build's run, {} in the other's \
                 (a bidder that fails stops)",
                blytz.errors, run.errors
            );
        }
    }
    if rounds.len() > 1 {
        print_rounds(&rounds, &kinds);
    }
    println!(
        "targets ({} VUs, {} auction(s), durable acks, load generator on the same machine):",
        args.vus, args.auctions
    );
    println!(
        "  p50 <= {TARGET_P50_MS} ms: {:.2} ms, {}",
        blytz.latency_ms.p50,
        verdict(blytz.latency_ms.p50 <= TARGET_P50_MS)
    );
    println!(
        "  p99 <= {TARGET_P99_MS} ms: {:.2} ms, {}",
        blytz.latency_ms.p99,
        verdict(blytz.latency_ms.p99 <= TARGET_P99_MS)
    );
    println!(
        "  >= {TARGET_BIDS_PER_S:.0} durable bids/s (across many auctions): {:.0}/s, {}",
        blytz.throughput_per_s,
        verdict(blytz.throughput_per_s >= TARGET_BIDS_PER_S)
    );

    let targets = json!({
        "p50_ms": TARGET_P50_MS,
        "p99_ms": TARGET_P99_MS,
        "throughput_per_s_many_auctions": TARGET_BIDS_PER_S,
        "p50_met": blytz.latency_ms.p50 <= TARGET_P50_MS,
        "p99_met": blytz.latency_ms.p99 <= TARGET_P99_MS,
        "throughput_met": blytz.throughput_per_s >= TARGET_BIDS_PER_S,
    });
    if let Some(path) = &args.common.json {
        let mut json = report::bids_json(scenario, backend, &blytz, &compared, targets)?;
        json["request_ids"] = json!(args.request_ids);
        if rounds.len() > 1 {
            json["rounds"] = rounds_json(&rounds, &kinds)?;
        }
        report::write_json(path, &json)?;
    }
    if let Some(path) = &args.common.svg {
        let mut series = vec![(blytz.label.clone(), &blytz.histogram)];
        for (kind, (_, run)) in kinds.iter().zip(&compared) {
            series.push((kind.series(&run.label), &run.histogram));
        }
        let title = format!(
            "{scenario}: {} VUs, {} auction(s), send to durable ack",
            args.vus, args.auctions
        );
        crate::plot::write_svg(path, &title, &series)?;
    }
    Ok(())
}

/// The report of one run (or of several merged) of `label`.
fn bid_run(label: &str, args: &BidsArgs, (tally, elapsed, usage): Measured) -> BidRun {
    BidRun::new(label, args.vus, args.auctions, elapsed.as_secs_f64(), tally).with_usage(usage)
}

/// `measured` added into `merged` (its first when none yet): the bids and
/// times added, the use of the machine added.
fn merge_into(merged: &mut Option<Measured>, measured: &Measured) -> anyhow::Result<()> {
    let Some((tally, elapsed, usage)) = merged else {
        *merged = Some(measured.clone());
        return Ok(());
    };
    tally.merge(&measured.0)?;
    *elapsed += measured.1;
    *usage = usage.and(measured.2);
    Ok(())
}

/// Blytz's run and `compared`'s in each round that has both.
fn pairs<'a>(rounds: &'a [Round], compared: &str) -> Vec<(&'a BidRun, &'a BidRun)> {
    rounds
        .iter()
        .filter_map(|(blytz, runs)| {
            let (_, run) = runs.iter().find(|(name, _)| *name == compared)?;
            Some((blytz, run))
        })
        .collect()
}

/// Each round's ratios against each compared run, and their medians.
fn print_rounds(rounds: &[Round], kinds: &[Compared]) {
    for kind in kinds {
        let pairs = pairs(rounds, kind.name());
        if pairs.is_empty() {
            continue;
        }
        println!("{}, round by round:", kind.title());
        for (i, (blytz, run)) in pairs.iter().enumerate() {
            let r = report::ratios(blytz, run);
            println!(
                "  round {}: {:.0} against {:.0} durable bids/s (x{:.2}), p50 x{:.2}, \
                 p99 {:.2} against {:.2} ms (x{:.2})",
                i + 1,
                blytz.throughput_per_s,
                run.throughput_per_s,
                r["throughput_ratio"].as_f64().unwrap_or(f64::NAN),
                r["p50_ratio"].as_f64().unwrap_or(f64::NAN),
                blytz.latency_ms.p99,
                run.latency_ms.p99,
                r["p99_ratio"].as_f64().unwrap_or(f64::NAN),
            );
        }
        let medians = report::median_ratios(&pairs);
        println!(
            "  median of {} rounds: throughput x{:.2}, p50 x{:.2}, p99 x{:.2}",
            pairs.len(),
            medians["throughput_ratio"].as_f64().unwrap_or(f64::NAN),
            medians["p50_ratio"].as_f64().unwrap_or(f64::NAN),
            medians["p99_ratio"].as_f64().unwrap_or(f64::NAN),
        );
    }
}

/// Each round as its own report, and each compared run's median ratios.
fn rounds_json(rounds: &[Round], kinds: &[Compared]) -> anyhow::Result<serde_json::Value> {
    let each = rounds
        .iter()
        .map(|(blytz, runs)| report::run_json(blytz, runs))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut medians = json!({});
    for kind in kinds {
        let pairs = pairs(rounds, kind.name());
        if !pairs.is_empty() {
            medians[kind.name()] = report::median_ratios(&pairs);
        }
    }
    Ok(json!({"each": each, "median_ratios": medians}))
}

/// Refuses fewer than 2 bidders an auction.
pub(super) fn check_bidders(vus: u32, auctions: u32) -> anyhow::Result<()> {
    if vus < 2 * auctions {
        bail!(
            "--vus {vus} over --auctions {auctions}: every auction needs at least 2 bidders, \
             or its only bidder leads and waits forever"
        );
    }
    Ok(())
}

/// What the bidders need on the server: a seller, their accounts, live
/// auctions of the seller's.
#[derive(Debug)]
pub(super) struct Stage {
    pub seller: User,
    pub buyers: Vec<User>,
    pub auctions: Vec<String>,
}

/// Register a seller and `vus` bidders, start `auctions` live auctions:
/// bidder `i` and auction `k` through `apis[i % len]` and `apis[k % len]`
/// (in a cluster an auction is owned by the node it was created at).
pub(super) async fn stage(apis: &[Api], vus: u32, auctions: u32) -> anyhow::Result<Stage> {
    let api = apis.first().context("no server to stage the bidding on")?;
    eprintln!("registering {vus} bidders and a seller ...");
    let seller = api.register("seller", "seller").await?;
    let buyers = register_buyers_over(apis, "bidder", vus).await?;
    let mut live = Vec::new();
    for api in apis.iter().cycle().take(auctions as usize) {
        live.push(api.live_auction(&seller, AUCTION_LIFETIME).await?);
    }
    Ok(Stage {
        seller,
        buyers,
        auctions: live,
    })
}

/// Register, create auctions, connect, bid. Answers the tally, the time
/// taken and the server's use of the machine while the bidders bid.
async fn blytz_run(
    target: &Target,
    args: &BidsArgs,
    via: Via,
) -> anyhow::Result<(Tally, Duration, Usage)> {
    let api = Api::new(target)?;
    let Stage {
        buyers, auctions, ..
    } = stage(std::slice::from_ref(&api), args.vus, args.auctions).await?;
    if args.common.dead_notifications {
        api.subscribe_push_nowhere(&buyers).await?;
    }
    // Chat starts with the bidding; its deadline is generous, the tasks are
    // stopped when the bidding ends.
    let chat = if args.chat_rate > 0 {
        eprintln!(
            "posting {} chat messages/s into the auction rooms",
            args.chat_rate
        );
        let deadline = Instant::now() + args.duration + Duration::from_secs(120);
        Some(crate::chat::start(&api, target, &auctions, args.chat_rate, deadline).await?)
    } else {
        None
    };
    let chat_started = Instant::now();
    let watch = Watch::start(target.pid);
    let result = bid(target, args, via, &api, &buyers, &auctions).await;
    let usage = watch.finish();
    if let Some((counts, tasks)) = chat {
        for task in tasks {
            task.abort();
        }
        let secs = chat_started.elapsed().as_secs_f64().max(0.001);
        let sent = counts.sent.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "chat load: sent {sent} ({:.0}/s), accepted {}, refused {}",
            sent as f64 / secs,
            counts.accepted.load(std::sync::atomic::Ordering::Relaxed),
            counts.refused.load(std::sync::atomic::Ordering::Relaxed),
        );
    }
    result.map(|(tally, elapsed)| (tally, elapsed, usage))
}

/// Connect the bidders and drive them.
async fn bid(
    target: &Target,
    args: &BidsArgs,
    via: Via,
    api: &Api,
    buyers: &[User],
    auctions: &[String],
) -> anyhow::Result<(Tally, Duration)> {
    let auction_of = |i: usize| auctions[i % auctions.len()].clone();
    eprintln!(
        "{} bidders on {} live auction(s), over {}",
        args.vus,
        auctions.len(),
        match via {
            Via::WebSocket => "WebSocket",
            Via::Http => "HTTP",
        }
    );
    match via {
        Via::WebSocket => {
            let vus = ws_bidders(buyers, auctions, |_, user| target.ws_url(Some(&user.token)))
                .await?
                .into_iter()
                .map(|(bidder, views, me)| {
                    (bidder.sending_request_ids(args.request_ids), views, me)
                })
                .collect();
            drive("blytz", vus, args.duration).await
        }
        Via::Http => {
            let mut rooms = Vec::new();
            let mut watchers = Vec::new();
            for auction in auctions {
                let (tx, _) = watch::channel(View::default());
                let tx = Arc::new(tx);
                watchers.push(
                    bidding::watch_room(&target.ws_url(None), auction, Arc::clone(&tx)).await?,
                );
                rooms.push(tx);
            }
            // Wait for every room's snapshot.
            for room in &rooms {
                let mut rx = room.subscribe();
                tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|v| v.seq > 0))
                    .await
                    .context("no room snapshot within 10 s")?
                    .context("the room watcher stopped")?;
            }
            let vus = buyers
                .iter()
                .enumerate()
                .map(|(i, user)| {
                    let room = Arc::clone(&rooms[i % rooms.len()]);
                    let views = room.subscribe();
                    let bidder = HttpBidder {
                        http: api.http().clone(),
                        url: api.url(&format!("/api/v1/auctions/{}/bids", auction_of(i))),
                        token: user.token.clone(),
                        views: room,
                        request_ids: args.request_ids,
                    };
                    (bidder, views, user.id.clone())
                })
                .collect();
            let result = drive("blytz", vus, args.duration).await;
            for watcher in watchers {
                watcher.abort();
            }
            result
        }
    }
}

/// Each bidder on its own WebSocket, at `url_of(i, user)` for bidder `i`,
/// subscribed to its auction's room (`auctions[i % auctions.len()]`).
pub(super) async fn ws_bidders(
    buyers: &[User],
    auctions: &[String],
    url_of: impl Fn(usize, &User) -> String,
) -> anyhow::Result<Vec<(WsBidder, watch::Receiver<View>, String)>> {
    stream::iter(buyers.iter().enumerate())
        .map(|(i, user)| {
            let url = url_of(i, user);
            let auction = auctions[i % auctions.len()].clone();
            let me = user.id.clone();
            async move {
                let (bidder, views) = WsBidder::connect(&url, &auction).await?;
                anyhow::Ok((bidder, views, me))
            }
        })
        .buffered(16)
        .try_collect()
        .await
}

/// The same bidders against a fresh Redis with `appendfsync` = `fsync`.
async fn baseline_run(args: &BidsArgs, fsync: &str) -> anyhow::Result<(Tally, Duration, Usage)> {
    eprintln!("starting redis-server (appendonly yes, appendfsync {fsync}) ...");
    let server = RedisServer::start(&args.redis_server, fsync).await?;
    let result = async {
        let client = server.client()?;
        for k in 0..args.auctions {
            baseline::create_auction(&client, k).await?;
        }
        let vus: Vec<_> = stream::iter(0..args.vus)
            .map(|i| {
                let client = client.clone();
                let me = format!("bidder{i}");
                async move {
                    let (bidder, views) =
                        RedisBidder::connect(&client, i % args.auctions, me.clone()).await?;
                    anyhow::Ok((bidder, views, me))
                }
            })
            .buffered(16)
            .try_collect()
            .await?;
        let watch = Watch::start(server.pid());
        let (tally, elapsed) = drive(&format!("redis {fsync}"), vus, args.duration).await?;
        anyhow::Ok((tally, elapsed, watch.finish()))
    }
    .await;
    server.stop().await?;
    result
}

/// Start every virtual user at once, bid until the deadline, merge the tallies.
pub(super) async fn drive<T: Transport + 'static>(
    label: &str,
    vus: Vec<(T, watch::Receiver<View>, String)>,
    duration: Duration,
) -> anyhow::Result<(Tally, Duration)> {
    let progress = Arc::new(Progress::default());
    let ticker = super::progress_line(label.to_owned(), Arc::clone(&progress), duration);
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = vus
        .into_iter()
        .map(|(transport, views, me)| {
            let progress = Arc::clone(&progress);
            tokio::spawn(async move {
                bidding::bid_until(transport, views, &me, deadline, &progress).await
            })
        })
        .collect();
    let mut total = Tally::new()?;
    for task in tasks {
        let tally = task.await.context("a bidder task failed")??;
        total.merge(&tally)?;
    }
    let elapsed = start.elapsed();
    ticker.abort();
    Ok((total, elapsed))
}
