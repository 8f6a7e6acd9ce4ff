//! Identifier newtypes (UUID v7, time-ordered).
//!
//! The engine's ids are the ids of the whole system. They know nothing of
//! SQL: bind them as `Uuid::from(id)` and decode them with
//! `#[sqlx(try_from = "uuid::Uuid")]`.

pub use blytz_actors::domain::{AuctionId, BidId, ProductId, ShowId, UserId};
