//! Wire time: RFC 3339 UTC with milliseconds (`2025-01-31T12:00:00.123Z`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Formats a time the way every wire payload shows it. (chrono's RFC 3339
/// writer, not a `format` string: a format string is parsed again on every
/// call, and every frame and view carries several times.)
#[must_use]
pub fn format_wire_time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Truncates a time to whole milliseconds, the precision the engine keeps.
#[must_use]
pub fn to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

/// `#[serde(with = "wire_time")]` for `DateTime<Utc>`.
pub mod wire_time {
    use super::{DateTime, Deserialize, Deserializer, Serializer, Utc, format_wire_time};

    /// Serializes as RFC 3339 UTC with milliseconds.
    ///
    /// # Errors
    /// Only the serializer's own errors.
    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_wire_time(at))
    }

    /// Parses any RFC 3339 time into UTC.
    ///
    /// # Errors
    /// When the text is not RFC 3339.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }

    /// The same for `Option<DateTime<Utc>>` (null when absent).
    pub mod option {
        use super::{DateTime, Deserialize, Deserializer, Serializer, Utc, format_wire_time};

        /// Serializes as RFC 3339 UTC with milliseconds, or null.
        ///
        /// # Errors
        /// Only the serializer's own errors.
        pub fn serialize<S: Serializer>(
            at: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => s.serialize_str(&format_wire_time(at)),
                None => s.serialize_none(),
            }
        }

        /// Parses an RFC 3339 time or null.
        ///
        /// # Errors
        /// When the text is not RFC 3339.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|text| {
                    DateTime::parse_from_rfc3339(&text)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(serde::de::Error::custom)
                })
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_time_has_milliseconds_and_z() {
        let at = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        assert_eq!(format_wire_time(&at), "2023-11-14T22:13:20.123Z");
        let whole = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
        assert_eq!(format_wire_time(&whole), "2023-11-14T22:13:20.000Z");
        // Finer than a millisecond is cut, not rounded.
        let fine = DateTime::from_timestamp(1_700_000_000, 999_999_999).unwrap();
        assert_eq!(format_wire_time(&fine), "2023-11-14T22:13:20.999Z");
        let early = DateTime::from_timestamp_millis(5).unwrap();
        assert_eq!(format_wire_time(&early), "1970-01-01T00:00:00.005Z");
    }
}
