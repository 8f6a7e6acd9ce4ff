//! Chat load beside the bids: a few accounts post to every bid auction's
//! room at a fixed total rate, so the bid latency can be read with and
//! without chat traffic in the same room.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Api, connect_ws};
use crate::target::Target;

/// Accounts that post; the server's per-user chat rate is off in the bench server.
const CHATTERS: u32 = 8;

/// What the chat load did.
#[derive(Debug, Default)]
pub struct ChatCounts {
    /// Messages sent.
    pub sent: AtomicU64,
    /// `chat.accepted` replies.
    pub accepted: AtomicU64,
    /// `error` replies.
    pub refused: AtomicU64,
}

/// Start posting `rate` messages a second in total, spread over the rooms
/// of `auctions`, until `deadline`.
pub async fn start(
    api: &Api,
    target: &Target,
    auctions: &[String],
    rate: u32,
    deadline: Instant,
) -> anyhow::Result<(Arc<ChatCounts>, Vec<JoinHandle<()>>)> {
    let counts = Arc::new(ChatCounts::default());
    let chatters = api.register_buyers("chatter", CHATTERS).await?;
    let per_chatter = f64::from(rate) / f64::from(CHATTERS);
    let period = Duration::from_secs_f64(1.0 / per_chatter.max(0.001));
    let mut tasks = Vec::new();
    for (n, chatter) in chatters.iter().enumerate() {
        let ws = connect_ws(&target.ws_url(Some(&chatter.token))).await?;
        let (mut sink, mut stream) = ws.split();
        let reader_counts = Arc::clone(&counts);
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Text(text) = message {
                    if text.contains("\"chat.accepted\"") {
                        reader_counts.accepted.fetch_add(1, Ordering::Relaxed);
                    } else if text.contains("\"error\"") {
                        reader_counts.refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
        let rooms: Vec<String> = auctions.iter().map(|a| format!("auction:{a}")).collect();
        let writer_counts = Arc::clone(&counts);
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
            let mut i = 0_usize;
            while Instant::now() < deadline {
                tick.tick().await;
                let room = &rooms[(n + i) % rooms.len()];
                let text =
                    json!({"type": "chat", "room": room, "text": format!("chat load {n}/{i}")});
                if sink
                    .send(Message::Text(text.to_string().into()))
                    .await
                    .is_err()
                {
                    return;
                }
                writer_counts.sent.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            let _closed = sink.close().await;
        }));
    }
    Ok((counts, tasks))
}
