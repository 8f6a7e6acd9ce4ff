//! The chat port on SQL: history written in batches, restrictions, slow mode.

use blytz_actors::chat::store::{
    ChatMessage, ChatStore, ChatStoreError, RestrictionKind, Restrictions,
};
use blytz_actors::domain::UserId;
use blytz_actors::rooms::RoomKey;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::model::ChatEntry;
use super::store;
use crate::db::Db;
use crate::with_db;

/// Chat storage on the configured database.
#[derive(Debug, Clone)]
pub struct SqlChatStore {
    /// Restrictions and slow mode (beside the shows they belong to).
    db: Db,
    /// Message history: `db` itself on PostgreSQL, a file of its own on
    /// SQLite ([`Db::chat_history`]).
    history: Db,
}

/// Rows per `INSERT` of a batch: 6 parameters each stays under SQLite's
/// 32,766 and PostgreSQL's 65,535 parameters per statement.
const ROWS_PER_INSERT: usize = 1000;

impl SqlChatStore {
    /// Chat storage over `db`, opening (and migrating) the history database.
    pub async fn open(db: Db) -> anyhow::Result<Self> {
        let history = db.chat_history().await?;
        Ok(Self { db, history })
    }

    /// A page of a room's history, newest first, deleted messages left out.
    pub async fn page(
        &self,
        room: RoomKey,
        before: Option<Uuid>,
        fetch: i64,
    ) -> Result<Vec<ChatEntry>, sqlx::Error> {
        let room = room.to_string();
        with_db!(&self.history, pool => sqlx::query_as::<_, ChatEntry>(
            "SELECT id, user_id, display_name, text, sent_at FROM chat_messages \
             WHERE room = $1 AND deleted_at IS NULL AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(&room)
        .bind(before)
        .bind(fetch)
        .fetch_all(pool)
        .await)
    }
}

fn failed(e: sqlx::Error) -> ChatStoreError {
    ChatStoreError(e.to_string())
}

#[async_trait::async_trait]
impl ChatStore for SqlChatStore {
    /// One transaction, a multi-row `INSERT` per [`ROWS_PER_INSERT`] messages.
    async fn save(&self, room: RoomKey, messages: &[ChatMessage]) -> Result<(), ChatStoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        let room = room.to_string();
        // The PostgreSQL twin of the SQLite chat file's `synchronous=NORMAL`:
        // a chat commit does not wait for its WAL flush, so it never queues
        // in front of a bid journal commit's flush. A crash of the database
        // server may lose the last fraction of a second of chat, never bids.
        let asynchronous = matches!(self.history, Db::Postgres(_));
        with_db!(&self.history, pool => {
            let mut tx = pool.begin().await.map_err(failed)?;
            if asynchronous {
                sqlx::query("SET LOCAL synchronous_commit TO OFF")
                    .execute(&mut *tx)
                    .await
                    .map_err(failed)?;
            }
            for chunk in messages.chunks(ROWS_PER_INSERT) {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO chat_messages (id, room, user_id, display_name, text, sent_at) ",
                );
                insert.push_values(chunk, |mut row, m| {
                    row.push_bind(m.id)
                        .push_bind(&room)
                        .push_bind(Uuid::from(m.user_id))
                        .push_bind(&m.display_name)
                        .push_bind(&m.text)
                        .push_bind(m.sent_at);
                });
                insert.push(" ON CONFLICT (id) DO NOTHING");
                insert.build().execute(&mut *tx).await.map_err(failed)?;
            }
            tx.commit().await.map_err(failed)
        })
    }

    async fn delete(
        &self,
        room: RoomKey,
        message: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, ChatStoreError> {
        let room = room.to_string();
        with_db!(&self.history, pool => {
            sqlx::query(
                "UPDATE chat_messages SET deleted_at = $1 WHERE id = $2 AND room = $3 AND deleted_at IS NULL",
            )
            .bind(at)
            .bind(message)
            .bind(&room)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() == 1)
        })
        .map_err(failed)
    }

    async fn restrictions(&self, room: RoomKey) -> Result<Restrictions, ChatStoreError> {
        let name = room.to_string();
        let rows: Vec<(Uuid, String)> = with_db!(&self.db, pool => {
            sqlx::query_as("SELECT user_id, kind FROM chat_restrictions WHERE room = $1")
                .bind(&name)
                .fetch_all(pool)
                .await
        })
        .map_err(failed)?;
        let slow_mode_secs = match room {
            RoomKey::Show(show) => store::slow_mode_secs(&self.db, show)
                .await
                .map_err(failed)?
                .unwrap_or(0),
            RoomKey::Auction(_) | RoomKey::User(_) => 0,
        };
        let mut restrictions = Restrictions {
            slow_mode_secs,
            ..Restrictions::default()
        };
        for (user, kind) in rows {
            match kind.as_str() {
                "mute" => restrictions.muted.push(UserId::from(user)),
                "ban" => restrictions.banned.push(UserId::from(user)),
                _ => {}
            }
        }
        Ok(restrictions)
    }

    async fn restrict(
        &self,
        room: RoomKey,
        user: UserId,
        kind: RestrictionKind,
        on: bool,
        by: UserId,
        at: DateTime<Utc>,
    ) -> Result<(), ChatStoreError> {
        let room = room.to_string();
        with_db!(&self.db, pool => {
            if on {
                sqlx::query(
                    "INSERT INTO chat_restrictions (room, user_id, kind, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room, user_id, kind) DO NOTHING",
                )
                .bind(&room)
                .bind(Uuid::from(user))
                .bind(kind.as_str())
                .bind(Uuid::from(by))
                .bind(at)
                .execute(pool)
                .await
                .map(|_| ())
            } else {
                sqlx::query("DELETE FROM chat_restrictions WHERE room = $1 AND user_id = $2 AND kind = $3")
                    .bind(&room)
                    .bind(Uuid::from(user))
                    .bind(kind.as_str())
                    .execute(pool)
                    .await
                    .map(|_| ())
            }
        })
        .map_err(failed)
    }

    async fn set_slow_mode(&self, room: RoomKey, secs: u32) -> Result<(), ChatStoreError> {
        // Only show rooms keep it; an auction room's slow mode lasts while its actor does.
        let RoomKey::Show(show) = room else {
            return Ok(());
        };
        store::set_slow_mode(&self.db, show, secs)
            .await
            .map_err(failed)
    }
}
