//! Configuration from files, init and finish callbacks, and a handle that
//! reloads and stops the service from code.
//!
//! Run: `cargo run --example 02_callbacks -- [CONFIG_DIR]`. With a
//! directory, `<dir>/site.yaml` and `<dir>/greeter.yaml` are read over the
//! defaults; edit them and send SIGHUP (or wait for the reload below).

use std::time::Duration;

use axum::{Router, routing::get};
use micro::config::{FileBackend, Layered, MemoryBackend, PreloadedConfig};
use serde::Deserialize;

/// The `greeter` config document, typed.
#[derive(Debug, Deserialize)]
struct Greeter {
    greeting: String,
    #[serde(default)]
    shout: bool,
}

async fn hello() -> String {
    match micro::get_config().get::<Greeter>("greeter") {
        Ok(g) if g.shout => g.greeting.to_uppercase(),
        Ok(g) => g.greeting,
        Err(err) => format!("misconfigured: {err}"),
    }
}

#[tokio::main]
async fn main() -> micro::ExitStatus {
    let defaults = MemoryBackend::labelled("greeter defaults")
        .with_yaml("greeter", "greeting: hello\n")
        .expect("the embedded defaults are valid YAML");
    let mut backend = Layered::new().layer(defaults);
    if let Some(dir) = std::env::args().nth(1) {
        backend = backend.layer(FileBackend::new(dir));
    }

    let service = micro::Service::builder("greeter", "greets, from configuration")
        .app(Router::new().route("/hello", get(hello)))
        .config(PreloadedConfig::new(["site", "greeter"]).backend(backend))
        .init_callback(|| async {
            // Open pools, warm caches... an error here stops startup (exit 70).
            let greeter: Greeter = micro::get_config().get("greeter")?;
            tracing::info!("will greet with {:?}", greeter.greeting);
            Ok(())
        })
        .finish_callback(|| async {
            tracing::info!("flushing what is left");
            Ok(())
        })
        .version(micro::build_version!())
        .build();

    // Code that embeds the service controls it through a handle.
    let handle = service.handle();
    tokio::spawn(async move {
        if handle.wait_running(Duration::from_secs(30)).await.is_ok() {
            match handle.reload().await {
                Ok(report) => tracing::info!("reloaded from code: {report}"),
                Err(err) => tracing::warn!("{err}"),
            }
        }
    });

    service.debug("127.0.0.1", 7000).await
}
