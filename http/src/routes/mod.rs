//! Route modules, one per resource, each with a `configure` function.

pub mod addresses;
pub mod auctions;
pub mod audience;
pub mod auth;
pub mod bundles;
pub mod cart;
pub mod categories;
pub mod cluster;
pub mod health;
pub mod inventory;
pub mod livekit;
pub mod lots;
pub mod media;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod products;
pub mod sellers;
pub mod shows;
pub mod users;
pub mod web;
pub mod webhooks;

use utoipa_actix_web::service_config::ServiceConfig;

/// Every route, for the app and for the OpenAPI document alike.
pub fn all(cfg: &mut ServiceConfig) {
    cfg.configure(health::configure)
        .configure(media::configure)
        .service(crate::ws::connect)
        .service(utoipa_actix_web::scope("/api/v1").configure(api_v1));
}

/// Everything under `/api/v1`.
pub fn api_v1(cfg: &mut ServiceConfig) {
    cfg.service(utoipa_actix_web::scope("/auth").configure(auth::configure))
        .service(utoipa_actix_web::scope("/auctions").configure(auctions::configure))
        .service(
            utoipa_actix_web::scope("/shows")
                .configure(shows::configure)
                .configure(audience::configure_shows),
        );
    cfg.service(utoipa_actix_web::scope("/categories").configure(categories::configure));
    cfg.service(utoipa_actix_web::scope("/products").configure(products::configure));
    cfg.service(livekit::webhook);
    cfg.service(
        utoipa_actix_web::scope("/users")
            .configure(audience::configure_users)
            .configure(users::configure),
    )
    .service(web::client_config);
    cfg.service(utoipa_actix_web::scope("/cart").configure(cart::configure))
        .service(utoipa_actix_web::scope("/inventory").configure(inventory::configure))
        .service(utoipa_actix_web::scope("/addresses").configure(addresses::configure))
        .service(utoipa_actix_web::scope("/orders").configure(orders::configure))
        .service(utoipa_actix_web::scope("/payments").configure(payments::configure))
        .service(utoipa_actix_web::scope("/webhooks/stripe").configure(webhooks::configure))
        .service(
            utoipa_actix_web::scope("/webhooks/ninjavan").configure(webhooks::configure_ninjavan),
        );
    // `/sellers/me` before `/sellers`: the first scope that matches a path owns it.
    cfg.service(utoipa_actix_web::scope("/sellers/me").configure(sellers::configure))
        .service(utoipa_actix_web::scope("/sellers").configure(audience::configure_sellers))
        .service(utoipa_actix_web::scope("/bundles").configure(bundles::configure))
        .service(utoipa_actix_web::scope("/notifications").configure(notifications::configure))
        .service(utoipa_actix_web::scope("/push").configure(notifications::configure_push))
        .service(
            utoipa_actix_web::scope("/second-chance-offers").configure(bundles::configure_offers),
        );
    cfg.configure(cluster::configure);
    cfg.service(utoipa_actix_web::scope("/giveaways").configure(lots::configure_giveaways))
        .service(utoipa_actix_web::scope("/flash-sales").configure(lots::configure_flash_sales));
}
