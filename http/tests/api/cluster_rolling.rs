//! A rolling restart of a three-node cluster during a live auction: each
//! node in turn gets SIGTERM (it answers `/ready` with 503, hands its shards
//! over, closes its WebSockets with 1012 and exits) and is started again,
//! while bidders keep bidding through whichever nodes are up and watchers
//! reconnect wherever they can. No acknowledged bid is lost, the deadline
//! does not move, and every watcher's seq is gapless or healed by a snapshot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use uuid::Uuid;

use crate::cluster::{Acked, Cluster, buyer, journal_holds, view};
use crate::server_process::Account;

/// The base URLs of the nodes a client may use now (a balancer's pool).
type Pool = Arc<Mutex<Vec<String>>>;

fn pick(pool: &Pool, turn: usize) -> Option<String> {
    let pool = pool.lock().unwrap();
    (!pool.is_empty()).then(|| pool[turn % pool.len()].clone())
}

/// What a watcher saw.
#[derive(Debug, Default)]
struct Watched {
    /// The last seq it holds (from an event or a snapshot).
    last: u64,
    /// Closes with 1012 (a node restarting).
    restarts: usize,
    /// Snapshots on resubscribing that skipped frames it had not seen.
    healed: usize,
    /// Anything out of order: a gap no snapshot healed, a duplicate, a
    /// snapshot older than what it had.
    faults: Vec<String>,
}

/// Watches `auction` through the pool until `stop`, reconnecting (to the
/// next node) whenever its socket closes.
async fn watch_through_restarts(pool: Pool, auction: String, stop: Arc<AtomicBool>) -> Watched {
    let mut watched = Watched::default();
    let mut held: Option<u64> = None;
    let mut turn = 0;
    while !stop.load(Ordering::Relaxed) {
        turn += 1;
        let Some(address) = pick(&pool, turn) else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let url = format!("{}/ws", address.replacen("http://", "ws://", 1));
        let Ok((mut socket, _)) = connect_async(url).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let subscribe =
            json!({"type": "subscribe", "id": "s", "room": format!("auction:{auction}")});
        if socket
            .send(Message::Text(subscribe.to_string().into()))
            .await
            .is_err()
        {
            continue;
        }
        loop {
            let next = tokio::time::timeout(Duration::from_millis(300), socket.next()).await;
            let message = match next {
                Err(_) if stop.load(Ordering::Relaxed) => return finish(watched, held),
                Err(_) => continue,
                Ok(Some(Ok(message))) => message,
                Ok(_) => break,
            };
            let frame: Value = match message {
                Message::Text(text) => serde_json::from_str(&text).unwrap(),
                Message::Close(close) => {
                    if close.is_some_and(|c| c.code == CloseCode::Restart) {
                        watched.restarts += 1;
                    }
                    break;
                }
                _ => continue,
            };
            if frame["type"] == "subscribed" {
                let seq = frame["snapshot"]["seq"].as_u64().unwrap();
                match held {
                    Some(had) if seq < had => {
                        watched
                            .faults
                            .push(format!("a snapshot at {seq} after {had}"));
                    }
                    Some(had) if seq > had => watched.healed += 1,
                    _ => {}
                }
                held = Some(seq.max(held.unwrap_or(0)));
                continue;
            }
            let Some(seq) = frame["seq"].as_u64() else {
                continue;
            };
            let Some(had) = held else { continue };
            if frame["type"] == "auction.snapshot" {
                held = Some(had.max(seq));
            } else if seq == had + 1 {
                held = Some(seq);
            } else if seq <= had {
                watched
                    .faults
                    .push(format!("{} at {seq} after {had}", frame["type"]));
            } else {
                watched
                    .faults
                    .push(format!("a gap: {} at {seq} after {had}", frame["type"]));
                held = Some(seq);
            }
        }
    }
    finish(watched, held)
}

fn finish(mut watched: Watched, held: Option<u64>) -> Watched {
    watched.last = held.unwrap_or(0);
    watched
}

/// Bids the minimum through the pool until `stop`; a bid whose answer is
/// lost (a node stopping) is sent again with the same request id to the
/// next node, so it is placed once.
async fn bid_through_restarts(
    pool: Pool,
    who: Account,
    auction: String,
    stop: Arc<AtomicBool>,
) -> Acked {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(8))
        .build()
        .unwrap();
    let mut acked = Acked::default();
    let mut amount = 1_000;
    let mut request_id = Uuid::now_v7().to_string();
    let mut turn = 0;
    while !stop.load(Ordering::Relaxed) {
        turn += 1;
        let Some(address) = pick(&pool, turn) else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let answer = client
            .post(format!("{address}/api/v1/auctions/{auction}/bids"))
            .bearer_auth(&who.token)
            .json(&json!({"amount": amount, "request_id": request_id}))
            .send()
            .await;
        let Ok(response) = answer else { continue };
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == StatusCode::CREATED {
            acked.record(&body);
            amount = body["auction"]["min_next_bid"].as_i64().unwrap();
            request_id = Uuid::now_v7().to_string();
            tokio::time::sleep(Duration::from_millis(10)).await;
        } else if let Some(min) = body["error"]["details"]["min_bid"].as_i64() {
            amount = min;
            request_id = Uuid::now_v7().to_string();
        } else if body["error"]["code"] == "already_leading" {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Anything else (a node stopping, a takeover under way): the same
        // bid again, with the same request id, through the next node.
    }
    acked
}

#[tokio::test]
async fn a_rolling_restart_of_every_node_loses_no_bid_and_keeps_the_deadline() {
    let Some(mut cluster) = Cluster::start(3).await else {
        return;
    };
    let auction = cluster.live_auction(120_000).await;
    let (_, before) = view(cluster.node(1), &auction).await;
    let ends_at: chrono::DateTime<chrono::Utc> =
        before["ends_at"].as_str().unwrap().parse().unwrap();
    let pool: Pool = Arc::new(Mutex::new(
        (0..3).map(|n| cluster.node(n).url("")).collect(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let stop_watching = Arc::new(AtomicBool::new(false));
    let watchers: Vec<_> = (0..3)
        .map(|_| {
            tokio::spawn(watch_through_restarts(
                pool.clone(),
                auction.clone(),
                stop_watching.clone(),
            ))
        })
        .collect();
    let mut bidders = Vec::new();
    for name in ["ann", "bob"] {
        let who = buyer(cluster.node(0), name).await;
        bidders.push(tokio::spawn(bid_through_restarts(
            pool.clone(),
            who,
            auction.clone(),
            stop.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    for index in 0..3 {
        let node = cluster.nodes[index].as_mut().unwrap();
        let address = node.url("");
        let pid = node.pid();
        let term = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        // Draining: the balancer is told to send nothing new.
        let asked = Instant::now();
        loop {
            let ready = node.client.get(node.url("/ready")).send().await;
            match ready.map(|r| r.status()) {
                Ok(StatusCode::SERVICE_UNAVAILABLE) => break,
                Ok(_) if asked.elapsed() < Duration::from_secs(2) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                other => panic!("node {index} never said it was stopping: {other:?}"),
            }
        }
        pool.lock().unwrap().retain(|a| *a != address);
        let exited = tokio::time::timeout(Duration::from_secs(30), node.child.wait())
            .await
            .expect("the node stops within 30 s of SIGTERM")
            .unwrap();
        assert!(exited.success(), "node {index} exited with {exited}");
        let log = node.log_text();
        assert!(
            log.contains("every shard handed over"),
            "node {index} handed its shards over:\n{log}"
        );
        let fresh = cluster.start_node(index).await;
        pool.lock().unwrap().push(fresh.url(""));
        cluster.nodes[index] = Some(fresh);
        cluster.wait_balanced(3).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let started = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let mut acked = Acked::default();
    for bidder in bidders {
        let mine = bidder.await.unwrap();
        acked.ids.extend(mine.ids);
    }
    assert!(
        acked.ids.len() >= 10,
        "bidding went on through the restarts: {} bids",
        acked.ids.len()
    );
    assert!(
        journal_holds(&cluster, &auction, &acked).await,
        "an acknowledged bid is missing from the journal"
    );
    let (_, after) = view(cluster.node(2), &auction).await;
    // The last frames reach every watcher before it stops.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop_watching.store(true, Ordering::Relaxed);
    let moved: chrono::DateTime<chrono::Utc> = after["ends_at"].as_str().unwrap().parse().unwrap();
    let drift = (moved - ends_at).num_milliseconds().abs();
    println!(
        "rolling restart: {} bids acknowledged, ends_at moved by {drift} ms",
        acked.ids.len()
    );
    assert!(drift <= 100, "the deadline moved by {drift} ms");
    let last = after["seq"].as_u64().unwrap();
    let mut restarts = 0;
    for watcher in watchers {
        let watched = watcher.await.unwrap();
        assert!(
            watched.faults.is_empty(),
            "a watcher saw frames out of order: {:?}",
            watched.faults
        );
        assert_eq!(watched.last, last, "a watcher is behind: {watched:?}");
        restarts += watched.restarts;
    }
    assert!(restarts >= 1, "watchers were told to reconnect with 1012");
    assert!(started.elapsed() < Duration::from_secs(30));
}
