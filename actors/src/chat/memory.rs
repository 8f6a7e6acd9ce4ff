//! An in-memory [`ChatStore`] for tests.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::store::{ChatMessage, ChatStore, ChatStoreError, RestrictionKind, Restrictions};
use crate::domain::UserId;
use crate::rooms::RoomKey;

#[derive(Debug, Default)]
struct Tables {
    messages: Vec<(RoomKey, ChatMessage, bool)>,
    restrictions: HashSet<(RoomKey, UserId, RestrictionKind)>,
    slow_mode: HashMap<RoomKey, u32>,
    fail_restrictions: bool,
}

/// Chat kept in memory.
#[derive(Debug, Clone, Default)]
pub struct InMemoryChatStore {
    tables: Arc<Mutex<Tables>>,
}

impl InMemoryChatStore {
    fn tables(&self) -> MutexGuard<'_, Tables> {
        // A poisoned lock only means a test panicked while holding it.
        self.tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes loading restrictions fail (`true`) or work again, as a
    /// database that went away would.
    pub fn fail_restrictions(&self, fail: bool) {
        self.tables().fail_restrictions = fail;
    }

    /// Stored, not deleted messages of `room`, oldest first.
    #[must_use]
    pub fn messages(&self, room: RoomKey) -> Vec<ChatMessage> {
        self.tables()
            .messages
            .iter()
            .filter(|(r, _, deleted)| *r == room && !deleted)
            .map(|(_, m, _)| m.clone())
            .collect()
    }
}

#[async_trait::async_trait]
impl ChatStore for InMemoryChatStore {
    async fn save(&self, room: RoomKey, messages: &[ChatMessage]) -> Result<(), ChatStoreError> {
        let mut tables = self.tables();
        tables
            .messages
            .extend(messages.iter().map(|m| (room, m.clone(), false)));
        Ok(())
    }

    async fn delete(
        &self,
        room: RoomKey,
        message: Uuid,
        _at: DateTime<Utc>,
    ) -> Result<bool, ChatStoreError> {
        let mut tables = self.tables();
        let found = tables
            .messages
            .iter_mut()
            .find(|(r, m, deleted)| *r == room && m.id == message && !*deleted);
        Ok(found.map(|entry| entry.2 = true).is_some())
    }

    async fn restrictions(&self, room: RoomKey) -> Result<Restrictions, ChatStoreError> {
        let tables = self.tables();
        if tables.fail_restrictions {
            return Err(ChatStoreError("the store is unavailable".into()));
        }
        let of = |kind| {
            tables
                .restrictions
                .iter()
                .filter(|(r, _, k)| *r == room && *k == kind)
                .map(|(_, user, _)| *user)
                .collect()
        };
        Ok(Restrictions {
            muted: of(RestrictionKind::Mute),
            banned: of(RestrictionKind::Ban),
            slow_mode_secs: tables.slow_mode.get(&room).copied().unwrap_or(0),
        })
    }

    async fn restrict(
        &self,
        room: RoomKey,
        user: UserId,
        kind: RestrictionKind,
        on: bool,
        _by: UserId,
        _at: DateTime<Utc>,
    ) -> Result<(), ChatStoreError> {
        let mut tables = self.tables();
        if on {
            tables.restrictions.insert((room, user, kind));
        } else {
            tables.restrictions.remove(&(room, user, kind));
        }
        Ok(())
    }

    async fn set_slow_mode(&self, room: RoomKey, secs: u32) -> Result<(), ChatStoreError> {
        self.tables().slow_mode.insert(room, secs);
        Ok(())
    }
}
