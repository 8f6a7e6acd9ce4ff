//! Route modules, one per resource, each with a `configure` function.

pub mod auctions;
pub mod auth;
pub mod categories;
pub mod health;
pub mod livekit;
pub mod media;
pub mod products;
pub mod shows;

use utoipa_actix_web::service_config::ServiceConfig;

/// Everything under `/api/v1`.
pub fn api_v1(cfg: &mut ServiceConfig) {
    cfg.service(utoipa_actix_web::scope("/auth").configure(auth::configure))
        .service(utoipa_actix_web::scope("/auctions").configure(auctions::configure))
        .service(utoipa_actix_web::scope("/shows").configure(shows::configure));
    cfg.service(utoipa_actix_web::scope("/categories").configure(categories::configure));
    cfg.service(utoipa_actix_web::scope("/products").configure(products::configure));
    cfg.service(livekit::webhook);
}
