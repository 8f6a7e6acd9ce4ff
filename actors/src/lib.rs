//! The live-auction engine.

pub mod domain;
pub mod journal_writer;
pub mod ports;
pub mod rooms;
pub mod rules;
pub mod view;
