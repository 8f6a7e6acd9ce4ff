//! The web client (`http/web/`), embedded in the binary.
//!
//! `GET /` and the client's own pages (`/shows/…`, `/auctions/…`, `/orders…`,
//! `/sell…`, `/notifications`, `/signin`, `/register`) answer `index.html`,
//! never cached, with
//! a `Content-Security-Policy` that names only this server and, when they are
//! configured, LiveKit (its SDK's origin and the video server) and Stripe.
//! `GET /assets/{version}/{path}` serves the CSS, JavaScript modules and
//! pictures; `version` is a hash of every file, so a versioned URL never
//! changes content and is cached for a year. Modules import each other by
//! relative paths, which stay under the same version.
//!
//! `GET /sw.js` is the service worker (Web Push), at the root because a
//! worker's scope is its path; it is fetched again by browsers to look for
//! updates, so it is never cached and carries no version.
//!
//! `GET /api/v1/client-config` tells the page what this server offers.
//!
//! Release builds carry the files inside the binary; debug builds read them
//! from `http/web/` on each request, so an edit shows on the next reload.

use std::sync::OnceLock;

use actix_web::http::header::{self, CacheControl, CacheDirective, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};
use blytz::Config;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// The client's files.
#[derive(rust_embed::Embed)]
#[folder = "web/"]
struct Files;

/// The page every client route answers.
const INDEX: &str = "index.html";

/// Register the pages and assets (at the root, outside the API document).
pub fn configure(cfg: &mut web::ServiceConfig) {
    for path in [
        "/",
        "/signin",
        "/register",
        "/orders",
        "/orders/{tail:.*}",
        "/shows/{tail:.*}",
        "/auctions/{tail:.*}",
        "/sell",
        "/sell/{tail:.*}",
        "/notifications",
    ] {
        cfg.route(path, web::get().to(page));
    }
    cfg.service(service_worker).service(asset);
}

/// A hash of every file: the `{version}` of asset URLs.
fn version() -> String {
    fn compute() -> String {
        let mut paths: Vec<_> = Files::iter().collect();
        paths.sort();
        let mut hasher = Sha256::new();
        for path in paths {
            if let Some(file) = Files::get(&path) {
                hasher.update(path.as_bytes());
                hasher.update([0]);
                hasher.update(file.metadata.sha256_hash());
            }
        }
        hex::encode(&hasher.finalize()[..6])
    }
    if cfg!(debug_assertions) {
        // Read from disk: the files may have changed since the last request.
        return compute();
    }
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(compute).clone()
}

/// The `Content-Type` of a client file.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("webmanifest") => "application/manifest+json",
        Some("json") => "application/json",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// `scheme://host[:port]` of an absolute URL.
fn origin(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty() || rest.is_empty() {
        return None;
    }
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&url[..scheme.len() + 3 + host_end])
}

/// The origins a LiveKit URL means for the browser: the WebSocket and the
/// HTTP origin of the same host (the SDK uses both).
fn livekit_origins(url: &str) -> Vec<String> {
    let Some(origin) = origin(url) else {
        return Vec::new();
    };
    let Some((scheme, host)) = origin.split_once("://") else {
        return Vec::new();
    };
    let (ws, http) = match scheme {
        "wss" | "https" => ("wss", "https"),
        _ => ("ws", "http"),
    };
    vec![format!("{ws}://{host}"), format!("{http}://{host}")]
}

/// Whether video is configured (all three LiveKit settings).
fn livekit_url(config: &Config) -> Option<&str> {
    use secrecy::ExposeSecret;
    let set = |v: Option<&str>| v.is_some_and(|v| !v.trim().is_empty());
    let secret = config
        .livekit_api_secret
        .as_ref()
        .map(ExposeSecret::expose_secret);
    (set(config.livekit_api_key.as_deref()) && set(secret))
        .then_some(config.livekit_url.as_deref())
        .flatten()
        .map(str::trim)
        .filter(|url| !url.is_empty())
}

/// The Stripe publishable key, when Stripe payments are configured.
fn stripe_key(config: &Config) -> Option<&str> {
    config
        .stripe_secret_key
        .as_ref()
        .and(config.stripe_publishable_key.as_deref())
        .map(str::trim)
        .filter(|key| !key.is_empty())
}

/// Stripe.js: where it must be loaded from, and what it talks to.
const STRIPE_JS: &str = "https://js.stripe.com";
const STRIPE_API: &str = "https://api.stripe.com";
const STRIPE_HOOKS: &str = "https://hooks.stripe.com";

/// The policy of the client's pages. `socket` is this server's WebSocket
/// origin as the browser reached it (`'self'` does not cover `ws:` in every
/// browser).
fn content_security_policy(config: &Config, socket: Option<&str>) -> String {
    let mut script = vec!["'self'".to_owned()];
    let mut connect = vec!["'self'".to_owned()];
    let mut frame = Vec::new();
    connect.extend(socket.map(str::to_owned));
    if livekit_url(config).is_some() {
        script.extend(origin(&config.livekit_sdk_url).map(str::to_owned));
        connect.extend(livekit_url(config).map(livekit_origins).unwrap_or_default());
    }
    if stripe_key(config).is_some() {
        script.push(STRIPE_JS.to_owned());
        connect.push(STRIPE_API.to_owned());
        frame.extend([STRIPE_JS.to_owned(), STRIPE_HOOKS.to_owned()]);
    }
    if frame.is_empty() {
        frame.push("'none'".to_owned());
    }
    format!(
        "default-src 'self'; script-src {}; style-src 'self'; img-src 'self' data: blob: https:; \
         media-src 'self' blob:; font-src 'self'; connect-src {}; frame-src {}; \
         worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'",
        script.join(" "),
        connect.join(" "),
        frame.join(" ")
    )
}

/// `index.html` with its asset URLs versioned and every module preloaded.
fn render_index(version: &str) -> Option<String> {
    let file = Files::get(INDEX)?;
    let template = String::from_utf8_lossy(&file.data);
    let mut modules: Vec<_> = Files::iter()
        .filter(|p| p.starts_with("js/") && p.ends_with(".js"))
        .collect();
    modules.sort();
    let preload: String = modules
        .iter()
        .map(|p| format!("<link rel=\"modulepreload\" href=\"/assets/{version}/{p}\">\n  "))
        .collect();
    Some(
        template
            .replace("{{preload}}", preload.trim_end())
            .replace("{{version}}", version),
    )
}

/// Every client page: `index.html`, never cached, with the security headers.
async fn page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let version = version();
    let Some(html) = render_index(&version) else {
        return HttpResponse::NotFound().finish();
    };
    let info = req.connection_info();
    let socket = match info.scheme() {
        "https" => format!("wss://{}", info.host()),
        _ => format!("ws://{}", info.host()),
    };
    let policy = content_security_policy(&state.config, Some(&socket));
    let etag = format!(
        "\"{}\"",
        hex::encode(&Sha256::digest(format!("{html}\n{policy}"))[..8])
    );
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CONTENT_SECURITY_POLICY, policy))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "strict-origin-when-cross-origin"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((
            header::HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(self), microphone=(self), geolocation=()"),
        ));
    if fresh {
        return res.finish();
    }
    res.content_type(content_type(INDEX)).body(html)
}

/// A client file. Under the current version it is cached for a year; under
/// another (a page loaded before a deploy) the current file is served, not
/// cached.
#[get("/assets/{version}/{path:.*}")]
async fn asset(path: web::Path<(String, String)>) -> HttpResponse {
    let (asked, path) = path.into_inner();
    let file = (path != INDEX).then(|| Files::get(&path)).flatten();
    let Some(file) = file else {
        return HttpResponse::NotFound()
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .content_type("text/plain; charset=utf-8")
            .body("not found");
    };
    let cache = if asked == version() {
        CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(31_536_000),
            CacheDirective::Extension("immutable".into(), None),
        ])
    } else {
        CacheControl(vec![CacheDirective::NoCache])
    };
    HttpResponse::Ok()
        .content_type(content_type(&path))
        .insert_header(cache)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(file.data.into_owned())
}

/// The service worker's file.
const SERVICE_WORKER: &str = "sw.js";

/// The service worker, at the root of the site (its scope), never cached.
/// Its own policy: it only shows notifications and opens this site's pages.
#[get("/sw.js")]
async fn service_worker() -> HttpResponse {
    let Some(file) = Files::get(SERVICE_WORKER) else {
        return HttpResponse::NotFound().finish();
    };
    HttpResponse::Ok()
        .content_type(content_type(SERVICE_WORKER))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; object-src 'none'; base-uri 'none'",
        ))
        .body(file.data.into_owned())
}

/// What the web client needs to know about this server.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientConfig {
    /// The version of the client's files (part of their URLs).
    pub version: String,
    /// Video, when LiveKit is configured; null otherwise (shows have no video).
    pub livekit: Option<LiveKitClient>,
    /// Card payments, when Stripe is configured; null otherwise.
    pub stripe: Option<StripeClient>,
    /// `stripe`, or `manual` (the seller confirms payment).
    pub payments: &'static str,
}

/// How the client joins a show's video.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LiveKitClient {
    /// The ES module of LiveKit's browser SDK (`BLYTZ_LIVEKIT_SDK_URL`).
    pub sdk_url: String,
}

/// How the client takes card payments.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StripeClient {
    /// The Stripe publishable key (`STRIPE_PUBLISHABLE_KEY`).
    pub publishable_key: String,
}

/// The web client's settings: whether shows have video (and where the
/// LiveKit SDK is loaded from), and whether cards are taken with Stripe.
#[utoipa::path(tag = "client", responses((status = 200, body = ClientConfig)))]
#[get("/client-config")]
pub async fn client_config(state: web::Data<AppState>) -> HttpResponse {
    let config = &state.config;
    let stripe = stripe_key(config).map(|key| StripeClient {
        publishable_key: key.to_owned(),
    });
    let body = ClientConfig {
        version: version(),
        livekit: livekit_url(config).map(|_| LiveKitClient {
            sdk_url: config.livekit_sdk_url.clone(),
        }),
        payments: if stripe.is_some() { "stripe" } else { "manual" },
        stripe,
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_of_urls() {
        assert_eq!(
            origin("https://cdn.example.com/npm/x@1/+esm"),
            Some("https://cdn.example.com")
        );
        assert_eq!(
            origin("http://127.0.0.1:9/sdk.js"),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(
            origin("wss://video.example.com"),
            Some("wss://video.example.com")
        );
        assert_eq!(origin("not a url"), None);
        assert_eq!(
            livekit_origins("https://video.example.com/"),
            ["wss://video.example.com", "https://video.example.com"]
        );
        assert_eq!(
            livekit_origins("ws://127.0.0.1:7880"),
            ["ws://127.0.0.1:7880", "http://127.0.0.1:7880"]
        );
    }

    #[test]
    fn the_policy_names_livekit_and_stripe_only_when_configured() {
        let plain = Config::default();
        let policy = content_security_policy(&plain, None);
        assert!(!policy.contains("jsdelivr"), "{policy}");
        assert!(!policy.contains("stripe"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"));

        let video = Config {
            livekit_url: Some("wss://video.example.com".into()),
            livekit_api_key: Some("key".into()),
            livekit_api_secret: Some("secret".to_owned().into()),
            ..Config::default()
        };
        let policy = content_security_policy(&video, Some("ws://127.0.0.1:8080"));
        assert!(
            policy.contains("script-src 'self' https://cdn.jsdelivr.net;"),
            "{policy}"
        );
        assert!(
            policy.contains(
                "connect-src 'self' ws://127.0.0.1:8080 wss://video.example.com https://video.example.com;"
            ),
            "{policy}"
        );
    }

    #[test]
    fn every_module_is_versioned_and_preloaded() {
        let html = render_index("abc").unwrap_or_default();
        assert!(html.contains("/assets/abc/js/main.js"), "{html}");
        assert!(html.contains("rel=\"modulepreload\" href=\"/assets/abc/js/api.js\""));
        assert!(!html.contains("{{"));
    }
}
