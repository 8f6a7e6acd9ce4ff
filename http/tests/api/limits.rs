use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{error_code, spawn_app_with};

#[actix_web::test]
async fn the_sixth_login_attempt_in_a_minute_gets_429_with_retry_after() {
    let app = spawn_app_with(|config| config.auth_rate_per_min = 5).await;
    let body = json!({"email": "nobody@example.com", "password": "whatever password"});
    for attempt in 1..=5 {
        let res = app.post_json("/api/v1/auth/login", &body, None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let res = app.post_json("/api/v1/auth/login", &body, None).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = res
        .headers()
        .get("retry-after")
        .expect("Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let (code, details) = error_code(res, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(code, "rate_limited");
    assert_eq!(details["retry_after_secs"], retry_after);
}

#[actix_web::test]
async fn the_general_limit_counts_per_caller() {
    let app = spawn_app_with(|config| config.rate_per_min = 3).await;
    for _ in 0..3 {
        let res = app.get("/api/v1/auth/profile", None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app.get("/api/v1/auth/profile", None).await;
    let (code, _) = error_code(res, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(code, "rate_limited");
    // Probes are never limited.
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_forwarded_for_header_counts_only_behind_a_trusted_proxy() {
    let app = spawn_app_with(|config| {
        config.auth_rate_per_min = 1;
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let body = json!({"email": "x@example.com", "password": "whatever password"});
    for client in ["198.51.100.1", "198.51.100.2"] {
        let res = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", client)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{client}");
    }
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "198.51.100.1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}
