//! Listing and full-text search of products: filters, sorts and keyset
//! pagination with an opaque cursor.
//!
//! Every sort ends with the product id, so the order is total and a cursor
//! (the sort key and id of the last item) continues exactly after it: no item
//! is repeated or skipped between pages of an unchanged list. Relevance is
//! `1 + text rank` when the title matches every term and `text rank` alone
//! otherwise, the text rank lying in `[0, 1)`: a title match always ranks
//! above a description-only match.

use super::model::{Product, ProductStatus};
use super::query::{Cursor, Filter, terms};
use super::search_sql::{build, fetch};
use super::{Caller, Catalog};
use crate::error::{Error, Result};
use crate::pagination::{Page, Paged, fetch_size};

pub use super::query::{ProductQuery, Sort};

impl Catalog {
    /// A page of products as `viewer` may see them: `active` ones unless
    /// `status` says otherwise; drafts and cancelled ones only the viewer's
    /// own (an admin's: everyone's).
    #[tracing::instrument(skip(self))]
    pub async fn list_products(
        &self,
        viewer: Option<Caller>,
        query: ProductQuery,
    ) -> Result<Paged<Product>> {
        let status = query.status.unwrap_or(ProductStatus::Active);
        let mut filter = Filter {
            status: Some(status),
            seller: query.seller_id,
        };
        if !status.is_public() && !viewer.is_some_and(|v| v.is_admin()) {
            match viewer {
                Some(v) if query.seller_id.is_none_or(|s| s == v.id) => {
                    filter.seller = Some(v.id);
                }
                _ => {
                    return Ok(Paged {
                        items: Vec::new(),
                        next_cursor: None,
                    });
                }
            }
        }
        self.search(viewer, query, filter).await
    }

    /// A page of the caller's own products, in every status unless `status` is given.
    #[tracing::instrument(skip(self))]
    pub async fn my_products(&self, caller: Caller, query: ProductQuery) -> Result<Paged<Product>> {
        let filter = Filter {
            status: query.status,
            seller: Some(caller.id),
        };
        self.search(Some(caller), query, filter).await
    }

    async fn search(
        &self,
        viewer: Option<Caller>,
        query: ProductQuery,
        filter: Filter,
    ) -> Result<Paged<Product>> {
        let page = Page {
            limit: query.limit,
            cursor: query.cursor.clone(),
        };
        let limit = page.limit()?;
        if let (Some(min), Some(max)) = (query.min_price, query.max_price)
            && min > max
        {
            return Err(Error::validation(
                "max_price",
                "at_least_min_price",
                "must not be below min_price",
            ));
        }
        let terms = query.q.as_deref().map(terms).unwrap_or_default();
        let sort = match query.sort {
            Some(Sort::Relevance) if terms.is_empty() => {
                return Err(Error::validation(
                    "sort",
                    "requires_q",
                    "relevance needs words to search for in q",
                ));
            }
            Some(sort) => sort,
            None if terms.is_empty() => Sort::Newest,
            None => Sort::Relevance,
        };
        let cursor = page
            .cursor()?
            .map(|text| Cursor::parse(&text, sort))
            .transpose()?;

        let sql = build(
            self.db.backend(),
            &query,
            &filter,
            &terms,
            sort,
            cursor.as_ref(),
            fetch_size(limit),
        );
        let rows = fetch(&self.db, &sql).await?;
        let rows = Paged::from_rows(rows, limit, |last| Cursor::after(last, sort).text());
        let items = rows
            .items
            .iter()
            .map(|row| {
                let full = viewer.is_some_and(|v| v.may_manage(row.product.seller_id));
                row.product
                    .to_product(full, self.views.pending(row.product.id))
                    .map_err(Error::from)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Paged {
            items,
            next_cursor: rows.next_cursor,
        })
    }
}
