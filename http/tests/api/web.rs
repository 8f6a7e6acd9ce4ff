//! The web client as the server serves it, and the API its pages lean on:
//! client settings, public profiles, show viewers, lots with their products,
//! and unban.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, spawn_app, spawn_app_with};
use crate::ws_client::WsClient;

fn header(res: &reqwest::Response, name: impl reqwest::header::AsHeaderName) -> &str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The versioned URL of `path` as the page links it.
fn linked(html: &str, path: &str) -> String {
    let end = html
        .find(path)
        .unwrap_or_else(|| panic!("{path} not in {html}"));
    let start = html[..end].rfind("/assets/").unwrap();
    html[start..end + path.len()].to_owned()
}

#[actix_web::test]
async fn the_pages_are_html_with_security_headers_and_never_cached() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/shows/0196f0c2-0000-7000-8000-000000000000",
        "/sell",
        "/orders",
        "/signin",
    ] {
        let res = app.get(path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(
            header(&res, CONTENT_TYPE).starts_with("text/html"),
            "{path}"
        );
        assert_eq!(header(&res, CACHE_CONTROL), "no-cache");
        assert_eq!(header(&res, "x-content-type-options"), "nosniff");
        assert_eq!(header(&res, "x-frame-options"), "DENY");
        assert!(!header(&res, "referrer-policy").is_empty());
        let policy = header(&res, CONTENT_SECURITY_POLICY).to_owned();
        assert!(policy.contains("default-src 'self'"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        // No video configured: no third-party script origin.
        assert!(policy.contains("script-src 'self';"), "{policy}");
        let etag = header(&res, "etag").to_owned();
        let html = res.text().await.unwrap();
        assert!(html.contains("<main"), "{html}");

        let again = app
            .client
            .get(app.url(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }
}

#[actix_web::test]
async fn assets_are_versioned_and_cached_for_a_year() {
    let app = spawn_app().await;
    let html = app.get("/", None).await.text().await.unwrap();
    let script = linked(&html, "/js/main.js");
    let res = app.get(&script, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(&res, CONTENT_TYPE).starts_with("text/javascript"));
    assert_eq!(
        header(&res, CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");
    let style = linked(&html, "/app.css");
    let res = app.get(&style, None).await;
    assert!(header(&res, CONTENT_TYPE).starts_with("text/css"));

    // The version is the one client-config reports.
    let config: Value = app
        .get("/api/v1/client-config", None)
        .await
        .json()
        .await
        .unwrap();
    let version = config["version"].as_str().unwrap();
    assert!(
        script.starts_with(&format!("/assets/{version}/")),
        "{script}"
    );

    // An old version still gets the file, but not for keeps; unknown files are 404.
    let res = app.get("/assets/0ld/js/main.js", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, CACHE_CONTROL), "no-cache");
    let res = app.get(&format!("/assets/{version}/nope.js"), None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_service_worker_is_served_at_the_root_and_never_cached() {
    let app = spawn_app().await;
    let res = app.get("/sw.js", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(&res, CONTENT_TYPE).starts_with("text/javascript"));
    assert_eq!(header(&res, CACHE_CONTROL), "no-cache");
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");
    let script = res.text().await.unwrap();
    assert!(script.contains("'push'"), "{script}");
    assert!(script.contains("'notificationclick'"), "{script}");

    // The inbox is a page of the client, and its policy lets it register the worker.
    let res = app.get("/notifications", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(&res, CONTENT_TYPE).starts_with("text/html"));
    let policy = header(&res, CONTENT_SECURITY_POLICY);
    assert!(policy.contains("worker-src 'self'"), "{policy}");
}

#[actix_web::test]
async fn the_pages_shadow_no_api_route() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/nothing-here", None).await;
    let (code, _) = error_code(res, StatusCode::NOT_FOUND).await;
    assert_eq!(code, "not_found");
    for path in ["/health", "/ready", "/api/openapi.json"] {
        let res = app.get(path, None).await;
        assert!(
            header(&res, CONTENT_TYPE).starts_with("application/json"),
            "{path}"
        );
    }
    let res = app.get("/metrics", None).await;
    assert!(header(&res, CONTENT_TYPE).starts_with("text/plain"));
    let res = app.get("/media/products/none.jpg", None).await;
    error_code(res, StatusCode::NOT_FOUND).await;
    // A plain GET of /ws is not a page either.
    let res = app.get("/ws", None).await;
    assert!(!header(&res, CONTENT_TYPE).starts_with("text/html"));
}

#[actix_web::test]
async fn client_config_and_the_policy_follow_the_settings() {
    let app = spawn_app().await;
    let config: Value = app
        .get("/api/v1/client-config", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(config["livekit"], Value::Null);
    assert_eq!(config["stripe"], Value::Null);
    assert_eq!(config["payments"], "manual");

    let app = spawn_app_with(|config| {
        config.livekit_url = Some("wss://video.example.com".into());
        config.livekit_api_key = Some("APIkey".into());
        config.livekit_api_secret = Some(SecretString::from("livekit-secret-0123456789abcdef"));
        config.livekit_sdk_url = "https://sdk.example.net/livekit-client.esm.mjs".into();
        config.stripe_secret_key = Some(SecretString::from("sk_test_123"));
        config.stripe_publishable_key = Some("pk_test_123".into());
    })
    .await;
    let config: Value = app
        .get("/api/v1/client-config", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        config["livekit"]["sdk_url"],
        "https://sdk.example.net/livekit-client.esm.mjs"
    );
    assert_eq!(config["stripe"]["publishable_key"], "pk_test_123");
    assert_eq!(config["payments"], "stripe");
    let res = app.get("/", None).await;
    let policy = header(&res, CONTENT_SECURITY_POLICY);
    assert!(
        policy.contains("script-src 'self' https://sdk.example.net https://js.stripe.com;"),
        "{policy}"
    );
    assert!(
        policy.contains("wss://video.example.com https://video.example.com"),
        "{policy}"
    );
    assert!(
        policy.contains("frame-src https://js.stripe.com"),
        "{policy}"
    );
}

async fn create_show(app: &TestApp, token: &str) -> String {
    let res = app
        .post_json(
            "/api/v1/shows",
            &json!({"title": "Sneakers", "scheduled_at": "2026-12-01T18:00:00Z"}),
            Some(token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let show: Value = res.json().await.unwrap();
    show["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn public_profiles_by_id() {
    let app = spawn_app().await;
    let ann = app.register("ann@example.com", "buyer").await;
    let bob = app.register("bob@example.com", "seller").await;
    let unknown = uuid::Uuid::now_v7();
    let page: Value = app
        .get(
            &format!("/api/v1/users?ids={},{unknown},{}", bob.id, ann.id),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    assert_eq!(items[0]["id"], bob.id.as_str());
    assert_eq!(items[0]["display_name"], "Tester");
    assert_eq!(items[1]["id"], ann.id.as_str());
    // Only the public face: no email, no role.
    assert!(items[0].get("email").is_none());
    assert_eq!(page["next_cursor"], Value::Null);

    let (_, details) = error_code(
        app.get("/api/v1/users?ids=not-an-id", None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(details["field"], "ids");
    let many = vec![ann.id.clone(); 1]
        .into_iter()
        .chain((0..100).map(|_| uuid::Uuid::now_v7().to_string()))
        .collect::<Vec<_>>()
        .join(",");
    error_code(
        app.get(&format!("/api/v1/users?ids={many}"), None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

#[actix_web::test]
async fn shows_count_viewers_and_lots_carry_their_product() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let show = create_show(&app, &seller.access_token).await;
    let product = app.create_product(&seller).await;
    let res = app
        .post_json(
            "/api/v1/auctions",
            &json!({"product_id": product, "show_id": show, "currency": "USD",
                    "start_price": 100, "duration_ms": 60_000, "reserve_price": 5000}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let lots: Value = app
        .get(&format!("/api/v1/shows/{show}/lots"), None)
        .await
        .json()
        .await
        .unwrap();
    let lot = &lots[0];
    assert_eq!(lot["status"], "scheduled", "{lot}");
    assert_eq!(lot["min_next_bid"], 100);
    assert_eq!(lot["product"]["id"], product.as_str());
    assert_eq!(lot["product"]["title"], "Vintage camera");
    assert!(lot["product"]["images"].is_array());
    // The reserve amount stays hidden.
    assert!(lot["product"].get("reserve_price").is_none(), "{lot}");

    let detail: Value = app
        .get(&format!("/api/v1/shows/{show}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["viewers"], 0);
    let mut watcher = WsClient::connect(&app, None).await;
    watcher.subscribe(&format!("show:{show}")).await;
    let detail: Value = app
        .get(&format!("/api/v1/shows/{show}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["viewers"], 1, "{detail}");
    assert_eq!(detail["title"], "Sneakers");
    let list: Value = app.get("/api/v1/shows", None).await.json().await.unwrap();
    assert_eq!(list["items"][0]["viewers"], 1, "{list}");
}

#[actix_web::test]
async fn a_banned_user_can_be_unbanned() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let bob = app.register("bob@example.com", "buyer").await;
    let show = create_show(&app, &seller.access_token).await;
    let room = format!("show:{show}");
    let moderate = |action: &'static str| {
        let app = &app;
        let token = seller.access_token.clone();
        let body = json!({"action": action, "user_id": bob.id});
        let path = format!("/api/v1/shows/{show}/moderation");
        async move { app.post_json(&path, &body, Some(&token)).await }
    };
    let mut bob_ws = WsClient::connect(&app, Some(&bob.access_token)).await;
    let mut seen = Vec::new();
    let chat = json!({"type": "chat", "room": room, "text": "hello"});

    assert_eq!(moderate("ban").await.status(), StatusCode::NO_CONTENT);
    let reply = bob_ws.request(chat.clone(), &mut seen).await;
    assert_eq!(reply["code"], "banned", "{reply}");
    assert_eq!(moderate("unban").await.status(), StatusCode::NO_CONTENT);
    let reply = bob_ws.request(chat, &mut seen).await;
    assert_eq!(reply["type"], "chat.accepted", "{reply}");
}
