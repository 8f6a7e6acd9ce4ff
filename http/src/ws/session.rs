//! `WsSession`: one actor per WebSocket connection.
//!
//! It receives the client's frames (added to its context as a stream),
//! answers them through the engine, and hands every outgoing frame to the
//! connection's writer ([`super::writer`], the response body) over a
//! bounded queue. It never
//! writes to the socket itself, so a slow client never blocks it. It owns the
//! caller's identity and the heartbeat: a client silent for
//! [`CLIENT_TIMEOUT`] is dropped.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason, Message, ProtocolError};
use blytz::{Code, Error};
use blytz_actors::auction::messages::GetView;
use blytz_actors::chat::messages::{Join, Leave};
use blytz_actors::chat::rules::ChatRejection;
use blytz_actors::domain::AuctionId;
use blytz_actors::rooms::{RoomKey, Subscription};
use blytz_actors::rules::Bid;
use blytz_actors::view::Outcome;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::{Map, Value, json};

use super::budget::{ConnectionPermit, WsSettings};
use super::fanout::Socket;
use super::protocol::{self, ClientMessage};
use super::queue;
use super::writer::{Forward, Outgoing};
use crate::command;
use crate::extract::AuthUser;
use crate::state::AppState;

mod pre_bids;

/// How often the server pings and checks the client.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// A client silent this long is disconnected.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages refused in a row for going over the message rate before the
/// connection is closed: a client that ignores `rate_limited` is dropped.
const REFUSALS_BEFORE_CLOSE: u32 = 100;

/// One WebSocket connection.
pub struct WsSession {
    /// Who is connected; `None` watches and reads only.
    user: Option<AuthUser>,
    /// Shared: a request clones the handle, not the state.
    state: Arc<AppState>,
    /// To the writer. Bounded: when it is full the client has stopped
    /// reading, and the session ends rather than buffer more.
    out: queue::Sender<Outgoing>,
    last_heard: Instant,
    /// Rooms this connection counts in (presence): a few at most, so a list
    /// (an idle connection's set costs more than its one room).
    joined: Vec<RoomKey>,
    /// The user's display name, read once at the first chat message.
    display_name: Option<String>,
    /// Per joined room: whether the user skips slow mode (seller, moderator, admin).
    exempt: HashMap<RoomKey, bool>,
    /// Rooms whose subscribe is being answered (they count as rooms).
    subscribing: Vec<RoomKey>,
    /// Requests being answered.
    in_flight: u32,
    /// The connection's write side: told of bids in flight, whose answers
    /// the room's frames wait for.
    socket: Rc<Socket>,
    /// The connection's message rate, none when off.
    rate: Option<DefaultDirectRateLimiter>,
    /// Messages refused in a row for the rate.
    refused_in_a_row: u32,
    settings: WsSettings,
    /// Counts this connection against its client IP while it lives.
    _connection: Option<ConnectionPermit>,
}

impl std::fmt::Debug for WsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsSession")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl WsSession {
    /// A session for `user` writing through `out` to `socket`, counted by
    /// `connection`.
    pub fn new(
        user: Option<AuthUser>,
        state: Arc<AppState>,
        out: queue::Sender<Outgoing>,
        socket: Rc<Socket>,
        connection: Option<ConnectionPermit>,
    ) -> Self {
        let settings = state.ws.settings();
        let rate = NonZeroU32::new(settings.messages_per_sec).map(|per_sec| {
            let burst = NonZeroU32::new(settings.message_burst).unwrap_or(per_sec);
            RateLimiter::direct(Quota::per_second(per_sec).allow_burst(burst))
        });
        Self {
            user,
            state,
            out,
            last_heard: Instant::now(),
            joined: Vec::new(),
            display_name: None,
            exempt: HashMap::new(),
            subscribing: Vec::new(),
            in_flight: 0,
            socket,
            rate,
            refused_in_a_row: 0,
            settings,
            _connection: connection,
        }
    }

    /// Counts a request that will be answered later, or refuses it when the
    /// connection has as many in flight as it may.
    fn begin(&mut self, id: Option<&str>, ctx: &mut Context<Self>) -> bool {
        let max = self.settings.in_flight_per_connection;
        if max > 0 && self.in_flight >= max {
            let error = rate_limited(
                format!("at most {max} requests of a connection are answered at once"),
                1,
                "in_flight",
            );
            self.reply_error(id, &error, ctx);
            return false;
        }
        self.in_flight += 1;
        true
    }

    fn end(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// [`WsSession::end`] for a bid, whose answer the room's frames wait for.
    fn end_bid(&mut self) {
        self.end();
        self.socket.request_ended();
    }

    /// Whether the message rate lets one more message in; answers (or
    /// closes the connection) when not.
    fn admit(&mut self, text: &str, ctx: &mut Context<Self>) -> bool {
        let Some(Err(not_until)) = self.rate.as_ref().map(RateLimiter::check) else {
            self.refused_in_a_row = 0;
            return true;
        };
        self.refused_in_a_row += 1;
        if self.refused_in_a_row > REFUSALS_BEFORE_CLOSE {
            let reason = CloseReason {
                code: CloseCode::Policy,
                description: Some("too many messages".into()),
            };
            let _full = self.out.try_send(Outgoing::Close(Some(reason)));
            ctx.stop();
            return false;
        }
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let error = rate_limited(
            format!(
                "at most {} messages a second per connection",
                self.settings.messages_per_sec
            ),
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            "messages",
        );
        self.reply_error(protocol::id_of(text).as_deref(), &error, ctx);
        false
    }

    fn join(&mut self, room: RoomKey) {
        if !self.joined.contains(&room) {
            self.joined.push(room);
            let user_id = self.user.map(|u| u.id);
            self.state.shows.chat().room(room).do_send(Join { user_id });
        }
    }

    fn leave(&mut self, room: RoomKey) {
        self.exempt.remove(&room);
        if let Some(at) = self.joined.iter().position(|joined| *joined == room) {
            self.joined.swap_remove(at);
            let user_id = self.user.map(|u| u.id);
            if let Some(chat) = self.state.shows.chat().running(room) {
                chat.do_send(Leave { user_id });
            }
        }
    }

    /// Queue a frame; a full queue means the client stopped reading: drop it.
    fn push(&self, outgoing: Outgoing, ctx: &mut Context<Self>) {
        if self.out.try_send(outgoing).is_err() {
            ctx.stop();
        }
    }

    fn reply_error(&self, id: Option<&str>, error: &Error, ctx: &mut Context<Self>) {
        let reply = match error {
            Error::Internal(cause) => {
                tracing::error!(error = ?cause, "websocket request failed");
                protocol::error(id, Code::Internal, Code::Internal.message(), &Map::new())
            }
            // A refusal's answer: its parts as they are, not copied.
            Error::Refused {
                code,
                message,
                details,
            } => protocol::error(id, *code, message, details),
            Error::Rejected(rejection) => protocol::refusal(id, rejection),
            other => protocol::error(id, other.code(), &other.to_string(), &other.details()),
        };
        self.push(Outgoing::Text(reply), ctx);
    }

    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        if !self.admit(text, ctx) {
            return;
        }
        let message = match ClientMessage::parse(text) {
            Ok(message) => message,
            Err(e) => {
                let id = protocol::id_of(text);
                let error = protocol::error(
                    id.as_deref(),
                    Code::InvalidMessage,
                    &format!("{}: {e}", Code::InvalidMessage.message()),
                    &Map::new(),
                );
                self.push(Outgoing::Text(error), ctx);
                return;
            }
        };
        match message {
            ClientMessage::Ping { id } => {
                self.push(
                    Outgoing::Text(protocol::with_id(json!({"type": "pong"}), id.as_deref())),
                    ctx,
                );
            }
            ClientMessage::Subscribe { id, room } => self.subscribe(id, &room, ctx),
            ClientMessage::Unsubscribe { id, room } => match room.parse::<RoomKey>() {
                Ok(key) => {
                    self.leave(key);
                    let reply = protocol::with_id(
                        json!({"type": "unsubscribed", "room": room}),
                        id.as_deref(),
                    );
                    self.push(Outgoing::Leave { room: key, reply }, ctx);
                }
                Err(e) => self.reply_error(id.as_deref(), &invalid_room(&e.to_string()), ctx),
            },
            ClientMessage::Bid(message) => {
                let (id, auction_id, bid) = message.into_parts();
                self.bid(id, &auction_id, bid, ctx);
            }
            ClientMessage::PreBid {
                id,
                auction_id,
                pre_bid,
            } => self.pre_bid(id, &auction_id, pre_bid, ctx),
            ClientMessage::WithdrawPreBid { id, auction_id } => {
                self.withdraw_pre_bid(id, &auction_id, ctx);
            }
            ClientMessage::Chat { id, room, text } => self.chat(id, &room, text, ctx),
            ClientMessage::Moderate { id, room, request } => {
                self.moderate(id, &room, &request, ctx);
            }
            ClientMessage::Claim {
                id,
                flash_sale_id,
                quantity,
            } => self.claim(id, &flash_sale_id, quantity, ctx),
        }
    }

    /// A flash sale claim: `claim.accepted` with the claim, or an error.
    fn claim(
        &mut self,
        id: Option<String>,
        flash_sale_id: &str,
        quantity: Option<i64>,
        ctx: &mut Context<Self>,
    ) {
        let Some(user) = self.user else {
            return self.reply_error(id.as_deref(), &not_authenticated("claiming"), ctx);
        };
        let Ok(sale) = flash_sale_id.parse::<uuid::Uuid>() else {
            let error = Error::NotFound { what: "flash sale" };
            return self.reply_error(id.as_deref(), &error, ctx);
        };
        if !self.begin(id.as_deref(), ctx) {
            return;
        }
        let state = self.state.clone();
        let input = blytz::shows::lots::ClaimInput { quantity };
        ctx.spawn(
            async move { state.lots.claim(user.caller(), sale, input).await }
                .into_actor(self)
                .map(move |result, act, ctx| match (act.end(), result) {
                    ((), Ok(claim)) => {
                        let reply = json!({"type": "claim.accepted", "claim": claim});
                        act.push(Outgoing::Text(protocol::with_id(reply, id.as_deref())), ctx);
                    }
                    ((), Err(e)) => act.reply_error(id.as_deref(), &e, ctx),
                }),
        );
    }

    fn chat(&mut self, id: Option<String>, room: &str, text: String, ctx: &mut Context<Self>) {
        let Some(user) = self.user else {
            return self.reply_error(id.as_deref(), &not_authenticated("chatting"), ctx);
        };
        let key = match room.parse::<RoomKey>() {
            Ok(key) => key,
            Err(e) => return self.reply_error(id.as_deref(), &invalid_room(&e.to_string()), ctx),
        };
        if !self.begin(id.as_deref(), ctx) {
            return;
        }
        let state = self.state.clone();
        let known_name = self.display_name.clone();
        let known_exempt = self.exempt.get(&key).copied();
        let caller = user.caller();
        let fut = async move {
            let name = match known_name {
                Some(name) => name,
                None => state.accounts.profile(user.id).await?.display_name,
            };
            let exempt = match known_exempt {
                Some(exempt) => exempt,
                None => state.shows.moderates(key, caller).await?,
            };
            // In a cluster the user's rate in the room is also counted
            // across the nodes; the room counts it on its own node.
            let message = match state.limits.check_chat(key, user.id).await {
                Ok(()) => {
                    state
                        .shows
                        .post(key, user.id, name.clone(), text, exempt)
                        .await
                }
                Err(retry_after_ms) => Err(Error::from(ChatRejection::RateLimited {
                    retry_after_ms,
                    reason: "rate",
                })),
            };
            Ok::<_, Error>((name, exempt, message))
        };
        ctx.spawn(
            fut.into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok((name, exempt, message)) => {
                        act.end();
                        act.display_name = Some(name);
                        // Kept for the rooms this connection is in only.
                        if act.joined.contains(&key) {
                            act.exempt.insert(key, exempt);
                        }
                        match message {
                            Ok(message) => {
                                let reply = json!({"type": "chat.accepted", "message": message});
                                act.push(
                                    Outgoing::Text(protocol::with_id(reply, id.as_deref())),
                                    ctx,
                                );
                            }
                            Err(e) => act.reply_error(id.as_deref(), &e, ctx),
                        }
                    }
                    Err(e) => {
                        act.end();
                        act.reply_error(id.as_deref(), &e, ctx);
                    }
                }),
        );
    }

    fn moderate(
        &mut self,
        id: Option<String>,
        room: &str,
        request: &blytz::shows::ModerationRequest,
        ctx: &mut Context<Self>,
    ) {
        let Some(user) = self.user else {
            return self.reply_error(id.as_deref(), &not_authenticated("moderating"), ctx);
        };
        let key = match room.parse::<RoomKey>() {
            Ok(key) => key,
            Err(e) => return self.reply_error(id.as_deref(), &invalid_room(&e.to_string()), ctx),
        };
        let action = match request.action() {
            Ok(action) => action,
            Err(e) => return self.reply_error(id.as_deref(), &e, ctx),
        };
        if !self.begin(id.as_deref(), ctx) {
            return;
        }
        let state = self.state.clone();
        let caller = user.caller();
        let room = room.to_owned();
        ctx.spawn(
            async move { state.shows.moderate(key, caller, action).await }
                .into_actor(self)
                .map(move |result, act, ctx| match (act.end(), result) {
                    ((), Ok(())) => {
                        let reply = json!({"type": "moderated", "room": room});
                        act.push(Outgoing::Text(protocol::with_id(reply, id.as_deref())), ctx);
                    }
                    ((), Err(e)) => act.reply_error(id.as_deref(), &e, ctx),
                }),
        );
    }

    fn subscribe(&mut self, id: Option<String>, room: &str, ctx: &mut Context<Self>) {
        let key = match room.parse::<RoomKey>() {
            Ok(key) => key,
            Err(e) => return self.reply_error(id.as_deref(), &invalid_room(&e.to_string()), ctx),
        };
        let max = self.settings.rooms_per_connection;
        let counted = self.joined.contains(&key) || self.subscribing.contains(&key);
        if !counted
            && max > 0
            && self.joined.len() + self.subscribing.len() >= usize::try_from(max).unwrap_or(0)
        {
            let error = Error::refused(
                Code::TooManyRooms,
                format!("a connection may be in at most {max} rooms: unsubscribe from one first"),
            )
            .with_detail("max_rooms", max);
            return self.reply_error(id.as_deref(), &error, ctx);
        }
        if !self.begin(id.as_deref(), ctx) {
            return;
        }
        if !self.subscribing.contains(&key) {
            self.subscribing.push(key);
        }
        let state = self.state.clone();
        let room = room.to_owned();
        ctx.spawn(
            async move { room_snapshot(&state, key).await }
                .into_actor(self)
                .map(move |result, act, ctx| {
                    act.end();
                    act.subscribing.retain(|room| *room != key);
                    match result {
                        Ok((lanes, snapshot, snapshot_seq)) => {
                            act.join(key);
                            let reply = protocol::with_id(
                                json!({"type": "subscribed", "room": room, "snapshot": snapshot}),
                                id.as_deref(),
                            );
                            act.push(
                                Outgoing::Join(Box::new(Forward {
                                    room: key,
                                    lanes,
                                    reply,
                                    snapshot_seq,
                                })),
                                ctx,
                            );
                        }
                        Err(e) => act.reply_error(id.as_deref(), &e, ctx),
                    }
                }),
        );
    }

    fn bid(&mut self, id: Option<String>, auction_id: &str, bid: Bid, ctx: &mut Context<Self>) {
        let Some(user) = self.user else {
            return self.reply_error(id.as_deref(), &not_authenticated("bidding"), ctx);
        };
        let Ok(auction) = auction_id.parse::<AuctionId>() else {
            return self.reply_error(id.as_deref(), &Error::NotFound { what: "auction" }, ctx);
        };
        if !self.begin(id.as_deref(), ctx) {
            return;
        }
        // The room's frames wait for the answer, which comes within a
        // commit, and leave with it.
        self.socket.request_begun();
        let state = self.state.clone();
        let command = command::bid(bid);
        // Boxed first: the bid's future is large, and each wrapper below
        // would otherwise copy all of it again.
        let answer =
            Box::pin(
                async move { command::execute(&state, user.caller(), auction, command).await },
            );
        ctx.spawn(answer.into_actor(self).map(move |result, act, ctx| {
            match (act.end_bid(), result) {
                ((), Ok(Outcome::Bid(outcome))) => {
                    let reply = protocol::bid_accepted(id.as_deref(), &outcome);
                    act.push(Outgoing::Text(reply), ctx);
                }
                ((), Ok(Outcome::Auction(_) | Outcome::PreBid(_))) => {
                    let error = Error::Internal(anyhow::anyhow!("a bid answered no bid"));
                    act.reply_error(id.as_deref(), &error, ctx);
                }
                ((), Err(e)) => act.reply_error(id.as_deref(), &e, ctx),
            }
        }));
    }
}

fn not_authenticated(what: &str) -> Error {
    Error::refused(
        Code::NotAuthenticated,
        format!("{what} needs a token: connect with Authorization: Bearer or ?token="),
    )
}

fn invalid_room(message: &str) -> Error {
    Error::validation("room", "room", message.to_owned())
}

fn rate_limited(message: String, retry_after_secs: u64, reason: &'static str) -> Error {
    Error::refused(Code::RateLimited, message)
        .with_detail("retry_after_secs", retry_after_secs.max(1))
        .with_detail("reason", reason)
}

/// Checks that `room`'s auction or show exists, joins the room, then reads
/// its snapshot: a room is made only for what exists, and nothing falls
/// between the snapshot and the frames that follow it. An open auction is in
/// memory; anything else is read from the database under the shared look-up
/// permits, and a show's snapshot is served from memory for a second.
async fn room_snapshot(
    state: &AppState,
    room: RoomKey,
) -> Result<(Subscription, Value, Option<u64>), Error> {
    let engine = state.auctions.engine();
    match room {
        RoomKey::Auction(auction) => {
            if engine.index().get(auction).is_none() {
                if engine.serves(auction) {
                    state.ws.lookup(engine.auction(auction)).await?;
                } else {
                    // Served by another node of the cluster: ask it.
                    state.ws.lookup(engine.view(auction)).await?;
                }
            }
            let lanes = engine.rooms().join(room);
            let view = state.auctions.view(auction).await?;
            let seq = view.seq;
            Ok((lanes, json!(view), Some(seq)))
        }
        RoomKey::Show(show) => {
            let auctions = match state.ws.cached_show(show) {
                Some(auctions) => auctions,
                None => {
                    let auctions =
                        Arc::new(state.ws.lookup(state.shows.room_snapshot(show)).await?);
                    state.ws.cache_show(show, Arc::clone(&auctions));
                    auctions
                }
            };
            let lanes = engine.rooms().join(room);
            let mut items = Vec::with_capacity(auctions.len());
            for view in auctions.iter() {
                // An open lot is live in memory: its own view is the freshest.
                let live = match engine.index().get(view.id) {
                    Some(addr) => addr.send(GetView).await.ok().and_then(Result::ok),
                    None => None,
                };
                items.push(live.unwrap_or_else(|| view.clone()));
            }
            Ok((lanes, json!({ "auctions": items }), None))
        }
        // Never parsed from a client's room name.
        RoomKey::User(_) => Err(invalid_room("a user's own room cannot be subscribed to")),
    }
}

impl Actor for WsSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        metrics::gauge!("ws_sessions").increment(1.0);
        // A signed-in connection hears what is said to its user alone
        // (`order.payment_failed`, `second_chance.offered`, ...).
        if let Some(user) = &self.user {
            let room = RoomKey::User(user.caller().id);
            let lanes = self.state.auctions.engine().rooms().join(room);
            self.push(
                Outgoing::Join(Box::new(Forward {
                    room,
                    lanes,
                    reply: String::new(),
                    snapshot_seq: None,
                })),
                ctx,
            );
        }
        ctx.run_interval(HEARTBEAT_INTERVAL, |act, ctx| {
            if act.last_heard.elapsed() > CLIENT_TIMEOUT {
                tracing::debug!("websocket client timed out");
                let reason = CloseReason {
                    code: CloseCode::Away,
                    description: Some("no message or pong within the timeout".into()),
                };
                let _full = act.out.try_send(Outgoing::Close(Some(reason)));
                ctx.stop();
                return;
            }
            act.push(Outgoing::Ping, ctx);
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        // `leave` takes each room off the list.
        while let Some(&room) = self.joined.last() {
            self.leave(room);
        }
        metrics::gauge!("ws_sessions").decrement(1.0);
    }
}

impl StreamHandler<Result<Message, ProtocolError>> for WsSession {
    fn handle(&mut self, message: Result<Message, ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        match message {
            Ok(Message::Text(text)) => self.on_text(&text, ctx),
            Ok(Message::Ping(bytes)) => self.push(Outgoing::Pong(bytes), ctx),
            Ok(Message::Pong(_) | Message::Nop) => {}
            Ok(Message::Binary(_) | Message::Continuation(_)) => {
                let error = protocol::error(
                    None,
                    Code::InvalidMessage,
                    "only text frames with one JSON object each are accepted",
                    &Map::new(),
                );
                self.push(Outgoing::Text(error), ctx);
            }
            Ok(Message::Close(reason)) => {
                let _full = self.out.try_send(Outgoing::Close(reason));
                ctx.stop();
            }
            Err(e) => {
                tracing::debug!(error = %e, "websocket protocol error");
                let reason = CloseReason {
                    code: match e {
                        ProtocolError::Overflow => CloseCode::Size,
                        _ => CloseCode::Protocol,
                    },
                    description: Some(e.to_string()),
                };
                let _full = self.out.try_send(Outgoing::Close(Some(reason)));
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
