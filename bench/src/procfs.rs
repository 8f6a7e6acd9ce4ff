//! Reading a process's CPU time and resident memory from `/proc`.

use std::sync::OnceLock;

use anyhow::Context;

/// User + system CPU seconds used so far by `pid`.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let ticks = cpu_ticks_of(&stat).context("parsing /proc/<pid>/stat")?;
    Ok(ticks as f64 / clock_ticks_per_second())
}

/// utime + stime from a `/proc/<pid>/stat` line (fields 14 and 15; the
/// command name in parentheses may itself hold spaces).
pub fn cpu_ticks_of(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3 (state): utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Resident memory of `pid` in bytes (`VmRSS`).
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    rss_of(&status).context("no VmRSS in /proc/<pid>/status")
}

/// `VmRSS:  12345 kB` in bytes.
pub fn rss_of(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A server's use of the machine over a run: CPU seconds and peak memory,
/// and the CPU the load generator (this process) spent beside it.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Usage {
    /// User + system CPU seconds the server spent during the run.
    pub cpu_s: Option<f64>,
    /// The highest `VmRSS` seen during the run, sampled every 100 ms.
    pub peak_rss_bytes: Option<u64>,
    /// User + system CPU seconds this process (the load generator) spent
    /// during the same run: on a machine the two share, what it takes is
    /// not there for the server.
    pub load_generator_cpu_s: Option<f64>,
}

impl Usage {
    /// Server CPU microseconds per unit of work (e.g. per durable bid).
    pub fn cpu_us_per(&self, work: u64) -> Option<f64> {
        per_unit(self.cpu_s, work)
    }

    /// The load generator's CPU microseconds per unit of work.
    pub fn load_generator_cpu_us_per(&self, work: u64) -> Option<f64> {
        per_unit(self.load_generator_cpu_s, work)
    }

    /// The use of two runs together: their CPU seconds added, the higher
    /// peak. What one of them could not read, the sum cannot either.
    #[must_use]
    pub fn and(self, other: Usage) -> Usage {
        let add = |a: Option<f64>, b: Option<f64>| Some(a? + b?);
        Usage {
            cpu_s: add(self.cpu_s, other.cpu_s),
            peak_rss_bytes: self.peak_rss_bytes.max(other.peak_rss_bytes),
            load_generator_cpu_s: add(self.load_generator_cpu_s, other.load_generator_cpu_s),
        }
    }
}

/// CPU seconds spread over `work` units, in microseconds each.
fn per_unit(cpu_s: Option<f64>, work: u64) -> Option<f64> {
    cpu_s.filter(|_| work > 0).map(|s| s * 1e6 / work as f64)
}

/// Watches a process during a run; [`Watch::finish`] answers its [`Usage`].
#[derive(Debug)]
pub struct Watch {
    pid: Option<u32>,
    cpu_start: Option<f64>,
    own_cpu_start: Option<f64>,
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    sampler: Option<tokio::task::JoinHandle<()>>,
}

impl Watch {
    /// Starts watching `pid` (nothing to watch without one).
    pub fn start(pid: Option<u32>) -> Self {
        use std::sync::atomic::Ordering;
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let sampler = pid.map(|pid| {
            let peak = std::sync::Arc::clone(&peak);
            tokio::spawn(async move {
                loop {
                    if let Ok(rss) = rss_bytes(pid) {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            })
        });
        Self {
            pid,
            cpu_start: pid.and_then(|p| cpu_seconds(p).ok()),
            own_cpu_start: cpu_seconds(std::process::id()).ok(),
            peak,
            sampler,
        }
    }

    /// Stops watching: the CPU spent since [`Watch::start`] and the peak memory.
    pub fn finish(self) -> Usage {
        if let Some(sampler) = self.sampler {
            sampler.abort();
        }
        let cpu_end = self.pid.and_then(|p| cpu_seconds(p).ok());
        let own_cpu_end = cpu_seconds(std::process::id()).ok();
        let peak = self.peak.load(std::sync::atomic::Ordering::Relaxed);
        let peak = self
            .pid
            .and_then(|p| rss_bytes(p).ok())
            .map_or(peak, |now| now.max(peak));
        Usage {
            cpu_s: self.cpu_start.zip(cpu_end).map(|(a, b)| b - a),
            peak_rss_bytes: (peak > 0).then_some(peak),
            load_generator_cpu_s: self.own_cpu_start.zip(own_cpu_end).map(|(a, b)| b - a),
        }
    }
}

/// Open file descriptors of `pid`.
pub fn open_fds(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(Iterator::count)
}

/// `getconf CLK_TCK` (100 on Linux almost always).
fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// The machine, for reports: CPU model and cores, memory.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    format!("{cores} cores ({model}), {mem_gib:.0} GiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_runs_use_their_cpu_added_and_the_higher_peak() {
        let a = Usage {
            cpu_s: Some(1.5),
            peak_rss_bytes: Some(100),
            load_generator_cpu_s: Some(0.5),
        };
        let b = Usage {
            cpu_s: Some(2.0),
            peak_rss_bytes: Some(300),
            load_generator_cpu_s: None,
        };
        let both = a.and(b);
        assert_eq!(both.cpu_s, Some(3.5));
        assert_eq!(both.peak_rss_bytes, Some(300));
        assert_eq!(both.load_generator_cpu_s, None, "one run could not read it");
    }

    #[test]
    fn reads_cpu_ticks_even_with_spaces_in_the_name() {
        let stat =
            "4242 (blytz bench) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 25 0 0 20 0 9 0 1000 0 0";
        assert_eq!(cpu_ticks_of(stat), Some(175));
        assert_eq!(cpu_ticks_of("garbage"), None);
    }

    #[test]
    fn reads_resident_memory() {
        let status = "Name:\tblytz\nVmPeak:\t  9000 kB\nVmRSS:\t   2048 kB\nThreads:\t9\n";
        assert_eq!(rss_of(status), Some(2048 * 1024));
        assert_eq!(rss_of("Name: x\n"), None);
    }

    #[test]
    fn a_watch_counts_the_load_generator_cpu_beside_the_server() {
        let me = std::process::id();
        let watch = Watch::start(None);
        // Busy until this process has spent five clock ticks or more.
        let before = cpu_seconds(me).unwrap();
        let mut spins = 0_u64;
        while cpu_seconds(me).unwrap() - before < 0.05 {
            spins = std::hint::black_box(spins + 1);
        }
        let usage = watch.finish();
        assert_eq!(usage.cpu_s, None, "no server was watched");
        let own = usage.load_generator_cpu_s.unwrap();
        assert!(own >= 0.05, "five ticks of spinning counted as {own} s");
        let per_answer = usage.load_generator_cpu_us_per(1_000).unwrap();
        assert!((per_answer - own * 1e3).abs() < 1e-6);
        assert_eq!(usage.load_generator_cpu_us_per(0), None);
        assert_eq!(usage.cpu_us_per(1_000), None);
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(rss_bytes(me).unwrap() > 0);
        assert!(cpu_seconds(me).unwrap() >= 0.0);
    }
}
