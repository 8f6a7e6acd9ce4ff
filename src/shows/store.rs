//! SQL for shows, their lot queues and moderators.

use blytz_actors::domain::{AuctionId, ShowId, UserId};
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use super::lots::{LotKind, QueueEntry};
use super::model::{Show, ShowStatus};
use crate::db::Db;
use crate::with_db;

/// A `shows` row.
#[derive(Debug, Clone, FromRow)]
pub struct ShowRow {
    #[sqlx(try_from = "Uuid")]
    pub id: ShowId,
    #[sqlx(try_from = "Uuid")]
    pub seller_id: UserId,
    pub title: String,
    pub description: String,
    pub cover_image_url: Option<String>,
    pub status: String,
    pub scheduled_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub livekit_room: String,
    pub stream_status: String,
    pub stream_participants: i32,
    pub slow_mode_secs: i32,
    pub require_payment_method: Option<bool>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ShowRow {
    /// The status; an unknown stored one is an error.
    pub fn status(&self) -> anyhow::Result<ShowStatus> {
        ShowStatus::parse(&self.status)
            .ok_or_else(|| anyhow::anyhow!("show {} has an unknown status", self.id))
    }

    /// The public view with its auctions and its whole queue.
    pub fn to_show(&self, lots: Vec<AuctionId>, queue: Vec<QueueEntry>) -> anyhow::Result<Show> {
        Ok(Show {
            id: self.id,
            seller_id: self.seller_id,
            title: self.title.clone(),
            description: self.description.clone(),
            cover_image_url: self.cover_image_url.clone(),
            status: self.status()?,
            scheduled_at: self.scheduled_at,
            started_at: self.started_at,
            ended_at: self.ended_at,
            stream_status: self.stream_status.clone(),
            stream_participants: u32::try_from(self.stream_participants).unwrap_or(0),
            slow_mode_secs: u32::try_from(self.slow_mode_secs).unwrap_or(0),
            require_payment_method: self.require_payment_method,
            lots,
            queue,
        })
    }
}

const COLUMNS: &str = "id, seller_id, title, description, cover_image_url, status, scheduled_at, \
     started_at, ended_at, livekit_room, stream_status, stream_participants, slow_mode_secs, \
     require_payment_method, created_at, updated_at";

pub async fn insert(db: &Db, row: &ShowRow) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO shows (id, seller_id, title, description, cover_image_url, status, scheduled_at, \
         livekit_room, created_at, updated_at, require_payment_method) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(Uuid::from(row.id))
    .bind(Uuid::from(row.seller_id))
    .bind(&row.title)
    .bind(&row.description)
    .bind(&row.cover_image_url)
    .bind(&row.status)
    .bind(row.scheduled_at)
    .bind(&row.livekit_room)
    .bind(row.created_at)
    .bind(row.updated_at)
    .bind(row.require_payment_method)
    .execute(pool)
    .await
    .map(|_| ()))
}

pub async fn by_id(db: &Db, id: ShowId) -> Result<Option<ShowRow>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM shows WHERE id = $1"));
    with_db!(db, pool => sqlx::query_as::<_, ShowRow>(sql).bind(Uuid::from(id)).fetch_optional(pool).await)
}

/// A page of shows, newest first, by status and seller, and, with
/// `followed_by`, only of the sellers that user follows.
pub async fn list(
    db: &Db,
    statuses: &[&str],
    seller: Option<UserId>,
    followed_by: Option<UserId>,
    before: Option<Uuid>,
    fetch: i64,
) -> Result<Vec<ShowRow>, sqlx::Error> {
    let (first, second) = match statuses {
        [one] => (*one, *one),
        [one, two, ..] => (*one, *two),
        [] => ("scheduled", "live"),
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM shows WHERE status IN ($1, $2) AND ($3 IS NULL OR seller_id = $3) \
         AND ($4 IS NULL OR id < $4) \
         AND ($6 IS NULL OR seller_id IN (SELECT seller_id FROM follows WHERE follower_id = $6)) \
         ORDER BY id DESC LIMIT $5"
    ));
    with_db!(db, pool => sqlx::query_as::<_, ShowRow>(sql)
        .bind(first)
        .bind(second)
        .bind(seller.map(Uuid::from))
        .bind(before)
        .bind(fetch)
        .bind(followed_by.map(Uuid::from))
        .fetch_all(pool)
        .await)
}

/// Move `id` from one of `from` to `to`, stamping `started_at` or `ended_at`.
/// Answers whether it moved.
pub async fn transition(
    db: &Db,
    id: ShowId,
    from: &[&str],
    to: ShowStatus,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let (a, b) = match from {
        [one] => (*one, *one),
        [one, two, ..] => (*one, *two),
        [] => return Ok(false),
    };
    let stamp = match to {
        ShowStatus::Live => "started_at",
        ShowStatus::Ended => "ended_at",
        ShowStatus::Scheduled => "updated_at",
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "UPDATE shows SET status = $1, {stamp} = $2, updated_at = $2 WHERE id = $3 AND status IN ($4, $5)"
    ));
    with_db!(db, pool => sqlx::query(sql)
        .bind(to.as_str())
        .bind(now)
        .bind(Uuid::from(id))
        .bind(a)
        .bind(b)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// The show's auctions in queue order.
pub async fn lots(db: &Db, show: ShowId) -> Result<Vec<AuctionId>, sqlx::Error> {
    let rows: Vec<(Uuid,)> = with_db!(db, pool => sqlx::query_as(
        "SELECT auction_id FROM show_lots WHERE show_id = $1 AND kind = 'auction' \
         ORDER BY position, auction_id",
    )
    .bind(Uuid::from(show))
    .fetch_all(pool)
    .await)?;
    Ok(rows.into_iter().map(|(id,)| AuctionId::from(id)).collect())
}

/// The show's whole queue in order: each lot's kind, id and stored status
/// (`auction_id` holds the lot's id whatever its kind).
pub async fn queue(db: &Db, show: ShowId) -> Result<Vec<QueueEntry>, sqlx::Error> {
    let rows: Vec<(String, Uuid, Option<String>)> = with_db!(db, pool => sqlx::query_as(
        "SELECT l.kind, l.auction_id, COALESCE(a.status, g.status, f.status) FROM show_lots l \
         LEFT JOIN auctions a ON l.kind = 'auction' AND a.id = l.auction_id \
         LEFT JOIN giveaways g ON l.kind = 'giveaway' AND g.id = l.auction_id \
         LEFT JOIN flash_sales f ON l.kind = 'flash_sale' AND f.id = l.auction_id \
         WHERE l.show_id = $1 ORDER BY l.position, l.auction_id",
    )
    .bind(Uuid::from(show))
    .fetch_all(pool)
    .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(kind, id, status)| {
            Some(QueueEntry {
                kind: LotKind::parse(&kind)?,
                id,
                status: status.unwrap_or_else(|| "scheduled".to_owned()),
            })
        })
        .collect())
}

/// Appends a lot to the end of a show's queue; binds `$1` the show, `$2`
/// the auction. The auction journal runs it in the transaction that
/// creates the auction, so a lot is in its queue exactly when it exists.
pub const APPEND_LOT_SQL: &str = "INSERT INTO show_lots (show_id, auction_id, position) \
     SELECT $1, $2, COALESCE(MAX(position), 0) + 1 FROM show_lots WHERE show_id = $1";

/// Give the show's lots the positions of `order` (one transaction).
pub async fn reorder(db: &Db, show: ShowId, order: &[AuctionId]) -> Result<(), sqlx::Error> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        for (position, auction) in (1_i64..).zip(order) {
            sqlx::query("UPDATE show_lots SET position = $1 WHERE show_id = $2 AND auction_id = $3")
                .bind(position)
                .bind(Uuid::from(show))
                .bind(Uuid::from(*auction))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    })
}

pub async fn remove_lot(db: &Db, show: ShowId, auction: AuctionId) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query("DELETE FROM show_lots WHERE show_id = $1 AND auction_id = $2")
        .bind(Uuid::from(show))
        .bind(Uuid::from(auction))
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1))
}

pub async fn is_moderator(db: &Db, show: ShowId, user: UserId) -> Result<bool, sqlx::Error> {
    let row: Option<(i32,)> = with_db!(db, pool => sqlx::query_as(
        "SELECT 1 FROM show_moderators WHERE show_id = $1 AND user_id = $2",
    )
    .bind(Uuid::from(show))
    .bind(Uuid::from(user))
    .fetch_optional(pool)
    .await)?;
    Ok(row.is_some())
}

pub async fn set_moderator(
    db: &Db,
    show: ShowId,
    user: UserId,
    on: bool,
) -> Result<(), sqlx::Error> {
    with_db!(db, pool => {
        if on {
            sqlx::query(
                "INSERT INTO show_moderators (show_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(Uuid::from(show))
            .bind(Uuid::from(user))
            .execute(pool)
            .await
            .map(|_| ())
        } else {
            sqlx::query("DELETE FROM show_moderators WHERE show_id = $1 AND user_id = $2")
                .bind(Uuid::from(show))
                .bind(Uuid::from(user))
                .execute(pool)
                .await
                .map(|_| ())
        }
    })
}

/// Marks the show whose video room is `room` as streaming; answers whether a show matched.
pub async fn stream_started(db: &Db, room: &str) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query("UPDATE shows SET stream_status = 'live' WHERE livekit_room = $1")
        .bind(room)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}

/// Marks the show whose video room is `room` as no longer streaming.
pub async fn stream_finished(db: &Db, room: &str) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "UPDATE shows SET stream_status = 'finished', stream_participants = 0 \
         WHERE livekit_room = $1",
    )
    .bind(room)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() > 0))
}

/// Records how many are in the video room `room` (none: unchanged).
pub async fn stream_participants(
    db: &Db,
    room: &str,
    participants: Option<i32>,
) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "UPDATE shows SET stream_participants = COALESCE($2, stream_participants) \
         WHERE livekit_room = $1",
    )
    .bind(room)
    .bind(participants)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() > 0))
}

/// A show's chat slow mode in seconds (none: no such show).
pub async fn slow_mode_secs(db: &Db, show: ShowId) -> Result<Option<u32>, sqlx::Error> {
    let secs: Option<(i32,)> = with_db!(db, pool => {
        sqlx::query_as("SELECT slow_mode_secs FROM shows WHERE id = $1")
            .bind(Uuid::from(show))
            .fetch_optional(pool)
            .await
    })?;
    Ok(secs.map(|(s,)| u32::try_from(s).unwrap_or(0)))
}

/// Stores a show's chat slow mode.
pub async fn set_slow_mode(db: &Db, show: ShowId, secs: u32) -> Result<(), sqlx::Error> {
    let secs = i32::try_from(secs).unwrap_or(i32::MAX);
    with_db!(db, pool => sqlx::query("UPDATE shows SET slow_mode_secs = $1 WHERE id = $2")
        .bind(secs)
        .bind(Uuid::from(show))
        .execute(pool)
        .await
        .map(|_| ()))
}
