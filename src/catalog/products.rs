//! Products: sellers create, change and delete their own; everyone reads
//! listed ones.

use crate::Code;
use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::types::Json;
use uuid::Uuid;

use super::model::{CategoryId, Condition, Image, Product, ProductStatus};
use super::product_store::{self as store, ProductRow};
use super::{Caller, Catalog, double_option, validate};
use crate::error::{Error, Result};
use crate::ids::ProductId;

/// A picture in a request: a URL, or an object with `url` and optional
/// `thumbnail_url`, `width`, `height`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ImageInput {
    /// Just the URL.
    Url(String),
    /// The full description.
    Image(Image),
}

impl From<ImageInput> for Image {
    fn from(input: ImageInput) -> Self {
        match input {
            ImageInput::Url(url) => Image {
                url,
                thumbnail_url: None,
                width: None,
                height: None,
            },
            ImageInput::Image(image) => image,
        }
    }
}

/// `POST /products` input. Prices are integer minor units of `currency`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    /// 1 to 200 characters.
    pub title: String,
    /// 1 to 10 000 characters.
    pub description: String,
    /// The item's condition.
    pub condition: Condition,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
    /// Opening price, at least 1.
    pub start_price: i64,
    /// An active category.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub category_id: Option<CategoryId>,
    /// Above the start price and not below the reserve.
    pub buy_now_price: Option<i64>,
    /// Hidden minimum, at least the start price.
    pub reserve_price: Option<i64>,
    /// Up to 20 pictures.
    pub images: Option<Vec<ImageInput>>,
    /// An http(s) URL.
    pub video_url: Option<String>,
    /// A JSON object of at most 16 KiB.
    #[schema(value_type = Option<Object>)]
    pub specifications: Option<Value>,
    /// A JSON object of at most 16 KiB.
    #[schema(value_type = Option<Object>)]
    pub shipping_info: Option<Value>,
    /// `draft` (the default) or `active`.
    pub status: Option<ProductStatus>,
}

/// `PUT /products/{id}` input: absent fields stay as they are; `null`
/// clears an optional one.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductUpdate {
    /// A new title.
    pub title: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new condition.
    pub condition: Option<Condition>,
    /// A new currency (a repricing).
    pub currency: Option<String>,
    /// A new opening price (a repricing).
    pub start_price: Option<i64>,
    /// A new category, or `null` for none.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub category_id: Option<Option<CategoryId>>,
    /// A new buy-now price, or `null` for none (a repricing).
    #[serde(default, deserialize_with = "double_option")]
    pub buy_now_price: Option<Option<i64>>,
    /// A new reserve, or `null` for none (a repricing).
    #[serde(default, deserialize_with = "double_option")]
    pub reserve_price: Option<Option<i64>>,
    /// The new list of pictures.
    pub images: Option<Vec<ImageInput>>,
    /// A new video URL, or `null` for none.
    #[serde(default, deserialize_with = "double_option")]
    pub video_url: Option<Option<String>>,
    /// New specifications.
    #[schema(value_type = Option<Object>)]
    pub specifications: Option<Value>,
    /// New shipping information.
    #[schema(value_type = Option<Object>)]
    pub shipping_info: Option<Value>,
    /// A new status; only legal transitions are accepted.
    pub status: Option<ProductStatus>,
    /// Feature it (admins only).
    pub featured: Option<bool>,
}

impl Catalog {
    /// List a new product for `caller` (a seller or admin): a draft unless
    /// the input asks for `active`.
    #[tracing::instrument(skip(self, input), fields(seller = %caller.id))]
    pub async fn create_product(&self, caller: Caller, input: NewProduct) -> Result<Product> {
        if !caller.role.can_sell() {
            return Err(Error::forbidden("only sellers may list products"));
        }
        let status = input.status.unwrap_or(ProductStatus::Draft);
        if !matches!(status, ProductStatus::Draft | ProductStatus::Active) {
            return Err(Error::validation(
                "status",
                "one_of",
                "a new product is draft or active",
            ));
        }
        if let Some(category) = input.category_id {
            self.ensure_active_category(category).await?;
        }
        let currency = validate::currency(&input.currency)?;
        validate::prices(input.start_price, input.reserve_price, input.buy_now_price)?;
        let images = input.images.unwrap_or_default();
        let now = crate::time::now();
        let row = ProductRow {
            id: ProductId::new(),
            seller_id: caller.id,
            category_id: input.category_id.map(Uuid::from),
            title: validate::text("title", &input.title, validate::TITLE_MAX, false)?,
            description: validate::text(
                "description",
                &input.description,
                validate::DESCRIPTION_MAX,
                true,
            )?,
            condition: input.condition.as_str().to_owned(),
            currency,
            start_price: input.start_price,
            reserve_price: input.reserve_price,
            buy_now_price: input.buy_now_price,
            images: Json(validate::images(
                images.into_iter().map(Image::from).collect(),
            )?),
            video_url: input
                .video_url
                .as_deref()
                .map(|u| validate::url("video_url", u))
                .transpose()?,
            specifications: Json(object_or_empty("specifications", input.specifications)?),
            shipping_info: Json(object_or_empty("shipping_info", input.shipping_info)?),
            status: status.as_str().to_owned(),
            featured: false,
            view_count: 0,
            version: 0,
            created_at: now,
            updated_at: now,
        };
        store::insert(&self.db, &row).await?;
        Ok(row.to_product(true, 0)?)
    }

    /// A product as `viewer` may see it: drafts and cancelled listings only
    /// for their seller and admins (404 for anyone else). A view by someone
    /// other than the seller is counted.
    #[tracing::instrument(skip(self))]
    pub async fn product(&self, viewer: Option<Caller>, id: ProductId) -> Result<Product> {
        let row = self.product_row(id).await?;
        let full = viewer.is_some_and(|v| v.may_manage(row.seller_id));
        if !full && !row.status()?.is_public() {
            return Err(Error::NotFound { what: "product" });
        }
        if viewer.is_none_or(|v| v.id != row.seller_id) {
            self.views.record(id);
        }
        Ok(row.to_product(full, self.views.pending(id))?)
    }

    /// The product a lot puts up, as anyone may see it (no reserve amount),
    /// whatever its listing status: once auctioned it is public. Not counted
    /// as a view.
    pub async fn lot_product(&self, id: ProductId) -> Result<Product> {
        let row = self.product_row(id).await?;
        Ok(row.to_product(false, self.views.pending(id))?)
    }

    /// The product an auction is about to sell, checked: it exists, `caller`
    /// is its seller or an admin (403), it is a draft or active listing (409
    /// `product_unavailable`), and no other open auction holds it (409
    /// `product_in_auction`).
    pub async fn product_for_auction(&self, caller: Caller, id: ProductId) -> Result<Product> {
        let row = self.product_row(id).await?;
        Error::unless_may_manage(caller, row.seller_id)?;
        if !matches!(row.status()?, ProductStatus::Draft | ProductStatus::Active) {
            return Err(Error::refused(
                Code::ProductUnavailable,
                "only a draft or active product can be auctioned",
            ));
        }
        if store::in_live_auction(&self.db, id).await? {
            return Err(in_auction("auctioned again"));
        }
        Ok(row.to_product(true, self.views.pending(id))?)
    }

    /// Change a product (its seller or an admin). Illegal status changes are
    /// 409 `invalid_transition`; a repricing or deletion while an auction
    /// holds the product is 409 `product_in_auction`.
    #[tracing::instrument(skip(self, input), fields(caller = %caller.id))]
    pub async fn update_product(
        &self,
        caller: Caller,
        id: ProductId,
        input: ProductUpdate,
    ) -> Result<Product> {
        let old = self.product_row(id).await?;
        Error::unless_may_manage(caller, old.seller_id)?;
        let mut row = old.clone();
        if let Some(featured) = input.featured {
            if featured != row.featured && !caller.is_admin() {
                return Err(Error::forbidden("only admins may feature products"));
            }
            row.featured = featured;
        }
        if let Some(to) = input.status {
            let from = old.status()?;
            if !from.can_become(to) {
                let mut details = Map::new();
                details.insert("from".into(), Value::from(from.as_str()));
                details.insert("to".into(), Value::from(to.as_str()));
                return Err(Error::Refused {
                    code: Code::InvalidTransition,
                    message: format!("a {} product cannot become {}", from.as_str(), to.as_str())
                        .into(),
                    details,
                });
            }
            row.status = to.as_str().to_owned();
        }
        if let Some(title) = &input.title {
            row.title = validate::text("title", title, validate::TITLE_MAX, false)?;
        }
        if let Some(description) = &input.description {
            row.description =
                validate::text("description", description, validate::DESCRIPTION_MAX, true)?;
        }
        if let Some(condition) = input.condition {
            row.condition = condition.as_str().to_owned();
        }
        if let Some(category) = input.category_id {
            if let Some(category) = category.filter(|c| Some(Uuid::from(*c)) != old.category_id) {
                self.ensure_active_category(category).await?;
            }
            row.category_id = category.map(Uuid::from);
        }
        if let Some(currency) = &input.currency {
            row.currency = validate::currency(currency)?;
        }
        if let Some(start) = input.start_price {
            row.start_price = start;
        }
        if let Some(reserve) = input.reserve_price {
            row.reserve_price = reserve;
        }
        if let Some(buy_now) = input.buy_now_price {
            row.buy_now_price = buy_now;
        }
        validate::prices(row.start_price, row.reserve_price, row.buy_now_price)?;
        if let Some(images) = input.images {
            row.images = Json(validate::images(
                images.into_iter().map(Image::from).collect(),
            )?);
        }
        if let Some(video) = &input.video_url {
            row.video_url = video
                .as_deref()
                .map(|u| validate::url("video_url", u))
                .transpose()?;
        }
        if let Some(specs) = input.specifications {
            row.specifications = Json(validate::json_object("specifications", specs)?);
        }
        if let Some(shipping) = input.shipping_info {
            row.shipping_info = Json(validate::json_object("shipping_info", shipping)?);
        }
        let repriced = row.currency != old.currency
            || row.start_price != old.start_price
            || row.reserve_price != old.reserve_price
            || row.buy_now_price != old.buy_now_price;
        if repriced && store::in_live_auction(&self.db, id).await? {
            return Err(in_auction("repriced"));
        }
        row.version = old.version + 1;
        row.updated_at = crate::time::now();
        if !store::update(&self.db, &row, repriced).await? {
            return Err(self.explain_refused_write(id, repriced, "repriced").await);
        }
        Ok(row.to_product(true, self.views.pending(id))?)
    }

    /// Delete a product (its seller or an admin). It disappears from every
    /// list; the row stays for the orders and auctions that name it.
    #[tracing::instrument(skip(self), fields(caller = %caller.id))]
    pub async fn delete_product(&self, caller: Caller, id: ProductId) -> Result<()> {
        let row = self.product_row(id).await?;
        Error::unless_may_manage(caller, row.seller_id)?;
        if store::soft_delete(&self.db, id, crate::time::now()).await? {
            Ok(())
        } else {
            Err(self.explain_refused_write(id, true, "deleted").await)
        }
    }

    /// A product that is not deleted, or 404.
    pub(super) async fn product_row(&self, id: ProductId) -> Result<ProductRow> {
        store::by_id(&self.db, id)
            .await?
            .ok_or(Error::NotFound { what: "product" })
    }

    /// Why a guarded write changed nothing: the product is gone, an auction
    /// holds it, or someone else changed it first.
    pub(super) async fn explain_refused_write(
        &self,
        id: ProductId,
        guarded: bool,
        action: &'static str,
    ) -> Error {
        match store::by_id(&self.db, id).await {
            Ok(None) => Error::NotFound { what: "product" },
            Ok(Some(_)) if guarded => match store::in_live_auction(&self.db, id).await {
                Ok(true) => in_auction(action),
                Ok(false) => concurrent_update(),
                Err(e) => e.into(),
            },
            Ok(Some(_)) => concurrent_update(),
            Err(e) => e.into(),
        }
    }
}

fn object_or_empty(field: &'static str, value: Option<Value>) -> Result<Value> {
    validate::json_object(field, value.unwrap_or(Value::Null))
}

fn in_auction(action: &'static str) -> Error {
    Error::refused(
        Code::ProductInAuction,
        format!("the product is in a scheduled or live auction and cannot be {action}"),
    )
}

pub(super) fn concurrent_update() -> Error {
    Error::refused(
        Code::ConcurrentUpdate,
        "the product was changed by another request; read it again and retry",
    )
}
