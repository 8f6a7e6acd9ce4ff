//! The closed-loop bidder every bid scenario shares, and its two Blytz
//! transports (WebSocket and REST). The Redis baseline is a third transport
//! ([`crate::baseline`]).
//!
//! A virtual user watches the auction (its own room subscription, or a shared
//! one), and while someone else leads it bids the minimum next bid, waits
//! for the answer, and bids again. A `bid_too_low` answer raises its floor to
//! `details.min_bid`. A leader does not bid (it would only raise its own
//! hidden maximum): it waits until the room shows someone else leading.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Ws, connect_ws};

/// An answer slower than this counts as an error and ends the virtual user.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// What a bidder knows of the auction: the newest state it saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// The auction's sequence number of this state.
    pub seq: u64,
    /// Who leads, if anyone.
    pub leader: Option<String>,
    /// The least the next bid may be.
    pub min_bid: i64,
}

impl View {
    /// The view in an auction object (`snapshot`, `auction` of a reply).
    pub fn of_auction(auction: &Value) -> Option<Self> {
        Some(Self {
            seq: auction["seq"].as_u64()?,
            leader: auction["leader_id"].as_str().map(str::to_owned),
            min_bid: auction["min_next_bid"].as_i64()?,
        })
    }

    /// The view a room frame carries (`auction.bid`, `auction.snapshot`).
    pub fn of_frame(frame: &Value) -> Option<Self> {
        match frame["type"].as_str()? {
            "auction.bid" => Self::of_auction(frame),
            "auction.snapshot" => Self::of_auction(&frame["auction"]),
            _ => None,
        }
    }
}

/// Whether a server frame is chat or presence, which a bidder ignores. The
/// server writes `type` first, so the prefix decides without parsing: the
/// load generator shares the machine with the server, and parsing every chat
/// frame of a busy room would take CPU the server's bid path is measured on.
pub fn is_chat_lane(text: &str) -> bool {
    text.starts_with(r#"{"type":"chat."#) || text.starts_with(r#"{"type":"presence""#)
}

/// Keep the newest view: a state with a higher `seq` replaces the old one.
pub fn offer(views: &watch::Sender<View>, view: View) {
    views.send_if_modified(|current| {
        if view.seq > current.seq {
            *current = view;
            true
        } else {
            false
        }
    });
}

/// The answer to one bid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Accepted and durable, with the auction's next minimum bid when the
    /// answer gives it.
    Accepted { min_bid: Option<i64> },
    /// Refused with this code; `bid_too_low` carries the minimum.
    Rejected { code: String, min_bid: Option<i64> },
}

impl Answer {
    /// The answer in an acceptance (`bid.accepted`, or a REST bid's body):
    /// `{"auction":{"min_next_bid"}}`.
    pub fn of_acceptance(body: &Value) -> Self {
        Self::Accepted {
            min_bid: body["auction"]["min_next_bid"].as_i64(),
        }
    }

    /// The answer in an error body `{"code","details":{"min_bid"}}`.
    pub fn of_error(error: &Value) -> Self {
        Self::Rejected {
            code: error["code"].as_str().unwrap_or("unknown").to_owned(),
            min_bid: error["details"]["min_bid"].as_i64(),
        }
    }
}

/// One way of placing a bid.
pub trait Transport: Send {
    /// Place a bid of `amount` and wait for its answer.
    fn place(&mut self, amount: i64) -> impl Future<Output = anyhow::Result<Answer>> + Send;
}

/// Live counters for the progress line.
#[derive(Debug, Default)]
pub struct Progress {
    /// Bids accepted.
    pub accepted: AtomicU64,
    /// Bids answered (accepted or rejected).
    pub answered: AtomicU64,
    /// Transport failures and timeouts.
    pub errors: AtomicU64,
}

/// What one virtual user measured. Latencies in microseconds.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Every answered bid.
    pub answered: Histogram<u64>,
    /// Accepted bids only (send to durable `bid.accepted`).
    pub accepted: Histogram<u64>,
    /// Rejections by code.
    pub rejected: BTreeMap<String, u64>,
    /// Transport failures and timeouts.
    pub errors: u64,
}

/// A latency histogram: 1 µs to 60 s, 3 significant digits.
pub fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 60_000_000, 3).context("creating a histogram")
}

impl Tally {
    /// An empty tally.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            answered: histogram()?,
            accepted: histogram()?,
            rejected: BTreeMap::new(),
            errors: 0,
        })
    }

    /// Add another tally into this one.
    pub fn merge(&mut self, other: &Tally) -> anyhow::Result<()> {
        self.answered
            .add(&other.answered)
            .context("merging histograms")?;
        self.accepted
            .add(&other.accepted)
            .context("merging histograms")?;
        for (code, n) in &other.rejected {
            *self.rejected.entry(code.clone()).or_default() += n;
        }
        self.errors += other.errors;
        Ok(())
    }
}

/// Microseconds in `elapsed`, at least 1 (the histogram's floor).
pub fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Bid in a closed loop until `deadline`.
pub async fn bid_until<T: Transport>(
    mut transport: T,
    mut views: watch::Receiver<View>,
    me: &str,
    deadline: Instant,
    progress: &Progress,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new()?;
    let mut floor = 0_i64;
    while Instant::now() < deadline {
        let view = views.borrow_and_update().clone();
        if view.leader.as_deref() == Some(me) {
            // Wait for a rival to take the lead (or for the end).
            match tokio::time::timeout_at(deadline, views.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => bail!("the room closed"),
                Err(_) => break,
            }
        }
        let amount = view.min_bid.max(floor);
        let sent = Instant::now();
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, transport.place(amount)).await;
        let elapsed = micros(sent.elapsed());
        match answer {
            Ok(Ok(answer)) => {
                tally.answered.saturating_record(elapsed);
                progress.answered.fetch_add(1, Ordering::Relaxed);
                match answer {
                    // The strategy bids its view's minimum: an acceptance's
                    // next minimum is left to the room's frames.
                    Answer::Accepted { .. } => {
                        tally.accepted.saturating_record(elapsed);
                        progress.accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Answer::Rejected { code, min_bid } => {
                        if let Some(min_bid) = min_bid {
                            floor = floor.max(min_bid);
                        }
                        let closed = code == "auction_closed";
                        *tally.rejected.entry(code).or_default() += 1;
                        if closed {
                            break;
                        }
                    }
                }
            }
            Ok(Err(e)) => {
                tally.errors += 1;
                progress.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("a bidder stopped: {e:#}");
                break;
            }
            Err(_) => {
                tally.errors += 1;
                progress.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("a bidder stopped: no answer within {ANSWER_TIMEOUT:?}");
                break;
            }
        }
    }
    Ok(tally)
}

/// The reply the bidder waits for: its request id and where to send it.
type Pending = Arc<std::sync::Mutex<Option<(String, oneshot::Sender<Value>)>>>;

/// A bidder on its own WebSocket, subscribed to the auction's room.
#[derive(Debug)]
pub struct WsBidder {
    sink: SplitSink<Ws, Message>,
    pending: Pending,
    auction: String,
    next_id: u64,
    /// Each bid carries a fresh `request_id` ([`WsBidder::sending_request_ids`]).
    request_ids: bool,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for WsBidder {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl WsBidder {
    /// Connect with `token`, subscribe to `auction`'s room; answers the bidder
    /// and the views its room frames (and its answers) carry.
    pub async fn connect(
        url: &str,
        auction: &str,
    ) -> anyhow::Result<(Self, watch::Receiver<View>)> {
        let ws = connect_ws(url).await?;
        let (sink, mut stream) = ws.split();
        let pending: Pending = Arc::default();
        let (views_tx, views) = watch::channel(View::default());
        let replies = Arc::clone(&pending);
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                if is_chat_lane(&text) {
                    continue;
                }
                let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if let Some(view) = View::of_frame(&frame) {
                    offer(&views_tx, view);
                    continue;
                }
                let Some(id) = frame["id"].as_str() else {
                    continue;
                };
                let view = match frame["type"].as_str() {
                    Some("bid.accepted") => View::of_auction(&frame["auction"]),
                    Some("subscribed") => View::of_auction(&frame["snapshot"]),
                    _ => None,
                };
                if let Some(view) = view {
                    offer(&views_tx, view);
                }
                let waiter = match replies.lock() {
                    Ok(mut slot) if slot.as_ref().is_some_and(|(want, _)| want == id) => {
                        slot.take()
                    }
                    _ => None,
                };
                if let Some((_, tx)) = waiter {
                    let _gone = tx.send(frame);
                }
            }
        });
        let mut bidder = Self {
            sink,
            pending,
            auction: auction.to_owned(),
            next_id: 0,
            request_ids: false,
            reader,
        };
        let reply = bidder
            .request(json!({"type": "subscribe", "room": format!("auction:{auction}")}))
            .await?;
        if reply["type"] != "subscribed" {
            bail!("subscribing failed: {reply}");
        }
        Ok((bidder, views))
    }

    /// Sends a fresh `request_id` with each bid when `on`, as the web
    /// client does.
    pub fn sending_request_ids(mut self, on: bool) -> Self {
        self.request_ids = on;
        self
    }

    /// Send a request with a fresh id and wait for its reply.
    async fn request(&mut self, mut body: Value) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id.to_string();
        body["id"] = json!(id);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut slot) = self.pending.lock() {
            *slot = Some((id, tx));
        }
        self.sink
            .send(Message::Text(body.to_string().into()))
            .await
            .context("sending on the WebSocket")?;
        rx.await.context("the WebSocket closed before the reply")
    }
}

impl Transport for WsBidder {
    async fn place(&mut self, amount: i64) -> anyhow::Result<Answer> {
        let auction = self.auction.clone();
        let bid = json!({"type": "bid", "auction_id": auction, "amount": amount});
        let reply = self.request(with_request_id(bid, self.request_ids)).await?;
        match reply["type"].as_str() {
            Some("bid.accepted") => Ok(Answer::of_acceptance(&reply)),
            Some("error") => Ok(Answer::of_error(&reply)),
            _ => bail!("unexpected reply to a bid: {reply}"),
        }
    }
}

/// `bid` with a fresh `request_id` when `on`, one as the web client makes
/// it: a UUID, 36 characters.
fn with_request_id(mut bid: Value, on: bool) -> Value {
    if on {
        bid["request_id"] = json!(uuid::Uuid::now_v7().to_string());
    }
    bid
}

/// A bidder over REST; its views come from a shared room watcher
/// ([`watch_room`]) and from its own answers.
#[derive(Debug)]
pub struct HttpBidder {
    /// The shared client.
    pub http: reqwest::Client,
    /// `…/api/v1/auctions/{id}/bids`.
    pub url: String,
    /// `Bearer …`.
    pub token: String,
    /// The auction's shared views.
    pub views: Arc<watch::Sender<View>>,
    /// Each bid carries a fresh `request_id`, as the web client's do.
    pub request_ids: bool,
}

impl Transport for HttpBidder {
    async fn place(&mut self, amount: i64) -> anyhow::Result<Answer> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&with_request_id(
                json!({"amount": amount}),
                self.request_ids,
            ))
            .send()
            .await
            .context("POST bids")?;
        let status = response.status();
        let body: Value = response.json().await.context("reading a bid answer")?;
        if status.is_success() {
            if let Some(view) = View::of_auction(&body["auction"]) {
                offer(&self.views, view);
            }
            Ok(Answer::of_acceptance(&body))
        } else if status.is_client_error() && body["error"].is_object() {
            Ok(Answer::of_error(&body["error"]))
        } else {
            bail!("bid answered {status}: {body}")
        }
    }
}

/// One anonymous subscription to `auction`'s room feeding `views`, for
/// bidders that have no room of their own. Ends when the connection does.
pub async fn watch_room(
    url: &str,
    auction: &str,
    views: Arc<watch::Sender<View>>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut ws = connect_ws(url).await?;
    ws.send(Message::Text(
        json!({"type": "subscribe", "id": "1", "room": format!("auction:{auction}")})
            .to_string()
            .into(),
    ))
    .await
    .context("subscribing")?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let view = if frame["type"] == "subscribed" {
                View::of_auction(&frame["snapshot"])
            } else {
                View::of_frame(&frame)
            };
            if let Some(view) = view {
                offer(&views, view);
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_come_from_frames_and_replies() {
        let frame = json!({"type": "auction.bid", "seq": 7, "leader_id": "ann",
                           "min_next_bid": 1100, "server_time": "2026-11-22T10:15:21.004Z"});
        let view = View::of_frame(&frame).unwrap();
        assert_eq!(view.seq, 7);
        assert_eq!(view.leader.as_deref(), Some("ann"));
        assert_eq!(view.min_bid, 1100);
        let snapshot = json!({"type": "auction.snapshot", "auction":
                              {"seq": 8, "leader_id": null, "min_next_bid": 100}});
        assert_eq!(View::of_frame(&snapshot).unwrap().leader, None);
        assert_eq!(View::of_frame(&json!({"type": "presence"})), None);
    }

    #[test]
    fn chat_and_presence_frames_are_told_apart_without_parsing() {
        assert!(is_chat_lane(
            r#"{"type":"chat.message","room":"auction:x","message":{}}"#
        ));
        assert!(is_chat_lane(r#"{"type":"presence","room":"auction:x"}"#));
        assert!(!is_chat_lane(r#"{"type":"auction.bid","seq":3}"#));
        assert!(!is_chat_lane(r#"{"id":"1","type":"bid.accepted"}"#));
    }

    #[test]
    fn an_older_view_never_replaces_a_newer_one() {
        let (tx, rx) = watch::channel(View::default());
        let new = View {
            seq: 5,
            leader: Some("a".into()),
            min_bid: 500,
        };
        offer(&tx, new.clone());
        offer(
            &tx,
            View {
                seq: 4,
                leader: Some("b".into()),
                min_bid: 400,
            },
        );
        assert_eq!(*rx.borrow(), new);
    }

    #[test]
    fn rejections_carry_their_code_and_minimum() {
        let error = json!({"type": "error", "code": "bid_too_low", "details": {"min_bid": 1600}});
        assert_eq!(
            Answer::of_error(&error),
            Answer::Rejected {
                code: "bid_too_low".into(),
                min_bid: Some(1600)
            }
        );
    }
}
