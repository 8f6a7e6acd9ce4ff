//! The server under test, in a child process: this binary run again with the
//! hidden `serve` subcommand. Server and load generator then each have their
//! own open-files limit, and the server's CPU and memory can be read from
//! `/proc/<pid>` apart from the load generator's.
//!
//! The child prints `BLYTZ_BENCH_PORT <port>` once it listens, and stops
//! gracefully when its stdin closes, so it never outlives the bench.
//!
//! The hidden `blytz` subcommand runs the server binary's own command line
//! (`blytz admin create`), for a scenario that needs an admin; the hidden
//! `bare-room` runs the fan-out's baseline (`crate::bare`), started and
//! read the same way.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use blytz::Config;
use blytz::db::{Db, ScratchDb};
use blytz_http::Application;
use secrecy::SecretString;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::time::Instant;

use crate::cli::{BlytzArgs, ServeArgs};

/// The line the child prints when it listens.
pub const PORT_LINE: &str = "BLYTZ_BENCH_PORT ";
/// A fixed secret: the server lives for one run on a throw-away database.
const JWT_SECRET: &str = "blytz-bench-secret-0123456789abcdef0123456789";

/// The hidden `serve` subcommand: run the server until stdin closes.
pub fn serve(args: ServeArgs) -> ExitCode {
    let system = actix_rt::System::new();
    match system.block_on(serve_until_stdin_closes(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blytz-bench serve: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_until_stdin_closes(args: ServeArgs) -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        blytz_http::telemetry::init(blytz::config::Environment::Development);
    }
    // Bound first: a cluster node advertises its `bind` to the others.
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("binding 127.0.0.1:0")?;
    let config = Config {
        bind: listener.local_addr().context("reading the bound address")?,
        data_dir: args.data_dir.clone(),
        jwt_secret: Some(SecretString::from(JWT_SECRET)),
        auth_rate_per_min: 0,
        rate_per_min: 0,
        bid_rate_per_sec: 0,
        chat_rate_per_sec: 0,
        // Every simulated client connects from 127.0.0.1: the abuse bounds
        // per address and per connection would refuse the bench's own
        // clients, as the request and bid rate limits above would. No bound
        // here touches the bid path's work or durability.
        ws_connections_per_ip: 0,
        ws_messages_per_sec: 0,
        ws_in_flight_per_connection: 0,
        workers: args.workers,
        ..Config::default()
    };
    let config = if args.dead_notifications {
        Config {
            smtp_url: Some(SecretString::from(format!(
                "smtp://127.0.0.1:{}",
                closed_port()?
            ))),
            vapid_private_key: Some(blytz::notify::push::generate_vapid_keys().0),
            push_allow_http: true,
            ..config
        }
    } else {
        config
    };
    // A cluster node: the database the bench made (and migrated) for the
    // cluster, and the rest as `BLYTZ_CLUSTER=on` with these variables.
    let config = match &args.node_id {
        Some(node_id) => Config {
            cluster: Some("on".to_owned()),
            node_id: Some(node_id.clone()),
            database_url: args.shared_database_url.clone(),
            redis_url: args.redis_url.clone(),
            lease_ms: args.lease_ms,
            lease_renew_ms: args.lease_renew_ms,
            ..config
        },
        None => config,
    };
    // Keeps a scratch PostgreSQL database's pool alive while serving.
    let (db, _scratch) = match (&args.shared_database_url, &args.database_url) {
        (Some(url), _) => (Db::connect(url).await?, None),
        (None, Some(url)) => {
            let scratch = ScratchDb::postgres(url).await?;
            (scratch.db.clone(), Some(scratch))
        }
        (None, None) => (sqlite_in(&args.data_dir).await?, None),
    };
    let app = Application::build_with(config, db, listener).await?;
    let handle = app.handle();
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{PORT_LINE}{}", app.port()).context("writing the port")?;
    stdout.flush().context("writing the port")?;

    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        let _gone = closed_tx.send(());
    });
    actix_rt::spawn(async move {
        let _ = closed_rx.await;
        handle.stop(true).await;
    });
    app.run_until_stopped().await.context("serving")
}

/// The hidden `blytz` subcommand: the server binary's command line, as if
/// run as `blytz <args>`, configured from the environment as it is.
pub fn blytz(args: BlytzArgs) -> ExitCode {
    use clap::Parser;
    let cli = match blytz_http::cli::Cli::try_parse_from(
        std::iter::once("blytz".to_owned()).chain(args.args),
    ) {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    actix_rt::System::new().block_on(blytz_http::cli::run(cli))
}

/// An admin account on the database at `database_url`, made as an operator
/// makes one: `blytz admin create --email <email>` with the password in
/// `BLYTZ_ADMIN_PASSWORD` (this binary's hidden `blytz` subcommand).
pub async fn create_admin(database_url: &str, email: &str, password: &str) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding this program to run `blytz admin`")?;
    let data = tempfile::Builder::new()
        .prefix("blytz-bench-admin-")
        .tempdir()
        .context("creating a temporary folder")?;
    let status = Command::new(exe)
        .args(["blytz", "admin", "create", "--email", email])
        .env("BLYTZ_ADMIN_PASSWORD", password)
        .env("DATABASE_URL", database_url)
        .env("JWT_SECRET", JWT_SECRET)
        .env("BLYTZ_DATA_DIR", data.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .context("running `blytz admin create`")?;
    if !status.success() {
        bail!("`blytz admin create` exited with {status}");
    }
    Ok(())
}

/// How a child server joins a cluster.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// Its `BLYTZ_NODE_ID`.
    pub node_id: String,
    /// The cluster's database (made and migrated by the bench).
    pub database_url: String,
    /// The Redis the nodes share.
    pub redis_url: String,
    /// `BLYTZ_LEASE_MS`.
    pub lease_ms: u64,
    /// `BLYTZ_LEASE_RENEW_MS`.
    pub lease_renew_ms: u64,
}

/// A port on 127.0.0.1 that nothing listens on (it was free a moment ago).
pub fn closed_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("finding a free port")?;
    Ok(listener.local_addr().context("reading a free port")?.port())
}

/// `serve` in a fresh temporary folder, its stdin and stdout piped, killed
/// if dropped.
fn serve_command(
    build: Option<&Path>,
    workers: usize,
) -> anyhow::Result<(Command, tempfile::TempDir)> {
    let data = tempfile::Builder::new()
        .prefix("blytz-bench-")
        .tempdir()
        .context("creating a temporary folder")?;
    let mut command = child_command(build, "serve")?;
    command
        .arg("--data-dir")
        .arg(data.path())
        .arg("--workers")
        .arg(workers.to_string());
    Ok((command, data))
}

/// This program, or the `blytz-bench` binary at `build`, run again as
/// `subcommand`: its stdin and stdout piped, killed if dropped.
fn child_command(build: Option<&Path>, subcommand: &str) -> anyhow::Result<Command> {
    let exe = match build {
        Some(build) => build.to_owned(),
        None => std::env::current_exe().context("finding this program to run it again")?,
    };
    let mut command = Command::new(exe);
    command
        .arg(subcommand)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    Ok(command)
}

async fn sqlite_in(dir: &Path) -> anyhow::Result<Db> {
    let url = format!("sqlite://{}", dir.join("blytz.db").display());
    let db = Db::connect(&url).await?;
    db.migrate().await?;
    Ok(db)
}

/// A running child server. Dropping it kills the child; [`Self::stop`] lets
/// it shut down gracefully first.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Its process id.
    pub pid: u32,
    /// Its SQLite folder, removed on drop (after the child is gone).
    _data: Option<tempfile::TempDir>,
}

impl ServerProcess {
    /// Start a server on a fresh SQLite database, or on a fresh database on
    /// the PostgreSQL server at `database_url`: this program's, or that of
    /// the `blytz-bench` binary at `build` (another build of it).
    pub async fn start(
        build: Option<&Path>,
        database_url: Option<&str>,
        workers: usize,
        dead_notifications: bool,
    ) -> anyhow::Result<Self> {
        let (mut command, data) = serve_command(build, workers)?;
        if let Some(url) = database_url {
            command.arg("--database-url").arg(url);
        }
        if dead_notifications {
            command.arg("--dead-notifications");
        }
        Self::spawn(command, Some(data)).await
    }

    /// Start a node of a cluster (`BLYTZ_CLUSTER=on`), configured as
    /// [`Self::start`] configures a server otherwise.
    pub async fn start_node(node: &NodeSettings, workers: usize) -> anyhow::Result<Self> {
        let (mut command, data) = serve_command(None, workers)?;
        command
            .arg("--node-id")
            .arg(&node.node_id)
            .arg("--shared-database-url")
            .arg(&node.database_url)
            .arg("--redis-url")
            .arg(&node.redis_url)
            .arg("--lease-ms")
            .arg(node.lease_ms.to_string())
            .arg("--lease-renew-ms")
            .arg(node.lease_renew_ms.to_string());
        Self::spawn(command, Some(data)).await
    }

    /// Start the fan-out's bare sender (the hidden `bare-room`), making
    /// `rate` frames a second once told `go` ([`Self::say`]).
    pub async fn start_bare(rate: f64) -> anyhow::Result<Self> {
        let mut command = child_command(None, "bare-room")?;
        command.arg("--rate").arg(rate.to_string());
        Self::spawn(command, None).await
    }

    /// Writes `line` to its stdin.
    pub async fn say(&mut self, line: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("its stdin is closed")?;
        stdin.write_all(format!("{line}\n").as_bytes()).await?;
        stdin.flush().await?;
        Ok(())
    }

    /// Run `command` and wait for its port line.
    async fn spawn(mut command: Command, data: Option<tempfile::TempDir>) -> anyhow::Result<Self> {
        let mut child = command.spawn().context("starting the server process")?;
        let pid = child.id().context("the server process has no id")?;
        let stdout = child.stdout.take().context("no stdout from the server")?;
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(port) = line.strip_prefix(PORT_LINE) {
                    return port.trim().parse::<u16>().context("parsing the port");
                }
            }
            bail!("the server exited before it listened")
        })
        .await
        .context("the server did not listen within 120 s")??;
        let stdin = child.stdin.take();
        Ok(Self {
            child,
            stdin,
            port,
            pid,
            _data: data,
        })
    }

    /// Kill it with SIGKILL (`kill -9`: no chance to hand anything over) and
    /// reap it; answers when the signal was sent.
    pub async fn kill(mut self) -> anyhow::Result<Instant> {
        let at = Instant::now();
        self.child.start_kill().context("killing the server")?;
        self.child
            .wait()
            .await
            .context("waiting for the killed server")?;
        Ok(at)
    }

    /// Close its stdin and wait (at most 15 s) for it to stop; then kill it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(status) => {
                let status = status.context("waiting for the server")?;
                if !status.success() {
                    eprintln!("the server exited with {status}");
                }
            }
            Err(_) => {
                eprintln!("the server did not stop within 15 s: killing it");
                self.child.kill().await.context("killing the server")?;
            }
        }
        Ok(())
    }
}
