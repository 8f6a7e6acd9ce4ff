//! Liveness, readiness and metrics.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::state::AppState;

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

/// Readiness: the database (and Redis, when configured) answer.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health))
)]
#[get("/ready")]
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let mut checks = serde_json::Map::new();
    let mut ok = true;
    match state.db.ping().await {
        Ok(()) => {
            checks.insert("database".into(), json!("ok"));
        }
        Err(e) => {
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
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.metrics.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
