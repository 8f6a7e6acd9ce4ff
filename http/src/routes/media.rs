//! `GET /media/{key}`: uploaded pictures, served from the media store with
//! long cache lifetimes (keys are never reused, so an object never changes).

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpResponse, get, web};
use blytz::Error;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;

/// Register the media route (at the root).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(media);
}

/// A stored picture or thumbnail.
#[utoipa::path(
    tag = "catalog",
    params(("key" = String, Path, description = "object key, e.g. `products/<id>/<name>.jpg`")),
    responses(
        (status = 200, description = "the picture", content_type = "image/*"),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/media/{key:.*}")]
async fn media(state: web::Data<AppState>, key: web::Path<String>) -> ApiResult<HttpResponse> {
    let Some(object) = state.catalog.media().get(&key).await? else {
        return Err(Error::NotFound { what: "media" }.into());
    };
    Ok(HttpResponse::Ok()
        .content_type(object.content_type)
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(31_536_000),
            CacheDirective::Extension("immutable".into(), None),
        ]))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(object.bytes))
}
