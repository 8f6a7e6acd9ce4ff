//! Field rules for commerce input. Each failure names the field and the rule.

use crate::error::{Error, Result};

/// The most units of one product in a cart or an order line.
pub const QUANTITY_MAX: i64 = 999;

/// ISO 3166-1 alpha-2 codes, officially assigned.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ \
BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK \
DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW \
GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB \
LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC \
NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC \
SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ \
UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Trimmed text of 1 to `max` characters with no control characters.
pub fn text(field: &'static str, value: &str, max: usize) -> Result<String> {
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
    if value.chars().any(char::is_control) {
        return Err(Error::validation(
            field,
            "no_control_characters",
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// Like [`text`], but blank or absent is `None`.
pub fn optional_text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

/// An ISO 3166-1 alpha-2 code (upper-cased).
pub fn country(value: &str) -> Result<String> {
    let code = value.trim().to_ascii_uppercase();
    if code.len() == 2 && COUNTRIES.split(' ').any(|c| c == code) {
        Ok(code)
    } else {
        Err(Error::validation(
            "country",
            "iso3166_alpha2",
            "must be an ISO 3166-1 alpha-2 country code, e.g. US",
        ))
    }
}

/// Letters, digits, spaces and dashes, 2 to 12 characters.
pub fn postal_code(value: &str) -> Result<String> {
    let value = value.trim().to_owned();
    let ok = (2..=12).contains(&value.chars().count())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-');
    if ok {
        Ok(value)
    } else {
        Err(Error::validation(
            "postal_code",
            "postal_code",
            "must be 2 to 12 letters, digits, spaces or dashes",
        ))
    }
}

/// An optional phone number: an optional `+`, then 7 to 15 digits, with
/// spaces, dashes, dots and parentheses allowed between them.
pub fn phone(value: Option<&str>) -> Result<Option<String>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let body = value.strip_prefix('+').unwrap_or(value);
    let digits = body.chars().filter(char::is_ascii_digit).count();
    let ok = (7..=15).contains(&digits)
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'));
    if ok {
        Ok(Some(value.to_owned()))
    } else {
        Err(Error::validation(
            "phone",
            "phone",
            "must be 7 to 15 digits, optionally starting with +",
        ))
    }
}

/// A quantity of 1 to [`QUANTITY_MAX`].
pub fn quantity(value: i64) -> Result<i64> {
    if (1..=QUANTITY_MAX).contains(&value) {
        Ok(value)
    } else {
        Err(Error::validation(
            "quantity",
            "range",
            format!("must be between 1 and {QUANTITY_MAX}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(e: Error) -> String {
        match e {
            Error::Validation { field, rule, .. } => format!("{field}:{rule}"),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn fields_name_their_rule() {
        assert_eq!(country("us").unwrap(), "US");
        assert_eq!(rule(country("XX").unwrap_err()), "country:iso3166_alpha2");
        assert_eq!(rule(country("USA").unwrap_err()), "country:iso3166_alpha2");
        assert_eq!(postal_code(" 94105 ").unwrap(), "94105");
        assert_eq!(
            rule(postal_code("9").unwrap_err()),
            "postal_code:postal_code"
        );
        assert_eq!(
            phone(Some("+1 (415) 555-0100")).unwrap().unwrap(),
            "+1 (415) 555-0100"
        );
        assert_eq!(rule(phone(Some("call me")).unwrap_err()), "phone:phone");
        assert_eq!(phone(Some("  ")).unwrap(), None);
        assert_eq!(rule(text("city", "  ", 10).unwrap_err()), "city:required");
        assert_eq!(rule(quantity(0).unwrap_err()), "quantity:range");
        assert_eq!(rule(quantity(1000).unwrap_err()), "quantity:range");
    }
}
