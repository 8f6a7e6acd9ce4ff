//! The writer of one WebSocket connection: the response body itself,
//! written to the socket by the connection's pump
//! ([`super::upgrade::Pump`]), with no task or queue between them.
//!
//! It forwards show and user room frames straight from each room's
//! broadcast receivers, so a slow client never grows a buffer: the pump asks
//! for the next frame only when the socket has taken the last ones, and it
//! gathers what is ready into one vectored write. An auction room's frames
//! are written by the worker's hub of the room ([`super::fanout`]) while
//! the connection is idle, and handed to the writer, bounded, while it is
//! not. Every room frame goes out as the room encoded it, the same bytes
//! for every watcher ([`Frame::wire`]). Replies go
//! first, then auction events, then chat: a chat batch never holds up a bid's
//! answer or an `auction.bid`. A client behind on auction events is resynced
//! with a fresh `auction.snapshot`; a client that keeps lagging is
//! disconnected. A client behind on chat skips what it missed and is told so
//! with `chat.gap`.

use std::convert::Infallible;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use actix_http::ResponseBuilder;
use actix_http::ws::{CloseCode, CloseReason, OpCode, Parser};
use actix_web::HttpResponse;
use actix_web::body::{BodyStream, MessageBody};
use blytz_actors::Engine;
use blytz_actors::rooms::{Frame, RoomGuard, RoomKey, Subscription, websocket_text};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::sync::{oneshot, watch};
use tokio_stream::StreamMap;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::fanout::{Handed, Membership, Socket};
use super::lane::Lanes;
use super::queue;

/// More lags than this within [`LAG_WINDOW`] disconnects the client.
const LAG_LIMIT: u32 = 3;
/// See [`LAG_LIMIT`].
const LAG_WINDOW: Duration = Duration::from_secs(30);
/// The writer's lanes ([`Lanes`]): the node stopping, the rooms' auction
/// frames, their chat.
const CLOSING: usize = 0;
/// See [`CLOSING`].
const ROOMS: usize = 1;
/// See [`CLOSING`].
const CHAT: usize = 2;
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

/// `handshake` (the `101 Switching Protocols` response) with the writer as
/// its body, and the connection's write side ([`Socket`]) for its session.
/// The writer ends when `commands` closes, on `Outgoing::Close`, or with
/// code 1012 (restart) once `closing` turns true (the node is stopping);
/// `alive` is dropped with it, which ends the connection's
/// [`super::reader::Reader`].
pub fn respond(
    mut handshake: ResponseBuilder,
    commands: queue::Receiver<Outgoing>,
    alive: oneshot::Sender<()>,
    engine: Engine,
    closing: watch::Receiver<bool>,
) -> Result<(HttpResponse, Rc<Socket>), actix_web::Error> {
    let writer = Writer::new(commands, engine, closing, alive);
    // The switch gives the socket to the same write side.
    let socket = writer.socket();
    let mut response: HttpResponse = handshake
        .message_body(BodyStream::new(writer).boxed())?
        .into();
    response.extensions_mut().insert(Rc::clone(&socket));
    Ok((response, socket))
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
    Handed(Handed),
    Chat(RoomKey, Result<Bytes, BroadcastStreamRecvError>),
}

/// A room being forwarded.
struct Joined {
    room: RoomKey,
    /// Frames up to this seq are in the snapshot the client has.
    stale: Option<u64>,
    /// An auction room's place in the worker's hub of it (the hub's
    /// receiver is one of the room's: dropped before the guard).
    membership: Option<Membership>,
    /// Dropped after the room's receivers (see [`Writer`]).
    _guard: RoomGuard,
}

/// A fresh snapshot being read for a room that lagged.
type Resync = Pin<Box<dyn Future<Output = (RoomKey, Option<Frame>)>>>;

/// The response body: a stream of chunks, each one or more WebSocket frames.
pub(super) struct Writer {
    commands: queue::Receiver<Outgoing>,
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
    /// `closing`, `rooms` and `chat` are polled only after they woke
    /// ([`Lanes`]: [`CLOSING`], [`ROOMS`], [`CHAT`]).
    lanes: Lanes<3>,
    /// A few rooms at most: a list is smaller than a map.
    joined: Vec<Joined>,
    /// Boxed: rare, and larger than the rest of the writer.
    resync: Option<Resync>,
    lag: Lag,
    /// A close frame went out: the body ends.
    ended: bool,
    /// The connection's write side, shared with its pump and its rooms' hubs.
    socket: Rc<Socket>,
    /// Dropped with the writer: it tells the connection's reader that the
    /// connection is done.
    _alive: oneshot::Sender<()>,
}

impl Writer {
    /// A writer of `commands`; its write side is [`Writer::socket`].
    pub(super) fn new(
        commands: queue::Receiver<Outgoing>,
        engine: Engine,
        closing: watch::Receiver<bool>,
        alive: oneshot::Sender<()>,
    ) -> Self {
        let socket = Socket::new(Some(commands.probe()));
        Self {
            commands,
            engine,
            closing: Box::pin(stopping(closing)),
            rooms: StreamMap::new(),
            chat: StreamMap::new(),
            lanes: Lanes::default(),
            joined: Vec::new(),
            resync: None,
            lag: Lag {
                count: 0,
                since: Instant::now(),
            },
            ended: false,
            socket,
            _alive: alive,
        }
    }

    /// The connection's write side.
    pub(super) fn socket(&self) -> Rc<Socket> {
        Rc::clone(&self.socket)
    }

    fn joined(&mut self, room: RoomKey) -> Option<&mut Joined> {
        self.joined.iter_mut().find(|joined| joined.room == room)
    }

    fn forget(&mut self, room: RoomKey) {
        self.rooms.remove(&room);
        self.chat.remove(&room);
        self.joined.retain(|joined| joined.room != room);
        self.socket.forget(room);
    }

    /// What is ready, in order: the session's commands, the node stopping,
    /// auction frames handed over by the rooms' hubs, other rooms' frames,
    /// chat.
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Step> {
        if let Poll::Ready(command) = self.commands.poll_recv(cx) {
            return Poll::Ready(Step::Command(command));
        }
        self.lanes.register(cx);
        let closing = &mut self.closing;
        if self
            .lanes
            .poll(CLOSING, |lane| closing.as_mut().poll(lane))
            .is_ready()
        {
            return Poll::Ready(Step::Stopping);
        }
        if let Some(handed) = self.socket.take_handed() {
            return Poll::Ready(Step::Handed(handed));
        }
        let rooms = &mut self.rooms;
        if !rooms.is_empty()
            && let Poll::Ready(Some((room, item))) =
                self.lanes.poll(ROOMS, |lane| rooms.poll_next_unpin(lane))
        {
            return Poll::Ready(Step::Room(room, item));
        }
        let chat = &mut self.chat;
        if !chat.is_empty()
            && let Poll::Ready(Some((room, item))) =
                self.lanes.poll(CHAT, |lane| chat.poll_next_unpin(lane))
        {
            return Poll::Ready(Step::Chat(room, item));
        }
        Poll::Pending
    }

    /// The bytes `step` writes, if any.
    fn take(&mut self, step: Step) -> Option<Bytes> {
        match step {
            // The session is gone.
            Step::Command(None) => Some(self.close(None)),
            Step::Command(Some(command)) => self.command(command),
            Step::Stopping => Some(self.close(Some(CloseReason {
                code: CloseCode::Restart,
                description: Some("the server is restarting: reconnect".into()),
            }))),
            Step::Room(room, item) => self.room_frame(room, item),
            Step::Handed(Handed::Frame(room, frame)) => self.room_frame(room, Ok(frame)),
            Step::Handed(Handed::Lagged(room)) => {
                self.room_frame(room, Err(BroadcastStreamRecvError::Lagged(0)))
            }
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
            Outgoing::Text(reply) => {
                // The rooms' latest frames go in the same write.
                for membership in self
                    .joined
                    .iter()
                    .filter_map(|joined| joined.membership.as_ref())
                {
                    membership.catch_up();
                }
                Some(websocket_text(reply.as_bytes()))
            }
            Outgoing::Join(join) => {
                let Forward {
                    room,
                    lanes,
                    reply,
                    snapshot_seq,
                } = *join;
                let (events, chat_lane, guard) = lanes.into_parts();
                self.forget(room);
                // An auction room's frames carry the seq a hub needs to
                // take over from the connection's own receiver.
                let membership = match (room, snapshot_seq) {
                    (RoomKey::Auction(_), Some(seen)) => Some(Membership::join(
                        self.engine.rooms(),
                        room,
                        events,
                        seen,
                        &self.socket,
                    )),
                    _ => {
                        self.rooms.insert(room, BroadcastStream::new(events));
                        self.lanes.touch(ROOMS);
                        None
                    }
                };
                self.chat.insert(room, BroadcastStream::new(chat_lane));
                self.lanes.touch(CHAT);
                self.joined.push(Joined {
                    room,
                    stale: snapshot_seq,
                    membership,
                    _guard: guard,
                });
                // A user's own room is joined without a reply.
                (!reply.is_empty()).then(|| websocket_text(reply.as_bytes()))
            }
            Outgoing::Leave { room, reply } => {
                self.forget(room);
                Some(websocket_text(reply.as_bytes()))
            }
            Outgoing::Pong(payload) => Some(control(OpCode::Pong, &payload)),
            Outgoing::Ping => Some(control(OpCode::Ping, b"")),
            Outgoing::Close(reason) => Some(self.close(reason)),
        }
    }

    /// An auction frame as the room encoded it, unless the snapshot already
    /// had it; after a lag, a fresh snapshot is read ([`Writer::resynced`]).
    fn room_frame(
        &mut self,
        room: RoomKey,
        item: Result<Frame, BroadcastStreamRecvError>,
    ) -> Option<Bytes> {
        match item {
            Ok(frame) => {
                // Auction frames the snapshot already included are skipped.
                if let Some(joined) = self.joined(room)
                    && let (Some(seen), Some(seq)) = (joined.stale, frame.seq)
                {
                    if seq <= seen {
                        return None;
                    }
                    joined.stale = None;
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
                let engine = self.engine.clone();
                self.resync = Some(Box::pin(async move { (room, resync(&engine, room).await) }));
                None
            }
        }
    }

    /// The fresh snapshot of a room that lagged, if it could be read.
    fn resynced(&mut self, room: RoomKey, snapshot: Option<Frame>) -> Option<Bytes> {
        let snapshot = snapshot?;
        if let Some(joined) = self.joined(room) {
            joined.stale = snapshot.seq;
            if let (Some(membership), Some(seq)) = (&joined.membership, snapshot.seq) {
                membership.resynced(seq);
            }
        }
        Some(snapshot.wire)
    }

    /// A close frame; the body ends after it.
    fn close(&mut self, reason: Option<CloseReason>) -> Bytes {
        self.ended = true;
        self.socket.close();
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

impl Stream for Writer {
    type Item = Result<Bytes, Infallible>;

    /// The next bytes to write; `None` ends the body (and the connection).
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // Busy until it says `Pending` with nothing to resync: a hub hands
        // frames over meanwhile rather than writing them.
        this.socket.set_quiet(false);
        this.socket.register(cx.waker());
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            // Nothing else is written until a lagging room is resynced.
            let chunk = match this.resync.as_mut() {
                Some(resync) => {
                    let (room, snapshot) = ready!(resync.as_mut().poll(cx));
                    this.resync = None;
                    this.resynced(room, snapshot)
                }
                None => {
                    let Poll::Ready(step) = this.poll_step(cx) else {
                        this.socket.set_quiet(true);
                        return Poll::Pending;
                    };
                    this.take(step)
                }
            };
            if let Some(chunk) = chunk {
                return Poll::Ready(Some(Ok(chunk)));
            }
        }
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
    use blytz_actors::domain::{Caller, Role, UserId};
    use blytz_actors::rules::{Bid, Command};
    use blytz_actors::view::Outcome;
    use serde_json::Value;

    use super::*;
    use crate::ws::fanout::tests::live_auction;

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

    /// The writer's next chunk, as the connection's pump takes it.
    async fn next_chunk(writer: &mut Writer) -> Option<Bytes> {
        writer.next().await.map(|chunk| match chunk {
            Ok(bytes) => bytes,
            Err(never) => match never {},
        })
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

    /// A writer that has sent a live auction's `subscribed`, as its session
    /// leaves it, and what keeps it open.
    struct Watching {
        engine: Engine,
        auction: blytz_actors::domain::AuctionId,
        out: queue::Sender<Outgoing>,
        writer: Writer,
        /// The snapshot's seq.
        seen: u64,
        _running: watch::Sender<bool>,
        _reader_ends: oneshot::Receiver<()>,
    }

    /// A [`Watching`] writer on rooms holding `room_capacity` frames.
    async fn watching(room_capacity: usize) -> Watching {
        let (engine, auction) = live_auction(room_capacity).await;
        let (out, commands) = queue::queue(8);
        let (running, closing) = watch::channel(false);
        let (alive, reader_ends) = oneshot::channel();
        let mut writer = Writer::new(commands, engine.clone(), closing, alive);
        let room = RoomKey::Auction(auction);
        let seen = engine.view(auction).await.unwrap().seq;
        let join = Forward {
            room,
            lanes: engine.rooms().join(room),
            reply: r#"{"type":"subscribed"}"#.to_owned(),
            snapshot_seq: Some(seen),
        };
        out.try_send(Outgoing::Join(Box::new(join))).unwrap();
        assert_eq!(
            json_of(&next_chunk(&mut writer).await.unwrap())["type"],
            "subscribed"
        );
        Watching {
            engine,
            auction,
            out,
            writer,
            seen,
            _running: running,
            _reader_ends: reader_ends,
        }
    }

    #[actix_web::test]
    async fn a_writer_that_fell_behind_sends_a_snapshot_then_only_later_frames() {
        let Watching {
            engine,
            auction,
            out: _session,
            mut writer,
            seen: _,
            _running,
            _reader_ends,
        } = watching(8).await;

        // Twenty bids while nothing is written: the room's lane holds eight.
        let (ann, bob) = (UserId::new(), UserId::new());
        let mut amount = 100;
        for round in 0..20 {
            let who = if round % 2 == 0 { ann } else { bob };
            amount = bid(&engine, auction, who, amount).await;
        }
        let latest = engine.view(auction).await.unwrap().seq;

        // The writer says where the auction stands now, once...
        let snapshot = json_of(&next_chunk(&mut writer).await.unwrap());
        assert_eq!(snapshot["type"], "auction.snapshot", "{snapshot}");
        assert_eq!(snapshot["seq"].as_u64(), Some(latest));
        // ...skips the frames it already covers...
        let more = tokio::time::timeout(Duration::from_millis(100), next_chunk(&mut writer)).await;
        assert!(more.is_err(), "nothing older than the snapshot is written");
        // ...and goes on from the next one.
        bid(&engine, auction, ann, amount).await;
        let next = json_of(&next_chunk(&mut writer).await.unwrap());
        assert_eq!(next["type"], "auction.bid", "{next}");
        assert_eq!(next["seq"].as_u64(), Some(latest + 1));
    }

    #[actix_web::test]
    async fn an_answer_takes_the_rooms_latest_frame_with_it() {
        let Watching {
            engine,
            auction,
            out,
            mut writer,
            seen,
            _running,
            _reader_ends,
        } = watching(256).await;
        let room = RoomKey::Auction(auction);

        // A frame published, and an answer queued, before the worker's hub
        // of the room has run: the answer goes first and the frame right
        // behind it, without waiting for the hub.
        let frame = format!(r#"{{"type":"auction.bid","seq":{}}}"#, seen + 1);
        engine
            .rooms()
            .publish(room, Frame::new(Some(seen + 1), Bytes::from(frame)));
        out.try_send(Outgoing::Text(r#"{"type":"answer"}"#.to_owned()))
            .unwrap();
        let mut now = || {
            futures_util::FutureExt::now_or_never(next_chunk(&mut writer))
                .flatten()
                .map(|chunk| json_of(&chunk))
        };
        assert_eq!(now().unwrap()["type"], "answer");
        assert_eq!(now().unwrap()["seq"].as_u64(), Some(seen + 1));

        // Then the hub runs, and skips the frame the writer already took.
        let more = tokio::time::timeout(Duration::from_millis(100), next_chunk(&mut writer)).await;
        assert!(more.is_err(), "the frame is written once");
    }
}
