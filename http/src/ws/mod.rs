//! `GET /ws`: the WebSocket endpoint (protocol in docs/websocket.md).
//!
//! Auth by `Authorization: Bearer <access token>` or `?token=` (browsers);
//! without a token a client may watch but not bid. The connection leaves
//! the HTTP dispatcher at the switch ([`upgrade`]); it is then a
//! [`session::WsSession`] actor handling what a [`reader`] decodes off the
//! socket, and a [`writer`] that is the response body, written to the socket
//! by the upgrade's pump. An auction room's frames are written by one loop
//! per worker and room ([`fanout`]).

pub mod budget;
pub mod fanout;
pub mod lane;
pub mod protocol;
pub mod queue;
pub mod reader;
pub mod session;
pub mod upgrade;
pub mod writer;

use actix::{Actor, AsyncContext};
use actix_web::{HttpRequest, HttpResponse, get, web};
use blytz::Error;
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{AuthUser, bearer_token};
use crate::state::AppState;

/// The WebSocket's path, as [`connect`]'s route spells it.
pub const PATH: &str = "/ws";
/// The largest frame a client may send.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// Frames queued for one client before it counts as not reading.
const OUT_QUEUE: usize = 256;

/// `?token=` for clients that cannot set headers.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct WsQuery {
    /// An access token.
    pub token: Option<String>,
}

/// Open a WebSocket (see docs/websocket.md for the messages).
#[utoipa::path(
    tag = "websocket",
    params(WsQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 101, description = "switching to the WebSocket protocol"),
        (status = 401, description = "`invalid_token`: in the header or in `token`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: not a WebSocket upgrade request", body = ErrorBody),
    )
)]
#[get("/ws")]
pub async fn connect(
    req: HttpRequest,
    body: web::Payload,
    query: web::Query<WsQuery>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let token = bearer_token(&req).or(query.token.as_deref());
    let user = match token {
        Some(token) => Some(AuthUser::from(
            &state.accounts.tokens().verify_access(token)?,
        )),
        None => None,
    };
    let connection = state.ws.connect(state.limits.client_ip_of(&req))?;
    let handshake = actix_http::ws::handshake(req.head())
        .map_err(|e| ApiError::from(Error::validation("upgrade", "websocket", e.to_string())))?;
    let (writer_alive, reader_ends) = oneshot::channel();
    let stream = reader::Reader::new(body.into_inner(), MAX_FRAME_BYTES, reader_ends);
    let (out, commands) = queue::queue(OUT_QUEUE);
    let (response, socket) = writer::respond(
        handshake,
        commands,
        writer_alive,
        state.auctions.engine().clone(),
        state.lifecycle.sockets_closing(),
    )
    .map_err(|e| anyhow::anyhow!("the handshake response: {e}"))?;
    let state = state.into_inner();
    session::WsSession::create(move |ctx| {
        ctx.add_stream(stream);
        session::WsSession::new(user, state, out, socket, connection)
    });
    Ok(response)
}

#[cfg(test)]
mod tests {
    use actix_web::{App, http::StatusCode, test};

    use super::*;

    #[actix_web::test]
    async fn the_websocket_route_is_at_its_path() {
        let app = test::init_service(App::new().service(connect)).await;
        let response =
            test::call_service(&app, test::TestRequest::get().uri(PATH).to_request()).await;
        assert_ne!(response.status(), StatusCode::NOT_FOUND);
        let elsewhere = test::TestRequest::get().uri("/ws-not").to_request();
        let response = test::call_service(&app, elsewhere).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
