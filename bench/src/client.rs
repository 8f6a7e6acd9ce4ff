//! Setting the stage over REST (accounts, products, live auctions) and
//! opening WebSocket connections.

use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::stream::{self, TryStreamExt};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::target::Target;

/// A WebSocket connection to the server.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A registered account.
#[derive(Debug, Clone)]
pub struct User {
    /// Its id.
    pub id: String,
    /// Its access token.
    pub token: String,
}

/// A REST client for the target.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    /// Makes emails unique per run, so `--url` can be used twice.
    run: String,
}

impl Api {
    /// A client for `target`.
    pub fn new(target: &Target) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(1024)
            .build()
            .context("building the HTTP client")?;
        let run = chrono::Utc::now()
            .timestamp_nanos_opt()
            .unwrap_or_default()
            .to_string();
        Ok(Self {
            http,
            base: target.base.clone(),
            run,
        })
    }

    /// The shared HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> anyhow::Result<Value> {
        let mut request = self.http.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("reading the answer to POST {path}"))?;
        if !status.is_success() {
            bail!("POST {path} answered {status}: {body}");
        }
        Ok(body)
    }

    /// Register a `role` account named after `label`.
    pub async fn register(&self, label: &str, role: &str) -> anyhow::Result<User> {
        let email = format!("bench-{}-{label}@example.com", self.run);
        let body = self
            .post(
                "/api/v1/auth/register",
                &json!({"email": email, "password": "bench password 123",
                        "display_name": label, "role": role}),
                None,
            )
            .await
            .context("registering a bench account (are auth rate limits off?)")?;
        Ok(User {
            id: str_field(&body["user"]["id"], "user.id")?,
            token: str_field(&body["access_token"], "access_token")?,
        })
    }

    /// Sign in to an existing account; answers its access token.
    pub async fn login(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let body = self
            .post(
                "/api/v1/auth/login",
                &json!({"email": email, "password": password}),
                None,
            )
            .await
            .context("signing in")?;
        str_field(&body["access_token"], "access_token")
    }

    /// Register `count` buyers, a few at a time (passwords are hashed with argon2).
    pub async fn register_buyers(&self, prefix: &str, count: u32) -> anyhow::Result<Vec<User>> {
        register_buyers_over(std::slice::from_ref(self), prefix, count).await
    }

    /// A push subscription for each of `users` at a push service that is
    /// down (a port nothing listens on), with keys of the right shape.
    pub async fn subscribe_push_nowhere(&self, users: &[User]) -> anyhow::Result<()> {
        let port = crate::server::closed_port()?;
        for (i, user) in users.iter().enumerate() {
            let (_, browser_key) = blytz::notify::push::generate_vapid_keys();
            self.post(
                "/api/v1/push/subscriptions",
                &json!({"endpoint": format!("http://127.0.0.1:{port}/push/{i}"),
                        "keys": {"p256dh": browser_key, "auth": "AAECAwQFBgcICQoLDA0ODw"}}),
                Some(&user.token),
            )
            .await
            .context("storing a push subscription")?;
        }
        Ok(())
    }

    /// A product of `seller` and a live auction of it, lasting `duration`.
    pub async fn live_auction(&self, seller: &User, duration: Duration) -> anyhow::Result<String> {
        let product = self
            .post(
                "/api/v1/products",
                &json!({"title": "Bench lot", "description": "A lot for the load test",
                        "condition": "used", "currency": "USD", "start_price": 1000,
                        "status": "active"}),
                Some(&seller.token),
            )
            .await?;
        let product = str_field(&product["id"], "product id")?;
        let auction = self
            .post(
                "/api/v1/auctions",
                &json!({"product_id": product, "currency": "USD", "start_price": 100,
                        "duration_ms": duration.as_millis() as u64, "mode": "standard"}),
                Some(&seller.token),
            )
            .await?;
        let id = str_field(&auction["id"], "auction id")?;
        self.post(
            &format!("/api/v1/auctions/{id}/start"),
            &json!({}),
            Some(&seller.token),
        )
        .await?;
        Ok(id)
    }
}

/// Register `count` buyers, buyer `i` through `apis[i % apis.len()]` (the
/// nodes of a cluster share the sign-up work), a few at a time.
pub async fn register_buyers_over(
    apis: &[Api],
    prefix: &str,
    count: u32,
) -> anyhow::Result<Vec<User>> {
    if apis.is_empty() {
        bail!("no server to register buyers at");
    }
    stream::iter(0..count)
        .map(|i| async move {
            let api = &apis[i as usize % apis.len()];
            api.register(&format!("{prefix}{i}"), "buyer").await
        })
        .buffered(8)
        .try_collect()
        .await
}

fn str_field(value: &Value, what: &str) -> anyhow::Result<String> {
    value
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no {what} in the answer"))
}

/// Small read buffers: the bench holds thousands of connections whose
/// frames are all small (the server refuses frames over 16 KiB anyway).
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0)
}

/// Open a WebSocket (Nagle off: small frames must not wait).
pub async fn connect_ws(url: &str) -> anyhow::Result<Ws> {
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async_with_config(url, Some(ws_config()), true),
    )
    .await
    .context("WebSocket connect timed out after 30 s")?
    .context("WebSocket connect")?;
    Ok(ws)
}

/// Open an anonymous connection and, when `room` is given, subscribe to it
/// and wait for `subscribed`.
pub async fn open_watcher(url: &str, room: Option<&str>) -> anyhow::Result<Ws> {
    let mut ws = connect_ws(url).await?;
    let Some(room) = room else {
        return Ok(ws);
    };
    ws.send(Message::Text(
        json!({"type": "subscribe", "id": "1", "room": room})
            .to_string()
            .into(),
    ))
    .await
    .context("subscribing")?;
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(message) = ws.next().await {
            if let Message::Text(text) = message.context("reading")?
                && text.contains("\"subscribed\"")
            {
                return Ok(());
            }
        }
        bail!("closed before subscribed")
    })
    .await
    .context("no subscribed reply within 30 s")??;
    Ok(ws)
}

/// Opens `count` watchers of `room` (see [`open_watcher`]), `concurrency`
/// at a time, counting them in `opened` and saying every thousandth as
/// `"{n} {what}"`.
pub async fn open_watchers(
    target: &Target,
    room: Option<&str>,
    count: u32,
    concurrency: usize,
    opened: &std::sync::atomic::AtomicU64,
    what: &str,
) -> anyhow::Result<Vec<Ws>> {
    let url = target.ws_url(None);
    open_counted(count, concurrency, opened, what, || {
        open_watcher(&url, room)
    })
    .await
}

/// Runs `open` `count` times, `concurrency` at a time, counting what opened
/// in `opened` and saying every thousandth as `"{n} {what}"`.
pub async fn open_counted<T, F>(
    count: u32,
    concurrency: usize,
    opened: &std::sync::atomic::AtomicU64,
    what: &str,
    open: impl Fn() -> F,
) -> anyhow::Result<Vec<T>>
where
    F: Future<Output = anyhow::Result<T>>,
{
    stream::iter(0..count)
        .map(|_| async {
            let connection = open().await?;
            let n = opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n.is_multiple_of(1000) {
                eprintln!("  {n} {what}");
            }
            anyhow::Ok(connection)
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await
}
