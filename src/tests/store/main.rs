//! The store suite: every test runs on a fresh SQLite file, and on a fresh
//! PostgreSQL database too when `TEST_DATABASE_URL` is set.

// A failed setup step in a test should fail the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod audience;
mod catalog;
mod chat;
mod commerce;
mod commerce_payments;
mod helpers;
mod journal;
mod streaming;
