//! The server binary as a user starts it: no settings, no database server.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;

#[actix_web::test]
async fn the_binary_serves_health_on_sqlite_with_no_settings() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::helpers::free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_blytz"))
        .current_dir(dir.path())
        .env_clear()
        .env("BLYTZ_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/health");
    let mut served = false;
    for _ in 0..300 {
        if let Ok(res) = client.get(&url).send().await {
            assert_eq!(res.status(), StatusCode::OK);
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().await.ok();
    assert!(served, "the server never answered /health");
    // The default storage is a SQLite file in ./data, with a generated secret beside it.
    assert!(dir.path().join("data/blytz.db").exists());
    assert!(dir.path().join("data/jwt_secret").exists());
}
