//! Field rules for catalog input. Each failure names the field and the rule.

use blytz_actors::domain::{Currency, MAX_AMOUNT};
use serde_json::Value;

use super::model::Image;
use crate::error::{Error, Result};

/// Longest product title.
pub const TITLE_MAX: usize = 200;
/// Longest product description.
pub const DESCRIPTION_MAX: usize = 10_000;
/// Longest category name.
pub const NAME_MAX: usize = 100;
/// Longest slug.
pub const SLUG_MAX: usize = 100;
/// Most pictures per product.
pub const IMAGES_MAX: usize = 20;
/// Longest URL.
pub const URL_MAX: usize = 2048;
/// Largest `specifications` or `shipping_info` object, serialized.
pub const JSON_OBJECT_MAX_BYTES: usize = 16 * 1024;
/// Deepest nesting of a `specifications` or `shipping_info` object.
pub const JSON_OBJECT_MAX_DEPTH: usize = 5;

/// Trimmed text of 1 to `max` characters with no control characters
/// (newlines and tabs allowed when `multiline`).
pub fn text(field: &'static str, value: &str, max: usize, multiline: bool) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::validation(field, "required", "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(Error::validation(
            field,
            "max_length",
            format!("must be at most {max} characters"),
        ));
    }
    let bad = |c: char| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'));
    if value.chars().any(bad) {
        return Err(Error::validation(
            field,
            "no_control_chars",
            "must not contain control characters",
        ));
    }
    if value
        .chars()
        .any(blytz_actors::chat::rules::is_invisible_format)
    {
        return Err(Error::validation(
            field,
            "no_invisible_chars",
            "must not contain direction overrides or zero-width characters",
        ));
    }
    Ok(value.to_owned())
}

/// An ISO 4217 code: three upper-case letters.
pub fn currency(value: &str) -> Result<String> {
    value
        .parse::<Currency>()
        .map(|c| c.as_str().to_owned())
        .map_err(|_| {
            Error::validation(
                "currency",
                "currency",
                "must be an ISO 4217 code of three upper-case letters, e.g. USD",
            )
        })
}

/// An amount in minor units: at least `min`, at most the engine's maximum.
pub fn amount(field: &'static str, value: i64, min: i64) -> Result<i64> {
    if value < min {
        return Err(Error::validation(
            field,
            "min",
            format!("must be at least {min} (minor units)"),
        ));
    }
    if value > MAX_AMOUNT {
        return Err(Error::validation(
            field,
            "max",
            format!("must be at most {MAX_AMOUNT} (minor units)"),
        ));
    }
    Ok(value)
}

/// The prices of a product together: start at least 1; a reserve at least
/// the start; a buy-now price above the start and not below the reserve.
pub fn prices(start: i64, reserve: Option<i64>, buy_now: Option<i64>) -> Result<()> {
    amount("start_price", start, 1)?;
    if let Some(reserve) = reserve {
        amount("reserve_price", reserve, start)?;
    }
    if let Some(buy_now) = buy_now {
        amount("buy_now_price", buy_now, start.saturating_add(1))?;
        if reserve.is_some_and(|reserve| buy_now < reserve) {
            return Err(Error::validation(
                "buy_now_price",
                "at_least_reserve",
                "must not be below the reserve price",
            ));
        }
    }
    Ok(())
}

/// An `http(s)` URL (or a path on this server, starting with `/`), no
/// whitespace, at most 2048 characters.
pub fn url(field: &'static str, value: &str) -> Result<String> {
    let value = value.trim();
    let ok = (value.starts_with("https://")
        || value.starts_with("http://")
        || (value.starts_with('/') && !value.starts_with("//")))
        && value.len() <= URL_MAX
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(Error::validation(
            field,
            "url",
            "must be an http or https URL",
        ));
    }
    Ok(value.to_owned())
}

/// Pictures: at most [`IMAGES_MAX`], each with valid URLs.
pub fn images(images: Vec<Image>) -> Result<Vec<Image>> {
    if images.len() > IMAGES_MAX {
        return Err(Error::validation(
            "images",
            "max_items",
            format!("at most {IMAGES_MAX} images"),
        ));
    }
    images
        .into_iter()
        .map(|image| {
            Ok(Image {
                url: url("images", &image.url)?,
                thumbnail_url: image
                    .thumbnail_url
                    .as_deref()
                    .map(|u| url("images", u))
                    .transpose()?,
                ..image
            })
        })
        .collect()
}

/// A JSON object of bounded size and depth (`null` becomes `{}`).
pub fn json_object(field: &'static str, value: Value) -> Result<Value> {
    let value = match value {
        Value::Null => return Ok(Value::Object(Default::default())),
        Value::Object(_) => value,
        _ => return Err(Error::validation(field, "object", "must be a JSON object")),
    };
    if depth(&value) > JSON_OBJECT_MAX_DEPTH {
        return Err(Error::validation(
            field,
            "max_depth",
            format!("must nest at most {JSON_OBJECT_MAX_DEPTH} levels deep"),
        ));
    }
    if has_nul(&value) {
        // PostgreSQL's JSONB cannot hold `\u0000`.
        return Err(Error::validation(
            field,
            "no_nul",
            "must not contain NUL characters",
        ));
    }
    let size = serde_json::to_vec(&value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > JSON_OBJECT_MAX_BYTES {
        return Err(Error::validation(
            field,
            "max_size",
            format!("must be at most {JSON_OBJECT_MAX_BYTES} bytes as JSON"),
        ));
    }
    Ok(value)
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A slug: 1 to 100 of `a-z`, `0-9` and single inner hyphens.
pub fn slug(value: &str) -> Result<String> {
    let value = value.trim();
    let ok = !value.is_empty()
        && value.len() <= SLUG_MAX
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
        && !value.contains("--");
    if !ok {
        return Err(Error::validation(
            "slug",
            "slug",
            "must be lower-case letters, digits and single hyphens, e.g. trading-cards",
        ));
    }
    Ok(value.to_owned())
}

/// A slug made from a name: ASCII letters and digits kept (lower-cased),
/// every other run of characters becomes one hyphen.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    slug.chars()
        .take(SLUG_MAX)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn price_rules() {
        assert!(prices(100, None, None).is_ok());
        assert!(prices(100, Some(100), Some(101)).is_ok());
        assert_eq!(
            prices(0, None, None).unwrap_err().details()["field"],
            "start_price"
        );
        assert!(prices(100, Some(99), None).is_err());
        assert!(prices(100, None, Some(100)).is_err());
        assert!(prices(100, Some(500), Some(400)).is_err());
        assert!(prices(MAX_AMOUNT + 1, None, None).is_err());
    }

    #[test]
    fn json_objects_are_bounded() {
        assert_eq!(json_object("x", Value::Null).unwrap(), json!({}));
        assert!(json_object("x", json!([1])).is_err());
        assert!(json_object("x", json!({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}})).is_err());
        assert!(json_object("x", json!({"a": "x".repeat(JSON_OBJECT_MAX_BYTES)})).is_err());
        assert!(json_object("x", json!({"brand": "Acme", "size": {"w": 1}})).is_ok());
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Trading Cards & Comics!"), "trading-cards-comics");
        assert_eq!(slugify("  ***  "), "");
        assert!(slug("trading-cards").is_ok());
        for bad in ["", "Trading", "a--b", "-a", "a b", "é"] {
            assert!(slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_and_text() {
        assert!(url("video_url", "https://v.example.com/x.mp4").is_ok());
        assert!(url("video_url", "/media/products/a.jpg").is_ok());
        for bad in [
            "javascript:alert(1)",
            "//evil.com/x",
            "https://a b",
            "ftp://x",
        ] {
            assert!(url("video_url", bad).is_err(), "{bad}");
        }
        assert!(text("title", "  ", 10, false).is_err());
        assert!(text("title", "a\nb", 10, false).is_err());
        assert_eq!(text("description", " a\nb ", 10, true).unwrap(), "a\nb");
    }
}
