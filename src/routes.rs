//! The routes micro serves beside the service's own: health and version.
//!
//! | route | answer |
//! |---|---|
//! | `GET /healthcheck` | 200 `{"status", "name", "version", "description"}` while the process serves (the Python module's route) |
//! | `GET /health/live` | 200 while the process serves |
//! | `GET /health/ready` | 200 when ready for traffic, 503 before and from the first moment of shutdown |
//! | `GET /metrics` | Prometheus text: requests, latency, in flight, config, reloads, restarts, phases, build info (see `metrics.rs`) |
//! | `GET /version` | 200 `{"name", "version", "short", "package_version", "commit", "pid", "config_generation", "last_reload", "last_upgrade"}` |
//! | `GET /debug/config` | debug mode only: the configuration in force as YAML, secrets redacted |
//! | `GET /debug/lifecycle` | debug mode only: phase, uptime, restarts, and each phase's timing |
//!
//! Each answer is built from atomics and the config snapshot: no actor is
//! asked, no lock is taken.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use micro_actors::Readiness;
use micro_config::PreloadedConfig;
use serde_json::{Value, json};

use crate::version;

/// What the built-in routes report.
#[derive(Debug, Clone)]
pub(crate) struct Info {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) version: String,
    /// The service's build identity: package version and commit.
    pub(crate) build: crate::BuildVersion,
    pub(crate) readiness: Readiness,
    pub(crate) config: PreloadedConfig,
    /// Debug mode: the debug routes exist.
    pub(crate) debug: bool,
    /// The phase and its history, for `/debug/lifecycle`.
    pub(crate) handle: crate::ServiceHandle,
    /// The registered readiness checks, by name, and their last results.
    pub(crate) checks: Vec<String>,
    pub(crate) health: crate::health::Health,
    /// Requests being handled, for `/metrics`.
    pub(crate) in_flight: micro_actors::InFlight,
}

pub(crate) fn router(info: Info) -> Router {
    let mut router = Router::new()
        .route("/healthcheck", get(healthcheck))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/version", get(version_route));
    if crate::metrics::recorder().is_some() {
        router = router.route("/metrics", get(metrics));
    }
    if info.debug {
        router = router
            .route("/debug/config", get(debug_config))
            .route("/debug/lifecycle", get(debug_lifecycle));
    }
    let admin = &info.config.site().admin;
    if admin.enabled && admin.own_listener().is_none() {
        router = router
            .route("/admin/reload", axum::routing::post(admin_reload))
            .route("/admin/upgrade", axum::routing::post(admin_upgrade));
    }
    router.with_state(Arc::new(info))
}

/// The admin routes alone, for a listener of their own (`site.admin.listen`).
pub(crate) fn admin_router(info: Info) -> Router {
    Router::new()
        .route("/admin/reload", axum::routing::post(admin_reload))
        .route("/admin/upgrade", axum::routing::post(admin_upgrade))
        .with_state(Arc::new(info))
}

/// Whether the caller presented the bearer token in force; the answer to
/// give it when not.
fn authorize(info: &Info, headers: &axum::http::HeaderMap) -> Result<(), (StatusCode, Json<Value>)> {
    let admin = info.config.site().admin.clone();
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let authorized = admin.enabled && presented.is_some_and(|token| same(token.as_bytes(), admin.token.as_bytes()));
    if authorized {
        Ok(())
    } else {
        Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "a valid `Authorization: Bearer <site.admin.token>` is required"})),
        ))
    }
}

/// `POST /admin/upgrade`: an upgrade, as SIGUSR2 does, answered once the
/// new process serves (200, its pid; this one then drains) or with why
/// not (409 while another is under way, 502 when the new process failed,
/// 504 when it was not ready in time; this one serves on).
async fn admin_upgrade(State(info): State<Arc<Info>>, headers: axum::http::HeaderMap) -> (StatusCode, Json<Value>) {
    if let Err(refused) = authorize(&info, &headers) {
        return refused;
    }
    match info.handle.upgrade().await {
        Ok(report) => (
            StatusCode::OK,
            Json(json!({"pid": report.pid, "took_ms": report.took.as_secs_f64() * 1e3})),
        ),
        Err(err) => {
            let code = match err.outcome() {
                crate::upgrade::UpgradeOutcome::Refused => StatusCode::CONFLICT,
                crate::upgrade::UpgradeOutcome::TimedOut => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::BAD_GATEWAY,
            };
            (code, Json(json!({"error": err.to_string()})))
        }
    }
}

/// `POST /admin/reload`: a reload, as SIGHUP does, for callers that present
/// the bearer token in force.
async fn admin_reload(State(info): State<Arc<Info>>, headers: axum::http::HeaderMap) -> (StatusCode, Json<Value>) {
    if let Err(refused) = authorize(&info, &headers) {
        return refused;
    }
    match info.handle.reload().await {
        Ok(report) => (
            StatusCode::OK,
            Json(json!({
                "generation": report.generation,
                "changed": report.changed,
                "unchanged": report.is_unchanged(),
            })),
        ),
        Err(err @ micro_actors::ReloadError::Rejected { .. }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": err.to_string()})),
        ),
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": err.to_string()}))),
    }
}

/// `GET /metrics`: Prometheus text exposition format.
async fn metrics(State(info): State<Arc<Info>>) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let now = crate::metrics::Scrape {
        in_flight: info.in_flight.current(),
        generation: info.config.generation(),
        uptime: info.handle.status().uptime,
    };
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&now).unwrap_or_default(),
    )
}

/// Compares in time independent of where the texts differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

async fn debug_lifecycle(State(info): State<Arc<Info>>) -> Json<Value> {
    let status = info.handle.status();
    let history: Vec<Value> = info
        .handle
        .history()
        .iter()
        .map(|step| json!({"stage": step.phase.stage(), "phase": step.phase.as_str(), "took_ms": step.took.as_secs_f64() * 1e3}))
        .collect();
    Json(json!({
        "phase": format!("{:?}", status.phase).to_lowercase(),
        "uptime_s": status.uptime.map(|uptime| uptime.as_secs_f64()),
        "config_generation": status.generation,
        "restarts": status.restarts,
        "history": history,
    }))
}

async fn debug_config(State(info): State<Arc<Info>>) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let snapshot = info.config.snapshot();
    let body = format!("# generation {}\n{}", snapshot.generation(), snapshot.dump(false));
    (
        [(axum::http::header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
        body,
    )
}

fn status(info: &Info) -> &'static str {
    if info.readiness.get() { "ok" } else { "unavailable" }
}

async fn healthcheck(State(info): State<Arc<Info>>) -> Json<Value> {
    Json(json!({
        "status": status(&info),
        "name": info.name,
        "description": info.description,
        "version": version::short(&info.version),
    }))
}

async fn live() -> Json<Value> {
    Json(json!({ "status": "live" }))
}

async fn ready(State(info): State<Arc<Info>>) -> (StatusCode, Json<Value>) {
    let ready = info.readiness.get() && info.health.passing(&info.checks);
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let results = info.health.results();
    let checks: serde_json::Map<String, Value> = info
        .checks
        .iter()
        .map(|name| {
            let result = results.get(name).map_or_else(
                || json!({"ok": false, "error": "not run yet"}),
                |r| {
                    json!({
                        "ok": r.error.is_none(),
                        "error": r.error,
                        "at": humantime::format_rfc3339_millis(r.at).to_string(),
                        "took_ms": r.took.as_secs_f64() * 1e3,
                    })
                },
            );
            (name.clone(), result)
        })
        .collect();
    let status = if ready { "ok" } else { "unavailable" };
    // Off for shedding load (site.http.unready_shed_percent), said apart.
    let shedding = info.readiness.is_shedding();
    (
        code,
        Json(json!({ "status": status, "shedding": shedding, "checks": checks })),
    )
}

async fn version_route(State(info): State<Arc<Info>>) -> Json<Value> {
    Json(json!({
        "name": info.name,
        "version": info.version,
        "short": version::short(&info.version),
        "package_version": info.build.package(),
        "commit": info.build.git_commit(),
        "pid": std::process::id(),
        "config_generation": info.config.generation(),
        // Why a reload failed names files and keys: debug mode only; the
        // log has it in production.
        "last_reload": info.config.last_reload().map(|last| json!({
            "at": humantime::format_rfc3339_millis(last.at).to_string(),
            "ok": last.error.is_none(),
            "generation": last.generation,
            "error": if info.debug { last.error.clone() } else { None },
        })),
        // Why an upgrade failed is the new process's startup error, which
        // names files and keys: debug mode only, as for a reload.
        "last_upgrade": info.handle.last_upgrade().map(|last| json!({
            "at": humantime::format_rfc3339_millis(last.at).to_string(),
            "outcome": last.outcome.as_str(),
            "pid": last.pid,
            "took_ms": last.took.as_secs_f64() * 1e3,
            "reason": if info.debug { last.reason } else { None },
        })),
    }))
}
