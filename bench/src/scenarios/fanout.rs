//! `fanout`: M watchers in one room while a few bidders bid at a steady
//! rate. Measures each `auction.bid` frame's delay from its commit
//! (`server_time`) to its arrival at each watcher, and the server's CPU time
//! per delivered frame. The watchers are read by one thread of their own
//! ([`crate::watchers`]). Then the baseline: as many watchers of a bare
//! sender ([`crate::bare`]), which sends frames of the same shape at the
//! same rate and does nothing else, measured the same way.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::time::{Instant, MissedTickBehavior};

use crate::bidding::{self, Answer, Transport, WsBidder, histogram, micros};
use crate::cli::FanoutArgs;
use crate::client::Api;
use crate::procfs;
use crate::report::{self, Latency, verdict};
use crate::server::ServerProcess;
use crate::target::Target;
use crate::watchers::{self, Reading, Seen};

/// The target: p99 delivery at 10,000 watchers.
const TARGET_P99_MS: f64 = 50.0;
/// Time for the last frames to arrive after the last bid.
const DRAIN: Duration = Duration::from_secs(2);
/// Run it: Blytz's turn, then the bare sender's (unless `--no-baseline`).
pub async fn run(args: FanoutArgs) -> anyhow::Result<()> {
    if !(args.rate.is_finite() && args.rate > 0.0 && args.rate <= 10_000.0) {
        bail!("--rate must be above 0 and at most 10000 bids a second");
    }
    let target = Target::open(&args.common).await?;
    let result = measure(&target, &args).await;
    target.close().await?;
    let (mut report, blytz) = result?;
    let bare = if args.no_baseline {
        None
    } else {
        Some(bare_turn(&args).await?)
    };
    if let Some(bare) = &bare {
        report::merge(&mut report, compare(&blytz, bare));
    }
    if let Some(path) = &args.common.json {
        report::write_json(path, &report)?;
    }
    if let Some(path) = &args.common.svg {
        let title = format!(
            "fanout: {} watchers, commit (server_time) to arrival",
            args.watchers
        );
        let mut series = vec![(format!("Blytz, {} watchers", args.watchers), &blytz.delays)];
        if let Some(bare) = &bare {
            series.push(("bare sender".to_owned(), &bare.delays));
        }
        crate::plot::write_svg(path, &title, &series)?;
    }
    Ok(())
}

/// What a room's watchers got in one turn, and what it cost.
#[derive(Debug)]
struct Delivery {
    /// `auction.bid` frames that arrived while measuring.
    delivered: u64,
    /// Each one's delay from its `server_time`, in microseconds.
    delays: Histogram<u64>,
    /// The sender's CPU (the server's, or the bare sender's) and the load
    /// generator's, over the turn and its drain.
    usage: procfs::Usage,
}

impl Delivery {
    fn latency(&self) -> Latency {
        Latency::of(&self.delays)
    }

    fn cpu_us_per_message(&self) -> Option<f64> {
        self.usage.cpu_us_per(self.delivered).map(report::round3)
    }

    fn load_generator_us_per_message(&self) -> Option<f64> {
        self.usage
            .load_generator_cpu_us_per(self.delivered)
            .map(report::round3)
    }

    /// The delay and CPU lines of a report, `sender` naming whose CPU.
    fn print(&self, sender: &str) {
        let delivered = self.delivered;
        println!("  commit to arrival  {}", self.latency().line());
        if let (Some(cpu_s), Some(per)) = (self.usage.cpu_s, self.cpu_us_per_message()) {
            println!(
                "  {sender} CPU {cpu_s:.2} s for {delivered} frames: {per:.2} µs per delivered message"
            );
        }
        if let (Some(cpu_s), Some(per)) = (
            self.usage.load_generator_cpu_s,
            self.load_generator_us_per_message(),
        ) {
            println!(
                "  load generator CPU {cpu_s:.2} s beside it on the same machine: {per:.2} µs per delivered message"
            );
        }
    }
}

/// A turn's measuring: its watchers read, and the sender's CPU and the
/// load generator's watched, from the start of sending to the drain.
struct Turn {
    seen: Arc<Seen>,
    reading: Reading,
    watch: procfs::Watch,
}

impl Turn {
    /// Starts counting what `reading`'s watchers get, and the CPU of the
    /// sender `pid` and of the load generator.
    fn begin(seen: Arc<Seen>, reading: Reading, pid: Option<u32>) -> Self {
        let watch = procfs::Watch::start(pid);
        seen.measuring.store(true, Ordering::Release);
        Self {
            seen,
            reading,
            watch,
        }
    }

    /// Lets the last frames arrive ([`DRAIN`]), then stops counting.
    async fn end(self) -> anyhow::Result<Delivery> {
        tokio::time::sleep(DRAIN).await;
        self.seen.measuring.store(false, Ordering::Release);
        let usage = self.watch.finish();
        let delays = self.reading.finish()?;
        Ok(Delivery {
            delivered: self.seen.delivered.load(Ordering::Relaxed),
            delays,
            usage,
        })
    }
}

async fn measure(
    target: &Target,
    args: &FanoutArgs,
) -> anyhow::Result<(serde_json::Value, Delivery)> {
    let api = Api::new(target)?;
    let seller = api.register("seller", "seller").await?;
    let buyers = api.register_buyers("bidder", args.bidders).await?;
    let auction = api.live_auction(&seller, Duration::from_secs(3600)).await?;
    let room = format!("auction:{auction}");

    eprintln!("opening {} watchers ...", args.watchers);
    let connect_start = Instant::now();
    let watchers = watchers::open_all(
        &target.ws_url(None),
        &room,
        args.watchers,
        args.connect_concurrency,
    )
    .await
    .context("filling the room")?;
    let connect_s = connect_start.elapsed().as_secs_f64();
    let watcher_count = watchers.len() as u64;
    eprintln!("{watcher_count} watchers in the room after {connect_s:.1} s");

    let seen = Arc::new(Seen::default());
    let reading = Reading::start(watchers, Arc::clone(&seen))?;

    let mut bidders = Vec::new();
    for user in &buyers {
        let (bidder, views) =
            WsBidder::connect(&target.ws_url(Some(&user.token)), &auction).await?;
        bidders.push((bidder, views, user.id.clone()));
    }

    let pid = target.pid;
    let rss_before_bids = pid.and_then(|p| procfs::rss_bytes(p).ok());
    let turn = Turn::begin(Arc::clone(&seen), reading, pid);
    let start = Instant::now();
    let deadline = start + args.duration;
    eprintln!(
        "bidding at {} bids/s for {:.0} s ...",
        args.rate,
        args.duration.as_secs_f64()
    );
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut bid_latency = histogram()?;
    let (mut accepted, mut rejected, mut errors) = (0_u64, 0_u64, 0_u64);
    let mut next = 0;
    let mut floor = 0_i64;
    let mut last_report = Instant::now();
    while Instant::now() < deadline {
        tick.tick().await;
        // The next bidder in turn that is not leading.
        let Some(turn) = (0..bidders.len())
            .map(|k| (next + k) % bidders.len())
            .find(|&k| bidders[k].1.borrow().leader.as_deref() != Some(bidders[k].2.as_str()))
        else {
            continue;
        };
        next = turn + 1;
        let (bidder, views, _) = &mut bidders[turn];
        // The minimum as this bidder's socket last saw it, or as the last
        // answer gave it. A frame reaches a bidder's socket among the
        // room's thousands of watchers, so after another bidder's
        // acceptance it is often on its way still: without the answers'
        // minimum, every other bid would be refused as too low, and the
        // room would see half the asked rate.
        let amount = views.borrow().min_bid.max(floor);
        let sent = Instant::now();
        match tokio::time::timeout(bidding::ANSWER_TIMEOUT, bidder.place(amount)).await {
            Ok(Ok(Answer::Accepted { min_bid })) => {
                accepted += 1;
                bid_latency.saturating_record(micros(sent.elapsed()));
                floor = floor.max(min_bid.unwrap_or(0));
            }
            Ok(Ok(Answer::Rejected { min_bid, .. })) => {
                rejected += 1;
                floor = floor.max(min_bid.unwrap_or(0));
            }
            Ok(Err(e)) => {
                errors += 1;
                eprintln!("a bid failed: {e:#}");
            }
            Err(_) => errors += 1,
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            eprintln!(
                "  [fanout {:>3.0}/{:.0} s] bids {accepted}, frames delivered {}, watchers closed {}",
                start.elapsed().as_secs_f64(),
                args.duration.as_secs_f64(),
                seen.delivered.load(Ordering::Relaxed),
                seen.closed.load(Ordering::Relaxed),
            );
        }
    }
    let bidding_s = start.elapsed().as_secs_f64();
    let delivery = turn.end().await?;
    let rss_after = pid.and_then(|p| procfs::rss_bytes(p).ok());
    drop(bidders);

    let delivered = delivery.delivered;
    let expected = accepted * watcher_count;
    let latency = delivery.latency();

    println!();
    println!("== fanout: {watcher_count} watchers in one room ==");
    println!("  room filled in {connect_s:.1} s");
    println!(
        "  bids accepted {accepted} ({:.1}/s), rejected {rejected}, errors {errors}; bid ack {}",
        accepted as f64 / bidding_s,
        Latency::of(&bid_latency).line()
    );
    println!(
        "  frames delivered {delivered} of {expected} ({:.0}/s); resyncs {}, watchers closed {}",
        delivered as f64 / bidding_s,
        seen.resyncs.load(Ordering::Relaxed),
        seen.closed.load(Ordering::Relaxed)
    );
    delivery.print("server");
    if let (Some(before), Some(after)) = (rss_before_bids, rss_after) {
        println!(
            "  server resident memory {:.1} MiB with the room full ({:.1} MiB after bidding)",
            before as f64 / 1048576.0,
            after as f64 / 1048576.0
        );
    }
    println!(
        "  target (10,000 watchers): p99 <= {TARGET_P99_MS} ms: {:.2} ms, {}",
        latency.p99,
        verdict(latency.p99 <= TARGET_P99_MS)
    );
    println!("  note: server_time has millisecond resolution, so each delay reads up to 1 ms long");

    let report = json!({
        "scenario": "fanout",
        "backend": target.backend,
        "machine": procfs::machine(),
        "vus": args.bidders,
        "watchers": watcher_count,
        "duration_s": report::round3(bidding_s),
        "ok": accepted,
        "rejected": rejected,
        "errors": errors,
        "throughput_per_s": report::round3(accepted as f64 / bidding_s),
        "delivered": delivered,
        "expected": expected,
        "deliveries_per_s": report::round3(delivered as f64 / bidding_s),
        "resyncs": seen.resyncs.load(Ordering::Relaxed),
        "watchers_closed": seen.closed.load(Ordering::Relaxed),
        "latency_ms": latency,
        "bid_ack_ms": Latency::of(&bid_latency),
        "server_cpu_s": delivery.usage.cpu_s,
        "cpu_us_per_message": delivery.cpu_us_per_message(),
        "load_generator_cpu_s": delivery.usage.load_generator_cpu_s.map(report::round3),
        "load_generator_cpu_us_per_message": delivery.load_generator_us_per_message(),
        "server_rss_bytes": rss_before_bids,
        "room_fill_s": report::round3(connect_s),
        "targets": {"p99_ms": TARGET_P99_MS, "p99_met": latency.p99 <= TARGET_P99_MS},
    });
    Ok((report, delivery))
}

/// The bare sender's turn: the same number of watchers, read the same way,
/// and frames of the same shape at the same rate, from a process that does
/// nothing but send them (`crate::bare`).
async fn bare_turn(args: &FanoutArgs) -> anyhow::Result<Delivery> {
    let mut sender = ServerProcess::start_bare(args.rate).await?;
    let url = format!("ws://127.0.0.1:{}/ws", sender.port);
    eprintln!("bare sender: opening {} watchers ...", args.watchers);
    let watchers = watchers::open_all(
        &url,
        "auction:bare",
        args.watchers,
        args.connect_concurrency,
    )
    .await
    .context("filling the bare sender's room")?;
    let watcher_count = watchers.len() as u64;
    let seen = Arc::new(Seen::default());
    let reading = Reading::start(watchers, Arc::clone(&seen))?;
    let turn = Turn::begin(Arc::clone(&seen), reading, Some(sender.pid));
    let start = Instant::now();
    sender.say("go").await?;
    eprintln!(
        "bare sender: {} frames a second for {:.0} s ...",
        args.rate,
        args.duration.as_secs_f64()
    );
    tokio::time::sleep(args.duration).await;
    sender.say("stop").await?;
    let sending_s = start.elapsed().as_secs_f64();
    let delivery = turn.end().await?;
    sender.stop().await?;

    println!();
    println!("== fanout baseline: a bare sender, {watcher_count} watchers ==");
    println!(
        "  frames delivered {} ({:.0}/s, {:.1} a watcher a second); watchers closed {}",
        delivery.delivered,
        delivery.delivered as f64 / sending_s,
        delivery.delivered as f64 / watcher_count.max(1) as f64 / sending_s,
        seen.closed.load(Ordering::Relaxed)
    );
    delivery.print("bare sender");
    Ok(delivery)
}

/// Blytz against the bare sender: printed, and the report's `baseline`.
fn compare(blytz: &Delivery, bare: &Delivery) -> serde_json::Value {
    let (ours, theirs) = (blytz.latency(), bare.latency());
    let cpu = blytz
        .cpu_us_per_message()
        .zip(bare.cpu_us_per_message())
        .and_then(|(a, b)| report::ratio(a, b));
    let p50 = report::ratio(ours.p50, theirs.p50);
    let p99 = report::ratio(ours.p99, theirs.p99);
    let show = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("x{r:.2}"));
    println!();
    println!(
        "  Blytz / bare sender: CPU per delivered message {}, commit to arrival p50 {}, p99 {}",
        show(cpu),
        show(p50),
        show(p99)
    );
    json!({
        "baseline": {
            "name": "bare_sender",
            "delivered": bare.delivered,
            "latency_ms": theirs,
            "sender_cpu_s": bare.usage.cpu_s,
            "cpu_us_per_message": bare.cpu_us_per_message(),
            "load_generator_cpu_s": bare.usage.load_generator_cpu_s.map(report::round3),
            "load_generator_cpu_us_per_message": bare.load_generator_us_per_message(),
        },
        "ratios": {"cpu_us_per_message": cpu, "p50": p50, "p99": p99},
    })
}
