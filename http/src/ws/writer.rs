//! The writer of one WebSocket connection: the only task that writes to the
//! socket, at the pace the client reads.
//!
//! It forwards room frames straight from each room's broadcast receivers, so
//! a slow client never grows a buffer. Replies go first, then auction
//! events, then chat: a chat batch never holds up a bid's answer or an
//! `auction.bid`. A client behind on auction events is resynced with a fresh
//! `auction.snapshot`; a client that keeps lagging, or does not take a frame
//! for [`SEND_TIMEOUT`], is disconnected. A client behind on chat skips what
//! it missed and is told so with `chat.gap`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_ws::{CloseCode, CloseReason, Session};
use blytz_actors::Engine;
use blytz_actors::rooms::{Frame, RoomGuard, RoomKey, Subscription};
use bytes::Bytes;
use bytestring::ByteString;
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt;
use tokio_stream::StreamMap;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// The longest a single frame may wait for the client before it is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// More lags than this within [`LAG_WINDOW`] disconnects the client.
const LAG_LIMIT: u32 = 3;
/// See [`LAG_LIMIT`].
const LAG_WINDOW: Duration = Duration::from_secs(30);

/// What the session actor asks its writer to do.
#[derive(Debug)]
pub enum Outgoing {
    /// Send a JSON text (a reply or a notice).
    Text(String),
    /// Send `reply` (the `subscribed` message), then forward the room. Frames
    /// up to `snapshot_seq` are already in the snapshot and are skipped.
    Join {
        /// The room.
        room: RoomKey,
        /// Its receivers, subscribed before the snapshot was taken.
        lanes: Subscription,
        /// The `subscribed` reply.
        reply: String,
        /// The seq of the snapshot in the reply, for auction rooms.
        snapshot_seq: Option<u64>,
    },
    /// Stop forwarding the room, then send `reply`.
    Leave {
        /// The room.
        room: RoomKey,
        /// The `unsubscribed` reply.
        reply: String,
    },
    /// Answer a WebSocket ping.
    Pong(Bytes),
    /// Send a WebSocket ping (heartbeat).
    Ping,
    /// Close the connection.
    Close(Option<CloseReason>),
}

/// Spawn the writer of `session`; it ends when `commands` closes or the
/// client goes, and closes the socket with code 1012 (restart) once
/// `closing` turns true (the node is stopping).
pub fn spawn(
    session: Session,
    commands: mpsc::Receiver<Outgoing>,
    engine: Engine,
    closing: watch::Receiver<bool>,
) {
    actix_web::rt::spawn(run(session, commands, engine, closing));
}

struct Lag {
    count: u32,
    since: Instant,
}

async fn send(session: &mut Session, text: ByteString) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, session.text(text)).await,
        Ok(Ok(()))
    )
}

async fn run(
    mut session: Session,
    mut commands: mpsc::Receiver<Outgoing>,
    engine: Engine,
    closing: watch::Receiver<bool>,
) {
    // One future for the whole connection, not one per frame: every
    // connection shares the channel, so a per-frame wait would register
    // with it for every frame written.
    let closing = async move {
        let mut closing = closing;
        // An error: the sender is gone, so the node never stops this way.
        if closing.wait_for(|closing| *closing).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(closing);
    // Declared before the streams, so dropped after them on every way out:
    // a room's guard must see its receivers gone to drop an idle room.
    let mut guards: HashMap<RoomKey, RoomGuard> = HashMap::new();
    let mut rooms: StreamMap<RoomKey, BroadcastStream<Frame>> = StreamMap::new();
    let mut chat: StreamMap<RoomKey, BroadcastStream<Bytes>> = StreamMap::new();
    let mut stale: HashMap<RoomKey, u64> = HashMap::new();
    let mut lag = Lag {
        count: 0,
        since: Instant::now(),
    };
    let close = loop {
        tokio::select! {
            biased;
            command = commands.recv() => {
                let Some(command) = command else { break None };
                let ok = match command {
                    Outgoing::Text(text) => send(&mut session, text.into()).await,
                    Outgoing::Join { room, lanes, reply, snapshot_seq } => {
                        let (events, chat_lane, guard) = lanes.into_parts();
                        rooms.insert(room, BroadcastStream::new(events));
                        chat.insert(room, BroadcastStream::new(chat_lane));
                        guards.insert(room, guard);
                        match snapshot_seq {
                            Some(seq) => stale.insert(room, seq),
                            None => stale.remove(&room),
                        };
                        // A user's own room is joined without a reply.
                        reply.is_empty() || send(&mut session, reply.into()).await
                    }
                    Outgoing::Leave { room, reply } => {
                        rooms.remove(&room);
                        chat.remove(&room);
                        guards.remove(&room);
                        stale.remove(&room);
                        send(&mut session, reply.into()).await
                    }
                    Outgoing::Pong(bytes) => session.pong(&bytes).await.is_ok(),
                    Outgoing::Ping => session.ping(b"").await.is_ok(),
                    Outgoing::Close(reason) => break reason,
                };
                if !ok {
                    return;
                }
            }
            () = &mut closing => {
                break Some(CloseReason {
                    code: CloseCode::Restart,
                    description: Some("the server is restarting: reconnect".into()),
                });
            }
            Some((room, item)) = rooms.next(), if !rooms.is_empty() => {
                let frame = match item {
                    Ok(frame) => {
                        // Auction frames the snapshot already included are skipped.
                        if let Some(&seen) = stale.get(&room) {
                            match frame.seq {
                                Some(seq) if seq <= seen => continue,
                                Some(_) => {
                                    stale.remove(&room);
                                }
                                None => {}
                            }
                        }
                        frame
                    }
                    Err(BroadcastStreamRecvError::Lagged(missed)) => {
                        if lag.since.elapsed() > LAG_WINDOW {
                            lag = Lag { count: 0, since: Instant::now() };
                        }
                        lag.count += 1;
                        metrics::counter!("ws_lagged_total").increment(1);
                        tracing::debug!(%room, missed, "session lagged");
                        if lag.count > LAG_LIMIT {
                            break Some(CloseReason {
                                code: CloseCode::Policy,
                                description: Some("too slow: the connection kept falling behind".into()),
                            });
                        }
                        let Some(snapshot) = resync(&engine, room).await else { continue };
                        match snapshot.seq {
                            Some(seq) => stale.insert(room, seq),
                            None => stale.remove(&room),
                        };
                        snapshot
                    }
                };
                let Ok(text) = ByteString::try_from(frame.bytes) else { continue };
                if !send(&mut session, text).await {
                    return;
                }
            }
            Some((room, item)) = chat.next(), if !chat.is_empty() => {
                let sent = match item {
                    Ok(frame) => match ByteString::try_from(frame) {
                        Ok(text) => send(&mut session, text).await,
                        Err(_) => true,
                    },
                    Err(BroadcastStreamRecvError::Lagged(missed)) => {
                        metrics::counter!("ws_chat_skipped_total").increment(missed);
                        tracing::debug!(%room, missed, "session skipped chat");
                        // A room key prints as `auction:<uuid>`, `show:<uuid>` or `user:<uuid>`: nothing to escape.
                        let gap = format!(r#"{{"type":"chat.gap","room":"{room}"}}"#);
                        send(&mut session, gap.into()).await
                    }
                };
                if !sent {
                    return;
                }
            }
        }
    };
    let _closed = session.close(close).await;
}

/// A fresh snapshot frame for a lagging room. Show rooms carry no single
/// seq: the client sees the gap and subscribes again.
async fn resync(engine: &Engine, room: RoomKey) -> Option<Frame> {
    match room {
        RoomKey::Auction(id) => engine.snapshot_frame(id).await.ok(),
        RoomKey::Show(_) | RoomKey::User(_) => None,
    }
}
