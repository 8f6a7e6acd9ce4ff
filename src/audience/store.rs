//! SQL for `follows` and `show_bookmarks`, the same text on both backends.
//!
//! The lists run newest first by `created_at`; their cursor is the time and
//! the id of the last row ([`After`]), so rows made in the same microsecond
//! still page without a gap or a repeat. On SQLite times are RFC 3339 text in
//! UTC as sqlx writes them, which orders as the times do.

use std::str::FromStr;

use blytz_actors::domain::{ShowId, UserId};
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use super::model::{BookmarkedShow, FollowedSeller};
use crate::db::Db;
use crate::shows::ShowStatus;
use crate::with_db;

/// Where a newest-first page continues: after the row made at `at` with `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct After {
    /// The last row's time.
    pub at: DateTime<Utc>,
    /// The last row's id (the seller or the show).
    pub id: Uuid,
}

impl After {
    /// The cursor text: microseconds since the epoch and the id.
    pub fn key(at: DateTime<Utc>, id: Uuid) -> String {
        format!("{}_{id}", at.timestamp_micros())
    }
}

impl FromStr for After {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let (micros, id) = text.split_once('_').ok_or(())?;
        let at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| ())?).ok_or(())?;
        Ok(Self {
            at,
            id: id.parse().map_err(|_| ())?,
        })
    }
}

#[derive(Debug, FromRow)]
pub struct FollowedRow {
    #[sqlx(try_from = "Uuid")]
    pub id: UserId,
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub follower_count: i64,
    pub followed_at: DateTime<Utc>,
}

impl From<FollowedRow> for FollowedSeller {
    fn from(r: FollowedRow) -> Self {
        Self {
            id: r.id,
            display_name: r.display_name,
            avatar_url: r.avatar_url,
            follower_count: u64::try_from(r.follower_count).unwrap_or(0),
            followed_at: r.followed_at,
        }
    }
}

#[derive(Debug, FromRow)]
pub struct BookmarkRow {
    #[sqlx(try_from = "Uuid")]
    pub id: ShowId,
    #[sqlx(try_from = "Uuid")]
    pub seller_id: UserId,
    pub seller_display_name: String,
    pub title: String,
    pub cover_image_url: Option<String>,
    pub status: String,
    pub scheduled_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub bookmarked_at: DateTime<Utc>,
}

impl BookmarkRow {
    pub fn to_show(&self) -> anyhow::Result<BookmarkedShow> {
        Ok(BookmarkedShow {
            id: self.id,
            seller_id: self.seller_id,
            seller_display_name: self.seller_display_name.clone(),
            title: self.title.clone(),
            cover_image_url: self.cover_image_url.clone(),
            status: ShowStatus::parse(&self.status)
                .ok_or_else(|| anyhow::anyhow!("show {} has an unknown status", self.id))?,
            scheduled_at: self.scheduled_at,
            started_at: self.started_at,
            ended_at: self.ended_at,
            bookmarked_at: self.bookmarked_at,
        })
    }
}

/// `$first, $first+1, ...` for `count` values.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Adds the follow; answers whether it is new.
pub async fn follow(
    db: &Db,
    follower: UserId,
    seller: UserId,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO follows (follower_id, seller_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (follower_id, seller_id) DO NOTHING",
    )
    .bind(Uuid::from(follower))
    .bind(Uuid::from(seller))
    .bind(now)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() == 1))
}

/// Removes the follow; answers whether there was one.
pub async fn unfollow(db: &Db, follower: UserId, seller: UserId) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND seller_id = $2")
        .bind(Uuid::from(follower))
        .bind(Uuid::from(seller))
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1))
}

const FOLLOWED_SELECT: &str = "SELECT u.id, u.display_name, u.avatar_url, f.created_at AS followed_at, \
     (SELECT COUNT(*) FROM follows c WHERE c.seller_id = u.id) AS follower_count \
     FROM follows f JOIN users u ON u.id = f.seller_id";

/// One follow of `follower`, with the seller's name and count.
pub async fn followed(
    db: &Db,
    follower: UserId,
    seller: UserId,
) -> Result<Option<FollowedRow>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{FOLLOWED_SELECT} WHERE f.follower_id = $1 AND f.seller_id = $2"
    ));
    with_db!(db, pool => sqlx::query_as::<_, FollowedRow>(sql)
        .bind(Uuid::from(follower))
        .bind(Uuid::from(seller))
        .fetch_optional(pool)
        .await)
}

/// A page of the sellers `follower` follows, newest follow first.
pub async fn following(
    db: &Db,
    follower: UserId,
    after: Option<After>,
    fetch: i64,
) -> Result<Vec<FollowedRow>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{FOLLOWED_SELECT} WHERE f.follower_id = $1 AND ($2 IS NULL OR f.created_at < $2 \
         OR (f.created_at = $2 AND f.seller_id < $3)) \
         ORDER BY f.created_at DESC, f.seller_id DESC LIMIT $4"
    ));
    with_db!(db, pool => sqlx::query_as::<_, FollowedRow>(sql)
        .bind(Uuid::from(follower))
        .bind(after.map(|a| a.at))
        .bind(after.map(|a| a.id))
        .bind(fetch)
        .fetch_all(pool)
        .await)
}

/// Followers of each of `sellers` that has any (one query).
pub async fn follower_counts(
    db: &Db,
    sellers: &[UserId],
) -> Result<Vec<(UserId, u64)>, sqlx::Error> {
    if sellers.is_empty() {
        return Ok(Vec::new());
    }
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT seller_id, COUNT(*) FROM follows WHERE seller_id IN ({}) GROUP BY seller_id",
        placeholders(1, sellers.len())
    ));
    let rows: Vec<(Uuid, i64)> = with_db!(db, pool => {
        let mut query = sqlx::query_as(sql);
        for seller in sellers {
            query = query.bind(Uuid::from(*seller));
        }
        query.fetch_all(pool).await
    })?;
    Ok(rows
        .into_iter()
        .map(|(id, n)| (UserId::from(id), u64::try_from(n).unwrap_or(0)))
        .collect())
}

/// A page of the ids of `seller`'s followers, in id order after `after`.
pub async fn followers_of(
    db: &Db,
    seller: UserId,
    after: Option<Uuid>,
    fetch: i64,
) -> Result<Vec<UserId>, sqlx::Error> {
    let rows: Vec<(Uuid,)> = with_db!(db, pool => sqlx::query_as(
        "SELECT follower_id FROM follows WHERE seller_id = $1 AND ($2 IS NULL OR follower_id > $2) \
         ORDER BY follower_id LIMIT $3",
    )
    .bind(Uuid::from(seller))
    .bind(after)
    .bind(fetch)
    .fetch_all(pool)
    .await)?;
    Ok(rows.into_iter().map(|(id,)| UserId::from(id)).collect())
}

/// A page of the ids of the users who bookmarked `show`, in id order.
pub async fn bookmarkers_of(
    db: &Db,
    show: ShowId,
    after: Option<Uuid>,
    fetch: i64,
) -> Result<Vec<UserId>, sqlx::Error> {
    let rows: Vec<(Uuid,)> = with_db!(db, pool => sqlx::query_as(
        "SELECT user_id FROM show_bookmarks WHERE show_id = $1 AND ($2 IS NULL OR user_id > $2) \
         ORDER BY user_id LIMIT $3",
    )
    .bind(Uuid::from(show))
    .bind(after)
    .bind(fetch)
    .fetch_all(pool)
    .await)?;
    Ok(rows.into_iter().map(|(id,)| UserId::from(id)).collect())
}

/// Adds the bookmark; answers whether it is new.
pub async fn bookmark(
    db: &Db,
    user: UserId,
    show: ShowId,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO show_bookmarks (user_id, show_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, show_id) DO NOTHING",
    )
    .bind(Uuid::from(user))
    .bind(Uuid::from(show))
    .bind(now)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() == 1))
}

/// Removes the bookmark; answers whether there was one.
pub async fn unbookmark(db: &Db, user: UserId, show: ShowId) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query("DELETE FROM show_bookmarks WHERE user_id = $1 AND show_id = $2")
        .bind(Uuid::from(user))
        .bind(Uuid::from(show))
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1))
}

const BOOKMARK_SELECT: &str = "SELECT s.id, s.seller_id, u.display_name AS seller_display_name, \
     s.title, s.cover_image_url, s.status, s.scheduled_at, s.started_at, s.ended_at, \
     b.created_at AS bookmarked_at \
     FROM show_bookmarks b JOIN shows s ON s.id = b.show_id JOIN users u ON u.id = s.seller_id";

/// One bookmark of `user`, with its show.
pub async fn bookmarked(
    db: &Db,
    user: UserId,
    show: ShowId,
) -> Result<Option<BookmarkRow>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{BOOKMARK_SELECT} WHERE b.user_id = $1 AND b.show_id = $2"
    ));
    with_db!(db, pool => sqlx::query_as::<_, BookmarkRow>(sql)
        .bind(Uuid::from(user))
        .bind(Uuid::from(show))
        .fetch_optional(pool)
        .await)
}

/// A page of the shows `user` bookmarked, newest bookmark first.
pub async fn bookmarks(
    db: &Db,
    user: UserId,
    after: Option<After>,
    fetch: i64,
) -> Result<Vec<BookmarkRow>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{BOOKMARK_SELECT} WHERE b.user_id = $1 AND ($2 IS NULL OR b.created_at < $2 \
         OR (b.created_at = $2 AND b.show_id < $3)) \
         ORDER BY b.created_at DESC, b.show_id DESC LIMIT $4"
    ));
    with_db!(db, pool => sqlx::query_as::<_, BookmarkRow>(sql)
        .bind(Uuid::from(user))
        .bind(after.map(|a| a.at))
        .bind(after.map(|a| a.id))
        .bind(fetch)
        .fetch_all(pool)
        .await)
}

/// Which of `shows` `user` bookmarked (one query).
pub async fn bookmarked_among(
    db: &Db,
    user: UserId,
    shows: &[ShowId],
) -> Result<Vec<ShowId>, sqlx::Error> {
    if shows.is_empty() {
        return Ok(Vec::new());
    }
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT show_id FROM show_bookmarks WHERE user_id = $1 AND show_id IN ({})",
        placeholders(2, shows.len())
    ));
    let rows: Vec<(Uuid,)> = with_db!(db, pool => {
        let mut query = sqlx::query_as(sql).bind(Uuid::from(user));
        for show in shows {
            query = query.bind(Uuid::from(*show));
        }
        query.fetch_all(pool).await
    })?;
    Ok(rows.into_iter().map(|(id,)| ShowId::from(id)).collect())
}
