//! Logging: pretty in development, JSON in production, filtered by `RUST_LOG`.

use actix_web::Error;
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{RequestHead, ServiceRequest, ServiceResponse};
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
            // its body. The session logs on its own, outside this span, and
            // a refused upgrade is logged with its request's fields at its
            // end (`on_request_end`).
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

    /// Records the outcome on the request's span, and logs a request that
    /// failed with an error: a warning for the client's error, an error for
    /// the server's. Inside the request's span, that event carries the
    /// span's fields; a WebSocket upgrade has no span, so its event names
    /// the request itself.
    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
        let (error, status, request) = match outcome {
            Ok(response) => match response.response().error() {
                Some(error) => (error, response.status(), Some(response.request())),
                None => return,
            },
            Err(error) => (error, error.as_response_error().status_code(), None),
        };
        match request.filter(|request| is_websocket_upgrade_of(request.path(), request.head())) {
            Some(request) => {
                let request_id = request
                    .extensions()
                    .get::<RequestId>()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let (method, target, code) = (request.method(), request.path(), status.as_u16());
                if status.is_client_error() {
                    tracing::warn!(http.method = %method, http.target = %target, http.status_code = code, %request_id, error = %error, "a WebSocket upgrade was refused");
                } else {
                    tracing::error!(http.method = %method, http.target = %target, http.status_code = code, %request_id, error = ?error, "a WebSocket upgrade failed");
                }
            }
            None if status.is_client_error() => {
                tracing::warn!(error = ?error, "a request was refused");
            }
            None => tracing::error!(error = ?error, "a request failed"),
        }
    }
}

/// A request to open a WebSocket: `/ws` asking for a protocol switch, as
/// actix-http reads `Connection: upgrade` to hand the connection to
/// [`crate::ws::upgrade`] (a plain `GET /ws` is an ordinary request,
/// refused as one).
fn is_websocket_upgrade(request: &ServiceRequest) -> bool {
    is_websocket_upgrade_of(request.path(), request.head())
}

fn is_websocket_upgrade_of(path: &str, head: &RequestHead) -> bool {
    path == crate::ws::PATH && head.upgrade()
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

    /// What a subscriber wrote.
    #[derive(Clone, Default)]
    struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Logs {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The log lines of ending `request` with `error`.
    fn logged_end(request: TestRequest, error: actix_web::Error) -> String {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let request = request.to_srv_request();
            let span = RequestSpan::on_request_start(&request);
            let response = request.error_response(error);
            RequestSpan::on_request_end(span, &Ok(response));
        });
        String::from_utf8(logs.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_refused_websocket_upgrade_is_logged_with_its_request_and_no_token() {
        let upgrade = TestRequest::get()
            .uri("/ws?token=secret-token")
            .insert_header(("connection", "Upgrade"))
            .insert_header(("upgrade", "websocket"));
        let logs = logged_end(upgrade, actix_web::error::ErrorUnauthorized("bad token"));
        assert!(logs.contains("a WebSocket upgrade was refused"), "{logs}");
        assert!(logs.contains("http.method=GET"), "{logs}");
        assert!(logs.contains("http.target=/ws"), "{logs}");
        assert!(logs.contains("http.status_code=401"), "{logs}");
        assert!(logs.contains("bad token"), "{logs}");
        assert!(!logs.contains("secret-token"), "{logs}");

        let api = TestRequest::get().uri("/api/v1/auctions");
        let logs = logged_end(api, actix_web::error::ErrorInternalServerError("broke"));
        assert!(logs.contains("a request failed"), "{logs}");
        assert!(logs.contains("ERROR"), "{logs}");
        assert!(!logs.contains("WebSocket"), "{logs}");
    }
}
