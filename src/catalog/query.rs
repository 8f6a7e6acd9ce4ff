//! What a product list asks for and reads back: the query parameters, the
//! sort, the visibility filter, the cursor, the search terms and the row of
//! a list. Shared by the search itself and the SQL it runs.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::FromRow;
use uuid::Uuid;

use super::model::{CategoryId, Condition, ProductStatus};
use super::product_store::ProductRow;
use crate::error::{Error, Result};
use crate::ids::UserId;

/// Most search terms used from `q`.
const MAX_TERMS: usize = 16;
/// Longest search term used.
const MAX_TERM_CHARS: usize = 64;

/// The order of a product list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Newest first (the default without `q`).
    Newest,
    /// Cheapest start price first.
    PriceAsc,
    /// Dearest start price first.
    PriceDesc,
    /// Best match first (needs `q`; the default with it).
    Relevance,
    /// Products in a live auction, the one ending first first.
    EndingSoon,
}

impl Sort {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Newest => "newest",
            Self::PriceAsc => "price_asc",
            Self::PriceDesc => "price_desc",
            Self::Relevance => "relevance",
            Self::EndingSoon => "ending_soon",
        }
    }
}

/// `GET /products` (and `/products/my-products`) query parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Words to find in the title or description.
    pub q: Option<String>,
    /// A category; its subcategories are included.
    #[param(value_type = Option<String>, format = Uuid)]
    pub category_id: Option<CategoryId>,
    /// Lowest start price (minor units).
    pub min_price: Option<i64>,
    /// Highest start price (minor units).
    pub max_price: Option<i64>,
    /// Only this condition.
    #[param(value_type = Option<Condition>)]
    pub condition: Option<Condition>,
    /// Only this status (default `active`; `draft` and `cancelled` show only the caller's own).
    #[param(value_type = Option<ProductStatus>)]
    pub status: Option<ProductStatus>,
    /// Only this seller's products.
    #[param(value_type = Option<String>, format = Uuid)]
    pub seller_id: Option<UserId>,
    /// Only featured (or only not featured) products.
    pub featured: Option<bool>,
    /// `newest`, `price_asc`, `price_desc`, `relevance` or `ending_soon`.
    #[param(value_type = Option<Sort>)]
    pub sort: Option<Sort>,
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// What a list is restricted to, after visibility rules are applied.
#[derive(Debug, Default)]
pub(super) struct Filter {
    pub status: Option<ProductStatus>,
    pub seller: Option<UserId>,
}

/// The position after the last item of a page.
#[derive(Debug, Deserialize)]
pub(super) struct Cursor {
    /// The sort it belongs to.
    pub s: String,
    /// The last product id.
    pub id: Uuid,
    /// Its start price (price sorts).
    #[serde(default)]
    pub p: Option<i64>,
    /// Its rank's bits (relevance: bits keep the float exact).
    #[serde(default)]
    pub r: Option<u64>,
    /// Its auction's end (ending soon).
    #[serde(default)]
    pub t: Option<DateTime<Utc>>,
}

impl Cursor {
    /// The position after `last` in a list sorted by `sort`.
    pub(super) fn after(last: &ListRow, sort: Sort) -> Self {
        Self {
            s: sort.as_str().to_owned(),
            id: Uuid::from(last.product.id),
            p: matches!(sort, Sort::PriceAsc | Sort::PriceDesc).then_some(last.product.start_price),
            r: last
                .rank
                .filter(|_| sort == Sort::Relevance)
                .map(f64::to_bits),
            t: last.sort_ends_at.filter(|_| sort == Sort::EndingSoon),
        }
    }

    /// The cursor's text (the pagination helper makes it opaque): a JSON
    /// object of the fields that are set.
    pub(super) fn text(&self) -> String {
        let mut json = Map::new();
        json.insert("s".to_owned(), Value::from(self.s.as_str()));
        json.insert("id".to_owned(), Value::from(self.id.to_string()));
        if let Some(p) = self.p {
            json.insert("p".to_owned(), Value::from(p));
        }
        if let Some(r) = self.r {
            json.insert("r".to_owned(), Value::from(r));
        }
        if let Some(t) = self.t {
            json.insert(
                "t".to_owned(),
                Value::from(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            );
        }
        Value::Object(json).to_string()
    }

    /// The cursor in `text`, if it is one of a list sorted by `sort`.
    pub(super) fn parse(text: &str, sort: Sort) -> Result<Self> {
        let invalid = || Error::validation("cursor", "cursor", "is not a cursor of this list");
        let cursor: Self = serde_json::from_str(text).map_err(|_| invalid())?;
        let complete = match sort {
            Sort::Newest => true,
            Sort::PriceAsc | Sort::PriceDesc => cursor.p.is_some(),
            Sort::Relevance => cursor.r.is_some(),
            Sort::EndingSoon => cursor.t.is_some(),
        };
        if cursor.s != sort.as_str() || !complete {
            return Err(invalid());
        }
        Ok(cursor)
    }
}

#[derive(Debug, FromRow)]
pub(super) struct ListRow {
    #[sqlx(flatten)]
    pub product: ProductRow,
    #[sqlx(default)]
    pub rank: Option<f64>,
    #[sqlx(default)]
    pub sort_ends_at: Option<DateTime<Utc>>,
}

/// `q` as search terms: runs of letters and digits, at most 16 of 64 characters.
pub(super) fn terms(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .take(MAX_TERMS)
        .map(|t| {
            t.chars()
                .take(MAX_TERM_CHARS)
                .collect::<String>()
                .to_lowercase()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_keep_words_only() {
        assert_eq!(
            terms(r#"Red "shoes" OR -x* NEAR(a"#),
            ["red", "shoes", "or", "x", "near", "a"]
        );
        assert!(terms("  ()\"*  ").is_empty());
        assert_eq!(terms(&"w ".repeat(40)).len(), MAX_TERMS);
    }

    #[test]
    fn cursors_round_trip_and_belong_to_their_sort() {
        let c = Cursor {
            s: "relevance".into(),
            id: Uuid::now_v7(),
            p: None,
            r: Some(0.1234567891234f64.to_bits()),
            t: None,
        };
        let text = c.text();
        let back = Cursor::parse(&text, Sort::Relevance).unwrap();
        assert_eq!(back.r, c.r);
        assert!(Cursor::parse(&text, Sort::Newest).is_err());
        assert!(Cursor::parse("not a cursor", Sort::Newest).is_err());
        assert!(Cursor::parse(&text, Sort::PriceAsc).is_err());
    }
}
