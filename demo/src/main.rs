//! `micro-demo`: the service a newcomer meets with `cargo run`.
//!
//! Debug mode on 127.0.0.1:7000 with the embedded default config; no file
//! needed. Its own routes make the runtime visible from outside:
//! `GET /hello` answers the `greeting` of config document `demo` (so a
//! reload shows), `GET /sleep/{ms}` answers after that many milliseconds (so
//! a drain shows).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use micro::axum::extract::Path;
use micro::axum::http::StatusCode;
use micro::axum::{
    Router,
    routing::{get, post},
};
use micro::config::{EnvBackend, FileBackend, Layered, LoadError, MemoryBackend, PreloadedConfig};

/// The demo's own config document, compiled in.
const DEMO_DEFAULTS: &str = "greeting: hello\n";

/// Longest `/sleep/{ms}` sleeps.
const MAX_SLEEP_MS: u64 = 600_000;

/// micro-demo: a service run by the micro runtime.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Host to listen on (default 127.0.0.1; in production site.http.host).
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on; 0 picks any free port. In production the default
    /// is PORT or site.http.port.
    #[arg(long)]
    port: Option<u16>,
    /// Configuration read over the embedded defaults: a directory of
    /// `<name>.yaml` files, or one YAML file whose top-level keys are the
    /// document names. `MICRO__<DOC>__<KEY>...` variables override both.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Reload by itself when a file under --config changes.
    #[arg(long)]
    watch_config: bool,
    /// Load and validate the configuration as startup would, print it
    /// (secrets redacted) and exit 0, or 78 when it is invalid.
    #[arg(long)]
    check_config: bool,
    /// With --check-config: show where each value was set.
    #[arg(long, requires = "check_config")]
    sources: bool,
    /// Run in production mode: JSON logs, no debug routes.
    #[arg(long)]
    production: bool,
    /// Make the demo's init callback take this long (e.g. `30s`), to watch
    /// a slow startup: readiness stays 503 and a signal stops it cleanly.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    init_delay: Option<Duration>,
    /// Fault: run a worker that panics after this long (e.g. `50ms`) each
    /// time it runs, to watch supervision restart it, then stop the service
    /// (exit 1) past site.supervision.max_restarts.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    panicking_worker: Option<Duration>,
    /// Fault: add a finish callback, ahead of the demo's own, that never
    /// returns: it is cut at site.shutdown.finish_timeout, and the demo's
    /// still runs.
    #[arg(long)]
    hanging_finish_callback: bool,
    #[command(flatten)]
    #[cfg(feature = "etcd")]
    etcd: EtcdArgs,
}

/// Configuration from etcd, between the files and the environment.
#[cfg(feature = "etcd")]
#[derive(Debug, clap::Args)]
struct EtcdArgs {
    /// etcd endpoints, comma-separated: documents are the YAML values under
    /// --etcd-prefix, watched and reloaded on change.
    #[arg(long, value_name = "URL[,URL]", value_delimiter = ',')]
    etcd: Vec<String>,
    /// Key prefix of the documents (default `/micro/micro-demo/`).
    #[arg(long, value_name = "PREFIX", requires = "etcd")]
    etcd_prefix: Option<String>,
    /// How long startup keeps trying to reach etcd before exiting 69.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "5s")]
    etcd_connect_timeout: Duration,
    /// When etcd cannot be reached at startup, start on the layers under it
    /// (embedded defaults and --config) and take etcd's documents once it
    /// answers, instead of exiting 69.
    #[arg(long, requires = "etcd")]
    etcd_fallback: bool,
    /// Turn /health/ready 503 while the etcd watch is down (by default the
    /// service stays ready on its last good config).
    #[arg(long, requires = "etcd")]
    etcd_unready_on_outage: bool,
}

#[tokio::main]
async fn main() -> micro::ExitStatus {
    let args = Args::parse();
    let init_delay = args.init_delay;
    let (config, etcd_check) = config(&args);
    let mut builder = micro::Service::builder("micro-demo", "the micro runtime's demo service");
    if let Some(check) = etcd_check {
        builder = builder.health_check("etcd", move || {
            let outcome = check();
            async move { outcome }
        });
    }
    if let Some(after) = args.panicking_worker {
        builder = builder.worker("panicking-worker", move |_| async move {
            tokio::time::sleep(after).await;
            panic!("the demo's panicking worker panicked, as asked");
            #[allow(unreachable_code)]
            Ok::<_, std::io::Error>(())
        });
    }
    if args.hanging_finish_callback {
        builder = builder.finish_callback(|| async {
            tracing::info!("demo finish callback: hanging, as asked");
            std::future::pending::<Result<(), std::io::Error>>().await
        });
    }
    let service = builder
        .app(app())
        .config(config)
        .init_callback(move || async move {
            if let Some(delay) = init_delay {
                tracing::info!("demo init callback: taking {} first", humantime::format_duration(delay));
                tokio::time::sleep(delay).await;
            }
            tracing::info!("demo init callback: ready to greet");
            Ok::<_, std::io::Error>(())
        })
        .finish_callback(|| async {
            tracing::info!("demo finish callback: goodbye");
            Ok::<_, std::io::Error>(())
        })
        .validate(|snapshot| {
            // The demo's own document has a schema too: a greeting is text.
            snapshot
                .get_path::<String>("demo.greeting")
                .map(drop)
                .map_err(|err| LoadError::Invalid {
                    at: snapshot.locate("demo.greeting"),
                    path: "demo.greeting".into(),
                    message: format!("a greeting must be text: {err}"),
                })
        })
        .version(micro::build_version!())
        .build();
    if args.check_config {
        service.check_config(args.sources).await
    } else if args.production {
        service.production(args.host.as_deref()).await
    } else {
        let host = args.host.as_deref().unwrap_or("127.0.0.1");
        service.debug(host, args.port.unwrap_or(7000)).await
    }
}

/// The etcd layer the flags ask for, if any.
#[cfg(feature = "etcd")]
fn etcd(args: &EtcdArgs) -> Option<micro::config::EtcdBackend> {
    if args.etcd.is_empty() {
        return None;
    }
    let backend = match &args.etcd_prefix {
        Some(prefix) => micro::config::EtcdBackend::new(args.etcd.clone(), prefix.clone()),
        None => micro::config::EtcdBackend::for_service("micro-demo", args.etcd.clone()),
    };
    Some(
        backend
            .connect_timeout(args.etcd_connect_timeout)
            .fallback(args.etcd_fallback)
            .watching(true),
    )
}

/// A readiness check: `Err` with why the service should get no traffic.
type ReadyCheck = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Embedded defaults < --config files < etcd < `MICRO__` variables < --port.
/// With `--etcd-unready-on-outage`, also a readiness check on etcd's watch.
fn config(args: &Args) -> (PreloadedConfig, Option<ReadyCheck>) {
    #[cfg_attr(not(feature = "etcd"), allow(unused_mut))]
    let mut check: Option<ReadyCheck> = None;
    let defaults = MemoryBackend::labelled("demo defaults")
        .with_yaml("demo", DEMO_DEFAULTS)
        .unwrap_or_default();
    let mut backend = Layered::new().layer(defaults);
    if let Some(path) = &args.config {
        backend = backend.layer(FileBackend::new(path).watching(args.watch_config));
    }
    #[cfg(feature = "etcd")]
    if let Some(etcd) = etcd(&args.etcd) {
        if args.etcd.etcd_unready_on_outage {
            let status = etcd.status();
            check = Some(Box::new(move || status.check()));
        }
        backend = backend.layer(etcd);
    }
    backend = backend.layer(EnvBackend::new("MICRO"));
    if let (true, Some(port)) = (args.production, args.port) {
        // In production the port comes from configuration; the flag is one more layer.
        let flag = MemoryBackend::labelled("--port").with_value("site", serde_json::json!({"http": {"port": port}}));
        backend = backend.layer(flag);
    }
    (PreloadedConfig::new(["site", "demo"]).backend(backend), check)
}

fn app() -> Router {
    Router::new()
        .route("/hello", get(hello))
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
