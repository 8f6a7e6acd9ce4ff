//! The server binary is killed with SIGKILL under concurrent bidding and
//! restarted on the same database: nothing acknowledged is lost.

use std::cell::RefCell;
use std::collections::HashSet;
use std::process::Stdio;
use std::rc::Rc;
use std::time::Duration;

use blytz::db::ScratchDb;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::helpers::{JWT_SECRET, free_port};

struct Server {
    child: Child,
    base: String,
}

async fn start_server(database_url: &str, data_dir: &std::path::Path, port: u16) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_blytz"))
        .env_clear()
        .env("BLYTZ_BIND", format!("127.0.0.1:{port}"))
        .env("BLYTZ_DATA_DIR", data_dir)
        .env("DATABASE_URL", database_url)
        .env("JWT_SECRET", JWT_SECRET)
        .env("BLYTZ_RATE_PER_MIN", "0")
        .env("BLYTZ_AUTH_RATE_PER_MIN", "0")
        .env("BLYTZ_BID_RATE_PER_SEC", "0")
        .env("BLYTZ_WORKERS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = Client::new();
    for _ in 0..600 {
        if client.get(format!("{base}/health")).send().await.is_ok() {
            return Server { child, base };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not come up");
}

impl Server {
    async fn kill9(mut self) {
        // tokio's kill sends SIGKILL on Unix.
        self.child.kill().await.unwrap();
    }
}

async fn post(client: &Client, url: String, token: &str, body: Value) -> (StatusCode, Value) {
    let res = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn register(client: &Client, base: &str, email: &str, role: &str) -> (String, String) {
    let res = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": email, "password": "correct horse battery", "display_name": email, "role": role}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    (
        body["user"]["id"].as_str().unwrap().to_owned(),
        body["access_token"].as_str().unwrap().to_owned(),
    )
}

/// Bid ids in the journal, with the kind of event that recorded each.
async fn journaled_bid_ids(db: &blytz::Db) -> std::collections::HashMap<String, String> {
    let rows: Vec<(String, sqlx::types::Json<Value>)> = blytz::with_db!(db, pool => {
        sqlx::query_as(
            "SELECT kind, payload FROM auction_events WHERE kind IN ('bid_placed', 'max_raised')",
        )
        .fetch_all(pool)
        .await
    })
    .unwrap();
    rows.into_iter()
        .map(|(kind, payload)| (payload.0["bid_id"].as_str().unwrap().to_owned(), kind))
        .collect()
}

async fn view(client: &Client, base: &str, id: &str) -> Value {
    client
        .get(format!("{base}/api/v1/auctions/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn history(client: &Client, base: &str, id: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/v1/auctions/{id}/bids?limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

#[actix_web::test]
async fn acknowledged_bids_survive_sigkill_and_the_auction_ends_on_time() {
    let scratch = ScratchDb::from_env().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let client = Client::new();

    let server = start_server(&scratch.url, data.path(), port).await;
    let base = server.base.clone();
    let (_, seller) = register(&client, &base, "seller@example.com", "seller").await;
    let (status, product) = post(
        &client,
        format!("{base}/api/v1/products"),
        &seller,
        json!({"title": "Lot", "description": "A lot", "condition": "new", "currency": "USD",
               "start_price": 100, "status": "active"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    let (status, auction) = post(
        &client,
        format!("{base}/api/v1/auctions"),
        &seller,
        json!({"product_id": product["id"], "currency": "USD", "start_price": 100,
               "duration_ms": 25_000, "mode": "sudden_death"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{auction}");
    let id = auction["id"].as_str().unwrap().to_owned();
    let (status, _) = post(
        &client,
        format!("{base}/api/v1/auctions/{id}/start"),
        &seller,
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let mut bidders = Vec::new();
    for n in 0..4 {
        bidders.push(register(&client, &base, &format!("bidder{n}@example.com"), "buyer").await);
    }

    // Phase 1: four bidders outbid each other as fast as they can; SIGKILL mid-flight.
    let acked: Rc<RefCell<Vec<Value>>> = Rc::default();
    let mut tasks = Vec::new();
    for (_, token) in bidders.clone() {
        let (client, base, id, acked) = (client.clone(), base.clone(), id.clone(), acked.clone());
        tasks.push(actix_web::rt::spawn(async move {
            let mut amount = 100;
            loop {
                let res = client
                    .post(format!("{base}/api/v1/auctions/{id}/bids"))
                    .bearer_auth(&token)
                    .json(&json!({"amount": amount}))
                    .send()
                    .await;
                let Ok(res) = res else { return };
                let status = res.status();
                let Ok(body) = res.json::<Value>().await else {
                    return;
                };
                match status {
                    StatusCode::CREATED => {
                        amount = body["auction"]["min_next_bid"].as_i64().unwrap();
                        acked.borrow_mut().push(body);
                    }
                    StatusCode::UNPROCESSABLE_ENTITY => {
                        amount = body["error"]["details"]["min_bid"].as_i64().unwrap();
                    }
                    StatusCode::CONFLICT => {
                        // Leading already (or over): look again.
                        amount += 10;
                    }
                    other => panic!("unexpected {other}: {body}"),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    server.kill9().await;
    for task in tasks {
        task.await.unwrap();
    }
    let acked = acked.borrow().clone();
    assert!(
        acked.len() > 10,
        "only {} bids were acknowledged",
        acked.len()
    );

    let server = start_server(&scratch.url, data.path(), port).await;
    // Every acknowledged bid is in the journal. A leader who bids again only
    // raises their hidden maximum (`max_raised`): journaled and acknowledged,
    // but not a visible bid, so the public history shows only the others.
    let journaled = journaled_bid_ids(&scratch.db).await;
    let history: HashSet<String> = history(&client, &base, &id)
        .await
        .iter()
        .map(|bid| bid["id"].as_str().unwrap().to_owned())
        .collect();
    for outcome in &acked {
        let bid_id = outcome["bid"]["id"].as_str().unwrap();
        let kind = journaled.get(bid_id).map(String::as_str);
        assert!(kind.is_some(), "acknowledged bid {bid_id} was lost");
        if kind == Some("bid_placed") {
            assert!(
                history.contains(bid_id),
                "bid {bid_id} is missing from the history"
            );
        }
    }
    let after = view(&client, &base, &id).await;
    let last_ack = acked
        .iter()
        .max_by_key(|o| o["auction"]["seq"].as_u64().unwrap())
        .unwrap();
    assert!(after["seq"].as_u64() >= last_ack["auction"]["seq"].as_u64());
    assert_eq!(after["status"], "live");

    // Phase 2: a quiet moment, SIGKILL, restart: the same leader, price and deadline.
    let before = view(&client, &base, &id).await;
    server.kill9().await;
    let server = start_server(&scratch.url, data.path(), port).await;
    let after = view(&client, &base, &id).await;
    for field in [
        "leader_id",
        "current_price",
        "ends_at",
        "bid_count",
        "seq",
        "status",
    ] {
        assert_eq!(
            after[field], before[field],
            "{field} changed across SIGKILL"
        );
    }

    // The timer runs again after the restart: the auction ends at its deadline.
    let deadline =
        chrono::DateTime::parse_from_rfc3339(before["ends_at"].as_str().unwrap()).unwrap();
    let ended = loop {
        let now = view(&client, &base, &id).await;
        if now["status"] == "ended" {
            break now;
        }
        assert!(
            chrono::Utc::now() < deadline + chrono::Duration::seconds(20),
            "the auction did not end after its deadline"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ended["leader_id"], before["leader_id"]);
    assert_eq!(ended["current_price"], before["current_price"]);
    let ended_at =
        chrono::DateTime::parse_from_rfc3339(ended["ends_at"].as_str().unwrap()).unwrap();
    assert!(ended_at >= deadline, "ended before its deadline");
    server.kill9().await;
}
