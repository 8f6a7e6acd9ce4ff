//! Money: integer minor units with an ISO 4217 currency code. Never floats.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The largest amount (in minor units) the engine accepts anywhere:
/// 10^15 minor units, far above any lot, far below `i64::MAX`, so sums of an
/// amount and an increment can never overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// An ISO 4217 currency code: three upper-case ASCII letters, e.g. `USD`.
///
/// Serialized as its three letters, written and read without a `String`
/// in between: every view, room frame and journal event carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(value_type = String, pattern = "^[A-Z]{3}$", example = "USD")
)]
pub struct Currency([u8; 3]);

/// A currency code that is not three upper-case ASCII letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a currency is three upper-case letters (ISO 4217), got {0:?}")]
pub struct InvalidCurrency(pub String);

impl Currency {
    /// United States dollar.
    pub const USD: Self = Self(*b"USD");
    /// Euro.
    pub const EUR: Self = Self(*b"EUR");

    /// The code as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Construction only admits ASCII upper-case letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl FromStr for Currency {
    type Err = InvalidCurrency;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => Ok(Self([*a, *b, *c])),
            _ => Err(InvalidCurrency(s.to_owned())),
        }
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Code;
        impl serde::de::Visitor<'_> for Code {
            type Value = Currency;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a currency code of three upper-case letters")
            }

            fn visit_str<E: serde::de::Error>(self, code: &str) -> Result<Currency, E> {
                code.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Code)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money: minor units (cents) and a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount in minor units (e.g. cents).
    pub minor: i64,
    /// The currency of the amount.
    pub currency: Currency,
}

/// Arithmetic on money that has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The result does not fit in `i64` minor units.
    #[error("the amount is too large")]
    Overflow,
    /// Amounts in two currencies were combined.
    #[error("an amount in {0} cannot be combined with one in {1}")]
    CurrencyMismatch(Currency, Currency),
}

impl Money {
    /// An amount in minor units of `currency`.
    #[must_use]
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Nothing, in `currency`.
    #[must_use]
    pub const fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    /// `self + other`.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] when the currencies differ,
    /// [`MoneyError::Overflow`] when the sum does not fit.
    pub fn checked_add(self, other: Self) -> Result<Self, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        self.minor
            .checked_add(other.minor)
            .map(|minor| Self::new(minor, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// `self * times` (a unit price times a quantity).
    ///
    /// # Errors
    /// [`MoneyError::Overflow`] when the product does not fit.
    pub fn checked_mul(self, times: i64) -> Result<Self, MoneyError> {
        self.minor
            .checked_mul(times)
            .map(|minor| Self::new(minor, self.currency))
            .ok_or(MoneyError::Overflow)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.minor, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_parses_iso_codes_only() {
        assert_eq!("USD".parse::<Currency>().unwrap(), Currency::USD);
        assert!("usd".parse::<Currency>().is_err());
        assert!("US".parse::<Currency>().is_err());
        assert!("USDX".parse::<Currency>().is_err());
        assert_eq!(serde_json::to_string(&Currency::EUR).unwrap(), "\"EUR\"");
        assert!(serde_json::from_str::<Currency>("\"eur\"").is_err());
    }

    #[test]
    fn currency_is_read_from_any_string_and_refused_with_its_reason() {
        // Borrowed, escaped (a string of its own), and from a JSON value.
        assert_eq!(
            serde_json::from_str::<Currency>("\"GBP\"").unwrap(),
            Currency(*b"GBP")
        );
        assert_eq!(
            serde_json::from_str::<Currency>("\"\\u0055SD\"").unwrap(),
            Currency::USD
        );
        assert_eq!(
            serde_json::from_value::<Currency>(serde_json::json!("EUR")).unwrap(),
            Currency::EUR
        );
        let refused = serde_json::from_str::<Currency>("\"eur\"").unwrap_err();
        assert!(
            refused
                .to_string()
                .starts_with("a currency is three upper-case letters (ISO 4217), got \"eur\""),
            "{refused}"
        );
        let not_text = serde_json::from_str::<Currency>("5").unwrap_err();
        assert!(not_text.to_string().contains("currency code"), "{not_text}");
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Priced {
            currency: Currency,
            money: Money,
        }
        let priced = Priced {
            currency: Currency::EUR,
            money: Money::new(250, Currency::USD),
        };
        let text = serde_json::to_string(&priced).unwrap();
        assert_eq!(
            text,
            r#"{"currency":"EUR","money":{"minor":250,"currency":"USD"}}"#
        );
        assert_eq!(serde_json::from_str::<Priced>(&text).unwrap(), priced);
    }

    #[test]
    fn arithmetic_is_checked_and_keeps_to_one_currency() {
        let usd = |minor| Money::new(minor, Currency::USD);
        assert_eq!(usd(250).checked_add(usd(100)), Ok(usd(350)));
        assert_eq!(usd(250).checked_mul(3), Ok(usd(750)));
        assert_eq!(Money::zero(Currency::EUR), Money::new(0, Currency::EUR));
        assert_eq!(usd(i64::MAX).checked_add(usd(1)), Err(MoneyError::Overflow));
        assert_eq!(usd(i64::MAX).checked_mul(2), Err(MoneyError::Overflow));
        assert_eq!(
            usd(1).checked_add(Money::new(1, Currency::EUR)),
            Err(MoneyError::CurrencyMismatch(Currency::USD, Currency::EUR))
        );
    }
}
