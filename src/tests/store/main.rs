//! The store suite: every test runs on a fresh SQLite file, and on a fresh
//! PostgreSQL database too when `TEST_DATABASE_URL` is set.

mod accounts;
mod helpers;
