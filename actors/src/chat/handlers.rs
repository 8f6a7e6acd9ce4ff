//! How a [`ChatRoom`] answers its messages.

use std::time::{Duration, Instant};

use actix::prelude::*;
use governor::clock::{Clock as _, DefaultClock};
use uuid::Uuid;

use super::ChatRoom;
use super::messages::{
    Flush, Join, Leave, Moderate, Moderation, Present, ReloadRestrictions, SendChat,
};
use super::rules::{ChatRejection, clean_text};
use super::store::{ChatMessage, RestrictionKind};
use crate::rooms::RoomNotice;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl Handler<SendChat> for ChatRoom {
    type Result = Result<ChatMessage, ChatRejection>;

    fn handle(&mut self, msg: SendChat, ctx: &mut Self::Context) -> Self::Result {
        if !self.restrictions_loaded {
            return Err(ChatRejection::ModerationUnavailable);
        }
        if self.banned.contains(&msg.user_id) {
            return Err(ChatRejection::Banned);
        }
        if self.muted.contains(&msg.user_id) {
            return Err(ChatRejection::Muted);
        }
        let text = clean_text(&msg.text)?;
        if !msg.exempt
            && !self.slow_mode.is_zero()
            && let Some(last) = self.last_sent.get(&msg.user_id)
        {
            let waited = last.elapsed();
            if waited < self.slow_mode {
                return Err(ChatRejection::RateLimited {
                    retry_after_ms: millis(self.slow_mode - waited),
                    reason: "slow_mode",
                });
            }
        }
        if let Some(Err(not_until)) = self.rate.as_ref().map(|r| r.check_key(&msg.user_id)) {
            return Err(ChatRejection::RateLimited {
                retry_after_ms: millis(not_until.wait_time_from(DefaultClock::default().now())),
                reason: "rate",
            });
        }
        self.last_sent.insert(msg.user_id, Instant::now());
        let message = ChatMessage {
            id: Uuid::now_v7(),
            user_id: msg.user_id,
            display_name: msg.display_name,
            text,
            sent_at: self.clock.now(),
        };
        let frame = self.chat_frame(&message);
        self.publish(frame, ctx);
        self.pending.push(message.clone());
        Ok(message)
    }
}

impl Handler<Moderate> for ChatRoom {
    type Result = ResponseActFuture<Self, Result<(), ChatRejection>>;

    fn handle(&mut self, msg: Moderate, _: &mut Self::Context) -> Self::Result {
        let store = self.store.clone();
        let room = self.room;
        let now = self.clock.now();
        match msg.action {
            Moderation::DeleteMessage(id) => {
                // Not yet written: drop it from the batch. Being written:
                // delete it once the write is done. Else mark it deleted.
                let before = self.pending.len();
                self.pending.retain(|m| m.id != id);
                let mut was_pending = self.pending.len() != before;
                if !was_pending && self.flushing.contains(&id) {
                    self.delete_after_flush.push(id);
                    was_pending = true;
                }
                Box::pin(
                    async move {
                        if was_pending {
                            return Ok(true);
                        }
                        store
                            .delete(room, id, now)
                            .await
                            .map_err(|_| ChatRejection::Unavailable)
                    }
                    .into_actor(self)
                    .map(move |deleted, act, ctx| match deleted {
                        Ok(true) => {
                            let frame = act.deleted_frame(id);
                            act.publish(frame, ctx);
                            Ok(())
                        }
                        Ok(false) => Err(ChatRejection::NotFound),
                        Err(e) => Err(e),
                    }),
                )
            }
            Moderation::SlowMode(secs) => Box::pin(
                async move { store.set_slow_mode(room, secs).await }
                    .into_actor(self)
                    .map(move |saved, act, _| {
                        saved.map_err(|_| ChatRejection::Unavailable)?;
                        act.slow_mode = Duration::from_secs(u64::from(secs));
                        act.rooms
                            .announce(room, RoomNotice::ChatRestrictionsChanged);
                        Ok(())
                    }),
            ),
            Moderation::Mute(user)
            | Moderation::Unmute(user)
            | Moderation::Ban(user)
            | Moderation::Unban(user) => {
                let (kind, on) = match msg.action {
                    Moderation::Mute(_) => (RestrictionKind::Mute, true),
                    Moderation::Unmute(_) => (RestrictionKind::Mute, false),
                    Moderation::Unban(_) => (RestrictionKind::Ban, false),
                    _ => (RestrictionKind::Ban, true),
                };
                Box::pin(
                    async move { store.restrict(room, user, kind, on, msg.by, now).await }
                        .into_actor(self)
                        .map(move |saved, act, _| {
                            saved.map_err(|_| ChatRejection::Unavailable)?;
                            let set = match kind {
                                RestrictionKind::Mute => &mut act.muted,
                                RestrictionKind::Ban => &mut act.banned,
                            };
                            if on {
                                set.insert(user);
                            } else {
                                set.remove(&user);
                            }
                            act.rooms
                                .announce(room, RoomNotice::ChatRestrictionsChanged);
                            Ok(())
                        }),
                )
            }
        }
    }
}

impl Handler<Join> for ChatRoom {
    type Result = ();

    fn handle(&mut self, msg: Join, _: &mut Self::Context) {
        self.presence.connections += 1;
        if let Some(user) = msg.user_id {
            let count = self.presence.users.entry(user).or_insert(0);
            *count += 1;
            if *count == 1 {
                self.hub.presence().insert(self.room, user, self.lister);
            }
        }
        self.presence.dirty = true;
    }
}

impl Handler<Leave> for ChatRoom {
    type Result = ();

    fn handle(&mut self, msg: Leave, _: &mut Self::Context) {
        self.presence.connections = self.presence.connections.saturating_sub(1);
        if let Some(user) = msg.user_id
            && let Some(count) = self.presence.users.get_mut(&user)
        {
            *count -= 1;
            if *count == 0 {
                self.presence.users.remove(&user);
                self.hub.presence().remove(self.room, user, self.lister);
            }
        }
        self.presence.dirty = true;
    }
}

impl Handler<Present> for ChatRoom {
    type Result = MessageResult<Present>;

    fn handle(&mut self, _: Present, _: &mut Self::Context) -> Self::Result {
        let mut users: Vec<_> = self.presence.users.keys().copied().collect();
        users.sort_unstable();
        MessageResult(users)
    }
}

impl Handler<Flush> for ChatRoom {
    type Result = ResponseFuture<Result<(), ChatRejection>>;

    fn handle(&mut self, _: Flush, _: &mut Self::Context) -> Self::Result {
        let batch = std::mem::take(&mut self.pending);
        let store = self.store.clone();
        let room = self.room;
        Box::pin(async move {
            store
                .save(room, &batch)
                .await
                .map_err(|_| ChatRejection::Unavailable)
        })
    }
}

impl Handler<ReloadRestrictions> for ChatRoom {
    type Result = ();

    fn handle(&mut self, _: ReloadRestrictions, ctx: &mut Self::Context) {
        self.load_restrictions(ctx, false);
    }
}
