//! What the runtime's spine costs, each against the bare operation under it:
//! a typed config read against a raw `ArcSwap` load of the same value, a
//! reload of a 10 KB YAML document through ConfigActor (until subscribers
//! are told) against parsing the same text alone, and one actor message
//! round trip.
//!
//! Run: `cargo bench --bench spine`

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;

use arc_swap::ArcSwap;
use criterion::{Criterion, criterion_group, criterion_main};
use micro::config::{FileBackend, MemoryBackend, PreloadedConfig};
use micro_actors::{ConfigActor, ConfigMsg};
use ractor::{Actor, call};
use serde::Deserialize;

/// A small typed config, as a handler would read it.
#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
struct Db {
    host: String,
    port: u16,
    pool: u32,
}

/// One thread, as a service's request handlers see it; the actors run on
/// it too, so a message costs what the actor spine costs, not a thread
/// wake-up.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn config_reads(c: &mut Criterion) {
    let rt = runtime();
    let backend = MemoryBackend::new()
        .with_yaml("db", "host: db.internal\nport: 5432\npool: 16\n")
        .expect("yaml");
    let config = PreloadedConfig::new(["db"]).backend(backend);
    config.store(rt.block_on(config.load_candidate(1, &[])).expect("valid"));
    // get_config() reads the service running in the process: run one.
    let service = micro::Service::builder("bench", "bench").config(config.clone()).build();
    let handle = service.handle();
    let running = rt.spawn(async move { service.debug("127.0.0.1", 0).await });
    rt.block_on(handle.wait_running(std::time::Duration::from_secs(10)))
        .expect("the bench service runs");
    let raw = ArcSwap::from(Arc::new(config.get::<Db>("db").expect("typed")));

    let mut group = c.benchmark_group("typed read of a small struct");
    group.bench_function("raw ArcSwap::load_full", |b| b.iter(|| black_box(raw.load_full())));
    group.bench_function("config.typed::<Db>", |b| {
        b.iter(|| black_box(config.typed::<Db>(black_box("db"))));
    });
    group.bench_function("micro::get_config().typed::<Db>", |b| {
        b.iter(|| black_box(micro::get_config().typed::<Db>(black_box("db"))));
    });
    group.bench_function("config.get::<Db> (deserializes each time)", |b| {
        b.iter(|| black_box(config.get::<Db>(black_box("db"))));
    });
    group.finish();
    handle.stop().expect("running");
    let stopped = rt.block_on(running).expect("the run ends");
    assert_eq!(stopped.code(), 0, "{}", stopped.reason);
}

/// About 10 KB of YAML: many small entries, as a real service's document.
fn ten_kb_yaml() -> String {
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 10 * 1024 {
        let _ = writeln!(
            text,
            "upstream_{i}:\n  host: service-{i}.internal\n  port: {}\n  enabled: true\n  tags: [a, b]",
            8000 + i
        );
        i += 1;
    }
    text
}

fn reloads(c: &mut Criterion) {
    let rt = runtime();
    let text = ten_kb_yaml();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("routes.yaml"), &text).expect("write");
    let config = PreloadedConfig::new(["routes"]).backend(FileBackend::new(dir.path()));
    let actor = rt.block_on(async {
        let (actor, _) = Actor::spawn(None, ConfigActor, config.clone()).await.expect("spawn");
        call!(actor, ConfigMsg::Preload).expect("call").expect("preload");
        actor
    });

    let mut group = c.benchmark_group("reload of a 10 KB YAML document");
    group.bench_function("serde_yaml parse alone", |b| {
        b.iter(|| black_box(serde_yaml::from_str::<serde_json::Value>(black_box(&text)).expect("valid")));
    });
    // A reload that changes nothing is a no-op: each one reads the file
    // with one value changed (written before the timed part).
    let file = dir.path().join("routes.yaml");
    let mut round = 0_u64;
    group.bench_function("ConfigActor reload, until subscribers are told", |b| {
        b.to_async(&rt).iter_batched(
            || {
                round += 1;
                std::fs::write(&file, format!("{text}round: {round}\n")).expect("write");
            },
            |()| async {
                let mut updates = config.subscribe();
                let report = call!(actor, ConfigMsg::Reload).expect("call").expect("valid");
                assert!(!report.is_unchanged(), "each reload changes one value");
                updates.changed().await.expect("told");
                black_box(report)
            },
            criterion::BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn actor_round_trip(c: &mut Criterion) {
    let rt = runtime();
    let config = PreloadedConfig::new(["demo"]).backend(MemoryBackend::new().with_yaml("demo", "a: 1").expect("yaml"));
    let actor = rt.block_on(async {
        let (actor, _) = Actor::spawn(None, ConfigActor, config).await.expect("spawn");
        call!(actor, ConfigMsg::Preload).expect("call").expect("preload");
        actor
    });
    c.bench_function(
        "actor message round trip (Watch on a backend that does not watch)",
        |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(call!(actor, ConfigMsg::Watch).expect("call").expect("answered")) });
        },
    );
}

criterion_group!(benches, config_reads, reloads, actor_round_trip);
criterion_main!(benches);
