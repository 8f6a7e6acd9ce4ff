//! Catalog types as the API shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{ProductId, UserId};

blytz_actors::id_type!(
    /// Identifies a category (a catalog-only id, UUID v7).
    CategoryId
);

/// A category of the catalog tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Category {
    /// The category id.
    #[schema(value_type = String, format = Uuid)]
    pub id: CategoryId,
    /// The name shown to people.
    pub name: String,
    /// Unique URL name: lower-case letters, digits and hyphens.
    pub slug: String,
    /// The parent, or `null` for a top-level category.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub parent_id: Option<CategoryId>,
    /// Position among its siblings (smaller first).
    pub sort_order: i32,
    /// Whether sellers may file products under it and buyers see it.
    pub active: bool,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::time::rfc3339_ms")]
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::time::rfc3339_ms")]
    pub updated_at: DateTime<Utc>,
}

/// A category with its subcategories, for the tree view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CategoryNode {
    /// The category.
    #[serde(flatten)]
    pub category: Category,
    /// Its subcategories, in display order.
    #[schema(no_recursion)]
    pub children: Vec<CategoryNode>,
}

/// The state of a product listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProductStatus {
    /// Being prepared; only its seller sees it.
    Draft,
    /// Listed: everyone sees it.
    Active,
    /// Sold: final.
    Sold,
    /// Withdrawn; may go back to draft.
    Cancelled,
}

impl ProductStatus {
    /// Every status.
    pub const ALL: [Self; 4] = [Self::Draft, Self::Active, Self::Sold, Self::Cancelled];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Sold => "sold",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parse the stored and wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether a product may go from `self` to `to`. Staying put is always allowed.
    ///
    /// `draft -> active | cancelled`, `active -> draft | sold | cancelled`,
    /// `cancelled -> draft`; `sold` is final.
    pub fn can_become(self, to: Self) -> bool {
        use ProductStatus::{Active, Cancelled, Draft, Sold};
        self == to
            || matches!(
                (self, to),
                (Draft, Active | Cancelled)
                    | (Active, Draft | Sold | Cancelled)
                    | (Cancelled, Draft)
            )
    }

    /// Whether anyone may see a product in this status (drafts and cancelled
    /// listings are seen only by their seller and admins).
    pub fn is_public(self) -> bool {
        matches!(self, Self::Active | Self::Sold)
    }
}

/// The condition of the item for sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Never used, in its original packaging.
    New,
    /// Used once or twice, no visible wear.
    LikeNew,
    /// Used, in working order.
    Used,
    /// Restored to working order by the maker or a professional.
    Refurbished,
    /// Not working; sold for parts or repair.
    ForParts,
}

impl Condition {
    /// Every condition.
    pub const ALL: [Self; 5] = [
        Self::New,
        Self::LikeNew,
        Self::Used,
        Self::Refurbished,
        Self::ForParts,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::LikeNew => "like_new",
            Self::Used => "used",
            Self::Refurbished => "refurbished",
            Self::ForParts => "for_parts",
        }
    }

    /// Parse the stored and wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// One picture of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Image {
    /// Where the picture is served.
    pub url: String,
    /// A small version, when the picture was uploaded here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    /// Width in pixels, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// A product as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Product {
    /// The product id.
    #[schema(value_type = String, format = Uuid)]
    pub id: ProductId,
    /// The seller who lists it.
    #[schema(value_type = String, format = Uuid)]
    pub seller_id: UserId,
    /// Its category, if any.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub category_id: Option<CategoryId>,
    /// Short title.
    pub title: String,
    /// Longer description.
    pub description: String,
    /// The item's condition.
    pub condition: Condition,
    /// ISO 4217 code of every price.
    pub currency: String,
    /// Opening price, in minor units.
    pub start_price: i64,
    /// The hidden reserve, in minor units: shown only to the seller and admins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserve_price: Option<i64>,
    /// Whether the product has a reserve.
    pub has_reserve: bool,
    /// Price to buy at once, in minor units.
    pub buy_now_price: Option<i64>,
    /// Pictures, the first is the cover.
    pub images: Vec<Image>,
    /// A video URL.
    pub video_url: Option<String>,
    /// Free-form specifications (a JSON object).
    #[schema(value_type = Object)]
    pub specifications: Value,
    /// Free-form shipping information (a JSON object).
    #[schema(value_type = Object)]
    pub shipping_info: Value,
    /// Listing state.
    pub status: ProductStatus,
    /// Chosen by an admin for the front page.
    pub featured: bool,
    /// How often the product was viewed.
    pub view_count: i64,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::time::rfc3339_ms")]
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::time::rfc3339_ms")]
    pub updated_at: DateTime<Utc>,
}

/// One page of products, as the OpenAPI document describes it: the lists
/// answer [`Paged<Product>`](crate::pagination::Paged), which has this shape.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProductPage {
    /// The products of this page.
    pub items: Vec<Product>,
    /// Pass as `cursor` for the next page; `null` at the end.
    pub next_cursor: Option<String>,
}

/// Every category, as a tree or a flat list (never paged: `next_cursor` is always `null`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryList {
    /// Top-level categories with their children, or every category in display order.
    pub items: Vec<CategoryItem>,
    /// Always `null`: the whole list fits in one answer.
    pub next_cursor: Option<String>,
}

/// An entry of a [`CategoryList`].
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum CategoryItem {
    /// In the tree view.
    Node(CategoryNode),
    /// In the flat view.
    Flat(Category),
}

#[cfg(test)]
mod tests {
    use super::ProductStatus::{self, Active, Cancelled, Draft, Sold};

    #[test]
    fn status_transitions() {
        assert!(Draft.can_become(Active));
        assert!(Active.can_become(Sold));
        assert!(Cancelled.can_become(Draft));
        assert!(Active.can_become(Active));
        assert!(!Sold.can_become(Active));
        assert!(!Sold.can_become(Draft));
        assert!(!Draft.can_become(Sold));
        assert!(!Cancelled.can_become(Active));
        for s in ProductStatus::ALL {
            assert_eq!(ProductStatus::parse(s.as_str()), Some(s));
        }
    }
}
