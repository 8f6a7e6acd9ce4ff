//! The live-auction engine.

pub mod domain;
pub mod rules;
