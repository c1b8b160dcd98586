//! A tracing layer of the service's own, plugged with `.log_layer(..)`:
//! it sees what the configured level lets through, nothing below it. Its
//! own test binary, since the subscriber is installed once per process.

mod logged;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use micro::Service;
use micro::config::{MemoryBackend, PreloadedConfig};
use tracing_subscriber::layer::Context;

/// One service runs at a time in a process: the tests of this file take turns.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Keeps the message of every event it sees.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Collect {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        self.0.lock().expect("lock").push(logged::message(event));
    }
}

#[tokio::test]
async fn a_plugged_layer_sees_the_events_the_level_lets_through() {
    let _turn = TURN.lock().await;
    let seen = Collect::default();
    let site = MemoryBackend::new()
        .with_yaml("site", "logging:\n  level: info\n")
        .expect("yaml");
    let service = Service::builder("layered", "logs into a layer of its own")
        .config(PreloadedConfig::new(["site"]).backend(site))
        .log_layer(seen.clone())
        .init_callback(|| async {
            tracing::info!("init says hi");
            tracing::debug!("below the level");
            Ok(())
        })
        .build();
    let handle = service.handle();
    let running = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    handle.wait_running(Duration::from_secs(20)).await.expect("running");
    handle.stop().expect("stop");
    let exit = tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("stopped in time")
        .expect("joined");
    assert_eq!(exit.code(), 0, "{}", exit.reason);

    let seen = seen.0.lock().expect("lock").clone();
    assert!(seen.iter().any(|m| m == "init says hi"), "{seen:?}");
    assert!(
        seen.iter().any(|m| m.starts_with("started layered")),
        "micro's own lines too: {seen:?}"
    );
    assert!(!seen.iter().any(|m| m == "below the level"), "{seen:?}");
}
