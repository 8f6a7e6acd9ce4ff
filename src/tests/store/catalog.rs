//! The catalog service on both backends: ownership, transitions, search,
//! categories, auctions holding products, views and pictures.

use std::collections::HashSet;

use blytz::Db;
use blytz::accounts::{Registration, Role};
use blytz::catalog::{
    Caller, Catalog, CategoryUpdate, Condition, MediaStore, NewCategory, NewProduct, ProductQuery,
    ProductStatus, ProductUpdate, Sort,
};
use blytz::ids::{ProductId, UserId};
use chrono::Duration;
use uuid::Uuid;

use crate::helpers::{accounts, backends};

struct Fixture {
    catalog: Catalog,
    seller: Caller,
    other: Caller,
    buyer: Caller,
    admin: Caller,
    media_dir: tempfile::TempDir,
}

async fn fixture(db: &Db) -> Fixture {
    let accounts = accounts(db).await;
    let mut users = Vec::new();
    for (email, role) in [
        ("seller@example.com", Role::Seller),
        ("other@example.com", Role::Seller),
        ("buyer@example.com", Role::Buyer),
    ] {
        let session = accounts
            .register(Registration {
                email: email.into(),
                password: "correct horse".into(),
                display_name: "T".into(),
                role,
            })
            .await
            .unwrap();
        users.push(Caller {
            id: session.user.id,
            role,
        });
    }
    let admin = accounts
        .create_admin("admin@example.com", "correct horse", "Admin")
        .await
        .unwrap();
    let media_dir = tempfile::tempdir().unwrap();
    let media = MediaStore::local(media_dir.path().to_path_buf(), None, 64 * 1024).unwrap();
    Fixture {
        catalog: Catalog::new(db.clone(), media),
        seller: users[0],
        other: users[1],
        buyer: users[2],
        admin: Caller {
            id: admin.id,
            role: Role::Admin,
        },
        media_dir,
    }
}

fn new_product(title: &str, description: &str, price: i64) -> NewProduct {
    NewProduct {
        title: title.into(),
        description: description.into(),
        condition: Condition::New,
        currency: "USD".into(),
        start_price: price,
        category_id: None,
        buy_now_price: None,
        reserve_price: None,
        images: None,
        video_url: None,
        specifications: None,
        shipping_info: None,
        status: Some(ProductStatus::Active),
    }
}

async fn put_in_auction(db: &Db, seller: UserId, product: ProductId, status: &str, ends_in: i64) {
    let now = blytz::time::now();
    let ends_at = now + Duration::seconds(ends_in);
    blytz::with_db!(db, pool => sqlx::query(
        "INSERT INTO auctions (id, seller_id, product_id, status, currency, start_price, ends_at, seq, view, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'USD', 100, $5, 0, '{}', $6, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(Uuid::from(seller))
    .bind(Uuid::from(product))
    .bind(status)
    .bind(ends_at)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();
}

#[tokio::test]
async fn crud_with_ownership() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let c = &f.catalog;
        let mut input = new_product("Vintage camera", "A 1970s film camera", 5_000);
        input.status = None;
        input.reserve_price = Some(8_000);
        let created = c.create_product(f.seller, input.clone()).await.unwrap();
        assert_eq!(created.status, ProductStatus::Draft);
        assert_eq!(created.reserve_price, Some(8_000));

        let err = c.create_product(f.buyer, input).await.unwrap_err();
        assert_eq!(err.code(), "forbidden");

        // A draft is hidden from everyone but its seller and admins.
        let err = c.product(Some(f.other), created.id).await.unwrap_err();
        assert_eq!(err.code(), "not_found");
        assert!(c.product(Some(f.admin), created.id).await.is_ok());

        let update = ProductUpdate {
            title: Some("Stolen".into()),
            ..ProductUpdate::default()
        };
        let err = c
            .update_product(f.other, created.id, update.clone())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "forbidden");
        let err = c.delete_product(f.other, created.id).await.unwrap_err();
        assert_eq!(err.code(), "forbidden");
        let err = c
            .update_product(f.seller, ProductId::new(), update)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "not_found");

        let updated = c
            .update_product(
                f.seller,
                created.id,
                ProductUpdate {
                    title: Some("Vintage film camera".into()),
                    status: Some(ProductStatus::Active),
                    reserve_price: Some(None),
                    specifications: Some(serde_json::json!({"brand": "Pentax"})),
                    ..ProductUpdate::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(updated.title, "Vintage film camera");
        assert_eq!(updated.reserve_price, None);
        assert!(!updated.has_reserve);
        assert_eq!(updated.specifications["brand"], "Pentax");

        // Public view: no reserve shown; only admins feature.
        let public = c.product(None, created.id).await.unwrap();
        assert_eq!(public.title, "Vintage film camera");
        let err = c
            .update_product(
                f.seller,
                created.id,
                ProductUpdate {
                    featured: Some(true),
                    ..ProductUpdate::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "forbidden");
        let featured = c
            .update_product(
                f.admin,
                created.id,
                ProductUpdate {
                    featured: Some(true),
                    ..ProductUpdate::default()
                },
            )
            .await
            .unwrap();
        assert!(featured.featured);

        let bad = c
            .update_product(
                f.seller,
                created.id,
                ProductUpdate {
                    buy_now_price: Some(Some(10)),
                    ..ProductUpdate::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(bad.details()["field"], "buy_now_price");

        c.delete_product(f.seller, created.id).await.unwrap();
        assert_eq!(
            c.product(Some(f.seller), created.id)
                .await
                .unwrap_err()
                .code(),
            "not_found"
        );
        let page = c
            .my_products(f.seller, ProductQuery::default())
            .await
            .unwrap();
        assert!(page.items.is_empty());
    }
}

#[tokio::test]
async fn only_legal_status_transitions() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let c = &f.catalog;
        let mut input = new_product("Lamp", "A lamp", 100);
        input.status = None;
        let p = c.create_product(f.seller, input).await.unwrap();
        let to = |status| ProductUpdate {
            status: Some(status),
            ..ProductUpdate::default()
        };
        let err = c
            .update_product(f.seller, p.id, to(ProductStatus::Sold))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_transition");
        assert_eq!(err.details()["from"], "draft");
        c.update_product(f.seller, p.id, to(ProductStatus::Active))
            .await
            .unwrap();
        c.update_product(f.seller, p.id, to(ProductStatus::Sold))
            .await
            .unwrap();
        for status in [
            ProductStatus::Active,
            ProductStatus::Draft,
            ProductStatus::Cancelled,
        ] {
            let err = c
                .update_product(f.seller, p.id, to(status))
                .await
                .unwrap_err();
            assert_eq!(err.code(), "invalid_transition");
        }
        let mut sold = new_product("x", "y", 100);
        sold.status = Some(ProductStatus::Sold);
        let err = c.create_product(f.seller, sold).await.unwrap_err();
        assert_eq!(err.details()["field"], "status");
    }
}

#[tokio::test]
async fn search_ranks_filters_and_pages() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let c = &f.catalog;
        let in_description = c
            .create_product(
                f.seller,
                new_product("Leather bag", "Fits a vintage camera and lenses", 3_000),
            )
            .await
            .unwrap();
        let _in_title = c
            .create_product(
                f.seller,
                new_product("Camera strap", "Woven cotton, fits any body", 1_500),
            )
            .await
            .unwrap();
        let mut used = new_product("Old cameras lot", "Three bodies", 9_000);
        used.condition = Condition::Used;
        let plural = c.create_product(f.other, used).await.unwrap();
        let mut draft = new_product("Camera draft", "Hidden", 100);
        draft.status = None;
        c.create_product(f.seller, draft).await.unwrap();

        let search = |q: &str| ProductQuery {
            q: Some(q.into()),
            ..ProductQuery::default()
        };
        let page = c.list_products(None, search("camera")).await.unwrap();
        let ids: Vec<_> = page.items.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), 3, "{:?}", scratch.db.backend());
        assert!(ids.contains(&plural.id), "stemming finds `cameras`");
        assert_eq!(
            *ids.last().unwrap(),
            in_description.id,
            "a title match ranks above a description-only match"
        );

        let page = c
            .list_products(None, search("LENSES vintage"))
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].id, in_description.id);

        // Punctuation and operators are plain words, never syntax.
        let page = c
            .list_products(None, search(r#"camera" OR "* NEAR("#))
            .await
            .unwrap();
        assert!(page.items.is_empty());

        let page = c
            .list_products(
                None,
                ProductQuery {
                    q: Some("camera".into()),
                    condition: Some(Condition::Used),
                    ..ProductQuery::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].id, plural.id);

        let page = c
            .list_products(
                None,
                ProductQuery {
                    min_price: Some(1_000),
                    max_price: Some(5_000),
                    sort: Some(Sort::PriceAsc),
                    ..ProductQuery::default()
                },
            )
            .await
            .unwrap();
        let prices: Vec<_> = page.items.iter().map(|p| p.start_price).collect();
        assert_eq!(prices, [1_500, 3_000]);

        let page = c
            .list_products(
                None,
                ProductQuery {
                    seller_id: Some(f.other.id),
                    ..ProductQuery::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1);

        let err = c
            .list_products(
                None,
                ProductQuery {
                    sort: Some(Sort::Relevance),
                    ..ProductQuery::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.details()["rule"], "requires_q");
    }
}

#[tokio::test]
async fn pages_have_no_duplicates_and_no_gaps() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let c = &f.catalog;
        let mut all = HashSet::new();
        for i in 0..23 {
            // Repeated prices and a mix of title and description matches: ties everywhere.
            let (title, description) = if i % 3 == 0 {
                (format!("Widget {i}"), "spare part".to_owned())
            } else {
                (format!("Gadget {i}"), "a widget companion".to_owned())
            };
            let p = c
                .create_product(
                    f.seller,
                    new_product(&title, &description, 100 * (i % 4 + 1)),
                )
                .await
                .unwrap();
            all.insert(p.id);
        }
        for sort in [
            Sort::Newest,
            Sort::PriceAsc,
            Sort::PriceDesc,
            Sort::Relevance,
        ] {
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let page = c
                    .list_products(
                        None,
                        ProductQuery {
                            q: Some("widget".into()),
                            sort: Some(sort),
                            limit: Some(5),
                            cursor: cursor.clone(),
                            ..ProductQuery::default()
                        },
                    )
                    .await
                    .unwrap();
                assert!(page.items.len() <= 5);
                seen.extend(page.items.iter().map(|p| (p.id, p.start_price)));
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            let ids: HashSet<_> = seen.iter().map(|(id, _)| *id).collect();
            assert_eq!(ids.len(), seen.len(), "{sort:?}: a duplicate");
            assert_eq!(ids, all, "{sort:?}: an item is missing");
            if sort == Sort::PriceAsc {
                assert!(seen.windows(2).all(|w| w[0].1 <= w[1].1));
            }
        }
        let err = c
            .list_products(
                None,
                ProductQuery {
                    cursor: Some("garbage".into()),
                    ..ProductQuery::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.details()["field"], "cursor");
    }
}

#[tokio::test]
async fn categories_tree_and_subcategory_filter() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let c = &f.catalog;
        let new = |name: &str, parent| NewCategory {
            name: name.into(),
            slug: None,
            parent_id: parent,
            sort_order: None,
            active: None,
        };
        let cards = c.create_category(new("Trading Cards", None)).await.unwrap();
        assert_eq!(cards.slug, "trading-cards");
        let sports = c
            .create_category(new("Sports Cards", Some(cards.id)))
            .await
            .unwrap();
        let baseball = c
            .create_category(new("Baseball", Some(sports.id)))
            .await
            .unwrap();
        let toys = c.create_category(new("Toys", None)).await.unwrap();
        let err = c
            .create_category(new("Trading cards", None))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "slug_taken");

        let tree = c.category_tree(false).await.unwrap();
        assert_eq!(tree.len(), 2);
        let cards_node = tree.iter().find(|n| n.category.id == cards.id).unwrap();
        assert_eq!(cards_node.children[0].children[0].category.id, baseball.id);

        let err = c
            .update_category(
                cards.id,
                CategoryUpdate {
                    parent_id: Some(Some(baseball.id)),
                    ..CategoryUpdate::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.details()["rule"], "no_cycle");

        let mut in_baseball = new_product("Rookie card", "Mint", 100);
        in_baseball.category_id = Some(baseball.id);
        let in_baseball = c.create_product(f.seller, in_baseball).await.unwrap();
        let mut in_toys = new_product("Robot", "Tin", 100);
        in_toys.category_id = Some(toys.id);
        c.create_product(f.seller, in_toys).await.unwrap();

        let page = c
            .list_products(
                None,
                ProductQuery {
                    category_id: Some(cards.id),
                    ..ProductQuery::default()
                },
            )
            .await
            .unwrap();
        let ids: Vec<_> = page.items.iter().map(|p| p.id).collect();
        assert_eq!(ids, [in_baseball.id]);

        let err = c.delete_category(sports.id).await.unwrap_err();
        assert_eq!(err.code(), "category_in_use");
        c.delete_category(toys.id).await.unwrap_err();
        let moved = c
            .update_category(
                toys.id,
                CategoryUpdate {
                    parent_id: Some(Some(cards.id)),
                    active: Some(false),
                    ..CategoryUpdate::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(moved.parent_id, Some(cards.id));
        assert_eq!(c.categories(false).await.unwrap().len(), 3);
        assert_eq!(c.categories(true).await.unwrap().len(), 4);
        let mut hidden = new_product("x", "y", 100);
        hidden.category_id = Some(toys.id);
        let err = c.create_product(f.seller, hidden).await.unwrap_err();
        assert_eq!(err.details()["field"], "category_id");
    }
}

#[tokio::test]
async fn an_auction_holds_its_product() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let c = &f.catalog;
        let later = c
            .create_product(f.seller, new_product("Later", "ends later", 100))
            .await
            .unwrap();
        let sooner = c
            .create_product(f.seller, new_product("Sooner", "ends sooner", 100))
            .await
            .unwrap();
        let idle = c
            .create_product(f.seller, new_product("Idle", "no auction", 100))
            .await
            .unwrap();
        put_in_auction(&scratch.db, f.seller.id, later.id, "live", 600).await;
        put_in_auction(&scratch.db, f.seller.id, sooner.id, "live", 60).await;
        put_in_auction(&scratch.db, f.seller.id, idle.id, "ended", 10).await;

        let err = c.delete_product(f.seller, later.id).await.unwrap_err();
        assert_eq!(err.code(), "product_in_auction");
        let err = c
            .update_product(
                f.seller,
                later.id,
                ProductUpdate {
                    start_price: Some(200),
                    ..ProductUpdate::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "product_in_auction");
        c.update_product(
            f.seller,
            later.id,
            ProductUpdate {
                title: Some("Later, renamed".into()),
                ..ProductUpdate::default()
            },
        )
        .await
        .unwrap();

        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = c
                .list_products(
                    None,
                    ProductQuery {
                        sort: Some(Sort::EndingSoon),
                        limit: Some(1),
                        cursor,
                        ..ProductQuery::default()
                    },
                )
                .await
                .unwrap();
            seen.extend(page.items.iter().map(|p| p.id));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen, [sooner.id, later.id]);
        c.delete_product(f.seller, idle.id).await.unwrap();
    }
}

#[tokio::test]
async fn views_are_counted_in_memory_and_flushed() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let c = &f.catalog;
        let p = c
            .create_product(f.seller, new_product("Clock", "Ticks", 100))
            .await
            .unwrap();
        for _ in 0..3 {
            c.product(Some(f.buyer), p.id).await.unwrap();
        }
        c.product(Some(f.seller), p.id).await.unwrap(); // the seller's own view is not counted
        let shown = c.product(None, p.id).await.unwrap();
        assert_eq!(
            shown.view_count, 4,
            "pending views are shown before a flush"
        );
        assert_eq!(c.flush_views().await.unwrap(), 1);
        assert_eq!(c.flush_views().await.unwrap(), 0);
        let stored = c.product(Some(f.seller), p.id).await.unwrap();
        assert_eq!(stored.view_count, 4);
    }
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(width, height, image::Rgba([0, 128, 255, 255]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

fn stored_files(dir: &std::path::Path) -> usize {
    fn walk(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            walk(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(dir)
}

#[tokio::test]
async fn pictures_are_checked_stored_and_thumbnailed() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let c = &f.catalog;
        let p = c
            .create_product(f.seller, new_product("Vase", "Blue", 100))
            .await
            .unwrap();

        let err = c
            .add_image(
                f.seller,
                p.id,
                bytes::Bytes::from_static(b"GIF89a? no, text"),
            )
            .await
            .unwrap_err();
        assert_eq!(err.details()["field"], "file");
        let err = c
            .add_image(f.seller, p.id, bytes::Bytes::from(vec![0u8; 65 * 1024]))
            .await
            .unwrap_err();
        assert_eq!(err.details()["rule"], "max_size");
        let err = c
            .add_image(f.other, p.id, bytes::Bytes::from(png(10, 10)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "forbidden");
        assert_eq!(stored_files(f.media_dir.path()), 0);

        let (image, product) = c
            .add_image(f.seller, p.id, bytes::Bytes::from(png(640, 480)))
            .await
            .unwrap();
        assert_eq!((image.width, image.height), (Some(640), Some(480)));
        assert_eq!(product.images, std::slice::from_ref(&image));
        assert_eq!(stored_files(f.media_dir.path()), 2);
        let thumb_key = image
            .thumbnail_url
            .as_deref()
            .unwrap()
            .strip_prefix("/media/")
            .unwrap();
        let thumb = c.media().get(thumb_key).await.unwrap().unwrap();
        assert_eq!(thumb.content_type, "image/png");
        let decoded = image::load_from_memory(&thumb.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (320, 240));
        assert!(c.media().get("../secret").await.unwrap().is_none());
    }
}
