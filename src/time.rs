//! Time helpers: every timestamp Blytz stores or shows is UTC.

use chrono::{DateTime, SubsecRound, Utc};

/// Serde helpers for the wire format of every time field: RFC 3339 UTC with
/// milliseconds (`2026-11-22T10:15:30.123Z`); `rfc3339_ms::option` for
/// optional times. The engine defines the format; everything shares it.
pub use blytz_actors::domain::wire_time as rfc3339_ms;

/// Now, truncated to microseconds so that a value survives a round trip
/// through PostgreSQL (`timestamptz` keeps microseconds) unchanged.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
