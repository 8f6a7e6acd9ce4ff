use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn health_ready_and_metrics() {
    let app = spawn_app().await;
    let res = app.get("/health", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("x-request-id"));

    let res = app.get("/ready", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok");
    if app.state.redis.is_some() {
        assert_eq!(body["checks"]["redis"], "ok");
    }

    let text = app.get("/metrics", None).await.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains(r#"route="/ready""#), "{text}");
}

#[actix_web::test]
async fn ready_says_unavailable_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.state.db.close().await;
    let res = app.get("/ready", None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "unreachable");
}

#[actix_web::test]
async fn openapi_lists_every_route_and_docs_page_is_served() {
    let app = spawn_app().await;
    let spec: Value = app
        .get("/api/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    let paths = spec["paths"].as_object().unwrap();
    for path in [
        "/health",
        "/ready",
        "/metrics",
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/profile",
        "/api/v1/auth/change-password",
        "/api/v1/categories",
        "/api/v1/categories/{id}",
        "/api/v1/products",
        "/api/v1/products/my-products",
        "/api/v1/products/{id}",
        "/api/v1/products/{id}/images",
        "/media/{key}",
        "/api/v1/cart",
        "/api/v1/cart/items",
        "/api/v1/cart/items/{product_id}",
        "/api/v1/cart/merge",
        "/api/v1/inventory/products/{id}",
        "/api/v1/inventory/low-stock",
        "/api/v1/addresses",
        "/api/v1/addresses/{id}",
        "/api/v1/orders",
        "/api/v1/orders/{id}",
        "/api/v1/orders/{id}/cancel",
        "/api/v1/orders/{id}/mark-paid",
        "/api/v1/orders/{id}/process",
        "/api/v1/orders/{id}/ship",
        "/api/v1/orders/{id}/deliver",
        "/api/v1/orders/{id}/refund",
        "/api/v1/payments/intent",
        "/api/v1/webhooks/stripe",
        "/api/v1/webhooks/livekit",
        "/ws",
        "/api/v1/auctions",
        "/api/v1/auctions/{id}",
        "/api/v1/auctions/{id}/start",
        "/api/v1/auctions/{id}/pause",
        "/api/v1/auctions/{id}/resume",
        "/api/v1/auctions/{id}/extend",
        "/api/v1/auctions/{id}/end",
        "/api/v1/auctions/{id}/cancel",
        "/api/v1/auctions/{id}/bids",
        "/api/v1/auctions/{id}/buy-now",
        "/api/v1/shows",
        "/api/v1/shows/{id}",
        "/api/v1/shows/{id}/lots",
        "/api/v1/shows/{id}/go-live",
        "/api/v1/shows/{id}/end",
        "/api/v1/shows/{id}/next",
        "/api/v1/shows/{id}/token",
        "/api/v1/shows/{id}/queue",
        "/api/v1/shows/{id}/queue/{auction_id}",
        "/api/v1/shows/{id}/moderators",
        "/api/v1/shows/{id}/moderators/{user_id}",
        "/api/v1/shows/{id}/moderation",
        "/api/v1/shows/{id}/chat",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(paths["/api/v1/auth/profile"]["put"].is_object());
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());

    let res = app.get("/api/docs", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("Blytz API"));
}
