//! The accounts service: every account operation the API offers.

use crate::Code;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::model::{AuthSession, Role, User};
use super::store::{self, RefreshRow, UserRow};
use super::tokens::{self, TokenIssuer};
use super::{password, validate};
use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::ids::UserId;

/// `POST /auth/register` input.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct Registration {
    /// Login email.
    pub email: String,
    /// 8 to 128 characters.
    pub password: String,
    /// Name shown in rooms.
    pub display_name: String,
    /// `buyer` or `seller` (admins come only from the command line).
    pub role: Role,
}

/// `PUT /auth/profile` input: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ProfileUpdate {
    /// A new display name.
    pub display_name: Option<String>,
    /// A new avatar URL; an empty string removes it.
    pub avatar_url: Option<String>,
}

/// Registration, login, token rotation, profiles and passwords.
#[derive(Debug, Clone)]
pub struct Accounts {
    db: Db,
    tokens: TokenIssuer,
    refresh_ttl: Duration,
    /// A hash of a password no one knows; see [`password::decoy_hash`].
    decoy_hash: String,
}

impl Accounts {
    /// The service over `db`, signing with `tokens`; refresh tokens live `refresh_ttl`.
    pub async fn new(db: Db, tokens: TokenIssuer, refresh_ttl: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            tokens,
            refresh_ttl,
            decoy_hash: password::decoy_hash().await?,
        })
    }

    /// The token issuer, for checking access tokens.
    pub fn tokens(&self) -> &TokenIssuer {
        &self.tokens
    }

    /// Create a buyer or seller account and log it in.
    #[tracing::instrument(skip_all, fields(role = ?input.role))]
    pub async fn register(&self, input: Registration) -> Result<AuthSession> {
        if input.role == Role::Admin {
            return Err(Error::validation(
                "role",
                "one_of",
                "must be buyer or seller",
            ));
        }
        let user = self
            .create_user(
                &input.email,
                &input.password,
                &input.display_name,
                input.role,
            )
            .await?;
        self.start_session(user).await
    }

    /// Create an admin account (the server binary's `admin create`).
    pub async fn create_admin(
        &self,
        email: &str,
        password: &str,
        display_name: &str,
    ) -> Result<User> {
        self.create_user(email, password, display_name, Role::Admin)
            .await
    }

    async fn create_user(
        &self,
        email: &str,
        password: &str,
        display_name: &str,
        role: Role,
    ) -> Result<User> {
        let email = validate::email(email)?;
        validate::password("password", password)?;
        let display_name = validate::display_name(display_name)?;
        let now = crate::time::now();
        let row = UserRow {
            id: UserId::new(),
            email,
            password_hash: password::hash(password.to_owned()).await?,
            display_name,
            avatar_url: None,
            role: role.as_str().to_owned(),
            created_at: now,
            updated_at: now,
        };
        match store::insert_user(&self.db, &row).await {
            Ok(()) => Ok(row.to_user()?),
            Err(e) if db::is_unique_violation(&e) => Err(Error::refused(
                Code::EmailTaken,
                "an account with this email already exists",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Check email and password; answer a new session. A wrong email and a
    /// wrong password get the same answer and take the same time.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, email: &str, password: &str) -> Result<AuthSession> {
        let email = email.trim().to_lowercase();
        // No account's email holds a NUL (and PostgreSQL text cannot).
        let row = if email.contains('\0') {
            None
        } else {
            store::user_by_email(&self.db, &email).await?
        };
        let hash = row
            .as_ref()
            .map_or_else(|| self.decoy_hash.clone(), |r| r.password_hash.clone());
        let matches = password::verify(password.to_owned(), hash).await?;
        match row {
            Some(row) if matches => self.start_session(row.to_user()?).await,
            _ => Err(Error::refused(
                Code::InvalidCredentials,
                "email or password is wrong",
            )),
        }
    }

    /// Trade a refresh token for a new pair. The old token is spent; presenting
    /// a spent or revoked token again revokes its whole family.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, refresh_token: &str) -> Result<AuthSession> {
        let now = crate::time::now();
        let hash = tokens::hash_refresh_token(refresh_token);
        let Some(row) = store::refresh_by_hash(&self.db, &hash).await? else {
            return Err(invalid_refresh());
        };
        if row.used_at.is_some() || row.revoked_at.is_some() {
            store::revoke_family(&self.db, row.family_id, now).await?;
            tracing::warn!(user_id = %row.user_id, family = %row.family_id, "refresh token reused: family revoked");
            return Err(Error::refused(
                Code::TokenReused,
                "this refresh token was already used; every session of its login is revoked",
            ));
        }
        if row.expires_at <= now {
            return Err(invalid_refresh());
        }
        let user = store::user_by_id(&self.db, row.user_id)
            .await?
            .ok_or_else(invalid_refresh)?
            .to_user()?;
        let (token, new_row) = self.new_refresh_row(user.id, row.family_id, now);
        if !store::rotate(&self.db, row.id, &new_row, now).await? {
            // Another request rotated the same token first: that is a reuse.
            store::revoke_family(&self.db, row.family_id, now).await?;
            return Err(Error::refused(
                Code::TokenReused,
                "this refresh token was already used; every session of its login is revoked",
            ));
        }
        self.session(user, token, now)
    }

    /// Revoke the refresh token's family (one login), or every session of the
    /// user when no token is given.
    pub async fn logout(&self, user: UserId, refresh_token: Option<&str>) -> Result<()> {
        let now = crate::time::now();
        match refresh_token {
            Some(token) => {
                let hash = tokens::hash_refresh_token(token);
                match store::refresh_by_hash(&self.db, &hash).await? {
                    Some(row) if row.user_id == user => {
                        store::revoke_family(&self.db, row.family_id, now).await?;
                    }
                    _ => return Err(invalid_refresh()),
                }
            }
            None => {
                store::revoke_user(&self.db, user, now).await?;
            }
        }
        Ok(())
    }

    /// The user's account.
    pub async fn profile(&self, user: UserId) -> Result<User> {
        Ok(self.user_row(user).await?.to_user()?)
    }

    /// Change display name and avatar.
    pub async fn update_profile(&self, user: UserId, update: ProfileUpdate) -> Result<User> {
        let row = self.user_row(user).await?;
        let display_name = match &update.display_name {
            Some(name) => validate::display_name(name)?,
            None => row.display_name.clone(),
        };
        let avatar_url = match update.avatar_url.as_deref().map(str::trim) {
            Some("") => None,
            Some(url) => Some(validate::avatar_url(url)?),
            None => row.avatar_url.clone(),
        };
        store::update_profile(
            &self.db,
            user,
            &display_name,
            avatar_url.as_deref(),
            crate::time::now(),
        )
        .await?;
        self.profile(user).await
    }

    /// Check the current password, set a new one and revoke every refresh token.
    pub async fn change_password(&self, user: UserId, current: &str, new: &str) -> Result<()> {
        let row = self.user_row(user).await?;
        if !password::verify(current.to_owned(), row.password_hash.clone()).await? {
            return Err(Error::refused(
                Code::InvalidCredentials,
                "the current password is wrong",
            ));
        }
        validate::password("new_password", new)?;
        let hash = password::hash(new.to_owned()).await?;
        store::set_password_and_revoke(&self.db, user, &hash, crate::time::now()).await?;
        Ok(())
    }

    async fn user_row(&self, user: UserId) -> Result<UserRow> {
        store::user_by_id(&self.db, user)
            .await?
            .ok_or(Error::NotFound { what: "user" })
    }

    async fn start_session(&self, user: User) -> Result<AuthSession> {
        let now = crate::time::now();
        let (token, row) = self.new_refresh_row(user.id, Uuid::now_v7(), now);
        store::insert_refresh(&self.db, &row)
            .await
            .context("storing a refresh token")?;
        self.session(user, token, now)
    }

    fn new_refresh_row(
        &self,
        user: UserId,
        family: Uuid,
        now: DateTime<Utc>,
    ) -> (String, RefreshRow) {
        let (token, token_hash) = tokens::new_refresh_token();
        let ttl =
            chrono::Duration::from_std(self.refresh_ttl).unwrap_or(chrono::Duration::days(30));
        let row = RefreshRow {
            id: Uuid::now_v7(),
            user_id: user,
            family_id: family,
            token_hash,
            expires_at: now + ttl,
            created_at: now,
            used_at: None,
            revoked_at: None,
        };
        (token, row)
    }

    fn session(
        &self,
        user: User,
        refresh_token: String,
        now: DateTime<Utc>,
    ) -> Result<AuthSession> {
        let access_token = self
            .tokens
            .issue_access(user.id, user.role, now.timestamp())?;
        Ok(AuthSession {
            user,
            access_token,
            refresh_token,
            expires_in: self.tokens.access_ttl_secs(),
        })
    }
}

fn invalid_refresh() -> Error {
    Error::refused(
        Code::InvalidToken,
        "the refresh token is invalid or expired",
    )
}
