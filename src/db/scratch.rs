//! Throw-away databases for tests and benchmarks: a SQLite file in a temporary
//! folder, or a fresh PostgreSQL database created next to a given server URL.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use super::Db;

/// Name prefix of scratch PostgreSQL databases (CI drops leftovers by it).
pub const SCRATCH_PREFIX: &str = "blytz_scratch_";
/// A scratch database this old is a leftover: no test runs this long.
pub const STALE_AFTER: Duration = Duration::from_secs(6 * 3600);

/// Whether this process has swept leftovers already (once is enough).
static SWEPT: AtomicBool = AtomicBool::new(false);

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
        // Tests do not drop their databases (a drop needs every connection
        // closed, and a test's server may outlive its last line): each run
        // drops what earlier runs left instead.
        if !SWEPT.swap(true, Ordering::Relaxed) {
            drop_stale(&mut conn, SystemTime::now()).await;
        }
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

/// Drops the scratch databases made more than [`STALE_AFTER`] before
/// `now` (a name's v7 uuid says when it was made); the names dropped. Best
/// effort: a failure is logged and leaves the database for the next run.
pub async fn drop_stale(conn: &mut PgConnection, now: SystemTime) -> Vec<String> {
    let names: Vec<String> = match sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE starts_with(datname::text, $1)",
    )
    .bind(SCRATCH_PREFIX)
    .fetch_all(&mut *conn)
    .await
    {
        Ok(names) => names,
        Err(e) => {
            tracing::warn!(error = %e, "could not list scratch databases");
            return Vec::new();
        }
    };
    let mut dropped = Vec::new();
    for name in names {
        // Only a name of the prefix and a uuid, which is safe to quote.
        let Some(made) = made_at(&name) else { continue };
        if now.duration_since(made).is_ok_and(|age| age > STALE_AFTER) {
            let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            match sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                .execute(&mut *conn)
                .await
            {
                Ok(_) => dropped.push(name),
                Err(e) => tracing::warn!(error = %e, %name, "could not drop a scratch database"),
            }
        }
    }
    dropped
}

/// When the scratch database `name` was made, from its v7 uuid.
fn made_at(name: &str) -> Option<SystemTime> {
    let id = uuid::Uuid::parse_str(name.strip_prefix(SCRATCH_PREFIX)?).ok()?;
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
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
    use super::*;

    /// A scratch name as [`ScratchDb::postgres`] makes it, for a database
    /// made `age` ago.
    fn name_made(age: Duration) -> String {
        let at = SystemTime::now() - age;
        let since = at.duration_since(UNIX_EPOCH).unwrap();
        let stamp =
            uuid::Timestamp::from_unix(uuid::NoContext, since.as_secs(), since.subsec_nanos());
        format!("{SCRATCH_PREFIX}{}", uuid::Uuid::new_v7(stamp).simple())
    }

    /// One statement (a database is made or dropped outside a transaction).
    async fn sql(conn: &mut PgConnection, statement: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut *conn)
            .await
            .unwrap();
    }

    async fn exists(conn: &mut PgConnection, name: &str) -> bool {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname::text = $1)",
        )
        .bind(name)
        .fetch_one(&mut *conn)
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn scratch_databases_older_than_any_run_are_dropped() {
        // PostgreSQL runs only where the tests are given one (CI always is).
        let Some(server) = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty())
        else {
            return;
        };
        let mut conn = PgConnection::connect_with(&PgConnectOptions::from_str(&server).unwrap())
            .await
            .unwrap();
        let old = name_made(STALE_AFTER + Duration::from_secs(60));
        let recent = name_made(STALE_AFTER - Duration::from_secs(60));
        for name in [&old, &recent] {
            sql(&mut conn, &format!("CREATE DATABASE \"{name}\"")).await;
        }
        // Someone else's database, older than any run, is left alone.
        let foreign = "blytz_not_scratch_0";
        sql(&mut conn, &format!("DROP DATABASE IF EXISTS {foreign}")).await;
        sql(&mut conn, &format!("CREATE DATABASE {foreign}")).await;

        // (Another test's first scratch database may sweep at the same time.)
        let dropped = drop_stale(&mut conn, SystemTime::now()).await;
        assert!(!dropped.contains(&recent), "{dropped:?}");
        assert!(!exists(&mut conn, &old).await, "{dropped:?}");
        assert!(exists(&mut conn, &recent).await);
        assert!(exists(&mut conn, foreign).await);

        sql(&mut conn, &format!("DROP DATABASE \"{recent}\"")).await;
        sql(&mut conn, &format!("DROP DATABASE {foreign}")).await;
    }

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
