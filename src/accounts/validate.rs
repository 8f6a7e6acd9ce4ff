//! Field rules for account input. Each failure names the field and the rule.

use std::str::FromStr;

use email_address::EmailAddress;

use crate::error::{Error, Result};

/// Shortest password accepted.
pub const PASSWORD_MIN: usize = 8;
/// Longest password accepted (bounds the hashing work).
pub const PASSWORD_MAX: usize = 128;
/// Longest display name.
pub const DISPLAY_NAME_MAX: usize = 50;

/// A well-formed email, trimmed and lower-cased.
pub fn email(text: &str) -> Result<String> {
    let text = text.trim();
    if text.len() > 254 || EmailAddress::from_str(text).is_err() || !text.contains('.') {
        return Err(Error::validation(
            "email",
            "email",
            "must be a valid email address",
        ));
    }
    Ok(text.to_lowercase())
}

/// A password of 8 to 128 characters.
pub fn password(field: &'static str, text: &str) -> Result<()> {
    let len = text.chars().count();
    if len < PASSWORD_MIN {
        return Err(Error::validation(
            field,
            "min_length",
            format!("must be at least {PASSWORD_MIN} characters"),
        ));
    }
    if len > PASSWORD_MAX {
        return Err(Error::validation(
            field,
            "max_length",
            format!("must be at most {PASSWORD_MAX} characters"),
        ));
    }
    Ok(())
}

/// A display name: trimmed, 1 to 50 characters, no control characters.
pub fn display_name(text: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::validation(
            "display_name",
            "required",
            "must not be empty",
        ));
    }
    if text.chars().count() > DISPLAY_NAME_MAX {
        return Err(Error::validation(
            "display_name",
            "max_length",
            format!("must be at most {DISPLAY_NAME_MAX} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(Error::validation(
            "display_name",
            "no_control_chars",
            "must not contain control characters",
        ));
    }
    if text
        .chars()
        .any(blytz_actors::chat::rules::is_invisible_format)
    {
        return Err(Error::validation(
            "display_name",
            "no_invisible_chars",
            "must not contain direction overrides or zero-width characters",
        ));
    }
    Ok(text.to_owned())
}

/// An optional `http(s)` URL of at most 2048 characters.
pub fn avatar_url(text: &str) -> Result<String> {
    let text = text.trim();
    let ok = (text.starts_with("https://") || text.starts_with("http://"))
        && text.len() <= 2048
        && !text.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(Error::validation(
            "avatar_url",
            "url",
            "must be an http or https URL",
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email(" Ann@Example.COM ").unwrap(), "ann@example.com");
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann example@x.com",
            "ann@localhost",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(password("password", "short").is_err());
        assert!(password("password", "long enough").is_ok());
        assert!(password("password", &"x".repeat(129)).is_err());
    }

    #[test]
    fn display_names() {
        assert_eq!(display_name("  Ann  ").unwrap(), "Ann");
        assert!(display_name("   ").is_err());
        assert!(display_name("a\u{7}b").is_err());
        assert!(display_name(&"x".repeat(51)).is_err());
    }
}
