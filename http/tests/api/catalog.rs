//! The catalog over HTTP: categories, products, search and pictures.

use std::collections::HashSet;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code, spawn_app, spawn_app_with};

async fn admin_token(app: &TestApp) -> String {
    app.state
        .accounts
        .create_admin("root@example.com", "correct horse battery", "Root")
        .await
        .unwrap();
    let res = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": "root@example.com", "password": "correct horse battery"}),
            None,
        )
        .await;
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> Response {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

async fn create_product(app: &TestApp, token: &str, body: Value) -> Value {
    let res = app.post_json("/api/v1/products", &body, Some(token)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

fn product(title: &str, description: &str, price: i64) -> Value {
    json!({
        "title": title,
        "description": description,
        "condition": "new",
        "currency": "USD",
        "start_price": price,
        "status": "active",
    })
}

#[actix_web::test]
async fn products_crud_with_ownership_and_roles() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let other = app.register("other@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;

    let body = json!({
        "title": "Vintage camera",
        "description": "A 1970s film camera",
        "condition": "like_new",
        "currency": "USD",
        "start_price": 5000,
        "reserve_price": 8000,
        "buy_now_price": 20000,
        "images": ["https://img.example.com/a.jpg"],
    });
    let created = create_product(&app, &seller.access_token, body.clone()).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["status"], "draft");
    assert_eq!(created["reserve_price"], 8000);
    assert_eq!(created["images"][0]["url"], "https://img.example.com/a.jpg");

    let res = app
        .post_json("/api/v1/products", &body, Some(&buyer.access_token))
        .await;
    assert_eq!(error_code(res, StatusCode::FORBIDDEN).await.0, "forbidden");
    let res = app.post_json("/api/v1/products", &body, None).await;
    error_code(res, StatusCode::UNAUTHORIZED).await;
    let mut bad = body.clone();
    bad["start_price"] = json!(12.5);
    let res = app
        .post_json("/api/v1/products", &bad, Some(&seller.access_token))
        .await;
    error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut bad = body.clone();
    bad["currency"] = json!("usd");
    let res = app
        .post_json("/api/v1/products", &bad, Some(&seller.access_token))
        .await;
    let (_, details) = error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(details["field"], "currency");

    let path = format!("/api/v1/products/{id}");
    // A draft is the seller's alone.
    error_code(app.get(&path, None).await, StatusCode::NOT_FOUND).await;
    let res = send(
        &app,
        reqwest::Method::PUT,
        &path,
        Some(json!({"title": "Mine now"})),
        &other.access_token,
    )
    .await;
    assert_eq!(error_code(res, StatusCode::FORBIDDEN).await.0, "forbidden");
    let res = send(
        &app,
        reqwest::Method::DELETE,
        &path,
        None,
        &other.access_token,
    )
    .await;
    error_code(res, StatusCode::FORBIDDEN).await;
    let missing = "/api/v1/products/0192f0c8-0000-7000-8000-000000000000";
    error_code(app.get(missing, None).await, StatusCode::NOT_FOUND).await;
    let res = send(
        &app,
        reqwest::Method::PUT,
        missing,
        Some(json!({})),
        &seller.access_token,
    )
    .await;
    error_code(res, StatusCode::NOT_FOUND).await;

    let res = send(
        &app,
        reqwest::Method::PUT,
        &path,
        Some(json!({"status": "sold"})),
        &seller.access_token,
    )
    .await;
    let (code, details) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "invalid_transition");
    assert_eq!(details["from"], "draft");
    let res = send(
        &app,
        reqwest::Method::PUT,
        &path,
        Some(json!({"status": "active", "shipping_info": {"from": "Lyon"}, "video_url": null})),
        &seller.access_token,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = send(
        &app,
        reqwest::Method::PUT,
        &path,
        Some(json!({"shipping_info": [1, 2]})),
        &seller.access_token,
    )
    .await;
    let (_, details) = error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(details["field"], "shipping_info");

    // Public now; the reserve stays hidden from everyone but the seller.
    let public: Value = app
        .get(&path, Some(&buyer.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(public["title"], "Vintage camera");
    assert!(public.get("reserve_price").is_none());
    assert_eq!(public["has_reserve"], true);
    assert_eq!(public["shipping_info"]["from"], "Lyon");

    let mine: Value = app
        .get("/api/v1/products/my-products", Some(&seller.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    assert!(mine["next_cursor"].is_null());
    let res = app
        .get("/api/v1/products/my-products", Some(&buyer.access_token))
        .await;
    error_code(res, StatusCode::FORBIDDEN).await;

    let res = send(
        &app,
        reqwest::Method::DELETE,
        &path,
        None,
        &seller.access_token,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    error_code(app.get(&path, None).await, StatusCode::NOT_FOUND).await;
}

#[actix_web::test]
async fn categories_are_managed_by_admins_and_filter_with_subcategories() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let seller = app.register("seller@example.com", "seller").await;

    let res = app
        .post_json(
            "/api/v1/categories",
            &json!({"name": "Cards"}),
            Some(&seller.access_token),
        )
        .await;
    error_code(res, StatusCode::FORBIDDEN).await;

    let cards: Value = app
        .post_json(
            "/api/v1/categories",
            &json!({"name": "Cards", "sort_order": 1}),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    let cards_id = cards["id"].as_str().unwrap();
    assert_eq!(cards["slug"], "cards");
    let res = app
        .post_json(
            "/api/v1/categories",
            &json!({"name": "Pokemon", "slug": "pokemon", "parent_id": cards_id}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let pokemon: Value = res.json().await.unwrap();
    let pokemon_id = pokemon["id"].as_str().unwrap();
    let res = app
        .post_json(
            "/api/v1/categories",
            &json!({"name": "Other", "slug": "pokemon"}),
            Some(&admin),
        )
        .await;
    assert_eq!(error_code(res, StatusCode::CONFLICT).await.0, "slug_taken");
    let toys: Value = app
        .post_json("/api/v1/categories", &json!({"name": "Toys"}), Some(&admin))
        .await
        .json()
        .await
        .unwrap();

    let tree: Value = app
        .get("/api/v1/categories", None)
        .await
        .json()
        .await
        .unwrap();
    let roots = tree["items"].as_array().unwrap();
    assert_eq!(roots.len(), 2);
    // Display order: Toys (sort order 0) before Cards (1).
    assert_eq!(roots[0]["id"], toys["id"]);
    assert_eq!(roots[1]["children"][0]["id"], pokemon_id);
    assert!(tree["next_cursor"].is_null());
    let flat: Value = app
        .get("/api/v1/categories?view=flat", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(flat["items"].as_array().unwrap().len(), 3);
    assert!(flat["items"][0].get("children").is_none());

    let path = format!("/api/v1/categories/{cards_id}");
    let res = send(
        &app,
        reqwest::Method::PUT,
        &path,
        Some(json!({"parent_id": pokemon_id})),
        &admin,
    )
    .await;
    let (_, details) = error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(details["rule"], "no_cycle");

    let mut in_pokemon = product("Charizard", "Holo", 100);
    in_pokemon["category_id"] = json!(pokemon_id);
    let in_pokemon = create_product(&app, &seller.access_token, in_pokemon).await;
    let mut in_toys = product("Robot", "Tin", 100);
    in_toys["category_id"] = toys["id"].clone();
    create_product(&app, &seller.access_token, in_toys).await;

    let page: Value = app
        .get(&format!("/api/v1/products?category_id={cards_id}"), None)
        .await
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], in_pokemon["id"]);

    let res = send(&app, reqwest::Method::DELETE, &path, None, &admin).await;
    assert_eq!(
        error_code(res, StatusCode::CONFLICT).await.0,
        "category_in_use"
    );
    let res = send(
        &app,
        reqwest::Method::PUT,
        &path,
        Some(json!({"name": "Trading cards"})),
        &admin,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[actix_web::test]
async fn search_ranks_title_first_and_pages_without_gaps() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let in_description = create_product(
        &app,
        &seller.access_token,
        product("Leather bag", "Made for a vintage camera", 3000),
    )
    .await;
    let in_title = create_product(
        &app,
        &seller.access_token,
        product("Camera tripod", "Aluminium, light", 2000),
    )
    .await;
    let mut all = HashSet::from([
        in_description["id"].as_str().unwrap().to_owned(),
        in_title["id"].as_str().unwrap().to_owned(),
    ]);
    for i in 0..9 {
        let p = create_product(
            &app,
            &seller.access_token,
            product(&format!("Camera body {i}"), "35mm", 1000 + 100 * (i % 3)),
        )
        .await;
        all.insert(p["id"].as_str().unwrap().to_owned());
    }
    create_product(
        &app,
        &seller.access_token,
        product("Teapot", "Porcelain", 500),
    )
    .await;

    let page: Value = app
        .get("/api/v1/products?q=camera&limit=20", None)
        .await
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 11);
    assert_eq!(items.last().unwrap()["id"], in_description["id"]);

    let page: Value = app
        .get(
            "/api/v1/products?q=camera&max_price=1500&condition=new&sort=price_desc",
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let prices: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["start_price"].as_i64().unwrap())
        .collect();
    assert_eq!(prices.len(), 9);
    assert!(prices.windows(2).all(|w| w[0] >= w[1]));

    for sort in ["relevance", "newest", "price_asc"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/products?q=camera&sort={sort}&limit=4");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page: Value = app.get(&path, None).await.json().await.unwrap();
            seen.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["id"].as_str().unwrap().to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let unique: HashSet<_> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: duplicates");
        assert_eq!(unique, all, "{sort}: missing items");
    }

    let res = app.get("/api/v1/products?limit=0", None).await;
    let (_, details) = error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(details["field"], "limit");
    let res = app.get("/api/v1/products?sort=cheapest", None).await;
    error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
}

pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([10, 200, 30]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

pub(crate) async fn upload(
    app: &TestApp,
    product_id: &str,
    token: &str,
    filename: &str,
    bytes: &[u8],
) -> Response {
    let boundary = "blytz-test-boundary-7d3f";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    app.client
        .post(app.url(&format!("/api/v1/products/{product_id}/images")))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        files_under(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[actix_web::test]
async fn uploads_are_checked_bounded_and_thumbnailed() {
    let app = spawn_app_with(|c| c.max_image_bytes = 64 * 1024).await;
    let media_dir = app.state.config.data_dir.join("media");
    let seller = app.register("seller@example.com", "seller").await;
    let other = app.register("other@example.com", "seller").await;
    let p = create_product(&app, &seller.access_token, product("Vase", "Blue", 100)).await;
    let id = p["id"].as_str().unwrap();

    // A text file named like a picture.
    let res = upload(
        &app,
        id,
        &seller.access_token,
        "cat.png",
        b"just some text, not a png",
    )
    .await;
    let (code, details) = error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(code, "validation_failed");
    assert_eq!(
        (details["field"].as_str(), details["rule"].as_str()),
        (Some("file"), Some("image_type"))
    );
    // Over the limit (a real picture padded past 64 KiB).
    let mut big = png(8, 8);
    big.extend(std::iter::repeat_n(0u8, 200 * 1024));
    let res = upload(&app, id, &seller.access_token, "big.png", &big).await;
    let (_, details) = error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(details["rule"], "max_size");
    let res = upload(&app, id, &other.access_token, "x.png", &png(8, 8)).await;
    error_code(res, StatusCode::FORBIDDEN).await;
    assert_eq!(
        files_under(&media_dir),
        0,
        "a refused upload stores nothing"
    );

    let res = upload(&app, id, &seller.access_token, "vase.png", &png(1000, 500)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["image"]["width"], 1000);
    assert_eq!(body["product"]["images"][0], body["image"]);
    assert_eq!(files_under(&media_dir), 2);

    let thumb_url = body["image"]["thumbnail_url"].as_str().unwrap();
    let res = app.get(thumb_url, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    let thumb = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (320, 160));
    error_code(
        app.get("/media/products/../../secret", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}
