use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{error_code, spawn_app, spawn_app_with};

#[actix_web::test]
async fn unknown_routes_are_json_404() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/nowhere", None).await;
    let (code, _) = error_code(res, StatusCode::NOT_FOUND).await;
    assert_eq!(code, "not_found");
}

#[actix_web::test]
async fn malformed_json_is_400_and_wrong_content_type_415() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (code, _) = error_code(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "invalid_json");

    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let (code, _) = error_code(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_eq!(code, "unsupported_media_type");
}

#[actix_web::test]
async fn bodies_over_the_limit_are_413() {
    let app = spawn_app_with(|config| config.json_limit_bytes = 1024).await;
    let big = format!(
        r#"{{"email":"a@example.com","password":"{}"}}"#,
        "x".repeat(4096)
    );
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let (code, _) = error_code(res, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(code, "payload_too_large");
}

#[actix_web::test]
async fn a_500_carries_a_request_id_and_no_internal_text() {
    let app = spawn_app().await;
    let user = app.register("f@example.com", "buyer").await;
    // Break storage under the running server.
    app.state.db.close().await;
    let res = app
        .get("/api/v1/auth/profile", Some(&user.access_token))
        .await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let header_id = res
        .headers()
        .get("x-request-id")
        .expect("x-request-id")
        .to_str()
        .unwrap()
        .to_owned();
    let text = res.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"]["code"], "internal");
    assert_eq!(body["error"]["details"]["request_id"], header_id.as_str());
    let lower = text.to_lowercase();
    for leak in ["pool", "sqlx", "select", "database", "closed"] {
        assert!(!lower.contains(leak), "500 body leaks `{leak}`: {text}");
    }
}
