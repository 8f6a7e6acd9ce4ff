//! The catalog: a category tree, the products sellers list, full-text
//! search over them, their pictures, and view counts.
//!
//! One service, [`Catalog`], split by idea: [`categories`], [`products`]
//! (changes and ownership), [`search`] (lists, filters, sorts, cursors),
//! [`media`] (pictures in object storage) and [`views`] (counted in memory,
//! flushed in batches).

pub mod categories;
mod imaging;
pub mod media;
mod model;
mod product_store;
pub mod products;
mod query;
pub mod search;
mod search_sql;
mod validate;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

pub use categories::{CategoryUpdate, NewCategory};
pub use media::{MediaObject, MediaStore};
pub use model::{
    Category, CategoryId, CategoryItem, CategoryList, CategoryNode, Condition, Image, Product,
    ProductPage, ProductStatus,
};
pub(crate) use product_store::{LIVE_AUCTION, PRODUCT_IN_AUCTION, in_live_auction};
pub use products::{ImageInput, NewProduct, ProductUpdate};
pub use search::{ProductQuery, Sort};

use crate::db::Db;
use crate::error::Result;
use views::ViewCounter;

pub use crate::accounts::Caller;

/// Categories, products, search, pictures and views.
#[derive(Debug, Clone)]
pub struct Catalog {
    db: Db,
    media: MediaStore,
    /// Shared by every clone, so each view is counted once wherever it lands.
    views: Arc<ViewCounter>,
}

impl Catalog {
    /// The catalog over `db`, keeping pictures in `media`.
    pub fn new(db: Db, media: MediaStore) -> Self {
        Self {
            db,
            media,
            views: Arc::new(ViewCounter::default()),
        }
    }

    /// Write the views counted since the last flush; answers how many
    /// products were updated.
    pub async fn flush_views(&self) -> Result<usize> {
        Ok(self.views.flush(&self.db).await?)
    }

    /// Flush views every `period`, forever (spawn it once at start-up).
    pub async fn flush_views_every(self, period: Duration) {
        let mut tick = tokio::time::interval(period.max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.flush_views().await {
                tracing::warn!(error = %e, "could not flush product views; will retry");
            }
        }
    }
}

/// For `PUT` bodies: an absent field is `None`, `null` is `Some(None)`.
fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
