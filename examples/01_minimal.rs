//! The smallest service: one route, debug mode, embedded default config.
//!
//! Run: `cargo run --example 01_minimal`, then `curl localhost:7000/hello`;
//! stop with Ctrl-C.

use axum::{Router, routing::get};

#[tokio::main]
async fn main() -> micro::ExitStatus {
    micro::Service::builder("minimal", "the smallest micro service")
        .app(Router::new().route("/hello", get(|| async { "hello\n" })))
        .build()
        .debug("127.0.0.1", 7000)
        .await
}
