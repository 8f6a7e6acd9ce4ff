//! Cursor pagination: every list answers `{"items":[...],"next_cursor":...}`
//! and takes `limit` and `cursor`. Cursors are opaque to clients.
//!
//! Every list works the same way: it reads [`Page::limit`] and its cursor,
//! fetches [`fetch_size`] rows (one more than the page, to learn whether
//! another page follows) and hands them to [`Paged::from_rows`], which trims
//! the extra row and makes the next cursor from the last row kept.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The default page size.
pub const DEFAULT_LIMIT: u32 = 20;
/// The largest page size.
pub const MAX_LIMIT: u32 = 100;

/// `limit` and `cursor` from a query string.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct Page {
    /// Items per page (1 to 100, default 20).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl Page {
    /// The page size, validated.
    pub fn limit(&self) -> Result<u32> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(Error::validation(
                "limit",
                "range",
                format!("must be between 1 and {MAX_LIMIT}"),
            )),
        }
    }

    /// The decoded cursor as an id (the lists that page by UUID v7 ids).
    pub fn uuid_cursor(&self) -> Result<Option<uuid::Uuid>> {
        self.cursor_as()
    }

    /// The decoded cursor parsed as a `T` (an id, a sequence number, ...).
    pub fn cursor_as<T: FromStr>(&self) -> Result<Option<T>> {
        self.cursor()?
            .map(|c| c.parse().map_err(|_| bad_cursor()))
            .transpose()
    }

    /// The decoded cursor text, if any.
    pub fn cursor(&self) -> Result<Option<String>> {
        self.cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(decode_cursor)
            .transpose()
    }
}

/// A list page as the API answers it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Paged<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null at the end.
    #[schema(required)]
    pub next_cursor: Option<String>,
}

impl<T> Paged<T> {
    /// The page of a list from the rows its query returned with
    /// `LIMIT` [`fetch_size`]`(limit)`: at most `limit` items, and, when a
    /// further row came back, the cursor made from `key` of the last item
    /// kept (the text the next query continues after).
    pub fn from_rows(mut rows: Vec<T>, limit: u32, key: impl FnOnce(&T) -> String) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| encode_cursor(&key(last)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }

    /// The same page with each item converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// The rows a list fetches for a page of `limit`: one more, so that
/// [`Paged::from_rows`] knows whether another page follows.
pub fn fetch_size(limit: u32) -> i64 {
    i64::from(limit) + 1
}

/// Make an opaque cursor from its text.
pub fn encode_cursor(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<String> {
    URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(bad_cursor)
}

fn bad_cursor() -> Error {
    Error::validation("cursor", "cursor", "is not a cursor this API issued")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let page = Page {
            limit: None,
            cursor: Some(encode_cursor("42")),
        };
        assert_eq!(page.cursor().unwrap().as_deref(), Some("42"));
        assert_eq!(page.limit().unwrap(), DEFAULT_LIMIT);
        let bad = Page {
            limit: Some(0),
            cursor: Some("%%%".into()),
        };
        assert!(bad.cursor().is_err());
        assert!(bad.limit().is_err());
    }

    #[test]
    fn rows_beyond_the_limit_become_the_next_cursor() {
        let page = Paged::from_rows(vec![5, 4, 3], 2, u32::to_string);
        assert_eq!(page.items, [5, 4]);
        let next = Page {
            limit: Some(2),
            cursor: page.next_cursor,
        };
        assert_eq!(next.cursor_as::<u32>().unwrap(), Some(4));
        let last = Paged::from_rows(vec![2, 1], 2, u32::to_string);
        assert_eq!(last.items, [2, 1]);
        assert_eq!(last.next_cursor, None);
        assert_eq!(fetch_size(2), 3);
    }
}
