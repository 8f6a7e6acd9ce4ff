//! The server a scenario drives: one it started, or one named by `--url`.

use std::path::Path;

use anyhow::{Context, bail};
use tokio::time::Instant;

use crate::cli::Common;
use crate::server::ServerProcess;

/// A server under test.
#[derive(Debug)]
pub struct Target {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its process id, when known (for `/proc` readings).
    pub pid: Option<u32>,
    /// `sqlite`, `postgres` or `external`.
    pub backend: &'static str,
    server: Option<ServerProcess>,
}

impl Target {
    /// Start a server, or use the one at `--url`.
    pub async fn open(common: &Common) -> anyhow::Result<Self> {
        Self::open_build(common, None).await
    }

    /// Start a server of this program, or of the `blytz-bench` binary at
    /// `build` (another build of it), or use the one at `--url`.
    pub async fn open_build(common: &Common, build: Option<&Path>) -> anyhow::Result<Self> {
        if let Some(url) = &common.url {
            if build.is_some() {
                bail!("another build's server cannot be started with --url");
            }
            let base = url.trim_end_matches('/').to_owned();
            if !(base.starts_with("http://127.0.0.1") || base.starts_with("http://localhost")) {
                bail!("--url must be a loopback http:// address (127.0.0.1 or localhost)");
            }
            return Ok(Self {
                base,
                pid: common.server_pid,
                backend: "external",
                server: None,
            });
        }
        eprintln!(
            "starting a server{} on a fresh {} database ...",
            build.map_or_else(String::new, |build| format!(
                " of the build at {}",
                build.display()
            )),
            if common.database_url.is_some() {
                "PostgreSQL"
            } else {
                "SQLite"
            }
        );
        let server = ServerProcess::start(
            build,
            common.database_url.as_deref(),
            common.workers,
            common.dead_notifications,
        )
        .await
        .context("starting the server under test")?;
        eprintln!("server pid {} on 127.0.0.1:{}", server.pid, server.port);
        let backend = if common.database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        };
        Ok(Self::started(server, backend))
    }

    /// A server this bench started.
    pub fn started(server: ServerProcess, backend: &'static str) -> Self {
        Self {
            base: format!("http://127.0.0.1:{}", server.port),
            pid: Some(server.pid),
            backend,
            server: Some(server),
        }
    }

    /// Kill the server this bench started with SIGKILL; answers when the
    /// signal was sent.
    pub async fn kill(&mut self) -> anyhow::Result<Instant> {
        let server = self
            .server
            .take()
            .context("only a server this bench started can be killed")?;
        self.pid = None;
        server.kill().await
    }

    /// `ws://…/ws`, with `?token=` when given.
    pub fn ws_url(&self, token: Option<&str>) -> String {
        let base = self.base.replacen("http://", "ws://", 1);
        match token {
            Some(token) => format!("{base}/ws?token={token}"),
            None => format!("{base}/ws"),
        }
    }

    /// Stop the server if this bench started it.
    pub async fn close(self) -> anyhow::Result<()> {
        match self.server {
            Some(server) => server.stop().await,
            None => Ok(()),
        }
    }
}
