//! Cursor pagination: every list answers `{"items":[...],"next_cursor":...}`
//! and takes `limit` and `cursor`. Cursors are opaque to clients.

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
        self.cursor()?
            .map(|c| uuid::Uuid::parse_str(&c).map_err(|_| bad_cursor()))
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
}
