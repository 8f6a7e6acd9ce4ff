//! The cluster: its state for operators, and the calls nodes make to each
//! other (never exposed by a proxy; see `docs/cluster.md`).

use actix_web::{HttpRequest, HttpResponse, ResponseError, get, web};
use blytz::Error;
use blytz::cluster::{ClusterStatus, INTERNAL_PREFIX, NODE_TOKEN_HEADER, token_matches};
use blytz_actors::domain::AuctionId;
use blytz_actors::remote::Request;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Admin, RequireRole};
use crate::state::AppState;

/// `GET /api/v1/cluster`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(status);
}

/// The calls between nodes, outside the API document.
pub fn internal(cfg: &mut web::ServiceConfig) {
    cfg.route(
        &format!("{INTERNAL_PREFIX}/engine/{{auction_id}}"),
        web::post().to(engine_call),
    );
}

/// The cluster's nodes, which shards each holds and the epoch of every
/// shard lease (admins). A single node answers `"enabled": false`.
#[utoipa::path(
    tag = "operations",
    security(("bearer" = [])),
    responses(
        (status = 200, body = ClusterStatus),
        (status = 403, description = "`forbidden`: only admins may do this", body = ErrorBody),
    )
)]
#[get("/cluster")]
async fn status(state: web::Data<AppState>, _admin: RequireRole<Admin>) -> ApiResult<HttpResponse> {
    let status = match &state.cluster {
        Some(leases) => leases.status().await.map_err(Error::Internal)?,
        None => ClusterStatus::single(),
    };
    Ok(HttpResponse::Ok().json(status))
}

/// Runs an engine call another node forwarded: here only, never forwarded
/// again (an auction this node does not serve answers `moved`).
async fn engine_call(
    req: HttpRequest,
    state: web::Data<AppState>,
    auction_id: web::Path<AuctionId>,
    request: web::Json<Request>,
) -> HttpResponse {
    let Some(leases) = &state.cluster else {
        return ApiError::from(Error::code_only(blytz::Code::NotFound)).error_response();
    };
    let given = req
        .headers()
        .get(NODE_TOKEN_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !token_matches(&leases.settings().node_token, given) {
        return ApiError::from(Error::forbidden("calls between nodes carry the node token"))
            .error_response();
    }
    let answer = state
        .auctions
        .engine()
        .serve(auction_id.into_inner(), request.into_inner())
        .await;
    HttpResponse::Ok().json(answer)
}
