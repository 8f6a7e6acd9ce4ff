//! The audience: following sellers, bookmarking shows, the caller's lists,
//! follower counts on profiles and shows, and the show list's `following`
//! filter.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, error_code, read_json, spawn_app};

async fn create_show(app: &TestApp, seller: &TestUser, title: &str) -> String {
    let show: Value = read_json(
        app.post_json(
            "/api/v1/shows",
            &json!({"title": title, "scheduled_at": "2026-12-01T18:00:00Z"}),
            Some(&seller.access_token),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    show["id"].as_str().unwrap().to_owned()
}

async fn follow(app: &TestApp, user: &TestUser, seller: &str) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/sellers/{seller}/follow"),
        &json!({}),
        Some(&user.access_token),
    )
    .await
}

async fn bookmark(app: &TestApp, user: &TestUser, show: &str) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/shows/{show}/bookmark"),
        &json!({}),
        Some(&user.access_token),
    )
    .await
}

async fn get_json(app: &TestApp, path: &str, user: Option<&TestUser>) -> Value {
    read_json(
        app.get(path, user.map(|u| u.access_token.as_str())).await,
        StatusCode::OK,
    )
    .await
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn following_is_idempotent_and_counted_on_the_profile_and_the_shows() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;
    let other = app.register("other@example.com", "buyer").await;
    let show = create_show(&app, &seller, "Friday vinyl").await;

    let first: Value = read_json(follow(&app, &buyer, &seller.id).await, StatusCode::CREATED).await;
    assert_eq!(first["id"], seller.id.as_str());
    assert_eq!(first["display_name"], "Tester");
    assert_eq!(first["follower_count"], 1);
    assert!(first["followed_at"].is_string());
    let again: Value = read_json(follow(&app, &buyer, &seller.id).await, StatusCode::OK).await;
    assert_eq!(again["follower_count"], 1);
    assert_eq!(again["followed_at"], first["followed_at"]);
    read_json::<Value>(follow(&app, &other, &seller.id).await, StatusCode::CREATED).await;

    let profile = get_json(&app, &format!("/api/v1/users/{}", seller.id), None).await;
    assert_eq!(profile["id"], seller.id.as_str());
    assert_eq!(profile["follower_count"], 2);
    assert!(
        profile.get("email").is_none(),
        "a public profile has no email"
    );
    let lookup = get_json(&app, &format!("/api/v1/users?ids={}", seller.id), None).await;
    assert_eq!(lookup["items"][0]["follower_count"], 2);
    let one = get_json(&app, &format!("/api/v1/shows/{show}"), None).await;
    assert_eq!(one["follower_count"], 2);
    let list = get_json(&app, "/api/v1/shows", None).await;
    assert_eq!(list["items"][0]["id"], show.as_str());
    assert_eq!(list["items"][0]["follower_count"], 2);

    for _ in 0..2 {
        let res = app
            .delete(
                &format!("/api/v1/sellers/{}/follow", seller.id),
                Some(&buyer.access_token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    let profile = get_json(&app, &format!("/api/v1/users/{}", seller.id), None).await;
    assert_eq!(profile["follower_count"], 1);
    let following = get_json(&app, "/api/v1/users/me/following", Some(&buyer)).await;
    assert_eq!(following["items"], json!([]));
    let one = get_json(&app, &format!("/api/v1/shows/{show}"), None).await;
    assert_eq!(one["follower_count"], 1);
}

#[actix_web::test]
async fn oneself_a_buyer_and_nobody_cannot_be_followed() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;

    let (code, _) = error_code(
        follow(&app, &seller, &seller.id).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "cannot_follow_self");
    let (code, details) = error_code(
        follow(&app, &seller, &buyer.id).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(code, "not_found");
    assert_eq!(details["resource"], "seller");
    let nobody = uuid::Uuid::now_v7().to_string();
    let (code, _) = error_code(follow(&app, &buyer, &nobody).await, StatusCode::NOT_FOUND).await;
    assert_eq!(code, "not_found");
    let res = app
        .delete(
            &format!("/api/v1/sellers/{nobody}/follow"),
            Some(&buyer.access_token),
        )
        .await;
    error_code(res, StatusCode::NOT_FOUND).await;
    error_code(
        follow(&app, &buyer, "not-an-id").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    error_code(
        app.get(&format!("/api/v1/users/{nobody}"), None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let following = get_json(&app, "/api/v1/users/me/following", Some(&seller)).await;
    assert_eq!(following["items"], json!([]));
}

#[actix_web::test]
async fn the_following_filter_keeps_the_shows_of_followed_sellers() {
    let app = spawn_app().await;
    let followed = app.register("followed@example.com", "seller").await;
    let unfollowed = app.register("unfollowed@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;
    let mine = create_show(&app, &followed, "Followed").await;
    let theirs = create_show(&app, &unfollowed, "Not followed").await;
    read_json::<Value>(
        follow(&app, &buyer, &followed.id).await,
        StatusCode::CREATED,
    )
    .await;

    let filtered = get_json(&app, "/api/v1/shows?following=true", Some(&buyer)).await;
    assert_eq!(ids(&filtered), std::slice::from_ref(&mine));
    assert_eq!(filtered["next_cursor"], Value::Null);
    let all = get_json(&app, "/api/v1/shows?following=false", Some(&buyer)).await;
    assert_eq!(ids(&all), [theirs.clone(), mine.clone()]);
    let anonymous = get_json(&app, "/api/v1/shows", None).await;
    assert_eq!(ids(&anonymous), [theirs, mine]);
    // Someone who follows nobody sees no show through the filter.
    let (code, _) = error_code(
        app.get("/api/v1/shows?following=true", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "not_authenticated");
    let none = get_json(&app, "/api/v1/shows?following=true", Some(&unfollowed)).await;
    assert_eq!(none["items"], json!([]));
    let (code, _) = error_code(
        app.get("/api/v1/shows?following=perhaps", Some(&buyer.access_token))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(code, "validation_failed");
}

#[actix_web::test]
async fn the_lists_run_newest_first_and_page_with_a_cursor() {
    let app = spawn_app().await;
    let buyer = app.register("buyer@example.com", "buyer").await;
    let mut sellers = Vec::new();
    let mut shows = Vec::new();
    for n in 0..3 {
        let seller = app
            .register(&format!("seller{n}@example.com"), "seller")
            .await;
        shows.push(create_show(&app, &seller, &format!("Show {n}")).await);
        read_json::<Value>(follow(&app, &buyer, &seller.id).await, StatusCode::CREATED).await;
        read_json::<Value>(bookmark(&app, &buyer, &shows[n]).await, StatusCode::CREATED).await;
        sellers.push(seller.id);
    }

    for (path, expected) in [
        ("/api/v1/users/me/following", &sellers),
        ("/api/v1/users/me/bookmarks", &shows),
    ] {
        let first = get_json(&app, &format!("{path}?limit=2"), Some(&buyer)).await;
        assert_eq!(
            ids(&first),
            [expected[2].clone(), expected[1].clone()],
            "{path}"
        );
        let cursor = first["next_cursor"].as_str().expect("a next page");
        let rest = get_json(
            &app,
            &format!("{path}?limit=2&cursor={cursor}"),
            Some(&buyer),
        )
        .await;
        assert_eq!(ids(&rest), [expected[0].clone()], "{path}");
        assert_eq!(rest["next_cursor"], Value::Null, "{path}");
        let (code, details) = error_code(
            app.get(&format!("{path}?cursor=bm9wZQ"), Some(&buyer.access_token))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(code, "validation_failed");
        assert_eq!(details["field"], "cursor");
    }
    let following = get_json(&app, "/api/v1/users/me/following", Some(&buyer)).await;
    assert_eq!(following["items"][0]["follower_count"], 1);
    assert!(following["items"][0]["followed_at"].is_string());
    let bookmarks = get_json(&app, "/api/v1/users/me/bookmarks", Some(&buyer)).await;
    assert_eq!(bookmarks["items"][0]["title"], "Show 2");
    assert_eq!(bookmarks["items"][0]["status"], "scheduled");
    assert!(bookmarks["items"][0]["bookmarked_at"].is_string());
}

#[actix_web::test]
async fn a_bookmark_is_idempotent_and_only_its_owner_sees_it() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;
    let stranger = app.register("stranger@example.com", "buyer").await;
    let show = create_show(&app, &seller, "Friday vinyl").await;

    let first: Value = read_json(bookmark(&app, &buyer, &show).await, StatusCode::CREATED).await;
    assert_eq!(first["id"], show.as_str());
    assert_eq!(first["seller_id"], seller.id.as_str());
    let again: Value = read_json(bookmark(&app, &buyer, &show).await, StatusCode::OK).await;
    assert_eq!(again["bookmarked_at"], first["bookmarked_at"]);

    let mine = get_json(&app, &format!("/api/v1/shows/{show}"), Some(&buyer)).await;
    assert_eq!(mine["bookmarked"], true);
    let listed = get_json(&app, "/api/v1/shows", Some(&buyer)).await;
    assert_eq!(listed["items"][0]["bookmarked"], true);
    for viewer in [Some(&stranger), None] {
        let theirs = get_json(&app, &format!("/api/v1/shows/{show}"), viewer).await;
        assert_eq!(theirs["bookmarked"], false);
        let listed = get_json(&app, "/api/v1/shows", viewer).await;
        assert_eq!(listed["items"][0]["bookmarked"], false);
    }
    let strangers = get_json(&app, "/api/v1/users/me/bookmarks", Some(&stranger)).await;
    assert_eq!(strangers["items"], json!([]));
    let owners = get_json(&app, "/api/v1/users/me/bookmarks", Some(&buyer)).await;
    assert_eq!(ids(&owners), std::slice::from_ref(&show));

    for _ in 0..2 {
        let res = app
            .delete(
                &format!("/api/v1/shows/{show}/bookmark"),
                Some(&buyer.access_token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    let owners = get_json(&app, "/api/v1/users/me/bookmarks", Some(&buyer)).await;
    assert_eq!(owners["items"], json!([]));
    let mine = get_json(&app, &format!("/api/v1/shows/{show}"), Some(&buyer)).await;
    assert_eq!(mine["bookmarked"], false);

    let unknown = uuid::Uuid::now_v7();
    let (code, _) = error_code(
        bookmark(&app, &buyer, &unknown.to_string()).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(code, "not_found");
    error_code(
        app.delete(
            &format!("/api/v1/shows/{unknown}/bookmark"),
            Some(&buyer.access_token),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[actix_web::test]
async fn anonymous_callers_are_refused() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let show = create_show(&app, &seller, "Friday vinyl").await;
    let follow_path = format!("/api/v1/sellers/{}/follow", seller.id);
    let bookmark_path = format!("/api/v1/shows/{show}/bookmark");
    let answers = [
        app.post_json(&follow_path, &json!({}), None).await,
        app.delete(&follow_path, None).await,
        app.post_json(&bookmark_path, &json!({}), None).await,
        app.delete(&bookmark_path, None).await,
        app.get("/api/v1/users/me/following", None).await,
        app.get("/api/v1/users/me/bookmarks", None).await,
    ];
    for res in answers {
        let (code, _) = error_code(res, StatusCode::UNAUTHORIZED).await;
        assert_eq!(code, "not_authenticated");
    }
    let profile = get_json(&app, &format!("/api/v1/users/{}", seller.id), None).await;
    assert_eq!(profile["follower_count"], 0);
}
