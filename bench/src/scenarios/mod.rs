//! The scenarios, and what they share: the progress line.

mod bids;
mod cluster;
mod connections;
mod fanout;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::bidding::Progress;
use crate::cli::Command;

/// Run a scenario.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Bids(args) => bids::run(args, bids::Via::WebSocket).await,
        Command::HttpBids(args) => bids::run(args, bids::Via::Http).await,
        Command::Fanout(args) => fanout::run(args).await,
        Command::Connections(args) => connections::run(args).await,
        Command::Cluster(args) => cluster::run(args).await,
        Command::Serve(_) | Command::Blytz(_) | Command::BareRoom(_) => {
            anyhow::bail!("serve, blytz and bare-room run outside the load runtime")
        }
    }
}

/// Print a progress line to stderr every second until aborted.
fn progress_line(label: String, progress: Arc<Progress>, duration: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let start = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        let mut last = 0;
        loop {
            tick.tick().await;
            let accepted = progress.accepted.load(Ordering::Relaxed);
            eprintln!(
                "  [{label} {:>3.0}/{:.0} s] accepted {accepted} (+{}/s), answered {}, errors {}",
                start.elapsed().as_secs_f64(),
                duration.as_secs_f64(),
                accepted - last,
                progress.answered.load(Ordering::Relaxed),
                progress.errors.load(Ordering::Relaxed),
            );
            last = accepted;
        }
    })
}
