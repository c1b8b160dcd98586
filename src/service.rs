//! [`Service`]: the configured service, and how it runs.

use std::sync::Arc;

use axum::Router;
use micro_actors::{Callback, LogError, LogFormat, LogSettings};
use micro_config::site::LogFormatSetting;
use micro_config::{PreloadedConfig, SiteConfig, Snapshot};

use crate::{ExitKind, ExitStatus, ServiceBuilder, ServiceHandle, version};

mod run;
#[cfg(feature = "testing")]
pub(crate) use run::SignalHandlers;

/// A log-settings hook registered with [`ServiceBuilder::log_configuration`].
pub(crate) type LogHook = Arc<dyn Fn(&mut LogSettings) + Send + Sync>;

/// The service's routes: given, or made once the init steps ran.
#[derive(Clone)]
pub(crate) enum App {
    Router(Router),
    With(Arc<dyn Fn(&crate::Resources) -> Router + Send + Sync>),
}

impl App {
    pub(crate) fn router(&self, resources: &crate::Resources) -> Router {
        match self {
            Self::Router(router) => router.clone(),
            Self::With(make) => make(resources),
        }
    }
}

pub(crate) use crate::supervisor::Mode;

/// A microservice: its app, configuration and callbacks, ready to run.
///
/// Built with [`Service::builder`]; run with [`debug`](Self::debug) or
/// [`production`](Self::production), which return when the service has
/// stopped. Cloning is cheap and every clone is the same service.
///
/// The names follow the Python `micro.common.service.Service` they succeed:
/// `config`, `config_site`, `configure_logging`, `debug`, `production`,
/// `get_version`.
///
/// ```
/// use axum::{Router, routing::get};
///
/// let service = micro::Service::builder("hello", "says hello")
///     .app(Router::new().route("/hello", get(|| async { "hello" })))
///     .init_callback(|| async { Ok(()) })
///     .build();
/// assert_eq!(service.name(), "hello");
/// assert_eq!(service.config_site().http.port, 8000);
/// ```
#[derive(Clone)]
pub struct Service {
    inner: Arc<ServiceInner>,
}

pub(crate) struct ServiceInner {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) version: String,
    /// The build identity the service was given.
    pub(crate) build: crate::BuildVersion,
    pub(crate) app: App,
    /// The tonic services served beside the app.
    pub(crate) grpc: crate::grpc::GrpcServices,
    /// What the resources opened, for `app_with`.
    pub(crate) resources: crate::Resources,
    /// The resources' release callbacks, in registration order.
    pub(crate) release: Vec<Callback>,
    pub(crate) config: PreloadedConfig,
    pub(crate) init: Vec<Callback>,
    pub(crate) finish: Vec<Callback>,
    pub(crate) reload: Vec<Callback>,
    pub(crate) workers: Vec<(micro_actors::Worker, crate::RestartPolicy)>,
    pub(crate) checks: Vec<Callback>,
    pub(crate) health: crate::health::Health,
    pub(crate) log_hook: Option<LogHook>,
    /// Where log lines go: stderr, or libtest's capture for a test service.
    pub(crate) log_output: micro_actors::LogOutput,
    /// The service's own tracing layers, taken by the install that puts the
    /// subscriber in place.
    pub(crate) log_layers: std::sync::Mutex<Vec<micro_actors::BoxedLayer>>,
    /// User code: the state an upgrade hands to the new process.
    pub(crate) upgrade_state: Option<crate::supervisor::UpgradeState>,
    pub(crate) handle: ServiceHandle,
}

impl Service {
    /// Starts building a service called `name`.
    ///
    /// ```
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// assert_eq!((service.name(), service.description()), ("hello", "says hello"));
    /// ```
    pub fn builder(name: impl Into<String>, description: impl Into<String>) -> ServiceBuilder {
        ServiceBuilder::new(name.into(), description.into())
    }

    pub(crate) fn from_inner(inner: Arc<ServiceInner>) -> Self {
        Self { inner }
    }

    pub(crate) fn inner_arc(&self) -> Arc<ServiceInner> {
        Arc::clone(&self.inner)
    }

    /// The service's name, on every log line.
    ///
    /// ```
    /// assert_eq!(micro::Service::builder("hello", "").build().name(), "hello");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The service's description.
    ///
    /// ```
    /// assert_eq!(micro::Service::builder("hello", "says hello").build().description(), "says hello");
    /// ```
    #[must_use]
    pub fn description(&self) -> &str {
        &self.inner.description
    }

    /// The configuration accessor.
    ///
    /// ```
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// assert_eq!(service.config().generation(), 0, "nothing loaded before the run");
    /// ```
    #[must_use]
    pub fn config(&self) -> &PreloadedConfig {
        &self.inner.config
    }

    /// The typed site config now in force (the defaults before startup).
    ///
    /// ```
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// assert_eq!(service.config_site().logging.level, "info");
    /// ```
    #[must_use]
    pub fn config_site(&self) -> Arc<SiteConfig> {
        self.inner.config.site()
    }

    /// The running version: the `REVISION` file in the working directory at
    /// build time, else `MICRO_REVISION`, else the commit the service's build
    /// captured ([`build_version!`](crate::build_version)), else its package
    /// version. `short_sha` cuts a commit hash to 7 characters.
    ///
    /// ```
    /// let service = micro::Service::builder("hello", "says hello").version("9.9.9").build();
    /// let full = service.get_version(false);
    /// assert!(full.starts_with(&service.get_version(true)));
    /// ```
    #[must_use]
    pub fn get_version(&self, short_sha: bool) -> String {
        if short_sha {
            version::short(&self.inner.version).to_owned()
        } else {
            self.inner.version.clone()
        }
    }

    /// A receiver of every configuration snapshot stored from now on: each
    /// accepted reload (with [`Snapshot::changed`]) and each document loaded
    /// on first use. The Rust side of "tell me when config changes".
    ///
    /// ```
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// let updates = service.subscribe();
    /// assert_eq!(updates.borrow().generation(), 0, "nothing loaded before the run");
    /// ```
    #[must_use]
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Arc<Snapshot>> {
        self.inner.config.subscribe()
    }

    /// A handle to stop, reload and observe the service from code.
    ///
    /// ```
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// assert_eq!(service.handle().status().phase, micro::Phase::Idle);
    /// ```
    #[must_use]
    pub fn handle(&self) -> ServiceHandle {
        self.inner.handle.clone()
    }

    /// Installs the process's log subscriber now, with the service's name
    /// and version on every line: human-readable when `debug`, JSON lines
    /// otherwise. Running the service does this itself; call it to log
    /// before the run. Installing twice only applies the level.
    ///
    /// When the program installed a global tracing subscriber of its own
    /// first, micro keeps it and works with it: micro's events (the
    /// service's too) go to that subscriber, a warning event says micro's
    /// settings are not applied, and `site.logging` (level, format,
    /// buffer), its reloads and `.log_layer(..)` layers have no effect; the
    /// program's subscriber filters and writes as it was set up to.
    ///
    /// Either way micro installs its panic hook, once per process: a panic
    /// is logged as an error event (`panicked: <message>`, with its
    /// location), then handed to the hook installed before micro's (the
    /// standard one, which prints it to stderr, when there was none).
    ///
    /// ```
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// service.configure_logging(true).unwrap();
    /// tracing::info!("logged with the service's name and version");
    /// ```
    ///
    /// With the program's own subscriber:
    ///
    /// ```
    /// tracing_subscriber::fmt().with_max_level(tracing::Level::DEBUG).init();
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// service.configure_logging(false).unwrap(); // warns; the fmt subscriber stays
    /// tracing::debug!("still written by the program's subscriber, at its level");
    /// ```
    pub fn configure_logging(&self, debug: bool) -> Result<(), LogError> {
        micro_actors::logger::install_with(&self.log_settings(debug), self.take_log_layers())
    }

    /// The layers added with `.log_layer(..)`, once.
    pub(crate) fn take_log_layers(&self) -> micro_actors::logger::ExtraLayers {
        let mut layers = self
            .inner
            .log_layers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        micro_actors::logger::ExtraLayers(std::mem::take(&mut *layers))
    }

    pub(crate) fn log_settings(&self, debug: bool) -> LogSettings {
        self.log_settings_for(&self.config_site(), debug)
    }

    /// The log settings `site` asks for, after the service's own hook.
    pub(crate) fn log_settings_for(&self, site: &SiteConfig, debug: bool) -> LogSettings {
        let mut settings = LogSettings {
            service: self.inner.name.clone(),
            version: self.get_version(true),
            format: match site.logging.format {
                LogFormatSetting::Pretty => LogFormat::Pretty,
                LogFormatSetting::Json => LogFormat::Json,
                LogFormatSetting::Auto if debug => LogFormat::Pretty,
                LogFormatSetting::Auto => LogFormat::Json,
            },
            level: site.logging.level.clone(),
            buffer_lines: site.logging.buffer_lines,
            output: self.inner.log_output,
        };
        if let Some(hook) = &self.inner.log_hook {
            hook(&mut settings);
        }
        settings
    }

    /// Runs the service on `host:port` (port 0: any free port) with
    /// human-readable logs, until SIGTERM, SIGINT or
    /// [`ServiceHandle::stop`]; returns how it ended.
    ///
    /// One service runs at a time in a process: while it runs,
    /// [`get_service`](crate::get_service) and
    /// [`get_config`](crate::get_config) refer to it, and another service's
    /// run returns at once with exit 70 naming it. The signals are handled
    /// for the run only: once it has returned, SIGTERM, SIGINT, SIGHUP and SIGUSR2
    /// take their default action again (the process is terminated).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// let handle = service.handle();
    /// tokio::spawn(async move {
    ///     handle.wait_running(std::time::Duration::from_secs(10)).await.unwrap();
    ///     handle.stop().unwrap();
    /// });
    /// assert_eq!(service.debug("127.0.0.1", 0).await.code(), 0);
    /// # }
    /// ```
    pub async fn debug(&self, host: &str, port: u16) -> ExitStatus {
        self.run(Mode::Debug {
            host: host.to_owned(),
            port: Some(port),
        })
        .await
    }

    /// Runs the service with JSON logs until stopped, and returns how it
    /// ended. It listens on `host` (`None`: `site.http.host`) and the port
    /// from `PORT`, else `site.http.port`. One service at a time, signals
    /// for the run only: as [`debug`](Self::debug).
    ///
    /// ```no_run
    /// #[tokio::main]
    /// async fn main() -> micro::ExitStatus {
    ///     let service = micro::Service::builder("hello", "says hello").build();
    ///     service.production("0.0.0.0").await // or .production(None): site.http.host
    /// }
    /// ```
    pub async fn production<'h>(&self, host: impl Into<Option<&'h str>>) -> ExitStatus {
        let host = host.into().map(str::to_owned);
        self.run(Mode::Production { host }).await
    }

    /// Loads and validates the configuration exactly as startup would —
    /// every preload, every layer, every validator — without binding or
    /// running callbacks; prints the effective configuration to stdout
    /// (secrets redacted; with `sources`, one line per value naming where it
    /// was set) and returns exit 0, or prints why it is invalid to stderr and
    /// returns exit 78. For a service's `--check-config` flag, as `nginx -t`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use micro::config::{MemoryBackend, PreloadedConfig};
    /// let bad = MemoryBackend::new().with_yaml("site", "http: {port: eighty}").unwrap();
    /// let service = micro::Service::builder("hello", "says hello")
    ///     .config(PreloadedConfig::new(["site"]).backend(bad))
    ///     .build();
    /// assert_eq!(service.check_config(false).await.code(), 78);
    /// # }
    /// ```
    pub async fn check_config(&self, sources: bool) -> ExitStatus {
        use std::io::Write as _;
        match self.inner.config.load_candidate(1, &[]).await {
            Ok(snapshot) => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(snapshot.dump(sources).as_bytes());
                let _ = out.flush();
                ExitStatus::unreported(ExitKind::Clean, "configuration valid".into())
            }
            Err(err) => {
                let reason = format!("configuration invalid: {err}");
                eprintln!("{reason}");
                ExitStatus::unreported(ExitKind::Config, reason)
            }
        }
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.inner.name)
            .field("version", &self.inner.version)
            .field("config", &self.inner.config)
            .field("init_callbacks", &self.inner.init.len())
            .field("finish_callbacks", &self.inner.finish.len())
            .finish_non_exhaustive()
    }
}
