//! Reports: percentiles from HDR histograms, the terminal table, the JSON file.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{Value, json};

use crate::bidding::Tally;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p999: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
        }
    }

    /// `p50 0.61  p90 0.93  p99 1.80  p99.9 4.10  max 9.02 ms`.
    pub fn line(&self) -> String {
        format!(
            "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2} ms",
            self.p50, self.p90, self.p99, self.p999, self.max
        )
    }
}

/// One bid run (Blytz or a baseline).
#[derive(Debug, Serialize)]
pub struct BidRun {
    /// `blytz (ws)`, `redis appendfsync=always`, ...
    pub label: String,
    pub vus: u32,
    pub auctions: u32,
    pub duration_s: f64,
    /// Accepted (durable) bids.
    pub ok: u64,
    /// Rejected bids, all codes.
    pub rejected: u64,
    pub rejected_by_code: BTreeMap<String, u64>,
    /// Transport failures and timeouts.
    pub errors: u64,
    /// Answered bids, accepted or refused.
    pub answered: u64,
    /// Accepted bids a second.
    pub throughput_per_s: f64,
    /// Answered bids (accepted + rejected) a second.
    pub answered_per_s: f64,
    /// Send to durable acknowledgement, accepted bids.
    pub latency_ms: Latency,
    /// Send to answer, every answered bid.
    pub latency_all_ms: Latency,
    /// The server's CPU and peak memory during the run, when it could be read.
    pub server: crate::procfs::Usage,
    /// Server CPU microseconds per durable bid.
    pub server_cpu_us_per_bid: Option<f64>,
    /// Server CPU microseconds per answered bid (accepted or refused).
    pub server_cpu_us_per_answer: Option<f64>,
    /// The load generator's CPU microseconds per answered bid: the machine's
    /// CPU a target's client protocol takes from the server it measures.
    pub load_generator_cpu_us_per_answer: Option<f64>,
    #[serde(skip)]
    pub histogram: Histogram<u64>,
}

impl BidRun {
    /// Summarize a merged tally.
    pub fn new(label: &str, vus: u32, auctions: u32, duration_s: f64, tally: Tally) -> Self {
        let rejected: u64 = tally.rejected.values().sum();
        let ok = tally.accepted.len();
        Self {
            label: label.to_owned(),
            vus,
            auctions,
            duration_s,
            ok,
            rejected,
            rejected_by_code: tally.rejected,
            errors: tally.errors,
            answered: tally.answered.len(),
            throughput_per_s: ok as f64 / duration_s,
            answered_per_s: tally.answered.len() as f64 / duration_s,
            latency_ms: Latency::of(&tally.accepted),
            latency_all_ms: Latency::of(&tally.answered),
            server: crate::procfs::Usage::default(),
            server_cpu_us_per_bid: None,
            server_cpu_us_per_answer: None,
            load_generator_cpu_us_per_answer: None,
            histogram: tally.accepted,
        }
    }

    /// The same run with the server's use of the machine during it.
    #[must_use]
    pub fn with_usage(mut self, usage: crate::procfs::Usage) -> Self {
        self.server_cpu_us_per_bid = usage.cpu_us_per(self.ok);
        self.server_cpu_us_per_answer = usage.cpu_us_per(self.answered);
        self.load_generator_cpu_us_per_answer = usage.load_generator_cpu_us_per(self.answered);
        self.server = usage;
        self
    }

    /// Print it.
    pub fn print(&self) {
        println!("== {} ==", self.label);
        println!(
            "  {} VUs on {} auction(s) for {:.1} s",
            self.vus, self.auctions, self.duration_s
        );
        println!(
            "  accepted {}  ({:.0}/s durable)   answered {:.0}/s",
            self.ok, self.throughput_per_s, self.answered_per_s
        );
        let codes: Vec<String> = self
            .rejected_by_code
            .iter()
            .map(|(code, n)| format!("{code} {n}"))
            .collect();
        println!(
            "  rejected {} ({})   errors {}",
            self.rejected,
            if codes.is_empty() {
                "none".to_owned()
            } else {
                codes.join(", ")
            },
            self.errors
        );
        println!("  accepted latency  {}", self.latency_ms.line());
        println!("  answered latency  {}", self.latency_all_ms.line());
        if let (Some(cpu_s), Some(per_bid)) = (self.server.cpu_s, self.server_cpu_us_per_bid) {
            println!("  server CPU {cpu_s:.2} s: {per_bid:.1} µs per durable bid");
        }
        if let (Some(server), Some(load_generator)) = (
            self.server_cpu_us_per_answer,
            self.load_generator_cpu_us_per_answer,
        ) {
            println!(
                "  CPU per answered bid: server {server:.1} µs, load generator {load_generator:.1} µs"
            );
        }
        if let Some(peak) = self.server.peak_rss_bytes {
            println!(
                "  server peak resident memory {:.1} MiB",
                peak as f64 / 1_048_576.0
            );
        }
    }
}

/// Blytz against a baseline: throughput ratio (higher is better for Blytz)
/// and p99 ratio (lower is better for Blytz). They compare only when
/// neither run lost a bidder to an error (a bidder that fails stops, and
/// the run's throughput with it).
pub fn ratios(blytz: &BidRun, baseline: &BidRun) -> Value {
    json!({
        "throughput_ratio": ratio(blytz.throughput_per_s, baseline.throughput_per_s),
        "p50_ratio": ratio(blytz.latency_ms.p50, baseline.latency_ms.p50),
        "p99_ratio": ratio(blytz.latency_ms.p99, baseline.latency_ms.p99),
        "comparable": blytz.errors == 0 && baseline.errors == 0,
    })
}

/// The JSON report of a bid scenario.
pub fn bids_json(
    scenario: &str,
    backend: &str,
    blytz: &BidRun,
    baselines: &[(&str, BidRun)],
    targets: Value,
) -> anyhow::Result<Value> {
    let mut report = run_json(blytz, baselines)?;
    let extra = json!({
        "scenario": scenario,
        "backend": backend,
        "machine": crate::procfs::machine(),
        "targets": targets,
    });
    merge(&mut report, extra);
    Ok(report)
}

/// Blytz's run, with each baseline's under `baseline` (and its ratios to
/// it), the headline ratios those against `always`.
pub fn run_json(blytz: &BidRun, baselines: &[(&str, BidRun)]) -> anyhow::Result<Value> {
    let mut report = serde_json::to_value(blytz).context("serializing the report")?;
    if !baselines.is_empty() {
        let mut baseline = json!({});
        for (name, run) in baselines {
            let mut entry = serde_json::to_value(run).context("serializing the baseline")?;
            merge(&mut entry, ratios(blytz, run));
            baseline[*name] = entry;
        }
        // The headline ratios are against the baseline with the same durability.
        if let Some((_, same)) = baselines.iter().find(|(name, _)| *name == "always") {
            merge(&mut baseline, ratios(blytz, same));
        }
        report["baseline"] = baseline;
    }
    Ok(report)
}

/// The median of each ratio over `pairs` (Blytz's run and a baseline's in
/// the same round), and how many rounds.
pub fn median_ratios(pairs: &[(&BidRun, &BidRun)]) -> Value {
    let median_of = |key: &str| {
        let mut values: Vec<f64> = pairs
            .iter()
            .filter_map(|(blytz, baseline)| ratios(blytz, baseline)[key].as_f64())
            .collect();
        values.sort_by(f64::total_cmp);
        let middle = values.len() / 2;
        let median = match values.len() {
            0 => return Value::Null,
            n if n % 2 == 1 => values[middle],
            _ => (values[middle - 1] + values[middle]) / 2.0,
        };
        json!(round3(median))
    };
    json!({
        "rounds": pairs.len(),
        "throughput_ratio": median_of("throughput_ratio"),
        "p50_ratio": median_of("p50_ratio"),
        "p99_ratio": median_of("p99_ratio"),
        "comparable": pairs.iter().all(|(blytz, baseline)| blytz.errors == 0 && baseline.errors == 0),
    })
}

/// `a / b` to three decimals; none when `b` is not above 0.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| round3(a / b))
}

/// Copy `extra`'s fields into `target` (both objects).
pub fn merge(target: &mut Value, extra: Value) {
    if let (Value::Object(target), Value::Object(extra)) = (target, extra) {
        target.extend(extra);
    }
}

/// Write `report` to `path`, pretty.
pub fn write_json(path: &Path, report: &Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report).context("serializing the report")?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// `x` to three decimals.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `met` / `missed`.
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(latencies_us: &[u64], accepted: usize) -> Tally {
        let mut tally = Tally::new().unwrap();
        for (i, us) in latencies_us.iter().enumerate() {
            tally.answered.record(*us).unwrap();
            if i < accepted {
                tally.accepted.record(*us).unwrap();
            }
        }
        tally
            .rejected
            .insert("bid_too_low".into(), (latencies_us.len() - accepted) as u64);
        tally
    }

    #[test]
    fn percentiles_come_out_in_milliseconds() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for us in 1..=1000 {
            h.record(us * 10).unwrap();
        }
        let l = Latency::of(&h);
        assert!((l.p50 - 5.0).abs() < 0.01, "{l:?}");
        assert!((l.p90 - 9.0).abs() < 0.01, "{l:?}");
        assert!((l.p99 - 9.9).abs() < 0.01, "{l:?}");
        assert!((l.max - 10.0).abs() < 0.01, "{l:?}");
    }

    #[test]
    fn the_json_report_has_the_agreed_shape() {
        let blytz = BidRun::new("blytz", 50, 1, 10.0, tally(&[500, 600, 700, 800], 2));
        let always = BidRun::new("always", 50, 1, 10.0, tally(&[2000, 3000, 4000], 1));
        let report = bids_json(
            "bids",
            "sqlite",
            &blytz,
            &[("always", always)],
            json!({"p50_ms": 1.0}),
        )
        .unwrap();
        for key in [
            "scenario",
            "vus",
            "duration_s",
            "ok",
            "rejected",
            "errors",
            "throughput_per_s",
        ] {
            assert!(report.get(key).is_some(), "no {key} in {report}");
        }
        for key in ["p50", "p90", "p99", "p999", "max"] {
            assert!(report["latency_ms"][key].is_f64(), "no latency_ms.{key}");
        }
        assert_eq!(report["scenario"], "bids");
        assert_eq!(report["ok"], 2);
        assert_eq!(report["rejected"], 2);
        assert_eq!(report["baseline"]["always"]["ok"], 1);
        assert_eq!(report["baseline"]["throughput_ratio"], 2.0);
        assert!(report["baseline"]["p99_ratio"].as_f64().unwrap() < 1.0);
        assert_eq!(report["baseline"]["comparable"], true);
    }

    #[test]
    fn the_median_ratio_is_the_middle_round_or_the_mean_of_the_middle_two() {
        let blytz: Vec<BidRun> = [4, 1, 3, 2]
            .iter()
            .map(|n| BidRun::new("blytz", 50, 1, 1.0, tally(&vec![500; *n], *n)))
            .collect();
        let baseline = BidRun::new("always", 50, 1, 1.0, tally(&[1000, 1000], 2));
        let pairs: Vec<(&BidRun, &BidRun)> = blytz.iter().map(|b| (b, &baseline)).collect();

        // Throughput ratios 2.0, 0.5, 1.5, 1.0 (each round's durable bids over 2).
        let odd = median_ratios(&pairs[..3]);
        assert_eq!(odd["rounds"], 3);
        assert_eq!(odd["throughput_ratio"], 1.5);
        assert_eq!(odd["p99_ratio"], 0.5);
        let even = median_ratios(&pairs);
        assert_eq!(even["throughput_ratio"], 1.25);
        assert_eq!(even["comparable"], true);

        let none = median_ratios(&[]);
        assert_eq!(none["rounds"], 0);
        assert!(none["throughput_ratio"].is_null());
    }

    /// A baseline run of `duration_s` with one answered bid, whose bidders
    /// met `errors` errors.
    fn erring(duration_s: f64, errors: u64) -> BidRun {
        let mut failed = tally(&[700], 1);
        failed.errors = errors;
        BidRun::new("always", 50, 1, duration_s, failed)
    }

    #[test]
    fn a_round_that_lost_bidders_makes_the_medians_not_comparable() {
        let blytz = BidRun::new("blytz", 50, 1, 1.0, tally(&[500, 600], 2));
        let failed = erring(1.0, 3);
        let fine = BidRun::new("always", 50, 1, 1.0, tally(&[700], 1));
        let medians = median_ratios(&[(&blytz, &fine), (&blytz, &failed)]);
        assert_eq!(medians["comparable"], false);
        assert_eq!(medians["throughput_ratio"], 2.0);
    }

    #[test]
    fn a_run_that_lost_bidders_to_errors_does_not_compare() {
        let blytz = BidRun::new("blytz", 50, 1, 10.0, tally(&[500, 600], 2));
        let baseline = erring(10.0, 49);
        let r = ratios(&blytz, &baseline);
        assert_eq!(r["throughput_ratio"], 2.0, "still written, for the record");
        assert_eq!(r["comparable"], false);
        assert_eq!(ratios(&blytz, &blytz)["comparable"], true);
    }
}
