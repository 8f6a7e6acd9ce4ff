//! The writer of one WebSocket connection: the response body itself, so
//! the connection's HTTP dispatcher pulls each frame straight from the room
//! and writes it, with no task or queue between them.
//!
//! It forwards room frames straight from each room's broadcast receivers, so
//! a slow client never grows a buffer: the dispatcher asks for the next frame
//! only when the socket has taken the last ones, and it gathers what is ready
//! into one write (up to its buffer size). An auction frame goes out as the
//! room encoded it, once for every watcher ([`Frame::wire`]). Replies go
//! first, then auction events, then chat: a chat batch never holds up a bid's
//! answer or an `auction.bid`. A client behind on auction events is resynced
//! with a fresh `auction.snapshot`; a client that keeps lagging is
//! disconnected. A client behind on chat skips what it missed and is told so
//! with `chat.gap`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_http::ws::{OpCode, Parser};
use actix_web::HttpResponse;
use actix_web::body::{BodyStream, BoxBody, MessageBody};
use actix_ws::{CloseCode, CloseReason};
use blytz_actors::Engine;
use blytz_actors::rooms::{Frame, RoomGuard, RoomKey, Subscription, websocket_text};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamMap;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// More lags than this within [`LAG_WINDOW`] disconnects the client.
const LAG_LIMIT: u32 = 3;
/// See [`LAG_LIMIT`].
const LAG_WINDOW: Duration = Duration::from_secs(30);
/// A control frame's payload is at most 125 bytes; a close frame's reason
/// follows its 2-byte code.
const MAX_CONTROL_PAYLOAD: usize = 125;

/// What the session actor asks its writer to do.
#[derive(Debug)]
pub enum Outgoing {
    /// Send a JSON text (a reply or a notice).
    Text(String),
    /// Send the `subscribed` reply, then forward the room (boxed: the
    /// largest request and a rare one, it would size every slot of the
    /// connection's queue).
    Join(Box<Forward>),
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

/// A room to forward. Frames up to `snapshot_seq` are already in the
/// snapshot and are skipped.
#[derive(Debug)]
pub struct Forward {
    /// The room.
    pub room: RoomKey,
    /// Its receivers, subscribed before the snapshot was taken.
    pub lanes: Subscription,
    /// The `subscribed` reply (none for a user's own room).
    pub reply: String,
    /// The seq of the snapshot in the reply, for auction rooms.
    pub snapshot_seq: Option<u64>,
}

/// `handshake` (the `101 Switching Protocols` response `actix_ws::handle`
/// made) with the writer as its body. The writer ends when `commands`
/// closes, on `Outgoing::Close`, or with code 1012 (restart) once `closing`
/// turns true (the node is stopping).
pub fn respond(
    handshake: HttpResponse,
    commands: mpsc::Receiver<Outgoing>,
    engine: Engine,
    closing: watch::Receiver<bool>,
) -> HttpResponse {
    let (head, own_body) = handshake.into_parts();
    let writer = Writer::new(commands, engine, closing, own_body);
    let body = futures_util::stream::unfold(writer, |mut writer| async move {
        let chunk = writer.next_chunk().await?;
        Some((Ok::<_, Infallible>(chunk), writer))
    });
    head.set_body(BodyStream::new(body).boxed())
}

/// Resolves once the node is stopping; never if it cannot stop this way.
async fn stopping(mut closing: watch::Receiver<bool>) {
    // An error: the sender is gone, so the node never stops this way.
    if closing.wait_for(|closing| *closing).await.is_err() {
        std::future::pending::<()>().await;
    }
}

struct Lag {
    count: u32,
    since: Instant,
}

/// One thing ready to be written.
enum Step {
    Command(Option<Outgoing>),
    Stopping,
    Room(RoomKey, Result<Frame, BroadcastStreamRecvError>),
    Chat(RoomKey, Result<Bytes, BroadcastStreamRecvError>),
}

struct Writer {
    commands: mpsc::Receiver<Outgoing>,
    engine: Engine,
    /// One future for the whole connection, not one per frame: every
    /// connection shares the channel, so a per-frame wait would register
    /// with it for every frame written.
    closing: Pin<Box<dyn Future<Output = ()>>>,
    // The receivers come before their guards, so they are dropped first on
    // every way out: a room's guard must see its receivers gone to drop an
    // idle room.
    rooms: StreamMap<RoomKey, BroadcastStream<Frame>>,
    chat: StreamMap<RoomKey, BroadcastStream<Bytes>>,
    guards: HashMap<RoomKey, RoomGuard>,
    stale: HashMap<RoomKey, u64>,
    lag: Lag,
    /// A close frame went out: the body ends.
    ended: bool,
    /// `actix_ws`'s own body, never polled: dropped with the writer, it
    /// tells the connection's message stream that the connection is done.
    _handshake_body: BoxBody,
}

impl Writer {
    fn new(
        commands: mpsc::Receiver<Outgoing>,
        engine: Engine,
        closing: watch::Receiver<bool>,
        handshake_body: BoxBody,
    ) -> Self {
        Self {
            commands,
            engine,
            closing: Box::pin(stopping(closing)),
            rooms: StreamMap::new(),
            chat: StreamMap::new(),
            guards: HashMap::new(),
            stale: HashMap::new(),
            lag: Lag {
                count: 0,
                since: Instant::now(),
            },
            ended: false,
            _handshake_body: handshake_body,
        }
    }

    /// The next bytes to write; `None` ends the body (and the connection).
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if self.ended {
                return None;
            }
            let step = std::future::poll_fn(|cx| self.poll_step(cx)).await;
            if let Some(chunk) = self.take(step).await {
                return Some(chunk);
            }
        }
    }

    /// What is ready, in order: the session's commands, the node stopping,
    /// auction events, chat.
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Step> {
        if let Poll::Ready(command) = self.commands.poll_recv(cx) {
            return Poll::Ready(Step::Command(command));
        }
        if self.closing.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Step::Stopping);
        }
        if !self.rooms.is_empty()
            && let Poll::Ready(Some((room, item))) = self.rooms.poll_next_unpin(cx)
        {
            return Poll::Ready(Step::Room(room, item));
        }
        if !self.chat.is_empty()
            && let Poll::Ready(Some((room, item))) = self.chat.poll_next_unpin(cx)
        {
            return Poll::Ready(Step::Chat(room, item));
        }
        Poll::Pending
    }

    /// The bytes `step` writes, if any.
    async fn take(&mut self, step: Step) -> Option<Bytes> {
        match step {
            // The session is gone.
            Step::Command(None) => Some(self.close(None)),
            Step::Command(Some(command)) => self.command(command),
            Step::Stopping => Some(self.close(Some(CloseReason {
                code: CloseCode::Restart,
                description: Some("the server is restarting: reconnect".into()),
            }))),
            Step::Room(room, item) => self.room_frame(room, item).await,
            Step::Chat(_, Ok(frame)) => Some(websocket_text(&frame)),
            Step::Chat(room, Err(BroadcastStreamRecvError::Lagged(missed))) => {
                metrics::counter!("ws_chat_skipped_total").increment(missed);
                tracing::debug!(%room, missed, "session skipped chat");
                // A room key prints as `auction:<uuid>`, `show:<uuid>` or `user:<uuid>`: nothing to escape.
                Some(websocket_text(
                    format!(r#"{{"type":"chat.gap","room":"{room}"}}"#).as_bytes(),
                ))
            }
        }
    }

    fn command(&mut self, command: Outgoing) -> Option<Bytes> {
        match command {
            Outgoing::Text(reply) => Some(websocket_text(reply.as_bytes())),
            Outgoing::Join(join) => {
                let Forward {
                    room,
                    lanes,
                    reply,
                    snapshot_seq,
                } = *join;
                let (events, chat_lane, guard) = lanes.into_parts();
                self.rooms.insert(room, BroadcastStream::new(events));
                self.chat.insert(room, BroadcastStream::new(chat_lane));
                self.guards.insert(room, guard);
                match snapshot_seq {
                    Some(seq) => self.stale.insert(room, seq),
                    None => self.stale.remove(&room),
                };
                // A user's own room is joined without a reply.
                (!reply.is_empty()).then(|| websocket_text(reply.as_bytes()))
            }
            Outgoing::Leave { room, reply } => {
                self.rooms.remove(&room);
                self.chat.remove(&room);
                self.guards.remove(&room);
                self.stale.remove(&room);
                Some(websocket_text(reply.as_bytes()))
            }
            Outgoing::Pong(payload) => Some(control(OpCode::Pong, &payload)),
            Outgoing::Ping => Some(control(OpCode::Ping, b"")),
            Outgoing::Close(reason) => Some(self.close(reason)),
        }
    }

    /// An auction frame as the room encoded it, unless the snapshot already
    /// had it; a fresh snapshot after a lag.
    async fn room_frame(
        &mut self,
        room: RoomKey,
        item: Result<Frame, BroadcastStreamRecvError>,
    ) -> Option<Bytes> {
        match item {
            Ok(frame) => {
                // Auction frames the snapshot already included are skipped.
                if let Some(&seen) = self.stale.get(&room) {
                    match frame.seq {
                        Some(seq) if seq <= seen => return None,
                        Some(_) => {
                            self.stale.remove(&room);
                        }
                        None => {}
                    }
                }
                Some(frame.wire)
            }
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                if self.lag.since.elapsed() > LAG_WINDOW {
                    self.lag = Lag {
                        count: 0,
                        since: Instant::now(),
                    };
                }
                self.lag.count += 1;
                metrics::counter!("ws_lagged_total").increment(1);
                tracing::debug!(%room, missed, "session lagged");
                if self.lag.count > LAG_LIMIT {
                    return Some(self.close(Some(CloseReason {
                        code: CloseCode::Policy,
                        description: Some("too slow: the connection kept falling behind".into()),
                    })));
                }
                let snapshot = resync(&self.engine, room).await?;
                match snapshot.seq {
                    Some(seq) => self.stale.insert(room, seq),
                    None => self.stale.remove(&room),
                };
                Some(snapshot.wire)
            }
        }
    }

    /// A close frame; the body ends after it.
    fn close(&mut self, reason: Option<CloseReason>) -> Bytes {
        self.ended = true;
        let reason = reason.map(|mut reason| {
            if let Some(description) = reason.description.as_mut() {
                let mut end = description.len().min(MAX_CONTROL_PAYLOAD - 2);
                while !description.is_char_boundary(end) {
                    end -= 1;
                }
                description.truncate(end);
            }
            reason
        });
        let mut out = BytesMut::with_capacity(MAX_CONTROL_PAYLOAD + 2);
        Parser::write_close(&mut out, reason, false);
        out.freeze()
    }
}

/// A ping or pong; a payload over the limit is cut to it.
fn control(op: OpCode, payload: &[u8]) -> Bytes {
    let payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
    let mut out = BytesMut::with_capacity(payload.len() + 2);
    Parser::write_message(&mut out, payload, op, true, false);
    out.freeze()
}

/// A fresh snapshot frame for a lagging room. Show rooms carry no single
/// seq: the client sees the gap and subscribes again.
async fn resync(engine: &Engine, room: RoomKey) -> Option<Frame> {
    match room {
        RoomKey::Auction(id) => engine.snapshot_frame(id).await.ok(),
        RoomKey::Show(_) | RoomKey::User(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use blytz_actors::EngineSettings;
    use blytz_actors::domain::{Caller, Currency, ProductId, Role, UserId};
    use blytz_actors::ports::{InMemoryJournal, SystemClock};
    use blytz_actors::rules::{Bid, Command, NewAuction};
    use blytz_actors::view::Outcome;
    use serde_json::Value;

    use super::*;

    /// The JSON of one unmasked text frame as the writer writes it.
    fn json_of(chunk: &Bytes) -> Value {
        assert_eq!(chunk[0], 0x81, "a final text frame");
        let start = match chunk[1] {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        serde_json::from_slice(&chunk[start..]).unwrap()
    }

    async fn bid(
        engine: &Engine,
        auction: blytz_actors::domain::AuctionId,
        who: UserId,
        amount: i64,
    ) -> i64 {
        let bid = Command::Bid(Bid {
            amount,
            max_amount: None,
            request_id: None,
        });
        match engine
            .execute(auction, Caller::new(who, Role::Buyer), bid)
            .await
            .unwrap()
        {
            Outcome::Bid(outcome) => outcome.auction.min_next_bid,
            other => panic!("not a bid outcome: {other:?}"),
        }
    }

    #[actix_web::test]
    async fn a_writer_that_fell_behind_sends_a_snapshot_then_only_later_frames() {
        let settings = EngineSettings {
            arbiters: 0,
            writer_thread: false,
            room_capacity: 8,
            ..EngineSettings::default()
        };
        let engine = Engine::start(
            Arc::new(InMemoryJournal::new()),
            Arc::new(SystemClock),
            settings,
        );
        let seller = UserId::new();
        let new = NewAuction::new(ProductId::new(), Currency::USD, 100, 600_000);
        let auction = engine.create_auction(seller, new).await.unwrap().id;
        engine
            .execute(auction, Caller::new(seller, Role::Seller), Command::Start)
            .await
            .unwrap();

        let (out, commands) = mpsc::channel(8);
        let (_running, closing) = watch::channel(false);
        let mut writer = Writer::new(commands, engine.clone(), closing, BoxBody::new(()));
        let room = RoomKey::Auction(auction);
        let seen = engine.view(auction).await.unwrap().seq;
        let join = Forward {
            room,
            lanes: engine.rooms().join(room),
            reply: r#"{"type":"subscribed"}"#.to_owned(),
            snapshot_seq: Some(seen),
        };
        out.send(Outgoing::Join(Box::new(join))).await.unwrap();
        assert_eq!(
            json_of(&writer.next_chunk().await.unwrap())["type"],
            "subscribed"
        );

        // Twenty bids while nothing is written: the room's lane holds eight.
        let (ann, bob) = (UserId::new(), UserId::new());
        let mut amount = 100;
        for round in 0..20 {
            let who = if round % 2 == 0 { ann } else { bob };
            amount = bid(&engine, auction, who, amount).await;
        }
        let latest = engine.view(auction).await.unwrap().seq;

        // The writer says where the auction stands now, once...
        let snapshot = json_of(&writer.next_chunk().await.unwrap());
        assert_eq!(snapshot["type"], "auction.snapshot", "{snapshot}");
        assert_eq!(snapshot["seq"].as_u64(), Some(latest));
        // ...skips the frames it already covers...
        let more = tokio::time::timeout(Duration::from_millis(100), writer.next_chunk()).await;
        assert!(more.is_err(), "nothing older than the snapshot is written");
        // ...and goes on from the next one.
        bid(&engine, auction, ann, amount).await;
        let next = json_of(&writer.next_chunk().await.unwrap());
        assert_eq!(next["type"], "auction.bid", "{next}");
        assert_eq!(next["seq"].as_u64(), Some(latest + 1));
    }
}
