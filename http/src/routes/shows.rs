//! `/api/v1/shows`: schedule, go live, end, the lot queue, chat history and
//! moderation.

use actix_web::{HttpResponse, delete, get, post, put, web};
use blytz::catalog::Product;
use blytz::pagination::{Page, Paged};
use blytz::shows::lots::{FlashSale, Giveaway, NewFlashSale, NewGiveaway, StartedLot};
use blytz::shows::{ChatEntry, ModerationRequest, NewShow, Show, ShowStatus};
use blytz_actors::domain::{AuctionId, ShowId, UserId};
use blytz_actors::rooms::RoomKey;
use blytz_actors::view::AuctionView;
use serde::{Deserialize, Serialize};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthUser, MaybeAuthUser, RequireRole, Seller};
use crate::state::AppState;

/// Register the show routes (under `/api/v1/shows`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get_one)
        .service(lots)
        .service(go_live)
        .service(video_token)
        .service(end)
        .service(next)
        .service(create_giveaway)
        .service(create_flash_sale)
        .service(reorder)
        .service(remove_lot)
        .service(add_moderator)
        .service(remove_moderator)
        .service(moderate)
        .service(chat_history);
}

/// Filters of `GET /shows`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ShowFilter {
    /// `scheduled`, `live` or `ended`; default: live and upcoming.
    #[param(value_type = Option<ShowStatus>)]
    pub status: Option<ShowStatus>,
    /// Only this seller's shows.
    #[param(value_type = Option<String>, format = Uuid)]
    pub seller_id: Option<UserId>,
    /// `true`: only shows of the sellers the caller follows (needs a token).
    pub following: Option<bool>,
}

/// A show as the API answers it: the show and who is in its room now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShowView {
    /// The show.
    #[serde(flatten)]
    pub show: Show,
    /// Connections subscribed to the show's room right now.
    pub viewers: usize,
    /// How many users follow the show's seller.
    pub follower_count: u64,
    /// Whether the caller bookmarked the show (false without a token).
    pub bookmarked: bool,
}

impl ShowView {
    /// The views of `shows` for `caller`: the follower counts and the
    /// caller's bookmarks are read for the whole page at once.
    async fn page(
        state: &AppState,
        caller: Option<UserId>,
        shows: Vec<Show>,
    ) -> blytz::error::Result<Vec<Self>> {
        let sellers: Vec<UserId> = shows.iter().map(|show| show.seller_id).collect();
        let counts = state.audience.follower_counts(&sellers).await?;
        let bookmarked = match caller {
            Some(user) => {
                let ids: Vec<ShowId> = shows.iter().map(|show| show.id).collect();
                state.audience.bookmarked_among(user, &ids).await?
            }
            None => Default::default(),
        };
        let rooms = state.auctions.engine().rooms();
        Ok(shows
            .into_iter()
            .map(|show| Self {
                viewers: rooms.subscriber_count(RoomKey::Show(show.id)),
                follower_count: counts.get(&show.seller_id).copied().unwrap_or(0),
                bookmarked: bookmarked.contains(&show.id),
                show,
            })
            .collect())
    }
}

/// A lot of a show: its auction, with the product it puts up.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Lot {
    /// The auction (as `GET /auctions/{id}` answers it).
    #[serde(flatten)]
    pub auction: AuctionView,
    /// The product: title, description, condition, pictures (no reserve
    /// amount).
    pub product: Option<Product>,
}

/// `PUT /shows/{id}/queue` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct QueueOrder {
    /// Every lot still scheduled (auctions, giveaways, flash sales), in the
    /// new order; or only the scheduled auctions.
    pub auction_ids: Vec<AuctionId>,
}

/// `POST /shows/{id}/moderators` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ModeratorRequest {
    /// The user who may moderate the show's chat.
    pub user_id: UserId,
}

/// Schedule a show.
#[utoipa::path(
    tag = "shows",
    request_body = NewShow,
    security(("bearer" = [])),
    responses(
        (status = 201, body = Show),
        (status = 403, description = "`forbidden`: only sellers may do this", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `title`, `description` or `cover_image_url`", body = ErrorBody),
    )
)]
#[post("")]
async fn create(
    state: web::Data<AppState>,
    seller: RequireRole<Seller>,
    body: web::Json<NewShow>,
) -> ApiResult<HttpResponse> {
    let show = state.shows.create(seller.id, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(show))
}

/// Live and upcoming shows (or by `status`), newest first, each with its
/// room's `viewers`, its seller's `follower_count` and whether the caller
/// `bookmarked` it; `following=true` keeps the shows of the sellers the
/// caller follows.
#[utoipa::path(
    tag = "shows",
    params(ShowFilter, Page),
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = Paged<ShowView>),
        (status = 401, description = "`not_authenticated`: `following=true` without a token", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `status`, `seller_id`, `following`, `limit` or `cursor`", body = ErrorBody),
    )
)]
#[get("")]
async fn list(
    state: web::Data<AppState>,
    user: MaybeAuthUser,
    filter: web::Query<ShowFilter>,
    page: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    let caller = user.0.map(|user| user.id);
    let followed_by = match (filter.following, caller) {
        (Some(true), Some(caller)) => Some(caller),
        (Some(true), None) => return Err(not_authenticated().into()),
        _ => None,
    };
    let shows = state
        .shows
        .list(filter.status, filter.seller_id, followed_by, &page)
        .await?;
    Ok(HttpResponse::Ok().json(Paged {
        items: ShowView::page(&state, caller, shows.items).await?,
        next_cursor: shows.next_cursor,
    }))
}

/// One show, with its lots in queue order, its room's `viewers`, its
/// seller's `follower_count` and whether the caller `bookmarked` it.
#[utoipa::path(
    tag = "shows",
    params(("id" = String, Path, format = Uuid)),
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = ShowView),
        (status = 401, description = "`invalid_token`: a token that is not valid", body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    user: MaybeAuthUser,
    id: web::Path<ShowId>,
) -> ApiResult<HttpResponse> {
    let show = state.shows.get(*id).await?;
    let caller = user.0.map(|user| user.id);
    let mut views = ShowView::page(&state, caller, vec![show]).await?;
    let view = views
        .pop()
        .ok_or_else(|| blytz::Error::NotFound { what: "show" })?;
    Ok(HttpResponse::Ok().json(view))
}

fn not_authenticated() -> blytz::Error {
    blytz::Error::refused(
        blytz::Code::NotAuthenticated,
        "`following=true` needs an access token: Authorization: Bearer <token>",
    )
}

/// The show's lots as auctions, in queue order, each with its `product`.
#[utoipa::path(
    tag = "shows",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = Vec<Lot>), (status = 404, body = ErrorBody))
)]
#[get("/{id}/lots")]
async fn lots(state: web::Data<AppState>, id: web::Path<ShowId>) -> ApiResult<HttpResponse> {
    state.shows.get(*id).await?;
    let views = state.shows.lot_views(*id).await?;
    let mut lots = Vec::with_capacity(views.len());
    for view in views {
        let product = match state.catalog.lot_product(view.product_id).await {
            Ok(product) => Some(product),
            Err(blytz::Error::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        lots.push(Lot {
            auction: view,
            product,
        });
    }
    Ok(HttpResponse::Ok().json(lots))
}

/// Go on air (and open the video room when LiveKit is configured).
#[utoipa::path(
    tag = "shows",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Show),
        (status = 403, description = "`forbidden`: only the show's seller or an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`invalid_transition`: the show is not scheduled", body = ErrorBody),
        (status = 503, description = "`streaming_unavailable`: LiveKit could not create the video room", body = ErrorBody),
    )
)]
#[post("/{id}/go-live")]
async fn go_live(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ShowId>,
) -> ApiResult<HttpResponse> {
    if let Some(streaming) = &state.streaming {
        // The video room exists before anyone is told the show is live.
        let (row, room) = state.shows.video_room(*id).await?;
        blytz::Error::unless_may_manage(user.caller(), row.seller_id)?;
        streaming.create_room(&room).await?;
    }
    let show = state.shows.go_live(*id, user.caller()).await?;
    Ok(HttpResponse::Ok().json(show))
}

/// A LiveKit token for the show's video room: the seller's may publish, a
/// viewer's may only subscribe. 503 `streaming_not_configured` without LiveKit.
#[utoipa::path(
    tag = "shows",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = blytz::streaming::StreamToken),
        (status = 404, description = "`not_found`: no such show (or the caller's account is gone)", body = ErrorBody),
        (status = 409, description = "`show_ended`", body = ErrorBody),
        (status = 503, description = "`streaming_not_configured`", body = ErrorBody),
    )
)]
#[post("/{id}/token")]
async fn video_token(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ShowId>,
) -> ApiResult<HttpResponse> {
    let streaming = state
        .streaming
        .as_ref()
        .ok_or_else(blytz::streaming::not_configured)?;
    let name = state.accounts.profile(user.id).await?.display_name;
    let token = streaming
        .show_token(&state.db, *id, user.id, &name, user.is_admin())
        .await?;
    Ok(HttpResponse::Ok().json(token))
}

/// End the show.
#[utoipa::path(
    tag = "shows",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Show),
        (status = 403, description = "`forbidden`: only the show's seller or an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`invalid_transition`: the show has ended", body = ErrorBody),
    )
)]
#[post("/{id}/end")]
async fn end(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ShowId>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.shows.end(*id, user.caller()).await?))
}

/// Start the next lot in the queue (`lot_in_progress` while one runs,
/// `queue_empty` when none is left).
#[utoipa::path(
    tag = "shows",
    params(("id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The lot started: an auction, a giveaway or a flash sale (the last two carry `kind`)", body = StartedLot),
        (status = 403, description = "`forbidden`: only the show's seller or an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`show_not_live`, `lot_in_progress`, `queue_empty`; `invalid_transition` or `auction_closed` from the lot; `insufficient_stock` or `product_in_auction` for a flash sale or a giveaway", body = ErrorBody),
        (status = 503, description = "`unavailable`: the lot is being recovered; retry", body = ErrorBody),
    )
)]
#[post("/{id}/next")]
async fn next(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ShowId>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.shows.next(*id, user.caller()).await?))
}

/// Add a giveaway to the end of the show's queue (docs/live-commerce.md):
/// present viewers enter while it is open, a verifiable draw picks the winner.
#[utoipa::path(
    tag = "shows",
    params(("id" = String, Path, format = Uuid)),
    request_body = NewGiveaway,
    security(("bearer" = [])),
    responses(
        (status = 201, body = Giveaway),
        (status = 403, description = "`forbidden`: only the show's seller (or an admin), with one of the seller's products", body = ErrorBody),
        (status = 404, description = "`not_found`: no such show or product", body = ErrorBody),
        (status = 409, description = "`show_ended`, `product_unavailable`, `product_in_auction`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `duration_ms` or `title`", body = ErrorBody),
    )
)]
#[post("/{id}/giveaways")]
async fn create_giveaway(
    state: web::Data<AppState>,
    seller: RequireRole<Seller>,
    id: web::Path<ShowId>,
    body: web::Json<NewGiveaway>,
) -> ApiResult<HttpResponse> {
    let giveaway = state
        .lots
        .create_giveaway(seller.caller(), *id, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(giveaway))
}

/// Add a flash sale to the end of the show's queue (docs/live-commerce.md):
/// a fixed price, a quantity, a time limit and a per-buyer cap.
#[utoipa::path(
    tag = "shows",
    params(("id" = String, Path, format = Uuid)),
    request_body = NewFlashSale,
    security(("bearer" = [])),
    responses(
        (status = 201, body = FlashSale),
        (status = 403, description = "`forbidden`: only the show's seller (or an admin), with one of the seller's products", body = ErrorBody),
        (status = 404, description = "`not_found`: no such show or product", body = ErrorBody),
        (status = 409, description = "`show_ended`, `product_unavailable`, `product_in_auction`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `price`, `quantity`, `per_buyer_cap`, `duration_ms` or `title`; `amount_too_large`", body = ErrorBody),
    )
)]
#[post("/{id}/flash-sales")]
async fn create_flash_sale(
    state: web::Data<AppState>,
    seller: RequireRole<Seller>,
    id: web::Path<ShowId>,
    body: web::Json<NewFlashSale>,
) -> ApiResult<HttpResponse> {
    let sale = state
        .lots
        .create_flash_sale(seller.caller(), *id, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(sale))
}

/// Reorder the lots that have not started: `auction_ids` lists the ids of
/// every scheduled lot (auctions, giveaways, flash sales), or of the
/// scheduled auctions only (the other lots then keep their places).
#[utoipa::path(
    tag = "shows",
    params(("id" = String, Path, format = Uuid)),
    request_body = QueueOrder,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Show),
        (status = 403, description = "`forbidden`: only the show's seller or an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`validation_failed`: `auction_ids` must list each scheduled lot once", body = ErrorBody),
    )
)]
#[put("/{id}/queue")]
async fn reorder(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ShowId>,
    body: web::Json<QueueOrder>,
) -> ApiResult<HttpResponse> {
    let show = state
        .shows
        .reorder(*id, user.caller(), body.into_inner().auction_ids)
        .await?;
    Ok(HttpResponse::Ok().json(show))
}

/// Remove a lot that has not started (its auction, giveaway or flash sale
/// is cancelled).
#[utoipa::path(
    tag = "shows",
    params(("id" = String, Path, format = Uuid), ("auction_id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Show),
        (status = 403, description = "`forbidden`: only the show's seller or an admin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such show, or no such lot in it", body = ErrorBody),
        (status = 409, description = "`lot_started`; `invalid_transition` or `auction_closed` from the lot", body = ErrorBody),
        (status = 503, description = "`unavailable`: the lot is being recovered; retry", body = ErrorBody),
    )
)]
#[delete("/{id}/queue/{auction_id}")]
async fn remove_lot(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(ShowId, AuctionId)>,
) -> ApiResult<HttpResponse> {
    let (id, auction) = path.into_inner();
    Ok(HttpResponse::Ok().json(state.shows.remove_lot(id, user.caller(), auction).await?))
}

/// Let a user moderate the show's chat.
#[utoipa::path(
    tag = "shows",
    params(("id" = String, Path, format = Uuid)),
    request_body = ModeratorRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "added"),
        (status = 403, description = "`forbidden`: only the show's seller or an admin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such show, or no such user", body = ErrorBody),
    )
)]
#[post("/{id}/moderators")]
async fn add_moderator(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ShowId>,
    body: web::Json<ModeratorRequest>,
) -> ApiResult<HttpResponse> {
    state
        .shows
        .set_moderator(*id, user.caller(), body.user_id, true)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Stop a user moderating the show's chat.
#[utoipa::path(
    tag = "shows",
    params(("id" = String, Path, format = Uuid), ("user_id" = String, Path, format = Uuid)),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "removed"),
        (status = 403, description = "`forbidden`: only the show's seller or an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
#[delete("/{id}/moderators/{user_id}")]
async fn remove_moderator(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(ShowId, UserId)>,
) -> ApiResult<HttpResponse> {
    let (id, moderator) = path.into_inner();
    state
        .shows
        .set_moderator(id, user.caller(), moderator, false)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Mute, unmute, ban, delete a message, or set slow mode (the seller, the
/// show's moderators, admins).
#[utoipa::path(
    tag = "shows",
    params(("id" = String, Path, format = Uuid)),
    request_body = ModerationRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "done"),
        (status = 403, description = "`forbidden`: only the seller, the show's moderators or an admin", body = ErrorBody),
        (status = 404, description = "`not_found`: no such show, or no such message to delete", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `action`, or the field the action needs", body = ErrorBody),
        (status = 503, description = "`unavailable`: chat storage failed; nothing changed", body = ErrorBody),
    )
)]
#[post("/{id}/moderation")]
async fn moderate(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ShowId>,
    body: web::Json<ModerationRequest>,
) -> ApiResult<HttpResponse> {
    let action = body.action()?;
    state
        .shows
        .moderate(RoomKey::Show(*id), user.caller(), action)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The show's chat, newest first.
#[utoipa::path(
    tag = "shows",
    params(("id" = String, Path, format = Uuid), Page),
    responses(
        (status = 200, body = Paged<ChatEntry>),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`validation_failed`: `limit` or `cursor`", body = ErrorBody),
    )
)]
#[get("/{id}/chat")]
async fn chat_history(
    state: web::Data<AppState>,
    id: web::Path<ShowId>,
    page: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.shows.chat_history(*id, &page).await?))
}
