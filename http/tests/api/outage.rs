//! The database goes away mid-auction: no bid is acknowledged that was not
//! committed, bidders get a quick 503 `unavailable`, `/ready` turns 503, and
//! once the database is back the auction resumes from the journal, timer
//! included, without a restart.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blytz::db::ScratchDb;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::helpers::{TestApp, TestUser, eventually, eventually_some, spawn_app_on};

/// How the test takes the database away and gives it back.
trait Outage {
    async fn cut(&mut self);
    async fn restore(&mut self);
}

/// SQLite: a second connection holds the file's write lock.
struct SqliteLock {
    url: String,
    holder: Option<sqlx::SqliteConnection>,
}

impl Outage for SqliteLock {
    async fn cut(&mut self) {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url).unwrap();
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut conn)
            .await
            .unwrap();
        self.holder = Some(conn);
    }

    async fn restore(&mut self) {
        if let Some(mut conn) = self.holder.take() {
            sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
    }
}

/// PostgreSQL: the server's pool goes through a TCP proxy that can drop
/// every connection and refuse new ones.
struct Proxy {
    down: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `target`.
    async fn start(target: String) -> (Self, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (down2, links2) = (down.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if down2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                links2.lock().unwrap().push(link.abort_handle());
            }
        });
        (Self { down, links }, port)
    }
}

impl Outage for Proxy {
    async fn cut(&mut self) {
        self.down.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    async fn restore(&mut self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

async fn bid(app: &TestApp, id: &str, bidder: &TestUser, amount: i64) -> (StatusCode, Value) {
    let res = app
        .post_json(
            &format!("/api/v1/auctions/{id}/bids"),
            &json!({ "amount": amount }),
            Some(&bidder.access_token),
        )
        .await;
    let status = res.status();
    (status, res.json().await.unwrap())
}

async fn history_ids(app: &TestApp, id: &str) -> HashSet<String> {
    let page: Value = app
        .get(&format!("/api/v1/auctions/{id}/bids?limit=100"), None)
        .await
        .json()
        .await
        .unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bid| bid["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn view(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/auctions/{id}"), None)
        .await
        .json()
        .await
        .unwrap()
}

/// The scenario, on whichever backend `app` runs.
async fn database_outage_mid_auction(app: TestApp, mut outage: impl Outage) {
    let seller = app.register("seller@example.com", "seller").await;
    let alice = app.register("alice@example.com", "buyer").await;
    let bob = app.register("bob@example.com", "buyer").await;
    let product = app.create_product(&seller).await;
    let res = app
        .post_json(
            "/api/v1/auctions",
            &json!({"product_id": product, "currency": "USD", "start_price": 100,
                    "duration_ms": 30_000, "mode": "sudden_death"}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post_json(
            &format!("/api/v1/auctions/{id}/start"),
            &json!({}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // Before: acknowledged bids.
    let mut acked = Vec::new();
    let (status, body) = bid(&app, &id, &alice, 100).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    acked.push(body["bid"]["id"].as_str().unwrap().to_owned());
    let mut next = body["auction"]["min_next_bid"].as_i64().unwrap();
    let (status, body) = bid(&app, &id, &bob, next).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    acked.push(body["bid"]["id"].as_str().unwrap().to_owned());
    next = body["auction"]["min_next_bid"].as_i64().unwrap();
    let ends_at =
        chrono::DateTime::parse_from_rfc3339(view(&app, &id).await["ends_at"].as_str().unwrap())
            .unwrap();

    // The database goes away: a bid is refused quickly with `unavailable`,
    // after one wait for the database at most (a settle of the read models
    // under way on the journal's connection does not add its own).
    outage.cut().await;
    let started = Instant::now();
    let (status, body) = bid(&app, &id, &alice, next).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(
        started.elapsed() < blytz::db::LOCK_WAIT + Duration::from_secs(2),
        "the refusal took {:?}",
        started.elapsed()
    );
    let res = app.get("/ready", None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);

    // It comes back: no restart, the auction takes bids again.
    outage.restore().await;
    eventually("/ready to turn 200", async || {
        app.get("/ready", None).await.status() == StatusCode::OK
    })
    .await;
    let accepted = eventually_some("a bid accepted after the outage", async || {
        let (status, body) = bid(&app, &id, &alice, next).await;
        if status == StatusCode::CREATED {
            return Some(body);
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        None
    })
    .await;
    acked.push(accepted["bid"]["id"].as_str().unwrap().to_owned());
    let history = history_ids(&app, &id).await;
    for bid_id in &acked {
        assert!(
            history.contains(bid_id),
            "acknowledged bid {bid_id} is missing"
        );
    }
    // The refused bid left nothing: exactly the acknowledged bids.
    assert_eq!(history.len(), acked.len(), "{history:?}");

    // The timer still ends the auction on time, with nobody asking.
    let wait = (ends_at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_secs(2)).await;
    let after = view(&app, &id).await;
    assert_eq!(after["status"], "ended", "{after}");
}

#[actix_web::test]
async fn sqlite_locked_mid_auction_answers_unavailable_then_resumes() {
    let scratch = ScratchDb::sqlite().await.unwrap();
    let url = scratch.url.clone();
    let db = scratch.db.clone();
    let app = spawn_app_on(scratch, db).await;
    database_outage_mid_auction(app, SqliteLock { url, holder: None }).await;
}

#[actix_web::test]
async fn postgres_unreachable_mid_auction_answers_unavailable_then_resumes() {
    let Some(server_url) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return;
    };
    let scratch = ScratchDb::postgres(&server_url).await.unwrap();
    let options = sqlx::postgres::PgConnectOptions::from_str(&scratch.url).unwrap();
    let target = format!("{}:{}", options.get_host(), options.get_port());
    let (proxy, port) = Proxy::start(target.clone()).await;
    let proxied = scratch
        .url
        .replacen(&target, &format!("127.0.0.1:{port}"), 1);
    assert_ne!(proxied, scratch.url, "the URL names {target}");
    let db = blytz::Db::connect(&proxied).await.unwrap();
    let app = spawn_app_on(scratch, db).await;
    database_outage_mid_auction(app, proxy).await;
}
