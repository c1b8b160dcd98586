//! `micro-demo`: the service a newcomer meets with `cargo run`.
//!
//! Debug mode on 127.0.0.1:7000 with the embedded default config; no file
//! needed. Its own routes make the runtime visible from outside:
//! `GET /hello` answers the `greeting` of config document `demo` (so a
//! reload shows), `GET /greeted` how many greetings it gave, counted on
//! across upgrades (the count is the state handed to the new process),
//! `GET /sleep/{ms}` answers after that many milliseconds (so
//! a drain shows); `GET /ws` (a WebSocket echo) and `GET /events` (a
//! server-sent events ticker) end when the drain begins (`streams.rs`). Its
//! gRPC greeter (`proto/greeter.proto`, module `greeter`) is served on the
//! same port.

mod greeter;
mod streams;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Parser;
use micro::axum::extract::Path;
use micro::axum::http::StatusCode;
use micro::axum::{
    Router,
    routing::{get, post},
};
use micro::config::{MemoryBackend, PreloadedConfig};

/// The demo's own config document, compiled in.
const DEMO_DEFAULTS: &str = "greeting: hello\n";

/// The demo's own config document.
#[derive(Debug, serde::Deserialize)]
struct Demo {
    /// What `/hello` answers.
    #[allow(dead_code, reason = "read as a path by /hello; typed here to check it")]
    greeting: String,
}

/// Longest `/sleep/{ms}` sleeps.
const MAX_SLEEP_MS: u64 = 600_000;

/// micro-demo: a service run by the micro runtime.
#[derive(Debug, Parser)]
#[command(name = "micro", version, about)]
struct Args {
    /// The standard flags of every micro service.
    #[command(flatten)]
    micro: micro::cli::Args,
    /// Test-only fault injection, hidden from `--help`: the demo's init
    /// callback takes this long (e.g. `30s`), so the end-to-end tests can
    /// stop a slow startup.
    #[arg(long, hide = true, value_name = "DURATION", value_parser = humantime::parse_duration)]
    init_delay: Option<Duration>,
    /// Test-only fault injection, hidden from `--help`: a worker that
    /// panics after this long (e.g. `50ms`) each time it runs, so the
    /// end-to-end tests see supervision restart it, then stop the service
    /// (exit 1) past site.supervision.max_restarts.
    #[arg(long, hide = true, value_name = "DURATION", value_parser = humantime::parse_duration)]
    panicking_worker: Option<Duration>,
    /// Test-only fault injection, hidden from `--help`: a finish callback,
    /// ahead of the demo's own, that never returns, so the end-to-end tests
    /// see it cut at site.shutdown.finish_timeout and the demo's still run.
    #[arg(long, hide = true)]
    hanging_finish_callback: bool,
    /// Test-only fault injection, hidden from `--help`: `/ws` and
    /// `/events` ignore the shutdown signal, so the end-to-end tests see
    /// the drain cut them at site.shutdown.drain_timeout.
    #[arg(long, hide = true)]
    streams_ignore_shutdown: bool,
}

#[tokio::main]
async fn main() -> micro::ExitStatus {
    let mut args = Args::parse();
    if !args.micro.production && args.micro.port.is_none() {
        // The demo listens on 7000 in debug mode unless told otherwise.
        args.micro.port = Some(7000);
    }
    let init_delay = args.init_delay;
    let defaults = MemoryBackend::labelled("demo defaults")
        .with_yaml("demo", DEMO_DEFAULTS)
        .unwrap_or_default();
    let mut builder = micro::Service::builder("micro-demo", "the micro runtime's demo service");
    if let Some(after) = args.panicking_worker {
        builder = builder.worker("panicking-worker", move |_| async move {
            tokio::time::sleep(after).await;
            panic!("the demo's panicking worker panicked, as asked");
            #[allow(unreachable_code)]
            Ok(())
        });
    }
    if args.hanging_finish_callback {
        builder = builder.finish_callback_named("hang", || async {
            tracing::info!("demo finish callback: hanging, as asked");
            std::future::pending::<Result<(), micro::BoxError>>().await
        });
    }
    // Greetings given, counted on from what the process upgraded handed
    // over (read in the init callback: handed over when the run starts).
    let greeted = Arc::new(AtomicU64::new(0));
    let (handed, inherited) = (Arc::clone(&greeted), Arc::clone(&greeted));
    let builder = builder
        .app(app(!args.streams_ignore_shutdown, greeted))
        .upgrade_state(move || Ok(handed.load(Ordering::Relaxed).to_string().into_bytes()))
        .grpc(greeter::GreeterServer::new(greeter::Greeter))
        .config(PreloadedConfig::new(["site", "demo"]).backend(defaults))
        .init_callback_named("greet", move || {
            let inherited = Arc::clone(&inherited);
            async move {
                if let Some(delay) = init_delay {
                    tracing::info!("demo init callback: taking {} first", humantime::format_duration(delay));
                    tokio::time::sleep(delay).await;
                }
                let handed: Option<u64> =
                    micro::upgrade::inherited_state().and_then(|state| std::str::from_utf8(state).ok()?.parse().ok());
                if let Some(count) = handed {
                    inherited.store(count, Ordering::Relaxed);
                    tracing::info!("demo init callback: {count} greetings given before the upgrade");
                }
                tracing::info!("demo init callback: ready to greet");
                Ok(())
            }
        })
        .finish_callback_named("goodbye", || async {
            tracing::info!("demo finish callback: goodbye");
            Ok(())
        })
        // The demo's own document has a schema too: a greeting is text.
        .document::<Demo>("demo")
        .version(micro::build_version!());
    args.micro.run(builder).await
}

fn app(streams_heed_shutdown: bool, greeted: Arc<AtomicU64>) -> Router {
    let counted = Arc::clone(&greeted);
    streams::routes(streams_heed_shutdown)
        .route(
            "/hello",
            get(move || {
                counted.fetch_add(1, Ordering::Relaxed);
                hello()
            }),
        )
        .route(
            "/greeted",
            get(move || async move { format!("{}\n", greeted.load(Ordering::Relaxed)) }),
        )
        .route("/sleep/{ms}", get(sleep))
        .route("/echo", post(echo))
        .route("/panic", get(panic))
}

/// Panics, to show a panicking handler answered 500 with the process alive.
async fn panic() -> &'static str {
    panic!("the demo's /panic route panicked, as asked")
}

/// Answers the size of the body it was sent (bounded by `site.http.body_limit`).
async fn echo(body: micro::axum::body::Bytes) -> String {
    format!("{} bytes\n", body.len())
}

async fn hello() -> Result<String, (StatusCode, String)> {
    micro::get_config()
        .get_path::<String>("demo.greeting")
        .map_err(|err| (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))
}

async fn sleep(Path(ms): Path<u64>) -> Result<String, (StatusCode, String)> {
    if ms > MAX_SLEEP_MS {
        return Err((StatusCode::BAD_REQUEST, format!("at most {MAX_SLEEP_MS} ms")));
    }
    tracing::info!("sleeping {ms} ms");
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(format!("slept {ms} ms\n"))
}
