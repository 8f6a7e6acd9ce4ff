//! Throw-away databases for tests and benchmarks: a SQLite file in a temporary
//! folder, or a fresh PostgreSQL database created next to a given server URL.

use std::str::FromStr;

use anyhow::Context;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use super::Db;

/// Name prefix of scratch PostgreSQL databases (CI drops leftovers by it).
pub const SCRATCH_PREFIX: &str = "blytz_scratch_";

/// A fresh, migrated, empty database that no one else uses.
#[derive(Debug)]
pub struct ScratchDb {
    /// The connected, migrated pool.
    pub db: Db,
    /// A URL that reaches the same database (for a child process).
    pub url: String,
    /// Keeps a SQLite file's folder alive until the value is dropped.
    _dir: Option<tempfile::TempDir>,
}

impl ScratchDb {
    /// A new SQLite file in a temporary folder.
    pub async fn sqlite() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("creating a temporary folder")?;
        let url = format!("sqlite://{}", dir.path().join("blytz.db").display());
        let db = Db::connect(&url).await?;
        db.migrate().await?;
        Ok(Self {
            db,
            url,
            _dir: Some(dir),
        })
    }

    /// A new database on the PostgreSQL server that `server_url` points at.
    pub async fn postgres(server_url: &str) -> anyhow::Result<Self> {
        let name = format!("{SCRATCH_PREFIX}{}", uuid::Uuid::now_v7().simple());
        let admin = PgConnectOptions::from_str(server_url).context("parsing the PostgreSQL URL")?;
        let mut conn = PgConnection::connect_with(&admin)
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .context("creating a scratch database")?;
        conn.close().await.ok();
        let url = with_database(server_url, &name)?;
        let db = Db::connect(&url).await?;
        db.migrate().await?;
        Ok(Self {
            db,
            url,
            _dir: None,
        })
    }

    /// PostgreSQL when `TEST_DATABASE_URL` is set, else SQLite.
    pub async fn from_env() -> anyhow::Result<Self> {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Self::postgres(&url).await,
            _ => Self::sqlite().await,
        }
    }
}

/// `server_url` with its database name replaced by `name`.
fn with_database(server_url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let scheme_end = base
        .find("://")
        .map(|i| i + 3)
        .context("no scheme in the URL")?;
    let authority_end = base[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(base.len());
    let mut url = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://u@h:5432/test", "x").unwrap(),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "x").unwrap(),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/test?sslmode=disable", "x").unwrap(),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
