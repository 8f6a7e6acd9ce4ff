//! Chat and presence of one room, in an actor of its own.
//!
//! Sessions send it [`messages::SendChat`], [`messages::Join`] and
//! [`messages::Leave`]; the shows service sends it [`messages::Moderate`]
//! once it has checked who may moderate. It owns the room's mutes, bans,
//! slow mode and per-user rates, publishes `chat.message`, `chat.deleted`
//! and `presence` frames on the room's chat lane of the [`Rooms`] hub, and
//! writes history in batches. It runs apart from the auction actors, so chat
//! load never delays a bid.
//!
//! Chat frames go out in batches: a frame published when the room has been
//! quiet for [`CHAT_BATCH_EVERY`] leaves at once, as it is; frames that
//! follow within that time wait and leave together as one `chat.batch`
//! frame. A busy room then costs each connection one frame per batch, not
//! one per message: at thousands of messages a second and thousands of
//! viewers, per-message frames would be millions of writes a second.

mod handlers;
mod hub;
mod memory;
pub mod messages;
mod presence;
pub mod rules;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::Bytes;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use uuid::Uuid;

pub use hub::{ChatHub, ChatSettings};
pub use memory::InMemoryChatStore;
use presence::Lister;
pub use presence::PresenceIndex;

use crate::domain::UserId;
use crate::ports::Clock;
use crate::rooms::{RoomKey, Rooms};
use store::{ChatMessage, ChatStore};

/// The least time between two chat batches of a room.
pub const CHAT_BATCH_EVERY: Duration = Duration::from_millis(50);
/// How often pending messages are written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// How often a changed viewer count is published (at most).
pub const PRESENCE_EVERY: Duration = Duration::from_millis(500);
/// A room with no viewer for this long stops (its state is in the store).
pub const IDLE_STOP_AFTER: Duration = Duration::from_secs(300);
/// The first wait before loading a room's restrictions again after a failure;
/// it doubles up to [`RESTRICTIONS_RETRY_MAX`].
pub const RESTRICTIONS_RETRY_FIRST: Duration = Duration::from_millis(500);
/// The longest wait between two tries to load a room's restrictions.
pub const RESTRICTIONS_RETRY_MAX: Duration = Duration::from_secs(30);

/// Who is in the room.
#[derive(Debug, Default)]
struct Presence {
    connections: u32,
    users: HashMap<UserId, u32>,
    dirty: bool,
    empty_since: Option<Instant>,
    /// The whole room's presence as last published (every node's, in a
    /// cluster).
    published: Option<crate::rooms::Presence>,
}

#[derive(Serialize)]
struct PresenceFrame {
    #[serde(rename = "type")]
    kind: &'static str,
    room: String,
    connections: u32,
    viewers: u32,
}

#[derive(Serialize)]
struct ChatFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    room: String,
    message: &'a ChatMessage,
}

#[derive(Serialize)]
struct DeletedFrame {
    #[serde(rename = "type")]
    kind: &'static str,
    room: String,
    message_id: Uuid,
}

/// `{"type":"chat.batch","room":…,"frames":[…]}`: the frames as they would
/// have been sent one by one, in order, joined without parsing them again.
fn batch_frame(room: RoomKey, frames: &[Bytes]) -> Bytes {
    let mut out = Vec::with_capacity(frames.iter().map(Bytes::len).sum::<usize>() + 128);
    // A room key prints as `auction:<uuid>` or `show:<uuid>`: nothing to escape.
    out.extend_from_slice(
        format!(r#"{{"type":"chat.batch","room":"{room}","frames":["#).as_bytes(),
    );
    for (n, frame) in frames.iter().filter(|f| !f.is_empty()).enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(frame);
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

fn encode(frame: &impl Serialize) -> Bytes {
    // Plain structs of strings, numbers and ids always serialize.
    serde_json::to_vec(frame).map_or_else(|_| Bytes::new(), Bytes::from)
}

/// The chat and presence of one room.
pub struct ChatRoom {
    room: RoomKey,
    rooms: Rooms,
    store: Arc<dyn ChatStore>,
    clock: Arc<dyn Clock>,
    muted: HashSet<UserId>,
    banned: HashSet<UserId>,
    slow_mode: Duration,
    /// Whether the mutes, bans and slow mode above are loaded: until they
    /// are, chat is refused (fail closed), never judged without them.
    restrictions_loaded: bool,
    /// The wait before the next try to load them.
    restrictions_retry: Duration,
    last_sent: HashMap<UserId, Instant>,
    /// Per-user message rate (GCRA), none when off; the actor is its only user.
    rate: Option<DefaultKeyedRateLimiter<UserId>>,
    /// Accepted, broadcast, not yet written.
    pending: Vec<ChatMessage>,
    /// Ids of messages whose batch is being written right now.
    flushing: HashSet<Uuid>,
    /// Deleted while their batch was being written: deleted in the store
    /// once that write is done.
    delete_after_flush: Vec<Uuid>,
    presence: Presence,
    /// This actor's mark on its entries of the hub's presence index.
    lister: Lister,
    /// Chat frames waiting for the next batch.
    outbox: Vec<Bytes>,
    /// When the last batch left.
    last_batch: Option<Instant>,
    /// Whether a timer will send the outbox.
    batch_due: bool,
    hub: ChatHub,
}

impl std::fmt::Debug for ChatRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatRoom")
            .field("room", &self.room)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl ChatRoom {
    fn new(room: RoomKey, hub: ChatHub) -> Self {
        let settings = hub.settings();
        let rate = NonZeroU32::new(settings.rate_per_sec).map(|per_sec| {
            let burst = NonZeroU32::new(settings.burst).unwrap_or(NonZeroU32::MIN);
            RateLimiter::keyed(Quota::per_second(per_sec).allow_burst(burst))
        });
        Self {
            room,
            rooms: hub.rooms().clone(),
            store: hub.store(),
            clock: hub.clock(),
            muted: HashSet::new(),
            banned: HashSet::new(),
            slow_mode: Duration::ZERO,
            restrictions_loaded: false,
            restrictions_retry: RESTRICTIONS_RETRY_FIRST,
            last_sent: HashMap::new(),
            rate,
            pending: Vec::new(),
            flushing: HashSet::new(),
            delete_after_flush: Vec::new(),
            presence: Presence::default(),
            lister: Lister::new(),
            outbox: Vec::new(),
            last_batch: None,
            batch_due: false,
            hub,
        }
    }

    /// Queue a chat frame for the room: sent now when the room has been
    /// quiet for [`CHAT_BATCH_EVERY`], else with the next batch.
    fn publish(&mut self, frame: Bytes, ctx: &mut Context<Self>) {
        self.outbox.push(frame);
        if self.batch_due {
            return;
        }
        match self.last_batch.map(|at| at.elapsed()) {
            Some(since) if since < CHAT_BATCH_EVERY => {
                self.batch_due = true;
                ctx.run_later(CHAT_BATCH_EVERY - since, |act, _| {
                    act.batch_due = false;
                    act.send_batch();
                });
            }
            _ => self.send_batch(),
        }
    }

    fn send_batch(&mut self) {
        let frame = match self.outbox.len() {
            0 => return,
            1 => self.outbox.pop().unwrap_or_default(),
            _ => batch_frame(self.room, &std::mem::take(&mut self.outbox)),
        };
        self.rooms.publish_chat(self.room, frame);
        self.last_batch = Some(Instant::now());
    }

    fn chat_frame(&self, message: &ChatMessage) -> Bytes {
        encode(&ChatFrame {
            kind: "chat.message",
            room: self.room.to_string(),
            message,
        })
    }

    fn deleted_frame(&self, id: Uuid) -> Bytes {
        encode(&DeletedFrame {
            kind: "chat.deleted",
            room: self.room.to_string(),
            message_id: id,
        })
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.pending.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        self.flushing.extend(batch.iter().map(|m| m.id));
        let store = self.store.clone();
        let room = self.room;
        ctx.spawn(
            crate::runtime::in_runtime(async move {
                if let Err(e) = store.save(room, &batch).await {
                    tracing::error!(%room, lost = batch.len(), error = %e, "writing chat history failed");
                }
                batch
            })
            .into_actor(self)
            .map(|batch, act, ctx| {
                for message in &batch {
                    act.flushing.remove(&message.id);
                }
                act.delete_written(ctx);
            }),
        );
    }

    /// Deletes, in the store, messages deleted while their batch was written.
    fn delete_written(&mut self, ctx: &mut Context<Self>) {
        let (now_written, still_flushing): (Vec<Uuid>, Vec<Uuid>) = self
            .delete_after_flush
            .iter()
            .partition(|id| !self.flushing.contains(id));
        self.delete_after_flush = still_flushing;
        for id in now_written {
            let store = self.store.clone();
            let room = self.room;
            let at = self.clock.now();
            ctx.spawn(
                crate::runtime::in_runtime(async move {
                    if let Err(e) = store.delete(room, id, at).await {
                        tracing::error!(%room, message = %id, error = %e, "deleting a chat message failed");
                    }
                })
                .into_actor(self),
            );
        }
    }

    /// Loads the room's mutes, bans and slow mode; on failure chat stays
    /// refused and the load is tried again, with a growing wait. The first
    /// load holds the mailbox, so nothing is judged before it is done.
    fn load_restrictions(&mut self, ctx: &mut Context<Self>, first: bool) {
        let store = self.store.clone();
        let room = self.room;
        let load = crate::runtime::in_runtime(async move { store.restrictions(room).await })
            .into_actor(self)
            .map(|loaded, act, ctx| match loaded {
                Ok(restrictions) => {
                    act.muted = restrictions.muted.into_iter().collect();
                    act.banned = restrictions.banned.into_iter().collect();
                    act.slow_mode = Duration::from_secs(u64::from(restrictions.slow_mode_secs));
                    act.restrictions_loaded = true;
                    act.restrictions_retry = RESTRICTIONS_RETRY_FIRST;
                }
                Err(e) => {
                    let wait = act.restrictions_retry;
                    act.restrictions_retry = (wait * 2).min(RESTRICTIONS_RETRY_MAX);
                    tracing::error!(room = %act.room, error = %e, retry_in_ms = wait.as_millis(),
                        "loading chat restrictions failed; chat is refused until they load");
                    ctx.run_later(wait, |act, ctx| act.load_restrictions(ctx, false));
                }
            });
        if first {
            ctx.wait(load);
        } else {
            ctx.spawn(load);
        }
    }

    fn publish_presence(&mut self, ctx: &mut Context<Self>) {
        if self.presence.connections == 0 {
            let since = *self.presence.empty_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= IDLE_STOP_AFTER {
                ctx.stop();
                return;
            }
        } else {
            self.presence.empty_since = None;
        }
        // In a cluster every node tells the others its own count and its own
        // viewers the room's total; the total changes with other nodes too.
        let here = crate::rooms::Presence {
            connections: self.presence.connections,
            viewers: u32::try_from(self.presence.users.len()).unwrap_or(u32::MAX),
        };
        let room = self.rooms.share_presence(self.room, here);
        if !self.presence.dirty && self.presence.published.is_none_or(|p| p == room) {
            return;
        }
        self.presence.dirty = false;
        self.presence.published = Some(room);
        let frame = encode(&PresenceFrame {
            kind: "presence",
            room: self.room.to_string(),
            connections: room.connections,
            viewers: room.viewers,
        });
        self.rooms.deliver_chat(self.room, frame);
    }
}

impl Actor for ChatRoom {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Nothing is judged before the room's restrictions are known.
        self.load_restrictions(ctx, true);
        ctx.run_interval(FLUSH_EVERY, |act, ctx| act.flush(ctx));
        ctx.run_interval(PRESENCE_EVERY, |act, ctx| act.publish_presence(ctx));
    }

    fn stopping(&mut self, ctx: &mut Self::Context) -> Running {
        self.send_batch();
        self.flush(ctx);
        Running::Stop
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        for user in self.presence.users.keys() {
            self.hub.presence().remove(self.room, *user, self.lister);
        }
        self.hub.forget(self.room);
    }
}
