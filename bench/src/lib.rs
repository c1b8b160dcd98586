//! The handlers every variant serves, so that the variants differ only in
//! what runs around them: `GET /hello` (a static text), `GET /sleep/{ms}`,
//! `GET /pool/{ms}` (the same sleep while holding one of [`POOL`] permits,
//! as a handler holds a database connection), `GET /busy` (503 with
//! `Retry-After` at once: what the cheapest refusal costs) and `POST /echo`.
//!
//! ```
//! let app = micro_bench::app();
//! # let _ = app;
//! ```

use std::sync::LazyLock;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};

/// The longest `/sleep/{ms}` sleeps.
const MAX_SLEEP_MS: u64 = 600_000;

/// The permits of `/pool/{ms}`: requests beyond it wait for one.
pub const POOL: usize = 64;

static PERMITS: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| tokio::sync::Semaphore::new(POOL));

/// The routes, without any layer.
///
/// ```
/// let app: axum::Router = micro_bench::app();
/// # let _ = app;
/// ```
pub fn app() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/sleep/{ms}", get(sleep))
        .route("/pool/{ms}", get(pooled))
        .route("/busy", get(busy))
        .route("/echo", post(|body: axum::body::Bytes| async move { body }))
}

async fn sleep(Path(ms): Path<u64>) -> String {
    tokio::time::sleep(Duration::from_millis(ms.min(MAX_SLEEP_MS))).await;
    format!("slept {ms} ms")
}

async fn busy() -> impl axum::response::IntoResponse {
    (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, "1")],
        "busy\n",
    )
}

async fn pooled(path: Path<u64>) -> String {
    // The semaphore is never closed.
    let _permit = PERMITS.acquire().await.ok();
    sleep(path).await
}
