//! Accounts and authentication: registration, login, rotating refresh tokens,
//! profiles and passwords.
//!
//! Passwords are argon2id hashes; access tokens are short-lived HS256 JWTs;
//! refresh tokens are random, stored only as SHA-256 hashes, rotate on every
//! use, and a reused one revokes its whole family (one login's chain).

mod model;
mod password;
mod service;
mod store;
mod tokens;
mod validate;

pub use model::{AuthSession, Caller, Role, User};
pub use service::{Accounts, ProfileUpdate, Registration};
pub use tokens::{AccessClaims, TokenIssuer};

/// The role of `user`, or `None` when no such user exists.
pub(crate) async fn role_of(
    db: &crate::db::Db,
    user: crate::ids::UserId,
) -> crate::error::Result<Option<Role>> {
    match store::user_by_id(db, user).await? {
        Some(row) => Ok(Some(row.to_user()?.role)),
        None => Ok(None),
    }
}
