use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use blytz::Config;
use blytz::db::ScratchDb;
use blytz_http::Application;
use blytz_http::state::AppState;
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};

pub const JWT_SECRET: &str = "test-secret-0123456789abcdef0123456789";

/// A running server and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: AppState,
    server: actix_web::dev::ServerHandle,
    _scratch: ScratchDb,
    _data: tempfile::TempDir,
}

/// A free port on 127.0.0.1, for a server or a service the test starts on
/// it later (or leaves down). It is taken below the kernel's ephemeral
/// range (32768 and up on Linux): a port of that range, once let go, could
/// meanwhile be taken by any test's outgoing connection or listener on
/// port 0, and the start would then fail with `AddrInUse`.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let spread = std::process::id().wrapping_mul(7_919);
    loop {
        let offset = spread.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000;
        let port = 20_000 + u16::try_from(offset).unwrap();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The settings tests start from: no rate limits, a fixed secret, a temp data folder.
pub fn test_config(data_dir: &std::path::Path) -> Config {
    Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        jwt_secret: Some(SecretString::from(JWT_SECRET)),
        auth_rate_per_min: 0,
        rate_per_min: 0,
        bid_rate_per_sec: 0,
        uploads_per_min: 0,
        ws_messages_per_sec: 0,
        workers: 2,
        redis_url: std::env::var("TEST_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty()),
        ..Config::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    adjust(&mut config);
    let scratch = ScratchDb::from_env().await.unwrap();
    let listener = TcpListener::bind(config.bind).unwrap();
    let app = Application::build_with(config, scratch.db.clone(), listener)
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let server = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        state,
        server,
        _scratch: scratch,
        _data: data,
    }
}

/// A server on `db` (a pool reaching `scratch`'s database some other way,
/// e.g. through a proxy a test can cut), with the test settings.
pub async fn spawn_app_on(scratch: ScratchDb, db: blytz::Db) -> TestApp {
    let data = tempfile::tempdir().unwrap();
    let config = test_config(data.path());
    let listener = TcpListener::bind(config.bind).unwrap();
    let app = Application::build_with(config, db, listener).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let server = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        state,
        server,
        _scratch: scratch,
        _data: data,
    }
}

impl Drop for TestApp {
    /// The engine's and the chat's threads outlive the test's System
    /// otherwise, each holding the database pool (and connections) until
    /// the process ends.
    fn drop(&mut self) {
        // `stop` sends its command at once; the HTTP workers let go of
        // their copies of the state (and its pool) as they stop.
        drop(self.server.stop(false));
        self.state.auctions.engine().stop();
        self.state.shows.chat().stop();
    }
}

/// A registered user and their tokens.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap()
    }

    /// A product of `seller`, as the catalog creates it; answers its id.
    pub async fn create_product(&self, seller: &TestUser) -> String {
        let res = self
            .post_json(
                "/api/v1/products",
                &json!({"title": "Vintage camera", "description": "Works", "condition": "used",
                        "currency": "USD", "start_price": 1000, "status": "active"}),
                Some(&seller.access_token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    /// A show of `seller` scheduled at `scheduled_at` (RFC 3339); its id.
    pub async fn create_show(&self, seller: &TestUser, title: &str, scheduled_at: &str) -> String {
        let res = self
            .post_json(
                "/api/v1/shows",
                &json!({"title": title, "scheduled_at": scheduled_at}),
                Some(&seller.access_token),
            )
            .await;
        let show: Value = read_json(res, StatusCode::CREATED).await;
        show["id"].as_str().unwrap().to_owned()
    }

    /// A show of `seller`, on air; its id.
    pub async fn live_show(&self, seller: &TestUser, title: &str) -> String {
        let id = self
            .create_show(seller, title, "2026-12-01T18:00:00Z")
            .await;
        let res = self
            .post_json(
                &format!("/api/v1/shows/{id}/go-live"),
                &json!({}),
                Some(&seller.access_token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        id
    }

    pub async fn register(&self, email: &str, role: &str) -> TestUser {
        let password = "correct horse battery";
        let res = self
            .post_json(
                "/api/v1/auth/register",
                &json!({"email": email, "password": password, "display_name": "Tester", "role": role}),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        TestUser {
            id: body["user"]["id"].as_str().unwrap().to_owned(),
            email: email.to_owned(),
            password: password.to_owned(),
            access_token: body["access_token"].as_str().unwrap().to_owned(),
            refresh_token: body["refresh_token"].as_str().unwrap().to_owned(),
        }
    }
}

/// Waits (up to 15 s) until `done` holds.
pub async fn eventually<F: AsyncFnMut() -> bool>(what: &str, mut done: F) {
    eventually_some(what, async || done().await.then_some(())).await
}

/// Waits (up to 15 s) until `found` finds something, and answers it.
pub async fn eventually_some<T, F: AsyncFnMut() -> Option<T>>(what: &str, mut found: F) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(value) = found().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Read an error body and return its code, asserting the status.
pub async fn error_code(res: Response, status: StatusCode) -> (String, Value) {
    assert_eq!(res.status(), status, "unexpected status");
    let body: Value = res.json().await.unwrap();
    let code = body["error"]["code"].as_str().unwrap().to_owned();
    assert!(body["error"]["message"].is_string());
    assert!(body["error"]["details"].is_object());
    (code, body["error"]["details"].clone())
}

impl TestApp {
    /// `PUT path` with a JSON body, as `token`'s user when given.
    pub async fn put_json(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut req = self.client.put(self.url(path)).json(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap()
    }

    /// `DELETE path`, as `token`'s user when given.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.delete(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap()
    }
}

/// The body of `res` as a `T`, asserting the status first (the body is shown
/// when the status is not the expected one).
pub async fn read_json<T: serde::de::DeserializeOwned>(res: Response, status: StatusCode) -> T {
    let actual = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}
