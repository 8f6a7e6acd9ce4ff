use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{error_code, spawn_app};

#[actix_web::test]
async fn register_login_profile_refresh_reuse_logout() {
    let app = spawn_app().await;
    let ann = app.register("ann@example.com", "buyer").await;

    let res = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": "ann@example.com", "password": ann.password}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let login: Value = res.json().await.unwrap();
    assert_eq!(login["user"]["email"], "ann@example.com");
    assert_eq!(login["expires_in"], 900);
    let access = login["access_token"].as_str().unwrap().to_owned();
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();

    let res = app.get("/api/v1/auth/profile", Some(&access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let profile: Value = res.json().await.unwrap();
    assert_eq!(profile["id"], ann.id.as_str());
    assert_eq!(profile["role"], "buyer");
    assert!(profile.get("password_hash").is_none());

    // Refresh: a new pair.
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": refresh}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let rotated: Value = res.json().await.unwrap();
    let new_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, refresh);
    let new_access = rotated["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/api/v1/auth/profile", Some(&new_access))
            .await
            .status(),
        StatusCode::OK
    );

    // The old refresh token is rejected and its family revoked.
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": refresh}),
            None,
        )
        .await;
    let (code, _) = error_code(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "token_reused");
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": new_refresh}),
            None,
        )
        .await;
    error_code(res, StatusCode::UNAUTHORIZED).await;

    // The registration's own login (another family) still works; log it out.
    let res = app
        .post_json(
            "/api/v1/auth/logout",
            &json!({"refresh_token": ann.refresh_token}),
            Some(&ann.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": ann.refresh_token}),
            None,
        )
        .await;
    error_code(res, StatusCode::UNAUTHORIZED).await;
}

#[actix_web::test]
async fn wrong_password_is_401_and_duplicate_email_409() {
    let app = spawn_app().await;
    app.register("bob@example.com", "seller").await;

    let res = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": "bob@example.com", "password": "wrong password"}),
            None,
        )
        .await;
    let (code, _) = error_code(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "invalid_credentials");

    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "BOB@example.com", "password": "another password", "display_name": "B", "role": "buyer"}),
            None,
        )
        .await;
    let (code, _) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "email_taken");
}

#[actix_web::test]
async fn invalid_fields_are_422_naming_the_field_and_rule() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"email": "not-an-email", "password": "long enough pw", "display_name": "A", "role": "buyer"}),
            "email",
            "email",
        ),
        (
            json!({"email": "a@example.com", "password": "short", "display_name": "A", "role": "buyer"}),
            "password",
            "min_length",
        ),
        (
            json!({"email": "a@example.com", "password": "long enough pw", "display_name": "  ", "role": "buyer"}),
            "display_name",
            "required",
        ),
        (
            json!({"email": "a@example.com", "password": "long enough pw", "display_name": "A", "role": "admin"}),
            "role",
            "one_of",
        ),
        (
            json!({"password": "long enough pw", "display_name": "A", "role": "buyer"}),
            "email",
            "schema",
        ),
    ];
    for (body, field, rule) in cases {
        let res = app.post_json("/api/v1/auth/register", &body, None).await;
        let (code, details) = error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(code, "validation_failed");
        assert_eq!(details["field"], field, "{body}");
        assert_eq!(details["rule"], rule, "{body}");
    }
}

#[actix_web::test]
async fn profile_update_and_change_password() {
    let app = spawn_app().await;
    let cat = app.register("cat@example.com", "buyer").await;

    let res = app
        .client
        .put(app.url("/api/v1/auth/profile"))
        .bearer_auth(&cat.access_token)
        .json(&json!({"display_name": "Cat K"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["display_name"], "Cat K");

    let res = app
        .post_json(
            "/api/v1/auth/change-password",
            &json!({"current_password": "nope nope nope", "new_password": "a new password"}),
            Some(&cat.access_token),
        )
        .await;
    error_code(res, StatusCode::UNAUTHORIZED).await;

    let res = app
        .post_json(
            "/api/v1/auth/change-password",
            &json!({"current_password": cat.password, "new_password": "a new password"}),
            Some(&cat.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // Refresh tokens issued before the change are revoked.
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": cat.refresh_token}),
            None,
        )
        .await;
    error_code(res, StatusCode::UNAUTHORIZED).await;
    let res = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": cat.email, "password": "a new password"}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}
