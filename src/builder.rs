//! [`ServiceBuilder`]: everything a service is made of, named before it runs.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use micro_actors::{BoxError, Callback, LogSettings};
use micro_config::{LoadError, PreloadedConfig};

use crate::service::{LogHook, ServiceInner};
use crate::{Service, ServiceHandle, version};

/// Builds a [`Service`]; from [`Service::builder`].
///
/// ```
/// use micro::config::{MemoryBackend, PreloadedConfig};
///
/// let config = PreloadedConfig::new(["site", "db"])
///     .backend(MemoryBackend::new().with_yaml("db", "url: postgres://db/app").unwrap());
/// let service = micro::Service::builder("orders", "takes orders")
///     .config(config)
///     .config_site_path(["site"])
///     .init_callback(|| async { Ok::<_, std::io::Error>(()) })
///     .finish_callback(|| async { Ok::<_, std::io::Error>(()) })
///     .log_configuration(|settings| settings.level = "info,orders=debug".into())
///     .version("1.4.0")
///     .build();
/// assert_eq!(service.config().preloads(), ["site", "db"]);
/// ```
#[must_use]
pub struct ServiceBuilder {
    name: String,
    description: String,
    app: Router,
    config: Option<PreloadedConfig>,
    site_path: Vec<String>,
    init: Vec<Callback>,
    finish: Vec<Callback>,
    reload: Vec<Callback>,
    workers: Vec<(micro_actors::Worker, crate::RestartPolicy)>,
    checks: Vec<Callback>,
    log_hook: Option<LogHook>,
    log_layers: Vec<micro_actors::BoxedLayer>,
    validators: Vec<micro_config::Validator>,
    version: Option<String>,
}

impl ServiceBuilder {
    pub(crate) fn new(name: String, description: String) -> Self {
        Self {
            name,
            description,
            app: Router::new(),
            config: None,
            site_path: Vec::new(),
            init: Vec::new(),
            finish: Vec::new(),
            reload: Vec::new(),
            workers: Vec::new(),
            checks: Vec::new(),
            log_hook: None,
            log_layers: Vec::new(),
            validators: Vec::new(),
            version: None,
        }
    }

    /// The service's own routes, served beside micro's built-in ones.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// let service = micro::Service::builder("hello", "says hello")
    ///     .app(Router::new().route("/hello", get(|| async { "hello" })))
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn app(mut self, app: Router) -> Self {
        self.app = app;
        self
    }

    /// The configuration accessor; without one, only the site document is
    /// loaded: its embedded defaults with `MICRO__SITE__...` variables over them.
    ///
    /// ```
    /// use micro::config::{FileBackend, PreloadedConfig};
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .config(PreloadedConfig::new(["site", "db"]).backend(FileBackend::new("/etc/orders")))
    ///     .build();
    /// assert_eq!(service.config().preloads(), ["site", "db"]);
    /// ```
    pub fn config(mut self, config: PreloadedConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Where the site config sits: `["site"]` (the default), or e.g.
    /// `["hipchat", "site"]` for key `site` of document `hipchat`.
    ///
    /// ```
    /// let service = micro::Service::builder("chat", "chats")
    ///     .config_site_path(["hipchat", "site"])
    ///     .build();
    /// assert_eq!(service.config().site_path_keys(), ["hipchat", "site"]);
    /// ```
    pub fn config_site_path<I, S>(mut self, path: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.site_path = path.into_iter().map(Into::into).collect();
        self
    }

    /// An async callback run at startup, after config and logging and before
    /// the listener opens, in registration order. An error, a panic or
    /// running past `site.startup.init_timeout` fails startup (exit 70).
    ///
    /// ```
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .init_callback(|| async {
    ///         // connect to the database, warm caches...
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn init_callback<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let name = format!("init[{}]", self.init.len());
        self.init.push(Callback::new(&name, f));
        self
    }

    /// An async callback run at shutdown, after the drain, in registration
    /// order, each bounded by `site.shutdown.finish_timeout`; one failing
    /// does not stop the others.
    ///
    /// ```
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .finish_callback(|| async {
    ///         // flush buffers, say goodbye to peers...
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn finish_callback<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let name = format!("finish[{}]", self.finish.len());
        self.finish.push(Callback::new(&name, f));
        self
    }

    /// An async callback run after each accepted reload with the key paths
    /// that changed (never their values), in registration order, each
    /// bounded by `site.actors.call_timeout`. A failing one is logged; the
    /// new configuration stays in force.
    ///
    /// ```
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .on_reload(|changed| async move {
    ///         if changed.iter().any(|path| path.starts_with("db.")) {
    ///             // reconnect the pool...
    ///         }
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn on_reload<F, Fut, E>(mut self, f: F) -> Self
    where
        F: Fn(micro_actors::Changes) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let name = format!("reload[{}]", self.reload.len());
        self.reload.push(Callback::on_reload(&name, f));
        self
    }

    /// A background task supervised for the service's whole life (a queue
    /// consumer, a cache refresher): started after the init callbacks,
    /// restarted with backoff whenever it ends or fails
    /// ([`RestartPolicy::Permanent`](crate::RestartPolicy)), asked to stop
    /// through its [`Shutdown`](crate::Shutdown) in the shutdown's finish
    /// phase. Too many restarts within `site.supervision.restart_window`
    /// stop the service with exit 1.
    ///
    /// ```
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .worker("consumer", |shutdown| async move {
    ///         // take messages until the service stops...
    ///         shutdown.requested().await;
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn worker<F, Fut, E>(self, name: &str, f: F) -> Self
    where
        F: Fn(micro_actors::Shutdown) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        self.worker_with(name, crate::RestartPolicy::Permanent, f)
    }

    /// A background task, like [`worker`](Self::worker), restarted as
    /// `policy` says.
    ///
    /// ```
    /// use micro::RestartPolicy;
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .worker_with("backfill", RestartPolicy::Transient, |_| async {
    ///         // done once it returns Ok; retried when it fails
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn worker_with<F, Fut, E>(mut self, name: &str, policy: crate::RestartPolicy, f: F) -> Self
    where
        F: Fn(micro_actors::Shutdown) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        self.workers.push((micro_actors::Worker::new(name, f), policy));
        self
    }

    /// A readiness check (a database, a downstream): run off the request
    /// path every `site.health.interval`, bounded by `site.health.timeout`;
    /// `/health/ready` answers 503 while any check has not passed its last
    /// run, with each check's result and time in its JSON body. A failing
    /// check never stops the service.
    ///
    /// ```
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .health_check("database", || async {
    ///         // SELECT 1 ...
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn health_check<F, Fut, E>(mut self, name: &str, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        self.checks.push(Callback::new(name, f));
        self
    }

    /// A check every configuration must pass, at startup and on each reload;
    /// a failing one fails startup (exit 78) or rejects the reload (the old
    /// configuration stays). Point the error at the value with
    /// [`Snapshot::locate`](micro_config::Snapshot::locate).
    ///
    /// ```
    /// use micro::config::LoadError;
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .validate(|snapshot| match snapshot.get_path::<u32>("site.http.port") {
    ///         Ok(port) if port < 1024 => Err(LoadError::Invalid {
    ///             at: snapshot.locate("site.http.port"),
    ///             path: "site.http.port".into(),
    ///             message: format!("{port} is a privileged port"),
    ///         }),
    ///         _ => Ok(()),
    ///     })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn validate(
        mut self,
        check: impl Fn(&micro_config::Snapshot) -> Result<(), LoadError> + Send + Sync + 'static,
    ) -> Self {
        self.validators.push(Arc::new(check));
        self
    }

    /// Adjusts the log settings (level, format, name, version) before the
    /// subscriber is installed.
    ///
    /// ```
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .log_configuration(|settings| settings.level = format!("{},orders=debug", settings.level))
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn log_configuration(mut self, hook: impl Fn(&mut LogSettings) + Send + Sync + 'static) -> Self {
        self.log_hook = Some(Arc::new(hook));
        self
    }

    /// Plugs a tracing layer of the service's own (an OpenTelemetry
    /// exporter, a file appender, an error reporter) into the subscriber
    /// micro installs, under its level filter: the layer sees the events
    /// `site.logging.level` (or `RUST_LOG`) lets through, with the service's
    /// spans. Layers are added once, when the subscriber is installed.
    ///
    /// ```
    /// use tracing_subscriber::Layer as _;
    /// let audit = tracing_subscriber::fmt::layer()
    ///     .json()
    ///     .with_writer(std::io::sink) // e.g. a file appender
    ///     .with_filter(tracing_subscriber::filter::filter_fn(|meta| meta.target() == "audit"));
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .log_layer(audit)
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn log_layer(
        mut self,
        layer: impl tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
    ) -> Self {
        self.log_layers.push(Box::new(layer));
        self
    }

    /// The version used when there is no `REVISION` file, no
    /// `MICRO_REVISION` and no build commit; usually
    /// `env!("CARGO_PKG_VERSION")`.
    ///
    /// ```
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .version(env!("CARGO_PKG_VERSION"))
    ///     .build();
    /// assert!(!service.get_version(false).is_empty());
    /// ```
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// The service, ready to run; [`get_service`](crate::get_service)
    /// returns it while it runs.
    ///
    /// ```
    /// let service = micro::Service::builder("orders", "takes orders").build();
    /// assert_eq!(service.name(), "orders");
    /// assert!(micro::get_service().is_none(), "not running yet");
    /// ```
    pub fn build(self) -> Service {
        let config = self
            .config
            .unwrap_or_else(|| PreloadedConfig::new(["site"]).backend(micro_config::EnvBackend::new("MICRO")))
            .site_path(self.site_path);
        let config = self
            .validators
            .into_iter()
            .fold(validate_log_level(config), |config, check| {
                config.validate(move |s| check(s))
            });
        let cwd = std::env::current_dir().unwrap_or_default();
        let fallback = self.version.as_deref().unwrap_or(env!("CARGO_PKG_VERSION"));
        Service::from_inner(Arc::new(ServiceInner {
            name: self.name,
            description: self.description,
            version: version::resolve(&cwd, fallback),
            app: self.app,
            handle: ServiceHandle::new(config.clone()),
            config,
            init: self.init,
            finish: self.finish,
            reload: self.reload,
            workers: self.workers,
            checks: self.checks,
            health: crate::health::Health::default(),
            log_hook: self.log_hook,
            log_layers: std::sync::Mutex::new(self.log_layers),
        }))
    }

    /// Puts `top` over the configuration's backend (over the default one,
    /// as `build` makes it, when none was given); for `micro::testing`.
    #[cfg(feature = "testing")]
    pub(crate) fn overlay_config(mut self, top: impl micro_config::ConfigBackend) -> Self {
        let config = self
            .config
            .take()
            .unwrap_or_else(|| PreloadedConfig::new(["site"]).backend(micro_config::EnvBackend::new("MICRO")));
        self.config = Some(config.overlay(top));
        self
    }
}

/// Rejects a site config whose log level is not a valid filter, so a reload
/// cannot swap in a level the logger would refuse.
fn validate_log_level(config: PreloadedConfig) -> PreloadedConfig {
    let site_path = config.site_path_keys().to_vec();
    config.validate(move |snapshot| {
        let level = &snapshot.site().logging.level;
        let path = format!("{}.logging.level", site_path.join("."));
        micro_actors::logger::check_directive(level).map_err(|err| LoadError::Invalid {
            at: snapshot.locate(&path),
            path,
            message: match err {
                micro_actors::LogError::Level { message, .. } => format!("{level:?} is not a log filter: {message}"),
                other => other.to_string(),
            },
        })
    })
}
