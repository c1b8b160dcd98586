//! OpenTelemetry: every request a server span exported over OTLP, and a
//! handler that carries its trace into the call it makes, so the two spans
//! are one trace.
//!
//! Run, with a collector listening (an OpenTelemetry Collector, Jaeger or
//! Tempo on their OTLP/gRPC port):
//! `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 cargo run --example
//! 04_telemetry --features otel`, then `curl localhost:7000/checkout`; the
//! trace has `GET /checkout` and, its child, `GET /stock/{item}`. In
//! production mode (JSON lines), the lines logged inside each carry their
//! `trace_id` and `span_id`.

use axum::extract::Path;
use axum::http::{HeaderMap, header};
use axum::{Router, routing::get};

/// Asks the stock route (of this same service, to stay one program) over
/// HTTP, as a handler would ask another service.
async fn checkout(headers: HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or("127.0.0.1:7000")
        .to_owned();
    // The trace context of this request's span, for the call.
    let trace = micro::telemetry::headers();
    tracing::info!("asking the stock");
    let asked = tokio::task::spawn_blocking(move || {
        let mut call = ureq::get(&format!("http://{host}/stock/7"));
        for (name, value) in &trace {
            call = call.set(name.as_str(), value.to_str().unwrap_or_default());
        }
        call.call()
            .map_err(|err| err.to_string())?
            .into_string()
            .map_err(|err| err.to_string())
    })
    .await;
    match asked {
        Ok(Ok(stock)) => format!("checked out; {stock}"),
        Ok(Err(err)) => format!("no stock: {err}\n"),
        Err(err) => format!("no stock: {err}\n"),
    }
}

async fn stock(Path(item): Path<u32>) -> String {
    tracing::info!(item, "counting");
    format!("{} of item {item} left\n", item * 3)
}

#[tokio::main]
async fn main() -> micro::ExitStatus {
    let app = Router::new()
        .route("/checkout", get(checkout))
        .route("/stock/{item}", get(stock));
    micro::Service::builder("shop", "a trace across two calls")
        .app(app)
        .build()
        .debug("127.0.0.1", 7000)
        .await
}
