//! Time helpers: every timestamp Blytz stores or shows is UTC.

use chrono::{DateTime, SubsecRound, Utc};

/// Serde helpers for the wire format of every time field: RFC 3339 UTC with
/// milliseconds (`2026-11-22T10:15:30.123Z`); `rfc3339_ms::option` for
/// optional times. The engine defines the format; everything shares it.
pub use blytz_actors::domain::wire_time as rfc3339_ms;

/// Now: the one clock of the services. Every time a service stores or
/// answers (`created_at`, expiries, deadlines, ...) comes from here.
///
/// UTC truncated to whole microseconds, the precision of PostgreSQL's
/// `timestamptz`: a value taken here reads back from either database exactly
/// as it was written, so what a service answers right after a write equals
/// what a later read answers. It keeps microseconds rather than the
/// milliseconds of the wire so that rows made within one millisecond still
/// order by time (e.g. the newest payment of an order).
///
/// The auction engine does not call it: it reads time through its
/// [`Clock`](blytz_actors::ports::Clock) port, in whole milliseconds (the
/// precision of its journal and frames), which lets tests drive it; auction
/// views carry that time.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// `at + d`, saturating far in the future.
pub fn later(at: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `at - d`, saturating far in the past.
pub fn earlier(at: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| at.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
