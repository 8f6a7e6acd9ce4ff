//! The live-auction engine.

pub mod auction;
pub mod domain;
mod engine;
mod error;
pub mod journal_writer;
pub mod ports;
pub mod registry;
pub mod rooms;
pub mod rules;
pub mod view;

pub use engine::{Engine, EngineSettings};
pub use error::AuctionError;
