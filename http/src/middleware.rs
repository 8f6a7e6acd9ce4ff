//! App-wide middleware: request ids on every response and in 500 bodies,
//! request metrics, and the general rate limit.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use tracing_actix_web::RequestId;

use crate::error::{ApiError, ErrorBody};
use crate::extract::verified_claims;
use crate::limits::{Kind, LimitKey};
use crate::state::AppState;

/// The response header carrying the request id.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Paths that no rate limit applies to (probes, metrics, docs, the web
/// client's static files).
pub fn is_unlimited(path: &str) -> bool {
    matches!(
        path,
        "/health" | "/ready" | "/metrics" | "/api/openapi.json"
    ) || path.starts_with("/api/docs")
        || path.starts_with("/assets/")
        // Signed by the provider and bursty (LiveKit participant events).
        || path.starts_with("/api/v1/webhooks/")
        // Calls between the nodes of a cluster, counted where they came in.
        || path.starts_with(blytz::cluster::INTERNAL_PREFIX)
}

/// Adds `x-request-id` to every response, and replaces the body of every 500
/// with the plain error body whose details carry only the request id (the
/// cause is in the log, under the same id).
pub async fn request_ids<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().map(ToString::to_string);
    let mut res = next.call(req).await?;
    let header = id.as_deref().and_then(|id| HeaderValue::from_str(id).ok());
    if res.status() == StatusCode::INTERNAL_SERVER_ERROR {
        let mut fresh = HttpResponse::InternalServerError();
        if let Some(header) = header {
            fresh.insert_header((REQUEST_ID_HEADER, header));
        }
        let fresh = fresh.json(ErrorBody::internal(id.as_deref()));
        return Ok(res.into_response(fresh).map_into_right_body());
    }
    if let Some(header) = header {
        res.headers_mut().insert(REQUEST_ID_HEADER, header);
    }
    Ok(res.map_into_left_body())
}

/// Counts requests and records their latency, by method, route pattern and status.
pub async fn record_metrics<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    Ok(res)
}

/// The general limit: per user when the request carries a valid token, else
/// per client IP.
pub async fn rate_limit<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    if let Some(state) = state.filter(|_| !is_unlimited(req.path())) {
        let user = verified_claims(req.request()).ok().flatten();
        let key = match user {
            Some(claims) => Some(LimitKey::User(claims.user_id())),
            None => state.limits.client_ip_of_service(&req).map(LimitKey::Ip),
        };
        if let Some(key) = key
            && let Err(e) = state.limits.check(Kind::General, key).await
        {
            let response = ApiError::from(e).error_response();
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// The `Content-Security-Policy` of the API docs page, which loads its
/// script from a CDN.
const DOCS_CSP: &str = "default-src 'none'; script-src https://cdn.jsdelivr.net; \
    style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.scalar.com; \
    font-src 'self' data: https://cdn.jsdelivr.net https://fonts.scalar.com; \
    img-src 'self' data: https:; connect-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'none'";
/// The `Content-Security-Policy` of any other HTML answer that sets none.
const HTML_CSP: &str = "default-src 'self'; img-src 'self' data: https:; \
    media-src 'self' blob: https:; connect-src 'self' ws: wss: https:; \
    object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/// `X-Content-Type-Options`, `Referrer-Policy` and `X-Frame-Options` on
/// every answer, and a `Content-Security-Policy` on HTML answers.
pub async fn security_headers<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    use actix_web::http::header;
    let docs = req.path().starts_with("/api/docs");
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        let policy = if docs { DOCS_CSP } else { HTML_CSP };
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(policy),
        );
    }
    Ok(res)
}

/// CORS for the origins in `BLYTZ_CORS_ORIGINS` (and a page of this server
/// itself); none configured, no cross-origin call is allowed.
pub fn cors(origins: &[String]) -> actix_cors::Cors {
    let listed: Vec<String> = origins
        .iter()
        .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
        .collect();
    actix_cors::Cors::default()
        .allowed_origin_fn(move |origin, req| {
            let Ok(origin) = origin.to_str() else {
                return false;
            };
            let origin = origin.to_ascii_lowercase();
            // A page served by this server itself is not cross-origin.
            let host = req
                .headers
                .get(actix_web::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_ascii_lowercase);
            let same = host.is_some_and(|host| {
                origin == format!("http://{host}") || origin == format!("https://{host}")
            });
            same || listed.contains(&origin)
        })
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
        ])
        .expose_headers([REQUEST_ID_HEADER])
        .max_age(3600)
}
