//! `connections`: C idle WebSocket connections; the server's resident memory
//! per connection (`VmRSS` before and after).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use futures_util::stream::{self, TryStreamExt};
use serde_json::json;
use tokio::time::Instant;

use crate::cli::ConnectionsArgs;
use crate::client::{Api, Ws, open_watcher};
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
    let opened = Arc::new(AtomicU64::new(0));
    let connections: Vec<Ws> = stream::iter(0..args.connections)
        .map(|_| {
            let url = target.ws_url(None);
            let room = room.clone();
            let opened = Arc::clone(&opened);
            async move {
                let ws = open_watcher(&url, room.as_deref()).await?;
                let n = opened.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(1000) {
                    eprintln!("  {n} open");
                }
                anyhow::Ok(ws)
            }
        })
        .buffer_unordered(args.connect_concurrency.max(1))
        .try_collect()
        .await
        .context("opening connections")?;
    let open_s = start.elapsed().as_secs_f64();
    let count = connections.len() as u64;
    // Keep reading, so the server's pings are answered.
    let closed = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = connections
        .into_iter()
        .map(|mut ws| {
            let closed = Arc::clone(&closed);
            tokio::spawn(async move {
                while let Some(Ok(_)) = ws.next().await {}
                closed.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    tokio::time::sleep(args.settle).await;
    let rss_after = procfs::rss_bytes(pid)?;
    let fds_after = procfs::open_fds(pid);
    let me_after = procfs::rss_bytes(std::process::id())?;
    let closed = closed.load(Ordering::Relaxed);
    for reader in &readers {
        reader.abort();
    }
    drop(warm);

    let per = rss_after.saturating_sub(rss_before) as f64 / count.max(1) as f64;
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
        "  server resident memory {:.1} MiB -> {:.1} MiB: {:.1} KiB per connection",
        rss_before as f64 / 1048576.0,
        rss_after as f64 / 1048576.0,
        per / 1024.0
    );
    if let (Some(a), Some(b)) = (fds_before, fds_after) {
        println!("  server open files {a} -> {b}");
    }
    println!(
        "  (the load generator's own memory grew {:.1} KiB per connection)",
        me_per / 1024.0
    );
    println!(
        "  target: <= 16 KiB per idle connection: {:.1} KiB, {}",
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
        "rss_after_bytes": rss_after,
        "bytes_per_connection": per.round(),
        "kib_per_connection": report::round3(per / 1024.0),
        "server_fds_before": fds_before,
        "server_fds_after": fds_after,
        "targets": {"kib_per_connection": 16, "met": per <= TARGET_BYTES},
    }))
}
