//! Blytz HTTP server.
