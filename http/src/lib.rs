//! The Blytz HTTP and WebSocket server.
//!
//! [`startup::Application`] builds and runs it; [`startup::create_app`] is the
//! one app factory; route modules live in [`routes`], one per resource.

pub mod cli;
pub mod command;
pub mod error;
pub mod extract;
pub mod lifecycle;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod routes;
pub mod schemas;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod ws;

pub use startup::Application;
