//! `connections`: C idle WebSocket connections; the server's resident memory
//! per connection (`VmRSS` before, halfway and after).
//!
//! The reading before the first connection is not a steady baseline: the
//! allocator may still hold memory the set-up freed (the password hashes'
//! blocks), which the first connections then reuse without growing the
//! process. So the second half's growth is reported beside the whole run's,
//! and the target is judged on the larger of the two.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde_json::json;
use tokio::time::Instant;

use crate::cli::ConnectionsArgs;
use crate::client::{Api, Ws, open_watcher, open_watchers};
use crate::procfs;
use crate::report::{self, verdict};
use crate::target::Target;

/// The target: resident memory per idle connection.
const TARGET_BYTES: f64 = 16.0 * 1024.0;

/// Run it.
pub async fn run(args: ConnectionsArgs) -> anyhow::Result<()> {
    if args.common.url.is_some() && args.common.server_pid.is_none() {
        bail!("connections reads the server's memory: with --url, give --server-pid");
    }
    if args.common.svg.is_some() {
        eprintln!("connections draws no plot: --svg ignored");
    }
    let target = Target::open(&args.common).await?;
    let result = measure(&target, &args).await;
    target.close().await?;
    let report = result?;
    if let Some(path) = &args.common.json {
        report::write_json(path, &report)?;
    }
    Ok(())
}

async fn measure(target: &Target, args: &ConnectionsArgs) -> anyhow::Result<serde_json::Value> {
    let pid = target.pid.context("no server process id")?;
    let room = if args.subscribe {
        let api = Api::new(target)?;
        let seller = api.register("seller", "seller").await?;
        let auction = api.live_auction(&seller, Duration::from_secs(3600)).await?;
        Some(format!("auction:{auction}"))
    } else {
        None
    };
    // Warm the server once (first connection, first subscription) before the baseline reading.
    let warm = open_watcher(&target.ws_url(None), room.as_deref()).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = procfs::rss_bytes(pid)?;
    let fds_before = procfs::open_fds(pid);
    let me_before = procfs::rss_bytes(std::process::id())?;

    eprintln!("opening {} idle connections ...", args.connections);
    let start = Instant::now();
    let opened = AtomicU64::new(0);
    let first_half = args.connections / 2;
    let first = open_watchers(
        target,
        room.as_deref(),
        first_half,
        args.connect_concurrency,
        &opened,
        "open",
    )
    .await
    .context("opening connections")?;
    // Keep reading, so the server's pings are answered.
    let closed = Arc::new(AtomicU64::new(0));
    let mut readers = keep_reading(first, &closed);
    tokio::time::sleep(args.settle).await;
    let rss_half = procfs::rss_bytes(pid)?;
    let second_half = args.connections - first_half;
    let second = open_watchers(
        target,
        room.as_deref(),
        second_half,
        args.connect_concurrency,
        &opened,
        "open",
    )
    .await
    .context("opening connections")?;
    let open_s = start.elapsed().as_secs_f64() - args.settle.as_secs_f64();
    let count = u64::from(args.connections);
    readers.extend(keep_reading(second, &closed));
    tokio::time::sleep(args.settle).await;
    let rss_after = procfs::rss_bytes(pid)?;
    let fds_after = procfs::open_fds(pid);
    let me_after = procfs::rss_bytes(std::process::id())?;
    let closed = closed.load(Ordering::Relaxed);
    for reader in &readers {
        reader.abort();
    }
    drop(warm);

    let per_whole = rss_after.saturating_sub(rss_before) as f64 / count.max(1) as f64;
    let per_second_half = rss_after.saturating_sub(rss_half) as f64 / f64::from(second_half.max(1));
    let per = per_whole.max(per_second_half);
    let me_per = me_after.saturating_sub(me_before) as f64 / count.max(1) as f64;
    println!();
    println!(
        "== connections: {count} idle WebSocket connections{} ==",
        if room.is_some() {
            ", each subscribed to one auction room"
        } else {
            ""
        }
    );
    println!("  opened in {open_s:.1} s; closed by the server while idle: {closed}");
    println!(
        "  server resident memory {:.1} MiB -> {:.1} MiB (halfway {:.1} MiB): {:.1} KiB per connection; second half alone {:.1} KiB",
        rss_before as f64 / 1048576.0,
        rss_after as f64 / 1048576.0,
        rss_half as f64 / 1048576.0,
        per_whole / 1024.0,
        per_second_half / 1024.0
    );
    if let (Some(a), Some(b)) = (fds_before, fds_after) {
        println!("  server open files {a} -> {b}");
    }
    println!(
        "  (the load generator's own memory grew {:.1} KiB per connection)",
        me_per / 1024.0
    );
    println!(
        "  target: <= 16 KiB per idle connection (the larger figure): {:.1} KiB, {}",
        per / 1024.0,
        verdict(per <= TARGET_BYTES)
    );
    Ok(json!({
        "scenario": "connections",
        "backend": target.backend,
        "machine": procfs::machine(),
        "connections": count,
        "subscribed": room.is_some(),
        "open_s": report::round3(open_s),
        "closed_while_idle": closed,
        "rss_before_bytes": rss_before,
        "rss_half_bytes": rss_half,
        "rss_after_bytes": rss_after,
        "bytes_per_connection": per.round(),
        "kib_per_connection": report::round3(per / 1024.0),
        "kib_per_connection_whole_run": report::round3(per_whole / 1024.0),
        "kib_per_connection_second_half": report::round3(per_second_half / 1024.0),
        "server_fds_before": fds_before,
        "server_fds_after": fds_after,
        "targets": {"kib_per_connection": 16, "met": per <= TARGET_BYTES},
    }))
}

/// Reads each connection until it closes (so the server's pings are
/// answered), counting the closes.
fn keep_reading(connections: Vec<Ws>, closed: &Arc<AtomicU64>) -> Vec<tokio::task::JoinHandle<()>> {
    connections
        .into_iter()
        .map(|mut ws| {
            let closed = Arc::clone(closed);
            tokio::spawn(async move {
                while let Some(Ok(_)) = ws.next().await {}
                closed.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect()
}
