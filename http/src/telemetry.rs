//! Logging: pretty in development, JSON in production, filtered by `RUST_LOG`.

use blytz::config::Environment;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Install the global subscriber once (later calls are ignored, so tests may call it freely).
pub fn init(env: Environment) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,actix_server=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE);
    let _already_installed = match env {
        Environment::Production => builder.json().with_current_span(true).try_init(),
        Environment::Development => builder.compact().try_init(),
    };
}
