//! Logging: pretty in development, JSON in production, filtered by `RUST_LOG`.

use actix_web::Error;
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use blytz::config::Environment;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};
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

/// The root span of every request, as `tracing_actix_web`'s default but
/// with the path alone as `http.target`: a query string may carry an access
/// token (`GET /ws?token=`), and no token may reach a log line.
#[derive(Debug)]
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        if is_websocket_upgrade(request) {
            // A WebSocket's response body is the connection's writer, polled
            // for every frame it writes for as long as the connection lives,
            // and a request's span is entered and left around each poll of
            // its body. The session logs on its own, outside this span; a
            // refused upgrade is still logged, without the request's fields.
            return Span::none();
        }
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "default".to_owned());
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.path(),
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// A request to open a WebSocket: `/ws` asking for a protocol switch, as
/// actix-http reads `Connection: upgrade` to hand the connection to
/// [`crate::ws::upgrade`] (a plain `GET /ws` is an ordinary request,
/// refused as one).
fn is_websocket_upgrade(request: &ServiceRequest) -> bool {
    request.path() == crate::ws::PATH && request.head().upgrade()
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn a_websocket_upgrade_gets_no_request_span_and_other_requests_do() {
        tracing::subscriber::with_default(tracing_subscriber::registry(), || {
            let ws = TestRequest::get()
                .uri("/ws?token=t")
                .insert_header(("connection", "keep-alive, Upgrade"))
                .insert_header(("upgrade", "websocket"))
                .to_srv_request();
            assert!(RequestSpan::on_request_start(&ws).is_none());
            let plain = TestRequest::get().uri("/ws?token=t").to_srv_request();
            assert!(!RequestSpan::on_request_start(&plain).is_none());
            let api = TestRequest::get()
                .uri("/api/v1/auctions")
                .insert_header(("connection", "upgrade"))
                .insert_header(("upgrade", "websocket"))
                .to_srv_request();
            assert!(!RequestSpan::on_request_start(&api).is_none());
        });
    }
}
