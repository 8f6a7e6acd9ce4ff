//! Blytz core: configuration, storage and the services behind the HTTP API.
//!
//! The HTTP crate (`blytz-http`) calls into this crate; this crate calls into
//! the auction engine (`blytz-actors`) and implements its storage ports.
//! Nothing here knows about HTTP.

pub mod accounts;
pub mod auctions;
pub mod audience;
pub mod catalog;
pub mod cluster;
pub mod commerce;
pub mod config;
pub mod db;
pub mod error;
pub mod ids;
pub mod notify;
pub mod pagination;
pub mod redis_store;
pub mod shows;
pub mod streaming;
pub mod time;

pub use config::Config;
pub use db::Db;
pub use error::{Code, Error};
