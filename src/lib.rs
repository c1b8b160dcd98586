//! micro: the runtime a microservice embeds.
//!
//! It owns everything a service does besides its handlers: load the
//! configuration and preload it, log with the service's name and version on
//! every line, run init callbacks in order, serve the service's axum app,
//! reload configuration on SIGHUP, upgrade to a new build on SIGUSR2
//! without closing its sockets ([`upgrade`]), and stop gracefully on
//! SIGTERM — drain in-flight requests, run finish callbacks, flush logs,
//! exit with a code that says why.
//!
//! It succeeds the Python module `micro.common.service`, whose names it
//! keeps: [`Service`] with [`debug`](Service::debug),
//! [`production`](Service::production), [`config`](Service::config),
//! [`config_site`](Service::config_site),
//! [`configure_logging`](Service::configure_logging) and
//! [`get_version`](Service::get_version); [`PreloadedConfig`];
//! [`get_config`] and [`get_service`].
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use micro::config::{FileBackend, PreloadedConfig};
//!
//! #[tokio::main]
//! async fn main() -> micro::ExitStatus {
//!     let config = PreloadedConfig::new(["site", "greeter"]).backend(FileBackend::new("config"));
//!     let app = Router::new().route(
//!         "/hello",
//!         get(|| async { micro::get_config().get_path::<String>("greeter.greeting").unwrap_or_default() }),
//!     );
//!     micro::Service::builder("greeter", "says hello")
//!         .app(app)
//!         .config(config)
//!         .init_callback(|| async { Ok(()) })
//!         .build()
//!         .production("0.0.0.0")
//!         .await
//! }
//! ```
//!
//! Inside, a supervisor actor spawns a ConfigActor, a LoggerActor, one
//! CallbackActor per callback and an HttpActor (crate [`micro_actors`]),
//! orders their startup and shutdown and talks to them only by messages.
//! Requests and config reads never pass through an actor.

mod builder;
#[cfg(feature = "cli")]
pub mod cli;
mod exit;
mod global;
#[cfg_attr(not(feature = "grpc"), path = "grpc/off.rs")]
mod grpc;
mod handle;
mod health;
mod metrics;
mod phases;
mod report;
mod resources;
mod restart;
mod routes;
mod service;
mod signals;
mod supervisor;
mod systemd;
#[cfg(feature = "otel")]
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod upgrade;
mod version;

pub use builder::ServiceBuilder;
pub use exit::{ExitKind, ExitStatus, StartError};
pub use global::{ConfigRef, get_config, get_service};
#[cfg(feature = "grpc")]
pub use grpc::GrpcService;
pub use handle::{NotRunning, Phase, PhaseRecord, ServiceHandle, Status, WaitError};
pub use micro_actors::{BindError, BoxError, CallbackError, Changes, LogError, Shutdown};
pub use micro_actors::{DrainReport, LogFormat, LogSettings, ReloadError, ReloadReport};
pub use micro_config::PreloadedConfig;
pub use phases::{LifecyclePhase, ShutdownPhase, StartupPhase};
pub use report::{PreDrainEnd, PreDrainReport, ShutdownReport, StopCause};
pub use resources::Resources;
pub use restart::RestartPolicy;
pub use service::Service;
pub use version::BuildVersion;

/// The configuration crate: backends, snapshots, the site schema.
pub use micro_config as config;

/// The axum micro is built on: use it for the service's routes (`micro::axum::Router`),
/// so the router a service hands over is always the version micro serves.
pub use axum;

/// The README's Rust examples, compiled as doctests so they stay true.
#[cfg(all(doctest, feature = "cli", feature = "testing"))]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
