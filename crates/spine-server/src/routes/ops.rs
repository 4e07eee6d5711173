//! Operations: liveness, readiness, Prometheus metrics, and the landing page at `/`.

use crate::error::{ApiError, Problem};
use crate::metrics;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

/// The operations routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(landing))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(prometheus))
}

/// A health answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// How long `/readyz` waits for the database: a probe must be answered promptly (a pool waiting
/// for a connection would otherwise hold it for its whole acquire timeout), and a database that
/// takes longer is not ready.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The database answers and migrations are applied.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Not ready", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    match tokio::time::timeout(READY_TIMEOUT, state.store.ready()).await {
        Ok(Ok(())) => Ok(Json(Health { status: "ok" })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready");
            Err(ApiError::Unavailable("the database is not ready".into()))
        }
        Err(_) => {
            tracing::warn!(timeout = ?READY_TIMEOUT, "not ready: the database did not answer");
            Err(ApiError::Unavailable("the database did not answer in time".into()))
        }
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus metrics", content_type = "text/plain", body = String)))]
pub async fn prometheus() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics::render())
}

const LANDING: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Spine</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}
code{background:#f3f3f3;padding:0 .25rem}a{color:#0b5cad}</style></head>
<body>
<h1>Spine</h1>
<p>An activity event service: it records what happens in a product as an immutable,
tenant-isolated log and serves it back as feeds, timelines and stats.</p>
<ul>
<li><a href="/docs">API documentation</a> (Swagger UI)</li>
<li><a href="/openapi.json">OpenAPI document</a></li>
<li><a href="/healthz">/healthz</a> and <a href="/readyz">/readyz</a></li>
</ul>
<p>The built-in Activity Center (live feed, read state, admin pages) is coming; until then, use
the API with a key sent as <code>Authorization: Bearer spk_...</code>.</p>
</body>
</html>
"#;

/// A small landing page pointing at the documentation.
#[utoipa::path(get, path = "/", tag = "operations",
    responses((status = 200, description = "Landing page", content_type = "text/html", body = String)))]
pub async fn landing() -> Html<&'static str> {
    Html(LANDING)
}
