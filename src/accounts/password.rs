//! argon2id password hashing, off the async threads.

use std::sync::LazyLock;

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

/// Hashes and checks running at once: one per core. Each takes argon2id's
/// 19 MiB; unbounded, a burst of sign-ups or logins would take that much per
/// request (and the allocator keeps most of it after the burst).
static HASHING: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from)));

/// Hash a password with argon2id (default parameters, random salt) on a
/// blocking thread.
pub async fn hash(password: String) -> anyhow::Result<String> {
    let _turn = HASHING.acquire().await.context("password hashing turn")?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await
    .context("password hashing task")?
}

/// Whether `password` matches the stored PHC `hash`, checked on a blocking thread.
pub async fn verify(password: String, hash: String) -> anyhow::Result<bool> {
    let _turn = HASHING.acquire().await.context("password hashing turn")?;
    tokio::task::spawn_blocking(move || {
        let parsed =
            PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .context("password verification task")?
}

/// A valid hash of a password no one knows: login verifies against it when the
/// email is unknown, so a wrong email costs the same time as a wrong password.
pub async fn decoy_hash() -> anyhow::Result<String> {
    hash("decoy password, never used".to_owned()).await
}
