//! SQL for products, the same text on both backends (search is in `search.rs`).

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::model::{CategoryId, Condition, Image, Product, ProductStatus};
use crate::db::Db;
use crate::ids::{ProductId, UserId};
use crate::with_db;

/// A `products` row.
#[derive(Debug, Clone, FromRow)]
pub(super) struct ProductRow {
    #[sqlx(try_from = "Uuid")]
    pub id: ProductId,
    #[sqlx(try_from = "Uuid")]
    pub seller_id: UserId,
    pub category_id: Option<Uuid>,
    pub title: String,
    pub description: String,
    pub condition: String,
    pub currency: String,
    pub start_price: i64,
    pub reserve_price: Option<i64>,
    pub buy_now_price: Option<i64>,
    pub images: Json<Vec<Image>>,
    pub video_url: Option<String>,
    pub specifications: Json<Value>,
    pub shipping_info: Json<Value>,
    pub status: String,
    pub featured: bool,
    pub view_count: i64,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The columns of a [`ProductRow`], qualified by the alias `p`.
pub(super) const COLUMNS: &str = "p.id, p.seller_id, p.category_id, p.title, p.description, \
     p.condition, p.currency, p.start_price, p.reserve_price, p.buy_now_price, p.images, \
     p.video_url, p.specifications, p.shipping_info, p.status, p.featured, p.view_count, \
     p.version, p.created_at, p.updated_at";

/// [`LIVE_AUCTION`] as a literal, for SQL put together at compile time.
macro_rules! live_auction {
    () => {
        "('scheduled', 'live', 'paused')"
    };
}

/// Auction states in which a product is committed to an auction (an SQL
/// list): an open auction holds its product, which nothing else may sell.
pub(crate) const LIVE_AUCTION: &str = live_auction!();

/// Whether an open auction holds product `$1`: one `bool`, on a pool or
/// inside a transaction.
pub(crate) const PRODUCT_IN_AUCTION: &str = concat!(
    "SELECT EXISTS (SELECT 1 FROM auctions WHERE product_id = $1 AND status IN ",
    live_auction!(),
    ")"
);

impl ProductRow {
    /// The typed status; an unknown stored value is an internal error.
    pub fn status(&self) -> anyhow::Result<ProductStatus> {
        ProductStatus::parse(&self.status)
            .with_context(|| format!("product {} has an unknown status", self.id))
    }

    /// The API view. `full` shows the hidden reserve (seller and admins).
    pub fn to_product(&self, full: bool, pending_views: i64) -> anyhow::Result<Product> {
        let condition = Condition::parse(&self.condition)
            .with_context(|| format!("product {} has an unknown condition", self.id))?;
        Ok(Product {
            id: self.id,
            seller_id: self.seller_id,
            category_id: self.category_id.map(CategoryId::from),
            title: self.title.clone(),
            description: self.description.clone(),
            condition,
            currency: self.currency.clone(),
            start_price: self.start_price,
            reserve_price: self.reserve_price.filter(|_| full),
            has_reserve: self.reserve_price.is_some(),
            buy_now_price: self.buy_now_price,
            images: self.images.0.clone(),
            video_url: self.video_url.clone(),
            specifications: self.specifications.0.clone(),
            shipping_info: self.shipping_info.0.clone(),
            status: self.status()?,
            featured: self.featured,
            view_count: self.view_count.saturating_add(pending_views),
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

pub(super) async fn insert(db: &Db, row: &ProductRow) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO products (id, seller_id, category_id, title, description, condition, currency, \
         start_price, reserve_price, buy_now_price, images, video_url, specifications, shipping_info, \
         status, featured, view_count, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
    )
    .bind(Uuid::from(row.id))
    .bind(Uuid::from(row.seller_id))
    .bind(row.category_id)
    .bind(&row.title)
    .bind(&row.description)
    .bind(&row.condition)
    .bind(&row.currency)
    .bind(row.start_price)
    .bind(row.reserve_price)
    .bind(row.buy_now_price)
    .bind(&row.images)
    .bind(&row.video_url)
    .bind(&row.specifications)
    .bind(&row.shipping_info)
    .bind(&row.status)
    .bind(row.featured)
    .bind(row.view_count)
    .bind(row.version)
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// A product that is not deleted.
pub(super) async fn by_id(db: &Db, id: ProductId) -> Result<Option<ProductRow>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM products p WHERE p.id = $1 AND p.deleted_at IS NULL"
    ));
    with_db!(db, pool => sqlx::query_as::<_, ProductRow>(sql).bind(Uuid::from(id)).fetch_optional(pool).await)
}

/// Write every editable field of `row` if the stored version is still
/// `row.version - 1` and the product is not deleted. When `guard_auction`,
/// the write also requires that no auction holds the product. Answers
/// whether the row was written.
pub(super) async fn update(
    db: &Db,
    row: &ProductRow,
    guard_auction: bool,
) -> Result<bool, sqlx::Error> {
    let guard = if guard_auction {
        format!(
            " AND NOT EXISTS (SELECT 1 FROM auctions a WHERE a.product_id = $18 AND a.status IN {LIVE_AUCTION})"
        )
    } else {
        String::new()
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "UPDATE products SET category_id = $1, title = $2, description = $3, condition = $4, \
         currency = $5, start_price = $6, reserve_price = $7, buy_now_price = $8, images = $9, \
         video_url = $10, specifications = $11, shipping_info = $12, status = $13, featured = $14, \
         version = $15, updated_at = $16 \
         WHERE version = $17 AND id = $18 AND deleted_at IS NULL{guard}"
    ));
    with_db!(db, pool => sqlx::query(sql)
        .bind(row.category_id)
        .bind(&row.title)
        .bind(&row.description)
        .bind(&row.condition)
        .bind(&row.currency)
        .bind(row.start_price)
        .bind(row.reserve_price)
        .bind(row.buy_now_price)
        .bind(&row.images)
        .bind(&row.video_url)
        .bind(&row.specifications)
        .bind(&row.shipping_info)
        .bind(&row.status)
        .bind(row.featured)
        .bind(row.version)
        .bind(row.updated_at)
        .bind(row.version - 1)
        .bind(Uuid::from(row.id))
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Mark a product deleted unless an auction holds it. Answers whether it was.
pub(super) async fn soft_delete(
    db: &Db,
    id: ProductId,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "UPDATE products SET deleted_at = $1, updated_at = $1, version = version + 1 \
         WHERE id = $2 AND deleted_at IS NULL \
         AND NOT EXISTS (SELECT 1 FROM auctions a WHERE a.product_id = $2 AND a.status IN {LIVE_AUCTION})"
    ));
    with_db!(db, pool => sqlx::query(sql)
        .bind(now)
        .bind(Uuid::from(id))
        .execute(pool)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Whether an auction (scheduled, live or paused) holds the product: it is
/// sold there, not through a cart, and its price and stock stay as the
/// auction took them.
pub(crate) async fn in_live_auction(db: &Db, id: ProductId) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query_scalar::<_, bool>(PRODUCT_IN_AUCTION)
        .bind(Uuid::from(id))
        .fetch_one(pool)
        .await)
}

/// Add view counts in one transaction.
pub(super) async fn add_views(db: &Db, counts: &[(ProductId, i64)]) -> Result<(), sqlx::Error> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        for (id, n) in counts {
            sqlx::query("UPDATE products SET view_count = view_count + $1 WHERE id = $2")
                .bind(*n)
                .bind(Uuid::from(*id))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    })
}
