//! Carts: a signed-in user's cart, or a guest's cart reached by an
//! unguessable token (only its SHA-256 hash is stored). Items are fixed-price
//! products at their buy-now price; a cart is forgotten `cart_ttl` after its
//! last change. A guest cart merges into the user's cart on
//! `POST /cart/merge`: quantities add up, capped at the stock available.

use crate::Code;
use std::collections::BTreeMap;

use blytz_actors::domain::{Currency, Money};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::FromRow;
use uuid::Uuid;

use super::model::{Cart, CartItem, CartSubtotal};
use super::{Commerce, later, stored_currency, validate};
use crate::error::{Error, Result};
use crate::ids::{ProductId, UserId};
use crate::with_db;

/// Whose cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartOwner {
    /// A signed-in user's.
    User(UserId),
    /// A guest's, by the token handed out when it was made.
    Guest(String),
}

/// A cart and, when a guest cart was just made, its token.
#[derive(Debug, Clone)]
pub struct CartChange {
    /// The cart after the change.
    pub cart: Cart,
    /// The token of a newly made guest cart: the client sends it back as
    /// `X-Cart-Token`.
    pub new_token: Option<String>,
}

fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, FromRow)]
pub(crate) struct CartLine {
    pub product_id: Uuid,
    pub seller_id: Uuid,
    pub title: String,
    pub buy_now_price: Option<i64>,
    pub currency: String,
    pub quantity: i64,
    pub status: String,
    pub deleted: bool,
}

impl Commerce {
    /// The id and expiry of the owner's live cart, if there is one. An expired
    /// cart is deleted on sight.
    async fn find_cart(&self, owner: &CartOwner) -> Result<Option<(Uuid, DateTime<Utc>)>> {
        let now = crate::time::now();
        let row: Option<(Uuid, DateTime<Utc>)> = match owner {
            CartOwner::User(user) => with_db!(&self.db, pool => sqlx::query_as(
                "SELECT id, expires_at FROM carts WHERE user_id = $1",
            )
            .bind(Uuid::from(*user))
            .fetch_optional(pool)
            .await)?,
            CartOwner::Guest(token) => with_db!(&self.db, pool => sqlx::query_as(
                "SELECT id, expires_at FROM carts WHERE token_hash = $1",
            )
            .bind(token_hash(token))
            .fetch_optional(pool)
            .await)?,
        };
        match row {
            Some((id, expires)) if expires <= now => {
                with_db!(&self.db, pool => sqlx::query("DELETE FROM carts WHERE id = $1 AND expires_at <= $2")
                    .bind(id).bind(now).execute(pool).await.map(|_| ()))?;
                Ok(None)
            }
            other => Ok(other),
        }
    }

    /// The owner's cart, made if missing (a guest cart gets a new token).
    async fn cart_for_change(&self, owner: Option<&CartOwner>) -> Result<(Uuid, Option<String>)> {
        let now = crate::time::now();
        let expires = later(now, self.settings.cart_ttl);
        match owner {
            Some(owner) => {
                if let Some((id, _)) = self.find_cart(owner).await? {
                    return Ok((id, None));
                }
                let CartOwner::User(user) = owner else {
                    return Err(Error::NotFound { what: "cart" });
                };
                with_db!(&self.db, pool => sqlx::query(
                    "INSERT INTO carts (id, user_id, created_at, updated_at, expires_at) \
                     VALUES ($1, $2, $3, $3, $4) ON CONFLICT (user_id) DO NOTHING",
                )
                .bind(Uuid::now_v7()).bind(Uuid::from(*user)).bind(now).bind(expires)
                .execute(pool).await.map(|_| ()))?;
                // Read back without the expiry check: a cart made just now is
                // this request's, even under a zero lifetime.
                let id: Uuid = with_db!(&self.db, pool => sqlx::query_scalar(
                    "SELECT id FROM carts WHERE user_id = $1",
                )
                .bind(Uuid::from(*user))
                .fetch_one(pool)
                .await)?;
                Ok((id, None))
            }
            None => {
                let token = new_token();
                let id = Uuid::now_v7();
                with_db!(&self.db, pool => sqlx::query(
                    "INSERT INTO carts (id, token_hash, created_at, updated_at, expires_at) \
                     VALUES ($1, $2, $3, $3, $4)",
                )
                .bind(id).bind(token_hash(&token)).bind(now).bind(expires)
                .execute(pool).await.map(|_| ()))?;
                Ok((id, Some(token)))
            }
        }
    }

    pub(crate) async fn cart_lines(&self, cart: Uuid) -> Result<Vec<CartLine>> {
        Ok(with_db!(&self.db, pool => sqlx::query_as(
            "SELECT p.id AS product_id, p.seller_id, p.title, p.buy_now_price, p.currency, \
             ci.quantity, p.status, (p.deleted_at IS NOT NULL) AS deleted \
             FROM cart_items ci JOIN products p ON p.id = ci.product_id \
             WHERE ci.cart_id = $1 ORDER BY ci.added_at, p.id",
        )
        .bind(cart)
        .fetch_all(pool)
        .await)?)
    }

    async fn cart_view(&self, cart: Option<(Uuid, DateTime<Utc>)>) -> Result<Cart> {
        let Some((id, expires_at)) = cart else {
            return Ok(Cart {
                items: Vec::new(),
                subtotals: Vec::new(),
                expires_at: None,
            });
        };
        let mut items = Vec::new();
        let mut sums: BTreeMap<Currency, Money> = BTreeMap::new();
        for line in self.cart_lines(id).await? {
            let currency = stored_currency(&line.currency)?;
            let price = Money::new(line.buy_now_price.unwrap_or(0), currency);
            let line_total = price.checked_mul(line.quantity)?;
            let sum = sums.entry(currency).or_insert(Money::zero(currency));
            *sum = sum.checked_add(line_total)?;
            items.push(CartItem {
                product_id: line.product_id,
                seller_id: line.seller_id,
                title: line.title,
                unit_price: price.minor,
                currency: line.currency,
                quantity: line.quantity,
                line_total: line_total.minor,
            });
        }
        Ok(Cart {
            items,
            subtotals: sums
                .into_values()
                .map(|sum| CartSubtotal {
                    currency: sum.currency.to_string(),
                    amount: sum.minor,
                })
                .collect(),
            expires_at: Some(expires_at),
        })
    }

    /// The owner's cart (empty when there is none).
    pub async fn cart(&self, owner: Option<&CartOwner>) -> Result<Cart> {
        let found = match owner {
            Some(owner) => self.find_cart(owner).await?,
            None => None,
        };
        self.cart_view(found).await
    }

    async fn touch_cart(&self, cart: Uuid) -> Result<()> {
        let now = crate::time::now();
        with_db!(&self.db, pool => sqlx::query("UPDATE carts SET updated_at = $1, expires_at = $2 WHERE id = $3")
            .bind(now).bind(later(now, self.settings.cart_ttl)).bind(cart)
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    async fn fixed_price(&self, product: Uuid) -> Result<()> {
        let row: Option<(Option<i64>, String)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT buy_now_price, status FROM products WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(product)
        .fetch_optional(pool)
        .await)?;
        match row {
            None => Err(Error::NotFound { what: "product" }),
            Some((None, _)) => Err(Error::refused(
                Code::NotFixedPrice,
                "this product has no buy-now price, so it cannot go in a cart",
            )),
            Some((Some(_), status)) if status != "active" => Err(Error::refused(
                Code::ProductUnavailable,
                "this product is not on sale",
            )),
            Some(_) if crate::catalog::in_live_auction(&self.db, product.into()).await? => {
                Err(super::in_auction(product))
            }
            Some(_) => Ok(()),
        }
    }

    fn insufficient(available: i64) -> Error {
        let mut details = serde_json::Map::new();
        details.insert("available".into(), available.into());
        Error::Refused {
            code: Code::InsufficientStock,
            message: format!("only {available} available").into(),
            details,
        }
    }

    /// Add `quantity` units of a product (on top of any already there).
    /// Without an owner a guest cart is made and its token answered.
    pub async fn add_to_cart(
        &self,
        owner: Option<&CartOwner>,
        product: ProductId,
        quantity: i64,
    ) -> Result<CartChange> {
        let quantity = validate::quantity(quantity)?;
        let product = Uuid::from(product);
        self.fixed_price(product).await?;
        let (cart, new_token) = self.cart_for_change(owner).await?;
        let already: Option<i64> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT quantity FROM cart_items WHERE cart_id = $1 AND product_id = $2",
        )
        .bind(cart).bind(product).fetch_optional(pool).await)?;
        let wanted = validate::quantity(already.unwrap_or(0) + quantity)?;
        let available = self.available(product).await?;
        if wanted > available {
            return Err(Self::insufficient(available));
        }
        let now = crate::time::now();
        with_db!(&self.db, pool => sqlx::query(
            "INSERT INTO cart_items (cart_id, product_id, quantity, added_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = excluded.quantity",
        )
        .bind(cart).bind(product).bind(wanted).bind(now)
        .execute(pool).await.map(|_| ()))?;
        self.touch_cart(cart).await?;
        let cart = self.cart_view(self.find_cart_by_id(cart).await?).await?;
        Ok(CartChange { cart, new_token })
    }

    async fn find_cart_by_id(&self, id: Uuid) -> Result<Option<(Uuid, DateTime<Utc>)>> {
        Ok(
            with_db!(&self.db, pool => sqlx::query_as("SELECT id, expires_at FROM carts WHERE id = $1")
            .bind(id).fetch_optional(pool).await)?,
        )
    }

    /// Set the quantity of a product already in the cart.
    pub async fn set_cart_quantity(
        &self,
        owner: &CartOwner,
        product: ProductId,
        quantity: i64,
    ) -> Result<Cart> {
        let quantity = validate::quantity(quantity)?;
        let product = Uuid::from(product);
        let (cart, _) = self
            .find_cart(owner)
            .await?
            .ok_or(Error::NotFound { what: "cart item" })?;
        let available = self.available(product).await?;
        if quantity > available {
            return Err(Self::insufficient(available));
        }
        let n = with_db!(&self.db, pool => sqlx::query(
            "UPDATE cart_items SET quantity = $1 WHERE cart_id = $2 AND product_id = $3",
        )
        .bind(quantity).bind(cart).bind(product)
        .execute(pool).await.map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(Error::NotFound { what: "cart item" });
        }
        self.touch_cart(cart).await?;
        self.cart_view(self.find_cart_by_id(cart).await?).await
    }

    /// Take a product out of the cart.
    pub async fn remove_from_cart(&self, owner: &CartOwner, product: ProductId) -> Result<Cart> {
        let (cart, _) = self
            .find_cart(owner)
            .await?
            .ok_or(Error::NotFound { what: "cart item" })?;
        let n = with_db!(&self.db, pool => sqlx::query(
            "DELETE FROM cart_items WHERE cart_id = $1 AND product_id = $2",
        )
        .bind(cart).bind(Uuid::from(product))
        .execute(pool).await.map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(Error::NotFound { what: "cart item" });
        }
        self.touch_cart(cart).await?;
        self.cart_view(self.find_cart_by_id(cart).await?).await
    }

    /// Empty the cart.
    pub async fn clear_cart(&self, owner: &CartOwner) -> Result<Cart> {
        if let Some((cart, _)) = self.find_cart(owner).await? {
            with_db!(&self.db, pool => sqlx::query("DELETE FROM cart_items WHERE cart_id = $1")
                .bind(cart).execute(pool).await.map(|_| ()))?;
            self.touch_cart(cart).await?;
            return self.cart_view(self.find_cart_by_id(cart).await?).await;
        }
        self.cart(None).await
    }

    /// Move a guest cart into the user's cart: quantities add up, capped at
    /// the stock available (a line with none left is dropped); the guest cart
    /// is deleted, in the same transaction.
    pub async fn merge_cart(&self, user: UserId, guest_token: &str) -> Result<Cart> {
        let guest = CartOwner::Guest(guest_token.to_owned());
        let Some((guest_cart, _)) = self.find_cart(&guest).await? else {
            return Err(Error::NotFound { what: "guest cart" });
        };
        let owner = CartOwner::User(user);
        let (cart, _) = self.cart_for_change(Some(&owner)).await?;
        let guest_lines: Vec<(Uuid, i64)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT product_id, quantity FROM cart_items WHERE cart_id = $1",
        ).bind(guest_cart).fetch_all(pool).await)?;
        let mut merged = Vec::new();
        for (product, quantity) in guest_lines {
            let mine: Option<i64> = with_db!(&self.db, pool => sqlx::query_scalar(
                "SELECT quantity FROM cart_items WHERE cart_id = $1 AND product_id = $2",
            ).bind(cart).bind(product).fetch_optional(pool).await)?;
            let available = self.available(product).await?;
            let total = (mine.unwrap_or(0) + quantity)
                .min(available)
                .min(validate::QUANTITY_MAX);
            merged.push((product, total));
        }
        let now = crate::time::now();
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            for (product, total) in &merged {
                if *total > 0 {
                    sqlx::query(
                        "INSERT INTO cart_items (cart_id, product_id, quantity, added_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = excluded.quantity",
                    )
                    .bind(cart).bind(*product).bind(*total).bind(now)
                    .execute(&mut *tx).await?;
                } else {
                    sqlx::query("DELETE FROM cart_items WHERE cart_id = $1 AND product_id = $2")
                        .bind(cart).bind(*product).execute(&mut *tx).await?;
                }
            }
            sqlx::query("DELETE FROM carts WHERE id = $1").bind(guest_cart).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        self.touch_cart(cart).await?;
        self.cart_view(self.find_cart_by_id(cart).await?).await
    }

    /// Forget carts that expired by `now`; answers how many.
    pub async fn purge_expired_carts(&self, now: DateTime<Utc>) -> Result<u64> {
        Ok(
            with_db!(&self.db, pool => sqlx::query("DELETE FROM carts WHERE expires_at <= $1")
            .bind(now).execute(pool).await.map(|r| r.rows_affected()))?,
        )
    }
}
