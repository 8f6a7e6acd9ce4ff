use std::time::Duration;

use blytz::Db;
use blytz::accounts::{Accounts, TokenIssuer};
use blytz::db::ScratchDb;

/// Fresh databases for every backend this run covers.
pub async fn backends() -> Vec<ScratchDb> {
    let mut dbs = vec![ScratchDb::sqlite().await.expect("sqlite scratch database")];
    if let Some(url) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
    {
        dbs.push(
            ScratchDb::postgres(&url)
                .await
                .expect("postgres scratch database (is TEST_DATABASE_URL reachable?)"),
        );
    }
    dbs
}

pub async fn accounts(db: &Db) -> Accounts {
    Accounts::new(
        db.clone(),
        TokenIssuer::new(
            b"store-suite-secret-0123456789abcdef",
            Duration::from_secs(900),
        ),
        Duration::from_secs(3600),
    )
    .await
    .unwrap()
}
