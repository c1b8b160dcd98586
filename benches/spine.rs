//! What the runtime's spine costs: a typed config read against the raw
//! atomic load under it, and one actor message round trip.
//!
//! Run: `cargo bench --bench spine`

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::sync::Arc;

use arc_swap::ArcSwap;
use criterion::{Criterion, criterion_group, criterion_main};
use micro::config::{MemoryBackend, PreloadedConfig};
use micro_actors::{ConfigActor, ConfigMsg};
use ractor::{Actor, call};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

fn config_reads(c: &mut Criterion) {
    let rt = runtime();
    let backend = MemoryBackend::new().with_yaml("demo", "greeting: hello").expect("yaml");
    let config = PreloadedConfig::new(["demo"]).backend(backend);
    let snapshot = rt.block_on(config.load_candidate(1, &[])).expect("valid");
    config.store(snapshot);
    let raw = ArcSwap::from(Arc::new(String::from("hello")));

    let mut group = c.benchmark_group("config read");
    group.bench_function("raw ArcSwap load + clone", |b| {
        b.iter(|| black_box(raw.load().as_str().to_owned()));
    });
    group.bench_function("get_path::<String>(demo.greeting)", |b| {
        b.iter(|| black_box(config.get_path::<String>(black_box("demo.greeting"))));
    });
    group.bench_function("micro::get_config() + get_path", |b| {
        let _service = micro::Service::builder("bench", "bench").config(config.clone()).build();
        b.iter(|| black_box(micro::get_config().get_path::<String>(black_box("demo.greeting"))));
    });
    group.finish();
}

fn actor_round_trip(c: &mut Criterion) {
    let rt = runtime();
    let config = PreloadedConfig::new(["demo"])
        .backend(MemoryBackend::new().with_yaml("demo", "greeting: hello").expect("yaml"));
    let actor = rt.block_on(async {
        let (actor, _) = Actor::spawn(None, ConfigActor, config).await.expect("spawn");
        call!(actor, ConfigMsg::Preload).expect("call").expect("preload");
        actor
    });
    c.bench_function("ConfigActor reload round trip (in-memory backend)", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(call!(actor, ConfigMsg::Reload).expect("call").expect("valid")) });
    });
}

criterion_group!(benches, config_reads, actor_round_trip);
criterion_main!(benches);
