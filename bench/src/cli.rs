//! The command line: one subcommand per scenario.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

/// Load scenarios for Blytz, with the seed design as a baseline.
#[derive(Debug, Parser)]
#[command(name = "blytz-bench", version, about)]
pub struct Cli {
    /// The scenario.
    #[command(subcommand)]
    pub command: Command,
}

/// Scenarios.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// N bidders over WebSocket, closed loop, on one hot auction (or K):
    /// time from a bid to its durable `bid.accepted`; then the Redis baseline.
    Bids(BidsArgs),
    /// The same bidders through `POST /api/v1/auctions/{id}/bids`.
    HttpBids(BidsArgs),
    /// M watchers in one room while bidders bid: delay from commit
    /// (`server_time`) to arrival, and server CPU per delivered message.
    Fanout(FanoutArgs),
    /// C idle WebSocket connections: server resident memory per connection.
    Connections(ConnectionsArgs),
    /// The `bids --auctions` bidders spread over N nodes of a cluster, then
    /// on one node; what a forwarded bid adds; how long a killed owner's
    /// auction goes without an accepted bid.
    Cluster(ClusterArgs),
    /// Run a server for the bench (used by the bench itself).
    #[command(hide = true)]
    Serve(ServeArgs),
    /// Run the fan-out's bare sender (used by the bench itself).
    #[command(hide = true)]
    BareRoom(BareArgs),
    /// Run the server binary's own command line, e.g. `admin create` (used
    /// by the bench itself).
    #[command(hide = true)]
    Blytz(BlytzArgs),
}

/// Where the server is and where reports go.
#[derive(Debug, Args)]
pub struct Common {
    /// Drive a running server at this base URL (e.g. http://127.0.0.1:8080)
    /// instead of starting one. Its rate limits must be off.
    #[arg(long)]
    pub url: Option<String>,
    /// With --url: the server's process id, to read its CPU and memory.
    #[arg(long, requires = "url")]
    pub server_pid: Option<u32>,
    /// Run the started server on a fresh database on this PostgreSQL server
    /// (e.g. postgres://postgres@127.0.0.1:5432/postgres) instead of SQLite.
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// HTTP worker threads of the started server (0 = the server's default).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Give the started server a mail server and a push service that are
    /// down (ports nothing listens on), and each bidder a push
    /// subscription there: notices made while bidding fail and wait to be
    /// retried, as they would during an outage.
    #[arg(long, conflicts_with = "url")]
    pub dead_notifications: bool,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write a latency plot (SVG) here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// `bids` and `http-bids`.
#[derive(Debug, Args)]
pub struct BidsArgs {
    #[command(flatten)]
    pub common: Common,
    /// Virtual users (bidders), each with its own connection and account.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(2..=5000))]
    pub vus: u32,
    /// How long to bid, e.g. 30s, 500ms, 2m.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Spread the bidders over this many auctions (at least 2 bidders each).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=2500))]
    pub auctions: u32,
    /// Skip the Redis baseline.
    #[arg(long)]
    pub no_baseline: bool,
    /// Also post this many chat messages a second (in total) into the bid
    /// auctions' rooms while bidding.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub chat_rate: u32,
    /// Send a fresh `request_id` with every bid, as the web client does.
    /// The auction keeps each bidder's recent ids for idempotent resends, in
    /// its state and in its snapshots; the baseline has no such ids.
    #[arg(long)]
    pub request_ids: bool,
    /// The redis-server binary of the baseline.
    #[arg(long, default_value = "redis-server")]
    pub redis_server: PathBuf,
    /// Run Blytz and the baselines this many times, taking turns (Blytz,
    /// then each baseline, then Blytz again), each for `--duration`:
    /// prints each round's ratios and their median, and reports the rounds
    /// merged. On a shared machine whose speed drifts from minute to
    /// minute, turns compare better than one run of each.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// Also run the server of another build of this program (the path of
    /// its `blytz-bench` binary) in every round, on the same backend, right
    /// after this build's turn (before it in every second round): prints
    /// this build's ratios to it (round by round with `--rounds`, and their
    /// median), and reports it beside the baselines as `other_build`. For a
    /// change measured before and after on a machine whose speed drifts.
    #[arg(long, conflicts_with = "url")]
    pub against: Option<PathBuf>,
}

/// `fanout`.
#[derive(Debug, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub common: Common,
    /// Watchers (anonymous connections subscribed to the room).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=19000))]
    pub watchers: u32,
    /// Bidders taking turns.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(2..=100))]
    pub bidders: u32,
    /// Bids a second placed by the bidders together.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// How long to bid once every watcher is in the room.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Connections opened at once while the room fills.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Skip the bare sender's turn (the baseline: the same room's frames
    /// sent by a process that does nothing else).
    #[arg(long)]
    pub no_baseline: bool,
}

/// `connections`.
#[derive(Debug, Args)]
pub struct ConnectionsArgs {
    #[command(flatten)]
    pub common: Common,
    /// Idle connections to open.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=19000))]
    pub connections: u32,
    /// Subscribe each connection to one auction room (else they only connect).
    #[arg(long)]
    pub subscribe: bool,
    /// Connections opened at once.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Wait this long with every connection open before reading memory.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub settle: Duration,
}

/// `cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Nodes of the cluster (the bidding is then repeated on one node).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(2..=16))]
    pub nodes: u32,
    /// Virtual users (bidders), each with its own connection and account.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(2..=5000))]
    pub vus: u32,
    /// How long to bid, e.g. 15s, 500ms, 2m.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Spread the bidders over this many auctions (at least 2 bidders each).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=2500))]
    pub auctions: u32,
    /// The PostgreSQL server to make the cluster's fresh database on (e.g.
    /// postgres://postgres@127.0.0.1:5432/postgres). Required.
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The Redis the nodes share (e.g. redis://127.0.0.1:6379). Required.
    #[arg(long, env = "BENCH_REDIS_URL")]
    pub redis_url: Option<String>,
    /// HTTP worker threads of each node (0 = the server's default).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// `BLYTZ_LEASE_MS` of every node (the server's default).
    #[arg(long, default_value_t = 1200)]
    pub lease_ms: u64,
    /// `BLYTZ_LEASE_RENEW_MS` of every node (at most a third of --lease-ms).
    #[arg(long, default_value_t = 300)]
    pub lease_renew_ms: u64,
    /// REST bids sent to an auction's owner, and as many to a node that
    /// forwards them, alternating.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub forward_bids: u32,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write a latency plot (SVG) here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// The hidden `bare-room` subcommand.
#[derive(Debug, Args)]
pub struct BareArgs {
    /// Frames a second once told `go`.
    #[arg(long)]
    pub rate: f64,
}

/// The hidden `serve` subcommand.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Folder for the SQLite file.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// A PostgreSQL server to make a fresh database on (else SQLite).
    #[arg(long)]
    pub database_url: Option<String>,
    /// HTTP worker threads (0 = the server's default).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Email and push notices through a mail server and a push service
    /// that are down.
    #[arg(long)]
    pub dead_notifications: bool,
    /// Join a cluster (`BLYTZ_CLUSTER=on`) as the node of this id, on the
    /// database at --shared-database-url and the Redis at --redis-url.
    #[arg(long, requires_all = ["shared_database_url", "redis_url"], conflicts_with = "database_url")]
    pub node_id: Option<String>,
    /// A migrated PostgreSQL database the nodes share, used as it is.
    #[arg(long, requires = "node_id")]
    pub shared_database_url: Option<String>,
    /// The Redis the nodes share.
    #[arg(long, requires = "node_id")]
    pub redis_url: Option<String>,
    /// `BLYTZ_LEASE_MS` of a node.
    #[arg(long, default_value_t = 2000)]
    pub lease_ms: u64,
    /// `BLYTZ_LEASE_RENEW_MS` of a node.
    #[arg(long, default_value_t = 400)]
    pub lease_renew_ms: u64,
}

/// The hidden `blytz` subcommand: the server binary's arguments.
#[derive(Debug, Args)]
pub struct BlytzArgs {
    /// Everything after `blytz`, e.g. `admin create --email E`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `30s`, `500ms`, `2m`, `1.5s`, or a plain number of seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration like 30s, 500ms or 2m"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => bail!("unknown unit {other:?} in {text:?}: use ms, s, m or h"),
    };
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 24.0 * 3600.0) {
        bail!("{text:?}: a duration must be above 0 and at most 24h");
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3 fortnights").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn the_command_line_parses() {
        let cli = Cli::try_parse_from(["blytz-bench", "bids", "--vus", "50", "--duration", "5s"])
            .unwrap();
        let Command::Bids(args) = cli.command else {
            panic!("not bids");
        };
        assert_eq!(args.vus, 50);
        assert_eq!(args.duration, Duration::from_secs(5));
        assert!(Cli::try_parse_from(["blytz-bench", "bids", "--vus", "1"]).is_err());
        assert!(Cli::try_parse_from(["blytz-bench", "bids", "--duration", "soon"]).is_err());
    }

    #[test]
    fn another_build_runs_beside_a_started_server_only() {
        let cli = Cli::try_parse_from([
            "blytz-bench",
            "bids",
            "--rounds",
            "4",
            "--against",
            "/tmp/before/blytz-bench",
        ])
        .unwrap();
        let Command::Bids(args) = cli.command else {
            panic!("not bids");
        };
        assert_eq!(args.against, Some(PathBuf::from("/tmp/before/blytz-bench")));
        assert_eq!(args.rounds, 4);
        assert!(
            Cli::try_parse_from([
                "blytz-bench",
                "bids",
                "--against",
                "/tmp/before/blytz-bench",
                "--url",
                "http://127.0.0.1:8080",
            ])
            .is_err(),
            "a server named by --url has no build to compare"
        );
    }

    #[test]
    fn the_cluster_command_line_parses() {
        let cli = Cli::try_parse_from([
            "blytz-bench",
            "cluster",
            "--nodes",
            "3",
            "--auctions",
            "100",
            "--vus",
            "200",
            "--duration",
            "15s",
        ])
        .unwrap();
        let Command::Cluster(args) = cli.command else {
            panic!("not cluster");
        };
        assert_eq!((args.nodes, args.auctions, args.vus), (3, 100, 200));
        assert_eq!(args.duration, Duration::from_secs(15));
        assert!(Cli::try_parse_from(["blytz-bench", "cluster", "--nodes", "1"]).is_err());
        let cli = Cli::try_parse_from([
            "blytz-bench",
            "blytz",
            "admin",
            "create",
            "--email",
            "a@b.c",
        ])
        .unwrap();
        let Command::Blytz(args) = cli.command else {
            panic!("not blytz");
        };
        assert_eq!(args.args, ["admin", "create", "--email", "a@b.c"]);
    }
}
