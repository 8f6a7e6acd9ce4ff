//! HTTP API tests: the real server on a random port, a real HTTP client, a
//! fresh database per test (PostgreSQL when `TEST_DATABASE_URL` is set, else
//! SQLite).

// A failed setup step in a test should fail the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auctions;
mod auth;
mod binary;
mod catalog;
mod cluster;
mod cluster_fence;
mod cluster_rolling;
mod commerce;
mod commerce_helpers;
mod crash;
mod email;
mod errors;
mod flash_sales;
mod follows;
mod giveaways;
mod guards;
mod hardening;
mod health;
mod helpers;
mod limits;
mod live;
mod livekit;
mod ninjavan;
mod ninjavan_stub;
mod notifications;
mod openapi;
mod outage;
mod paying;
mod paying_helpers;
mod prebids;
mod push;
mod server_process;
mod shows;
mod stripe_gateway;
mod stripe_stub;
mod upgrade;
mod web;
mod ws_client;
