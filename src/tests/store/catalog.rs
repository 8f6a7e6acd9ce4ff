//! The catalog service on both backends: ownership, transitions, search,
//! categories, auctions holding products, views and pictures.

use std::collections::HashSet;

use blytz::accounts::{Registration, Role};
use blytz::catalog::{
    Caller, Catalog, CategoryId, CategoryUpdate, Condition, MediaStore, NewCategory, NewProduct,
    Product, ProductQuery, ProductStatus, ProductUpdate, Sort,
};
use blytz::error::Result;
use blytz::ids::{ProductId, UserId};
use blytz::pagination::Paged;
use blytz::{Db, Error};
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

impl Fixture {
    /// An active product of `seller`.
    async fn listed(&self, seller: Caller, title: &str, description: &str, price: i64) -> Product {
        self.catalog
            .create_product(seller, new_product(title, description, price))
            .await
            .unwrap()
    }

    /// `input` created by `seller`.
    async fn created(&self, seller: Caller, input: NewProduct) -> Product {
        self.catalog.create_product(seller, input).await.unwrap()
    }

    /// `actor` changes product `id`.
    async fn update(&self, actor: Caller, id: ProductId, update: ProductUpdate) -> Result<Product> {
        self.catalog.update_product(actor, id, update).await
    }

    /// A page of the public list.
    async fn list(&self, query: ProductQuery) -> Paged<Product> {
        self.catalog.list_products(None, query).await.unwrap()
    }

    /// Why the public list refuses `query`.
    async fn list_error(&self, query: ProductQuery) -> Error {
        self.catalog.list_products(None, query).await.unwrap_err()
    }

    /// Every page of the public list, following the cursors; no page is
    /// longer than `query.limit`.
    async fn every_page(&self, query: ProductQuery) -> Vec<Product> {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .list(ProductQuery {
                    cursor,
                    ..query.clone()
                })
                .await;
            if let Some(limit) = query.limit {
                assert!(page.items.len() <= limit as usize);
            }
            seen.extend(page.items);
            cursor = page.next_cursor;
            if cursor.is_none() {
                return seen;
            }
        }
    }
}

/// An active product, in new condition, in USD.
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

/// A product created without a status (a draft).
fn draft(title: &str, description: &str, price: i64) -> NewProduct {
    NewProduct {
        status: None,
        ..new_product(title, description, price)
    }
}

/// An active product in `category`.
fn in_category(title: &str, category: CategoryId) -> NewProduct {
    NewProduct {
        category_id: Some(category),
        ..new_product(title, "y", 100)
    }
}

/// Words to search for.
fn search(q: &str) -> ProductQuery {
    ProductQuery {
        q: Some(q.into()),
        ..ProductQuery::default()
    }
}

/// A change of status only.
fn to_status(status: ProductStatus) -> ProductUpdate {
    ProductUpdate {
        status: Some(status),
        ..ProductUpdate::default()
    }
}

/// Featuring only.
fn featuring() -> ProductUpdate {
    ProductUpdate {
        featured: Some(true),
        ..ProductUpdate::default()
    }
}

/// A top-level category (or one under `parent`), with the defaults.
fn category(name: &str, parent: Option<CategoryId>) -> NewCategory {
    NewCategory {
        name: name.into(),
        slug: None,
        parent_id: parent,
        sort_order: None,
        active: None,
    }
}

/// An auction row for `product` in `status`, ending `ends_in` seconds from now.
pub async fn put_in_auction(
    db: &Db,
    seller: UserId,
    product: ProductId,
    status: &str,
    ends_in: i64,
) {
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
async fn a_product_created_without_a_status_is_a_draft_of_its_seller() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let input = NewProduct {
            reserve_price: Some(8_000),
            ..draft("Vintage camera", "A 1970s film camera", 5_000)
        };

        let created = f.created(f.seller, input.clone()).await;

        assert_eq!(created.status, ProductStatus::Draft);
        assert_eq!(created.reserve_price, Some(8_000));
        let err = f.catalog.create_product(f.buyer, input).await.unwrap_err();
        assert_eq!(err.code(), "forbidden");
    }
}

#[tokio::test]
async fn a_draft_is_hidden_from_all_but_its_seller_and_admins() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let created = f.created(f.seller, draft("Lamp", "A lamp", 100)).await;

        let err = f
            .catalog
            .product(Some(f.other), created.id)
            .await
            .unwrap_err();

        assert_eq!(err.code(), "not_found");
        assert!(f.catalog.product(Some(f.admin), created.id).await.is_ok());
    }
}

#[tokio::test]
async fn only_its_seller_changes_or_deletes_a_product() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let created = f.created(f.seller, draft("Lamp", "A lamp", 100)).await;
        let update = ProductUpdate {
            title: Some("Stolen".into()),
            ..ProductUpdate::default()
        };

        let err = f
            .update(f.other, created.id, update.clone())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "forbidden");
        let err = f
            .catalog
            .delete_product(f.other, created.id)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "forbidden");
        let err = f
            .update(f.seller, ProductId::new(), update)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "not_found");
    }
}

#[tokio::test]
async fn the_seller_updates_a_product_and_the_public_sees_it() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let input = NewProduct {
            reserve_price: Some(8_000),
            ..draft("Vintage camera", "A 1970s film camera", 5_000)
        };
        let created = f.created(f.seller, input).await;

        let updated = f
            .update(
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
        let public = f.catalog.product(None, created.id).await.unwrap();
        assert_eq!(public.title, "Vintage film camera");
    }
}

#[tokio::test]
async fn only_admins_feature_a_product() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let p = f
            .listed(f.seller, "Vintage camera", "A 1970s film camera", 5_000)
            .await;

        let err = f.update(f.seller, p.id, featuring()).await.unwrap_err();
        assert_eq!(err.code(), "forbidden");
        let featured = f.update(f.admin, p.id, featuring()).await.unwrap();
        assert!(featured.featured);
    }
}

#[tokio::test]
async fn a_buy_now_price_below_the_start_price_names_its_field() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let p = f
            .listed(f.seller, "Vintage camera", "A 1970s film camera", 5_000)
            .await;

        let bad = f
            .update(
                f.seller,
                p.id,
                ProductUpdate {
                    buy_now_price: Some(Some(10)),
                    ..ProductUpdate::default()
                },
            )
            .await
            .unwrap_err();

        assert_eq!(bad.details()["field"], "buy_now_price");
    }
}

#[tokio::test]
async fn a_deleted_product_is_gone_even_for_its_seller() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let c = &f.catalog;
        let p = f
            .listed(f.seller, "Vintage camera", "A 1970s film camera", 5_000)
            .await;

        c.delete_product(f.seller, p.id).await.unwrap();

        assert_eq!(
            c.product(Some(f.seller), p.id).await.unwrap_err().code(),
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
        let p = f.created(f.seller, draft("Lamp", "A lamp", 100)).await;

        let err = f
            .update(f.seller, p.id, to_status(ProductStatus::Sold))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_transition");
        assert_eq!(err.details()["from"], "draft");
        f.update(f.seller, p.id, to_status(ProductStatus::Active))
            .await
            .unwrap();
        f.update(f.seller, p.id, to_status(ProductStatus::Sold))
            .await
            .unwrap();
        for status in [
            ProductStatus::Active,
            ProductStatus::Draft,
            ProductStatus::Cancelled,
        ] {
            let err = f
                .update(f.seller, p.id, to_status(status))
                .await
                .unwrap_err();
            assert_eq!(err.code(), "invalid_transition");
        }
        let sold = NewProduct {
            status: Some(ProductStatus::Sold),
            ..new_product("x", "y", 100)
        };
        let err = f.catalog.create_product(f.seller, sold).await.unwrap_err();
        assert_eq!(err.details()["field"], "status");
    }
}

#[tokio::test]
async fn search_ranks_filters_and_pages() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let in_description = f
            .listed(
                f.seller,
                "Leather bag",
                "Fits a vintage camera and lenses",
                3_000,
            )
            .await;
        let _in_title = f
            .listed(
                f.seller,
                "Camera strap",
                "Woven cotton, fits any body",
                1_500,
            )
            .await;
        let used = NewProduct {
            condition: Condition::Used,
            ..new_product("Old cameras lot", "Three bodies", 9_000)
        };
        let plural = f.created(f.other, used).await;
        f.created(f.seller, draft("Camera draft", "Hidden", 100))
            .await;

        let page = f.list(search("camera")).await;
        let ids: Vec<_> = page.items.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), 3, "{:?}", scratch.db.backend());
        assert!(ids.contains(&plural.id), "stemming finds `cameras`");
        assert_eq!(
            *ids.last().unwrap(),
            in_description.id,
            "a title match ranks above a description-only match"
        );

        let page = f.list(search("LENSES vintage")).await;
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].id, in_description.id);

        // Punctuation and operators are plain words, never syntax.
        let page = f.list(search(r#"camera" OR "* NEAR("#)).await;
        assert!(page.items.is_empty());

        let page = f
            .list(ProductQuery {
                condition: Some(Condition::Used),
                ..search("camera")
            })
            .await;
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].id, plural.id);

        let page = f
            .list(ProductQuery {
                min_price: Some(1_000),
                max_price: Some(5_000),
                sort: Some(Sort::PriceAsc),
                ..ProductQuery::default()
            })
            .await;
        let prices: Vec<_> = page.items.iter().map(|p| p.start_price).collect();
        assert_eq!(prices, [1_500, 3_000]);

        let page = f
            .list(ProductQuery {
                seller_id: Some(f.other.id),
                ..ProductQuery::default()
            })
            .await;
        assert_eq!(page.items.len(), 1);

        let err = f
            .list_error(ProductQuery {
                sort: Some(Sort::Relevance),
                ..ProductQuery::default()
            })
            .await;
        assert_eq!(err.details()["rule"], "requires_q");
    }
}

#[tokio::test]
async fn pages_have_no_duplicates_and_no_gaps() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let mut all = HashSet::new();
        for i in 0..23 {
            // Repeated prices and a mix of title and description matches: ties everywhere.
            let (title, description) = if i % 3 == 0 {
                (format!("Widget {i}"), "spare part")
            } else {
                (format!("Gadget {i}"), "a widget companion")
            };
            let p = f
                .listed(f.seller, &title, description, 100 * (i % 4 + 1))
                .await;
            all.insert(p.id);
        }
        for sort in [
            Sort::Newest,
            Sort::PriceAsc,
            Sort::PriceDesc,
            Sort::Relevance,
        ] {
            let seen = f
                .every_page(ProductQuery {
                    sort: Some(sort),
                    limit: Some(5),
                    ..search("widget")
                })
                .await;
            let ids: HashSet<_> = seen.iter().map(|p| p.id).collect();
            assert_eq!(ids.len(), seen.len(), "{sort:?}: a duplicate");
            assert_eq!(ids, all, "{sort:?}: an item is missing");
            if sort == Sort::PriceAsc {
                assert!(
                    seen.windows(2)
                        .all(|w| w[0].start_price <= w[1].start_price)
                );
            }
        }
        let err = f
            .list_error(ProductQuery {
                cursor: Some("garbage".into()),
                ..ProductQuery::default()
            })
            .await;
        assert_eq!(err.details()["field"], "cursor");
    }
}

#[tokio::test]
async fn categories_tree_and_subcategory_filter() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let c = &f.catalog;
        let cards = c
            .create_category(category("Trading Cards", None))
            .await
            .unwrap();
        assert_eq!(cards.slug, "trading-cards");
        let sports = c
            .create_category(category("Sports Cards", Some(cards.id)))
            .await
            .unwrap();
        let baseball = c
            .create_category(category("Baseball", Some(sports.id)))
            .await
            .unwrap();
        let toys = c.create_category(category("Toys", None)).await.unwrap();
        let err = c
            .create_category(category("Trading cards", None))
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

        let in_baseball = f
            .created(f.seller, in_category("Rookie card", baseball.id))
            .await;
        f.created(f.seller, in_category("Robot", toys.id)).await;

        let page = f
            .list(ProductQuery {
                category_id: Some(cards.id),
                ..ProductQuery::default()
            })
            .await;
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
        let err = c
            .create_product(f.seller, in_category("x", toys.id))
            .await
            .unwrap_err();
        assert_eq!(err.details()["field"], "category_id");
    }
}

#[tokio::test]
async fn an_auction_holds_its_product() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let later = f.listed(f.seller, "Later", "ends later", 100).await;
        let sooner = f.listed(f.seller, "Sooner", "ends sooner", 100).await;
        let idle = f.listed(f.seller, "Idle", "no auction", 100).await;
        put_in_auction(&scratch.db, f.seller.id, later.id, "live", 600).await;
        put_in_auction(&scratch.db, f.seller.id, sooner.id, "live", 60).await;
        put_in_auction(&scratch.db, f.seller.id, idle.id, "ended", 10).await;

        let err = f
            .catalog
            .delete_product(f.seller, later.id)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "product_in_auction");
        let err = f
            .update(
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
        f.update(
            f.seller,
            later.id,
            ProductUpdate {
                title: Some("Later, renamed".into()),
                ..ProductUpdate::default()
            },
        )
        .await
        .unwrap();

        let seen: Vec<_> = f
            .every_page(ProductQuery {
                sort: Some(Sort::EndingSoon),
                limit: Some(1),
                ..ProductQuery::default()
            })
            .await
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(seen, [sooner.id, later.id]);
        f.catalog.delete_product(f.seller, idle.id).await.unwrap();
    }
}

#[tokio::test]
async fn views_are_counted_in_memory_and_flushed() {
    for scratch in backends().await {
        let f = fixture(&scratch.db).await;
        let c = &f.catalog;
        let p = f.listed(f.seller, "Clock", "Ticks", 100).await;
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
        let p = f.listed(f.seller, "Vase", "Blue", 100).await;

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
