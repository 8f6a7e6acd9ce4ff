//! SQL for users and refresh tokens, the same text on both backends.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use super::model::{Role, User};
use crate::db::Db;
use crate::ids::UserId;
use crate::with_db;

/// A `users` row, password hash included.
#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    #[sqlx(try_from = "Uuid")]
    pub id: UserId,
    pub email: String,
    pub password_hash: String,
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UserRow {
    /// The public view; an unknown stored role is an internal error.
    pub fn to_user(&self) -> anyhow::Result<User> {
        let role = Role::parse(&self.role)
            .ok_or_else(|| anyhow::anyhow!("user {} has an unknown role", self.id))?;
        Ok(User {
            id: self.id,
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            avatar_url: self.avatar_url.clone(),
            role,
            created_at: self.created_at,
        })
    }
}

/// A `refresh_tokens` row.
#[derive(Debug, Clone, FromRow)]
pub struct RefreshRow {
    pub id: Uuid,
    #[sqlx(try_from = "Uuid")]
    pub user_id: UserId,
    pub family_id: Uuid,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const USER_COLUMNS: &str =
    "id, email, password_hash, display_name, avatar_url, role, created_at, updated_at";

pub async fn insert_user(db: &Db, row: &UserRow) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO users (id, email, password_hash, display_name, avatar_url, role, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::from(row.id))
    .bind(&row.email)
    .bind(&row.password_hash)
    .bind(&row.display_name)
    .bind(&row.avatar_url)
    .bind(&row.role)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(pool)
    .await
    .map(|_| ()))
}

pub async fn user_by_email(db: &Db, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"));
    with_db!(db, pool => sqlx::query_as::<_, UserRow>(sql).bind(email).fetch_optional(pool).await)
}

pub async fn user_by_id(db: &Db, id: UserId) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"));
    with_db!(db, pool => sqlx::query_as::<_, UserRow>(sql).bind(Uuid::from(id)).fetch_optional(pool).await)
}

pub async fn update_profile(
    db: &Db,
    id: UserId,
    display_name: &str,
    avatar_url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "UPDATE users SET display_name = $1, avatar_url = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(display_name)
    .bind(avatar_url)
    .bind(now)
    .bind(Uuid::from(id))
    .execute(pool)
    .await
    .map(|r| r.rows_affected() == 1))
}

/// Set a new password hash and revoke every live refresh token of the user, atomically.
pub async fn set_password_and_revoke(
    db: &Db,
    id: UserId,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(password_hash)
            .bind(now)
            .bind(Uuid::from(id))
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(Uuid::from(id))
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })
}

const REFRESH_COLUMNS: &str =
    "id, user_id, family_id, token_hash, expires_at, created_at, used_at, revoked_at";

const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens \
     (id, user_id, family_id, token_hash, expires_at, created_at, used_at, revoked_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// The insert of one refresh-token row, ready to run on a pool or a transaction.
macro_rules! insert_refresh_query {
    ($row:expr) => {
        sqlx::query(INSERT_REFRESH)
            .bind($row.id)
            .bind(Uuid::from($row.user_id))
            .bind($row.family_id)
            .bind($row.token_hash.clone())
            .bind($row.expires_at)
            .bind($row.created_at)
            .bind($row.used_at)
            .bind($row.revoked_at)
    };
}

pub async fn insert_refresh(db: &Db, row: &RefreshRow) -> Result<(), sqlx::Error> {
    with_db!(db, pool => insert_refresh_query!(row).execute(pool).await.map(|_| ()))
}

pub async fn refresh_by_hash(db: &Db, hash: &str) -> Result<Option<RefreshRow>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1"
    ));
    with_db!(db, pool => sqlx::query_as::<_, RefreshRow>(sql).bind(hash).fetch_optional(pool).await)
}

/// Mark `old` used and store `new` in one transaction. Answers `false` (and
/// stores nothing) when `old` was already used or revoked meanwhile: the
/// caller lost a race with another rotation of the same token.
pub async fn rotate(
    db: &Db,
    old: Uuid,
    new: &RefreshRow,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let marked = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(old)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_refresh_query!(new).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    })
}

pub async fn revoke_family(db: &Db, family: Uuid, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(family)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))
}

pub async fn revoke_user(db: &Db, user: UserId, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(Uuid::from(user))
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))
}
