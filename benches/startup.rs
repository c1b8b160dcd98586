//! Supervisor startup with N init callbacks: from `service.debug(..)` to
//! the service running (config loaded, logger installed, N CallbackActors
//! spawned and run in order, listener open), on one runtime thread. The
//! stop after each start is not measured.
//!
//! Run: `cargo bench --bench startup`

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use micro::config::{MemoryBackend, PreloadedConfig};

const BOUND: Duration = Duration::from_secs(10);

fn service(callbacks: usize) -> micro::Service {
    let site = MemoryBackend::new()
        .with_yaml("site", "logging:\n  level: error\n")
        .expect("yaml");
    let mut builder =
        micro::Service::builder("bench", "startup bench").config(PreloadedConfig::new(["site"]).backend(site));
    for _ in 0..callbacks {
        builder = builder.init_callback(|| async { Ok(()) });
    }
    builder.build()
}

fn startup(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("supervisor startup until running");
    group.sample_size(30);
    for callbacks in [0_usize, 10, 100] {
        group.bench_with_input(BenchmarkId::new("init callbacks", callbacks), &callbacks, |b, &n| {
            b.to_async(&rt).iter_custom(|iterations| async move {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let service = service(n);
                    let handle = service.handle();
                    let started = Instant::now();
                    let running = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
                    handle.wait_running(BOUND).await.expect("running");
                    total += started.elapsed();
                    handle.stop().expect("stop");
                    let exit = running.await.expect("joined");
                    assert_eq!(exit.code(), 0, "{}", exit.reason);
                }
                total
            });
        });
    }
    group.finish();
}

criterion_group!(benches, startup);
criterion_main!(benches);
