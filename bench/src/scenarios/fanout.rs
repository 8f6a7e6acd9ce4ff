//! `fanout`: M watchers in one room while a few bidders bid at a steady
//! rate. Measures each `auction.bid` frame's delay from its commit
//! (`server_time`) to its arrival at each watcher, and the server's CPU time
//! per delivered frame. The watchers are read by one thread of their own
//! ([`crate::watchers`]).

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
use crate::target::Target;
use crate::watchers::{self, Reading, Seen};

/// The target: p99 delivery at 10,000 watchers.
const TARGET_P99_MS: f64 = 50.0;
/// Time for the last frames to arrive after the last bid.
const DRAIN: Duration = Duration::from_secs(2);
/// Run it.
pub async fn run(args: FanoutArgs) -> anyhow::Result<()> {
    if !(args.rate.is_finite() && args.rate > 0.0 && args.rate <= 10_000.0) {
        bail!("--rate must be above 0 and at most 10000 bids a second");
    }
    let target = Target::open(&args.common).await?;
    let result = measure(&target, &args).await;
    target.close().await?;
    let report = result?;
    if let Some(path) = &args.common.json {
        report::write_json(path, &report.0)?;
    }
    if let Some(path) = &args.common.svg {
        let title = format!(
            "fanout: {} watchers, commit (server_time) to arrival",
            args.watchers
        );
        crate::plot::write_svg(
            path,
            &title,
            &[(format!("{} watchers", args.watchers), &report.1)],
        )?;
    }
    Ok(())
}

async fn measure(
    target: &Target,
    args: &FanoutArgs,
) -> anyhow::Result<(serde_json::Value, Histogram<u64>)> {
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
    let watch = procfs::Watch::start(pid);
    seen.measuring.store(true, Ordering::Release);
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
    tokio::time::sleep(DRAIN).await;
    seen.measuring.store(false, Ordering::Release);
    let usage = watch.finish();
    let rss_after = pid.and_then(|p| procfs::rss_bytes(p).ok());
    let delays = reading.finish()?;
    drop(bidders);

    let delivered = seen.delivered.load(Ordering::Relaxed);
    let expected = accepted * watcher_count;
    let latency = Latency::of(&delays);
    let cpu_s = usage.cpu_s;
    let cpu_us_per_message = usage.cpu_us_per(delivered).map(report::round3);
    let load_generator_us_per_message = usage
        .load_generator_cpu_us_per(delivered)
        .map(report::round3);

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
    println!("  commit to arrival  {}", latency.line());
    if let (Some(cpu_s), Some(per)) = (cpu_s, cpu_us_per_message) {
        println!(
            "  server CPU {cpu_s:.2} s for {delivered} frames: {per:.2} µs per delivered message"
        );
    }
    if let (Some(cpu_s), Some(per)) = (usage.load_generator_cpu_s, load_generator_us_per_message) {
        println!(
            "  load generator CPU {cpu_s:.2} s beside it on the same machine: {per:.2} µs per delivered message"
        );
    }
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
        "server_cpu_s": cpu_s,
        "cpu_us_per_message": cpu_us_per_message,
        "load_generator_cpu_s": usage.load_generator_cpu_s.map(report::round3),
        "load_generator_cpu_us_per_message": load_generator_us_per_message,
        "server_rss_bytes": rss_before_bids,
        "room_fill_s": report::round3(connect_s),
        "targets": {"p99_ms": TARGET_P99_MS, "p99_met": latency.p99 <= TARGET_P99_MS},
    });
    Ok((report, delays))
}
