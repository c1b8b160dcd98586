//! What micro's HTTP layer stack costs per request, in process (no socket):
//! the same "hello" route called through `tower::ServiceExt::oneshot` bare,
//! with every layer micro adds, and with the optional ones switched off.
//!
//! Run: `cargo bench --bench layers`

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use micro_actors::http::with_layers;
use micro_actors::{HttpLayers, HttpLimits, InFlight};
use tower::ServiceExt as _;

fn hello() -> Router {
    Router::new().route("/hello", get(|| async { "hello" }))
}

fn layer_stack(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let off = HttpLayers {
        request_id: false,
        trace: false,
        catch_panic: false,
        metrics: false,
        timeout: false,
        limit_body: false,
    };
    // Recorded into a real Prometheus recorder, as a service does.
    let _ = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder();
    let routers = [
        ("bare axum", hello()),
        (
            "micro, every layer",
            with_layers(
                hello(),
                HttpLimits::default(),
                HttpLayers::default(),
                InFlight::default(),
            ),
        ),
        (
            "micro, optional layers off",
            with_layers(hello(), HttpLimits::default(), off, InFlight::default()),
        ),
        (
            "micro, metrics only",
            with_layers(
                hello(),
                HttpLimits::default(),
                HttpLayers { metrics: true, ..off },
                InFlight::default(),
            ),
        ),
    ];
    let mut group = c.benchmark_group("one request through the layer stack");
    for (name, router) in routers {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let request = Request::get("/hello").body(Body::empty()).expect("request");
                black_box(router.clone().oneshot(request).await.expect("answered"))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, layer_stack);
criterion_main!(benches);
