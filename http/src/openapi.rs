//! The OpenAPI document, generated from the route attributes and the real
//! wire types, and its docs page.

use blytz::catalog::{Condition, ProductStatus, Sort};
use blytz::commerce::orders::OrderView;
use blytz::shows::ShowStatus;
use blytz_actors::rules::AuctionStatus;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::ErrorBody;
use crate::routes::categories::CategoryView;

/// Title, version and shared components; paths come from the routes themselves.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Blytz API",
        description = "Live-commerce auctions: accounts, catalog, shows, auctions and commerce. \
                       Errors are `{\"error\":{\"code\",\"message\",\"details\"}}`. \
                       Money is integer minor units with a currency; times are RFC 3339 UTC. \
                       The WebSocket protocol at `GET /ws` is described in docs/websocket.md."
    ),
    modifiers(&BearerAuth),
    // Enums that only query parameters name (bodies bring their own schemas).
    components(schemas(
        ErrorBody,
        Sort,
        CategoryView,
        Condition,
        ProductStatus,
        ShowStatus,
        OrderView,
        AuctionStatus
    ))
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme (a JWT access token) that secured routes name.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The whole document: every route registered by [`crate::routes::all`].
pub fn document() -> OpenApiDoc {
    let (_, doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::routes::all)
        .split_for_parts();
    doc
}
