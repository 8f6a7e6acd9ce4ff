//! Prometheus metrics: one process-wide recorder, rendered at `GET /metrics`.
//!
//! Besides request counts and latencies: `bids_total{outcome}` and
//! `bid_answer_seconds{outcome}` (bids answered, by outcome code),
//! `journal_commit_seconds`, `journal_batch_events` and
//! `journal_failures_total` (group commit), `journal_checkpoint_seconds`
//! (SQLite: the WAL copied into the file after a group's answers),
//! `read_model_settle_seconds`
//! (writes of the read models behind the journal),
//! `journal_keys_catch_up_seconds` (SQLite: the journal's lookup by auction,
//! caught up behind it), `ws_sessions` and
//! `ws_lagged_total` (WebSocket fan-out).

use std::sync::LazyLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds: fine below a millisecond, where bids live.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Installed once per process: several servers in one test process share it.
/// Events per journal transaction (group commit).
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: LazyLock<Result<PrometheusHandle, String>> = LazyLock::new(|| {
    let handle = PrometheusBuilder::new()
        .set_buckets(&LATENCY_BUCKETS)
        .map_err(|e| e.to_string())?
        .set_buckets_for_metric(
            Matcher::Full("journal_batch_events".to_owned()),
            &BATCH_BUCKETS,
        )
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())?;
    // The recorder keeps every histogram sample until upkeep folds it into
    // the buckets; without upkeep (nobody scraping `/metrics`) each request
    // and bid would grow the process for good.
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(handle)
});

/// The process-wide recorder's handle.
pub fn handle() -> anyhow::Result<PrometheusHandle> {
    HANDLE
        .as_ref()
        .cloned()
        .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))
}
