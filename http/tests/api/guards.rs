use std::time::Duration;

use actix_web::{App, HttpResponse, test, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use blytz::accounts::{Role, TokenIssuer};
use blytz::ids::UserId;
use blytz_http::extract::{Admin, RequireRole, Seller};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{JWT_SECRET, error_code, spawn_app};

#[actix_web::test]
async fn no_token_is_401() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/auth/profile", None).await;
    let (code, _) = error_code(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "not_authenticated");
}

#[actix_web::test]
async fn expired_tampered_unsigned_and_foreign_tokens_are_401() {
    let app = spawn_app().await;
    let user = app.register("eve@example.com", "buyer").await;
    let id = UserId::from(Uuid::parse_str(&user.id).unwrap());
    let now = chrono::Utc::now().timestamp();

    let ours = TokenIssuer::new(JWT_SECRET.as_bytes(), Duration::from_secs(900));
    let expired = ours.issue_access(id, Role::Buyer, now - 7200).unwrap();

    let mut tampered = user.access_token.clone();
    // Flip a character of the payload: the signature no longer matches.
    let dot = tampered.find('.').unwrap() + 3;
    let flipped = if &tampered[dot..=dot] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(dot..=dot, flipped);

    let foreign = TokenIssuer::new(
        b"another-key-0123456789abcdef0123456789",
        Duration::from_secs(900),
    )
    .issue_access(id, Role::Admin, now)
    .unwrap();

    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(
        json!({"sub": user.id, "role": "admin", "exp": now + 600, "iat": now, "iss": "blytz", "typ": "access"})
            .to_string(),
    );
    let unsigned = format!("{header}.{claims}.");

    // A token signed with the right key but claiming HS512 is refused too.
    let hs512 = jsonwebtoken_like_hs512(&user.id, now);

    for (name, token) in [
        ("expired", expired),
        ("tampered", tampered),
        ("foreign key", foreign),
        ("alg none", unsigned),
        ("wrong alg", hs512),
        ("garbage", "abc.def.ghi".to_owned()),
    ] {
        let res = app.get("/api/v1/auth/profile", Some(&token)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{name}");
        let (code, _) = error_code(res, StatusCode::UNAUTHORIZED).await;
        assert_eq!(code, "invalid_token", "{name}");
    }

    // The genuine token still works.
    let res = app
        .get("/api/v1/auth/profile", Some(&user.access_token))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// A header claiming HS512 over a body signed with nothing valid for it.
fn jsonwebtoken_like_hs512(sub: &str, now: i64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(
        json!({"sub": sub, "role": "buyer", "exp": now + 600, "iat": now, "iss": "blytz", "typ": "access"})
            .to_string(),
    );
    let signature = URL_SAFE_NO_PAD.encode([7u8; 64]);
    format!("{header}.{claims}.{signature}")
}

#[actix_web::test]
async fn role_guards_answer_401_then_403_then_pass() {
    let app = spawn_app().await;
    let buyer = app.register("buyer@example.com", "buyer").await;
    let seller = app.register("seller@example.com", "seller").await;

    let service = test::init_service(
        App::new()
            .app_data(web::Data::new(app.state.clone()))
            .route(
                "/seller-only",
                web::post().to(|user: RequireRole<Seller>| async move {
                    HttpResponse::Ok().body(user.id.to_string())
                }),
            )
            .route(
                "/admin-only",
                web::post().to(|user: RequireRole<Admin>| async move {
                    HttpResponse::Ok().body(user.id.to_string())
                }),
            ),
    )
    .await;

    let call = |path: &'static str, token: Option<String>| {
        let mut req = test::TestRequest::post().uri(path);
        if let Some(token) = token {
            req = req.insert_header(("Authorization", format!("Bearer {token}")));
        }
        req.to_request()
    };

    let res = test::call_service(&service, call("/seller-only", None)).await;
    assert_eq!(res.status().as_u16(), 401);
    let res = test::call_service(
        &service,
        call("/seller-only", Some(buyer.access_token.clone())),
    )
    .await;
    assert_eq!(res.status().as_u16(), 403);
    let body: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(body["error"]["code"], "forbidden");
    let res = test::call_service(
        &service,
        call("/seller-only", Some(seller.access_token.clone())),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    let res = test::call_service(&service, call("/admin-only", Some(seller.access_token))).await;
    assert_eq!(res.status().as_u16(), 403);
}
