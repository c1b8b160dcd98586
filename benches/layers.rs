//! What micro's HTTP layer stack costs per request, in process (no socket):
//! the same "hello" route called through `tower::ServiceExt::oneshot` bare,
//! with every layer micro adds, with them all off, and with one on at a time.
//!
//! Run: `cargo bench --bench layers`

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::convert::Infallible;
use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use axum::routing::get;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use micro_actors::http::with_layers;
use micro_actors::{HttpLayers, HttpLimits, InFlight};
use tokio::runtime::Runtime;
use tower::{Service, ServiceExt as _};

fn hello() -> Router {
    Router::new().route("/hello", get(|| async { "hello" }))
}

fn one<S, B>(group: &mut BenchmarkGroup<'_, WallTime>, rt: &Runtime, name: &str, service: &S)
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone,
{
    group.bench_function(name, |b| {
        b.to_async(rt).iter(|| async {
            let request = Request::get("/hello").body(Body::empty()).expect("request");
            black_box(service.clone().oneshot(request).await.expect("answered"))
        });
    });
}

fn layer_stack(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Recorded into a real Prometheus recorder, as a service does.
    let _ = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder();
    let off = HttpLayers {
        request_id: false,
        trace: false,
        catch_panic: false,
        metrics: false,
        timeout: false,
        limit_body: false,
        header_timeout: false,
        server_spans: false,
    };
    let limits = HttpLimits::default();
    let mut group = c.benchmark_group("one request through the layer stack");
    one(&mut group, &rt, "bare axum", &hello());
    one(
        &mut group,
        &rt,
        "micro, every layer",
        &with_layers(hello(), limits, HttpLayers::default(), InFlight::default()),
    );
    one(
        &mut group,
        &rt,
        "micro, every optional layer off",
        &with_layers(hello(), limits, off, InFlight::default()),
    );
    let single: [(&str, HttpLayers); 6] = [
        (
            "micro, only request_id",
            HttpLayers {
                request_id: true,
                ..off
            },
        ),
        ("micro, only trace", HttpLayers { trace: true, ..off }),
        (
            "micro, only catch_panic",
            HttpLayers {
                catch_panic: true,
                ..off
            },
        ),
        ("micro, only metrics", HttpLayers { metrics: true, ..off }),
        ("micro, only timeout", HttpLayers { timeout: true, ..off }),
        (
            "micro, only limit_body",
            HttpLayers {
                limit_body: true,
                ..off
            },
        ),
    ];
    for (name, layers) in single {
        one(
            &mut group,
            &rt,
            name,
            &with_layers(hello(), limits, layers, InFlight::default()),
        );
    }
    group.finish();
}

criterion_group!(benches, layer_stack);
criterion_main!(benches);
