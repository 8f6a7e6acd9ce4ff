//! Wire time: RFC 3339 UTC with milliseconds (`2025-01-31T12:00:00.123Z`).

use std::fmt;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// A time as every wire payload shows it, written when displayed: no
/// `String` in between, so a serializer writes it straight into its
/// output (`collect_str`).
///
/// Every frame and view carries a time or two. chrono's
/// RFC 3339 writer goes through `fmt` piece by piece (about 700
/// instructions a time, with the `String` it returns); [`write_time`] lays
/// the same 24 bytes out in a buffer. Times it cannot write (before year 0
/// or after 9999) still go through chrono, with the same text.
#[derive(Debug, Clone, Copy)]
pub struct WireTime(pub DateTime<Utc>);

impl fmt::Display for WireTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Digits::of(self.0) {
            Some(digits) => f.write_str(digits.as_str()),
            None => f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true)),
        }
    }
}

/// Appends `at` as a JSON string of its wire text ([`WireTime`]), byte for
/// byte chrono's `to_rfc3339_opts(SecondsFormat::Millis, true)`.
pub fn write_time(out: &mut Vec<u8>, at: DateTime<Utc>) {
    out.push(b'"');
    match Digits::of(at) {
        Some(digits) => out.extend_from_slice(digits.as_bytes()),
        None => out.extend_from_slice(at.to_rfc3339_opts(SecondsFormat::Millis, true).as_bytes()),
    }
    out.push(b'"');
}

/// The text of a time in years 0 to 9999, laid out digit by digit in a
/// buffer (`9999-12-31T23:59:60.999Z` at the longest).
struct Digits {
    bytes: [u8; 24],
    len: usize,
}

impl Digits {
    fn of(at: DateTime<Utc>) -> Option<Self> {
        let at = at.naive_utc();
        let year = u32::try_from(at.year()).ok().filter(|&year| year <= 9999)?;
        let mut digits = Self {
            bytes: [0; 24],
            len: 0,
        };
        digits.two(year / 100);
        digits.two(year % 100);
        digits.byte(b'-');
        digits.two(at.month());
        digits.byte(b'-');
        digits.two(at.day());
        digits.byte(b'T');
        digits.two(at.hour());
        digits.byte(b':');
        digits.two(at.minute());
        digits.byte(b':');
        // Past a billion nanoseconds is a leap second, written as second 60.
        let (second, nanos) = match at.nanosecond() {
            nanos if nanos >= 1_000_000_000 => (at.second() + 1, nanos - 1_000_000_000),
            nanos => (at.second(), nanos),
        };
        digits.two(second);
        digits.millis(nanos / 1_000_000);
        digits.byte(b'Z');
        Some(digits)
    }

    fn byte(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    /// Two digits of a number below 100.
    fn two(&mut self, value: u32) {
        self.digit(value / 10);
        self.digit(value % 10);
    }

    fn digit(&mut self, value: u32) {
        // `value % 10` is below 10, so the sum is an ASCII digit.
        self.byte(b'0' + u8::try_from(value % 10).unwrap_or(0));
    }

    /// A point and three digits of `millis`, below 1,000.
    fn millis(&mut self, millis: u32) {
        self.byte(b'.');
        self.digit(millis / 100);
        self.two(millis % 100);
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    /// The same as text. Checking that the bytes are UTF-8 was about a
    /// quarter of writing a time (86 of 364 instructions), so
    /// [`write_time`], which wants bytes, takes them as they are.
    fn as_str(&self) -> &str {
        // ASCII digits and punctuation only.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

/// Truncates a time to whole milliseconds, the precision the engine keeps.
#[must_use]
pub fn to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

/// `#[serde(with = "wire_time")]` for `DateTime<Utc>`.
pub mod wire_time {
    use super::{DateTime, Deserialize, Deserializer, Serializer, Utc, WireTime};

    /// Serializes as RFC 3339 UTC with milliseconds.
    ///
    /// # Errors
    /// Only the serializer's own errors.
    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&WireTime(*at))
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
        use super::{DateTime, Deserialize, Deserializer, Serializer, Utc, WireTime};

        /// Serializes as RFC 3339 UTC with milliseconds, or null.
        ///
        /// # Errors
        /// Only the serializer's own errors.
        pub fn serialize<S: Serializer>(
            at: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => s.collect_str(&WireTime(*at)),
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

    /// The first second of the year 10000.
    const YEAR_10000: i64 = 253_402_300_800;

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

    fn format_wire_time(at: &DateTime<Utc>) -> String {
        WireTime(*at).to_string()
    }

    fn chrono_wire_time(at: &DateTime<Utc>) -> String {
        at.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    #[test]
    fn wire_time_is_chronos_text_at_every_edge() {
        let edges = [
            DateTime::from_timestamp(0, 0),
            DateTime::from_timestamp(-1, 999_000_000),
            DateTime::from_timestamp(-62_135_596_800, 0),
            DateTime::from_timestamp(YEAR_10000 - 1, 999_999_999),
            DateTime::from_timestamp(YEAR_10000, 0),
            DateTime::from_timestamp(951_782_400, 0),
            DateTime::from_timestamp(4_107_542_400, 0),
            // A leap second: chrono writes second 60.
            DateTime::from_timestamp(1_483_228_799, 1_500_000_000),
            Some(DateTime::<Utc>::MIN_UTC),
            Some(DateTime::<Utc>::MAX_UTC),
        ];
        for at in edges {
            let at = at.unwrap();
            assert_eq!(format_wire_time(&at), chrono_wire_time(&at), "{at:?}");
        }
        let leap = DateTime::from_timestamp(1_483_228_799, 1_500_000_000).unwrap();
        assert_eq!(format_wire_time(&leap), "2016-12-31T23:59:60.500Z");
    }

    #[test]
    fn wire_time_serializes_as_its_text() {
        #[derive(serde::Serialize)]
        struct Times {
            #[serde(with = "wire_time")]
            at: DateTime<Utc>,
            #[serde(with = "wire_time::option")]
            until: Option<DateTime<Utc>>,
        }
        let at = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        let times = Times {
            at,
            until: Some(at),
        };
        assert_eq!(
            serde_json::to_string(&times).unwrap(),
            r#"{"at":"2023-11-14T22:13:20.123Z","until":"2023-11-14T22:13:20.123Z"}"#
        );
    }

    /// `write_time`'s text, as a string.
    fn written(at: DateTime<Utc>) -> String {
        let mut out = Vec::new();
        write_time(&mut out, at);
        String::from_utf8(out).unwrap()
    }

    proptest::proptest! {
        #[test]
        fn wire_time_is_chronos_text(seconds in -70_000_000_000_i64..300_000_000_000, nanos in 0_u32..2_000_000_000) {
            if let Some(at) = DateTime::from_timestamp(seconds, nanos) {
                proptest::prop_assert_eq!(format_wire_time(&at), chrono_wire_time(&at));
                proptest::prop_assert_eq!(written(at), format!("\"{}\"", chrono_wire_time(&at)));
            }
        }
    }
}
