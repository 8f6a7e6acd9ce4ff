//! Integration tests of the auction engine: rule properties, the journal
//! writer, the actors and the rooms, all with in-memory ports.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns fail loudly on purpose"
)]

mod actor;
mod chat;
mod hardening;
mod helpers;
mod lease;
mod prebids;
mod props;
mod stopping;
mod writer;
