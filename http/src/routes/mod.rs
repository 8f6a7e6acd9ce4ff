//! Route modules, one per resource, each with a `configure` function.

pub mod auth;
pub mod health;

use utoipa_actix_web::service_config::ServiceConfig;

/// Everything under `/api/v1`.
pub fn api_v1(cfg: &mut ServiceConfig) {
    cfg.service(utoipa_actix_web::scope("/auth").configure(auth::configure));
}
