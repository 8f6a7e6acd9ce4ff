//! The server binary in a child process, as an operator runs it: its
//! resident memory is read from `/proc/<pid>/status` and its log from its
//! output, apart from the test's own.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use blytz::db::ScratchDb;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{JWT_SECRET, free_port};

/// A running server binary on a scratch database.
pub struct ServerProcess {
    pub child: tokio::process::Child,
    pub address: String,
    pub client: reqwest::Client,
    pub log: PathBuf,
    _scratch: Option<ScratchDb>,
    _dir: tempfile::TempDir,
}

/// A test that fails with a server running shows the end of its log: the
/// log is deleted with the server's folder.
impl Drop for ServerProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- the last lines of the log of the server at {} ---\n{}",
                self.address,
                self.log_tail(80)
            );
        }
    }
}

/// A user of the child server.
pub struct Account {
    pub token: String,
}

impl ServerProcess {
    /// Starts the binary with `env` over the test defaults (no REST rate
    /// limits, a fixed secret, two workers) on PostgreSQL when
    /// `TEST_DATABASE_URL` is set, else a SQLite file of its own.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let scratch = match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Some(ScratchDb::postgres(&url).await.unwrap()),
            _ => None,
        };
        let database_url = scratch.as_ref().map_or_else(
            || format!("sqlite://{}", dir.path().join("data/blytz.db").display()),
            |s| s.url.clone(),
        );
        Self::start_on(dir, scratch, &database_url, env).await
    }

    /// The same on `database_url`.
    pub async fn start_on(
        dir: tempfile::TempDir,
        scratch: Option<ScratchDb>,
        database_url: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let port = free_port();
        let log = dir.path().join("server.log");
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_blytz"));
        command
            .current_dir(dir.path())
            .env_clear()
            .env("BLYTZ_BIND", format!("127.0.0.1:{port}"))
            .env("BLYTZ_DATA_DIR", dir.path().join("data"))
            .env("DATABASE_URL", database_url)
            .env("JWT_SECRET", JWT_SECRET)
            .env("BLYTZ_AUTH_RATE_PER_MIN", "0")
            .env("BLYTZ_RATE_PER_MIN", "0")
            .env("BLYTZ_BID_RATE_PER_SEC", "0")
            .env("BLYTZ_WORKERS", "2")
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().unwrap();
        let server = Self {
            child,
            address: format!("127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            log,
            _scratch: scratch,
            _dir: dir,
        };
        server.wait_until_healthy().await;
        server
    }

    async fn wait_until_healthy(&self) {
        for _ in 0..300 {
            if let Ok(res) = self.client.get(self.url("/health")).send().await
                && res.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server never answered /health: {}", self.log_text());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.address)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server is running")
    }

    /// Resident memory in bytes (`VmRSS`).
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb * 1024
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap()
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.delete(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap()
    }

    pub async fn register(&self, email: &str, role: &str) -> Account {
        let res = self
            .post(
                "/api/v1/auth/register",
                &json!({"email": email, "password": "correct horse battery",
                        "display_name": "Tester", "role": role}),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        Account {
            token: body["access_token"].as_str().unwrap().to_owned(),
        }
    }

    /// A live auction of a new product of `seller`; answers its id.
    pub async fn live_auction(&self, seller: &Account, duration_ms: u64) -> String {
        let res = self
            .post(
                "/api/v1/products",
                &json!({"title": "Vintage camera", "description": "Works", "condition": "used",
                        "currency": "USD", "start_price": 1000, "status": "active"}),
                Some(&seller.token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let product: Value = res.json().await.unwrap();
        let res = self
            .post(
                "/api/v1/auctions",
                &json!({"product_id": product["id"], "currency": "USD", "start_price": 1000,
                        "duration_ms": duration_ms, "mode": "standard"}),
                Some(&seller.token),
            )
            .await;
        let status = res.status();
        let auction: Value = res.json().await.unwrap();
        // The body names the error when the creation fails (the server's
        // own log is gone with its folder).
        assert_eq!(status, StatusCode::CREATED, "{auction}");
        let id = auction["id"].as_str().unwrap().to_owned();
        let res = self
            .post(
                &format!("/api/v1/auctions/{id}/start"),
                &json!({}),
                Some(&seller.token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        id
    }
}
