//! Liveness, readiness and metrics.

use actix_web::{HttpRequest, HttpResponse, ResponseError, get, web};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::state::AppState;

/// How long `/ready` waits for the database before answering 503.
const READY_DB_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Register the probes and `/metrics` at the root.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health).service(ready).service(metrics);
}

/// The answer of `/health` and `/ready`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when a dependency is down.
    pub status: &'static str,
    /// Each checked dependency and its state (`ok` or an error code).
    #[schema(value_type = Object)]
    pub checks: serde_json::Value,
}

/// Liveness: the process answers.
#[utoipa::path(tag = "operations", responses((status = 200, body = Health)))]
#[get("/health")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        checks: json!({}),
    })
}

/// Readiness: the node is not stopping, and the database (and Redis, when
/// configured) answer.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health))
)]
#[get("/ready")]
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let mut checks = serde_json::Map::new();
    let mut ok = true;
    // A stopping node takes nothing new (see `lifecycle`).
    if state.lifecycle.draining() {
        checks.insert("node".into(), json!("stopping"));
        ok = false;
    }
    // A probe answers within this even when the pool waits for a connection.
    let ping = tokio::time::timeout(READY_DB_TIMEOUT, state.db.ping()).await;
    match ping {
        Ok(Ok(())) => {
            checks.insert("database".into(), json!("ok"));
        }
        Err(_) => {
            tracing::warn!("readiness: database did not answer in time");
            checks.insert("database".into(), json!("unreachable"));
            ok = false;
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            checks.insert("database".into(), json!("unreachable"));
            ok = false;
        }
    }
    if let Some(redis) = &state.redis {
        match redis.ping().await {
            Ok(()) => {
                checks.insert("redis".into(), json!("ok"));
            }
            Err(e) => {
                tracing::warn!(error = %e, "readiness: redis unreachable");
                checks.insert("redis".into(), json!("unreachable"));
                ok = false;
            }
        }
    }
    let body = Health {
        status: if ok { "ok" } else { "unavailable" },
        checks: checks.into(),
    };
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus text exposition: request counts, latency histograms and engine metrics.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
#[get("/metrics")]
async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if !may_read_metrics(&req, &state) {
        return crate::error::ApiError::from(blytz::Error::forbidden(
            "metrics are read from an address in BLYTZ_METRICS_ALLOW or with BLYTZ_METRICS_TOKEN",
        ))
        .error_response();
    }
    state.metrics.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

/// `/metrics` is for the operator: a client address in `BLYTZ_METRICS_ALLOW`,
/// or `Authorization: Bearer <BLYTZ_METRICS_TOKEN>`.
fn may_read_metrics(req: &HttpRequest, state: &AppState) -> bool {
    let config = &state.config;
    let allowed = state
        .limits
        .client_ip_of(req)
        .is_some_and(|ip| config.metrics_allow.iter().any(|net| net.contains(&ip)));
    let token = match (&config.metrics_token, crate::extract::bearer_token(req)) {
        // Compared as digests: the time taken says nothing of the token.
        (Some(expected), Some(given)) => {
            Sha256::digest(expected.expose_secret().as_bytes()) == Sha256::digest(given.as_bytes())
        }
        _ => false,
    };
    allowed || token
}
