//! [`ServiceBuilder`]: everything a service is made of, named before it runs.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use micro_actors::{BoxError, Callback, LogSettings};
use micro_config::{LoadError, PreloadedConfig};

use crate::service::{App, LogHook, ServiceInner};
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
///     .init_callback(|| async { Ok(()) })
///     .finish_callback(|| async { Ok(()) })
///     .log_configuration(|settings| settings.level = "info,orders=debug".into())
///     .version("1.4.0")
///     .build();
/// assert_eq!(service.config().preloads(), ["site", "db"]);
/// ```
#[must_use]
pub struct ServiceBuilder {
    name: String,
    description: String,
    app: App,
    /// The tonic services (`grpc.rs` adds them).
    pub(crate) grpc: crate::grpc::GrpcServices,
    resources: crate::Resources,
    release: Vec<Callback>,
    config: Option<PreloadedConfig>,
    /// Backends put over `config`, lowest first.
    config_layers: Vec<Arc<dyn micro_config::ConfigBackend>>,
    /// The service's typed documents, registered on the config at build.
    documents: Vec<Box<dyn FnOnce(PreloadedConfig) -> PreloadedConfig + Send>>,
    site_path: Vec<String>,
    init: Vec<Callback>,
    finish: Vec<Callback>,
    reload: Vec<Callback>,
    workers: Vec<(micro_actors::Worker, crate::RestartPolicy)>,
    checks: Vec<Callback>,
    log_hook: Option<LogHook>,
    log_output: micro_actors::LogOutput,
    log_layers: Vec<micro_actors::BoxedLayer>,
    upgrade_state: Option<crate::supervisor::UpgradeState>,
    validators: Vec<micro_config::Validator>,
    version: Option<crate::BuildVersion>,
}

impl ServiceBuilder {
    /// The service's name, description and package version, as given so far.
    #[cfg(feature = "cli")]
    pub(crate) fn identity(&self) -> (&str, &str, Option<&str>) {
        (
            &self.name,
            &self.description,
            self.version.as_ref().map(crate::BuildVersion::package),
        )
    }

    pub(crate) fn new(name: String, description: String) -> Self {
        Self {
            name,
            description,
            app: App::Router(Router::new()),
            grpc: crate::grpc::GrpcServices::default(),
            resources: crate::Resources::default(),
            release: Vec::new(),
            config: None,
            config_layers: Vec::new(),
            documents: Vec::new(),
            site_path: Vec::new(),
            init: Vec::new(),
            finish: Vec::new(),
            reload: Vec::new(),
            workers: Vec::new(),
            checks: Vec::new(),
            log_hook: None,
            log_output: micro_actors::LogOutput::Stderr,
            log_layers: Vec::new(),
            upgrade_state: None,
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
        self.app = App::Router(app);
        self
    }

    /// The service's own routes, made once every init step ran, from what
    /// its [resources](Self::resource) opened: hand them to the handlers as
    /// axum state, with no `Option` to check in each handler. Replaces
    /// [`app`](Self::app).
    ///
    /// ```
    /// use micro::axum::{Router, extract::State, routing::get};
    ///
    /// #[derive(Clone)]
    /// struct Pool(std::sync::Arc<str>);
    ///
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .resource("pool", || async { Ok(Pool("postgres://db/orders".into())) }, |_pool| async { Ok(()) })
    ///     .app_with(|resources| {
    ///         Router::new()
    ///             .route("/db", get(|State(pool): State<Pool>| async move { pool.0.to_string() }))
    ///             .with_state(resources.get::<Pool>())
    ///     })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn app_with(mut self, make: impl Fn(&crate::Resources) -> Router + Send + Sync + 'static) -> Self {
        self.app = App::With(Arc::new(make));
        self
    }

    /// A resource the service opens at startup and releases at shutdown: a
    /// database pool, a client, a consumer. `open` runs as an init step, in
    /// registration order with the [init callbacks](Self::init_callback),
    /// bounded by `site.startup.init_timeout` (an error or a panic fails
    /// startup with exit 70); its value is kept for
    /// [`app_with`](Self::app_with) (one resource per type). `release` gets
    /// the value back in the finish phase, after the finish callbacks, last
    /// opened first, bounded by `site.shutdown.finish_timeout` — and also
    /// when a later startup step fails (a port in use, another init
    /// failing), so what was opened is never left behind.
    ///
    /// ```
    /// #[derive(Clone)]
    /// struct Pool;
    /// impl Pool {
    ///     async fn connect() -> std::io::Result<Pool> { Ok(Pool) }
    ///     async fn close(self) {}
    /// }
    ///
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .resource(
    ///         "pool",
    ///         || async { Ok(Pool::connect().await?) },
    ///         |pool| async move {
    ///             pool.close().await;
    ///             Ok(())
    ///         },
    ///     )
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn resource<T, Open, OpenFut, Release, ReleaseFut>(mut self, name: &str, open: Open, release: Release) -> Self
    where
        T: Clone + Send + Sync + 'static,
        Open: Fn() -> OpenFut + Send + Sync + 'static,
        OpenFut: Future<Output = Result<T, BoxError>> + Send + 'static,
        Release: Fn(T) -> ReleaseFut + Send + Sync + 'static,
        ReleaseFut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        let (opener, releaser) = crate::resources::pair(&self.resources, name, open, release);
        self.init.push(opener);
        self.release.push(releaser);
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

    /// Puts `backend` over the service's configuration: where both have a
    /// value, `backend`'s wins. What the command line ([`cli`](crate::cli),
    /// feature `cli`) and tests use to add files, the environment or values
    /// in memory over a service's own defaults. A service given no
    /// [`config`](Self::config) and no layer reads the site document from
    /// its defaults and `MICRO__SITE__...` variables; with a layer, from its
    /// defaults and the layers.
    ///
    /// ```
    /// use micro::config::{EnvBackend, MemoryBackend, PreloadedConfig};
    /// let defaults = MemoryBackend::labelled("orders defaults").with_yaml("orders", "max_items: 10").unwrap();
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .config(PreloadedConfig::new(["site", "orders"]).backend(defaults))
    ///     .config_layer(EnvBackend::new("MICRO"))
    ///     .build();
    /// assert_eq!(service.config().describe_backend(), "orders defaults (in memory) < environment variables MICRO__*");
    /// ```
    pub fn config_layer(mut self, backend: impl micro_config::ConfigBackend) -> Self {
        self.config_layers.push(Arc::new(backend));
        self
    }

    /// A config document of the service's own, typed: preloaded, and checked
    /// against `T` at startup, at every reload and by `--check-config`. A
    /// value of the wrong type fails startup (exit 78) or rejects the reload
    /// (the old configuration stays), naming the file, line and column and
    /// the key path; reads with `get_config().typed::<T>(name)` then return
    /// the value already checked, deserialized once per snapshot.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use micro::config::{MemoryBackend, PreloadedConfig};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Inventory {
    ///     max_items: u32,
    /// }
    ///
    /// let bad = MemoryBackend::labelled("conf").with_yaml("inventory", "max_items: lots").unwrap();
    /// let service = micro::Service::builder("inventory", "counts stock")
    ///     .config(PreloadedConfig::new(["site"]).backend(bad))
    ///     .document::<Inventory>("inventory")
    ///     .build();
    /// assert_eq!(service.config().preloads(), ["site", "inventory"]);
    /// assert_eq!(service.check_config(false).await.code(), 78);
    /// # }
    /// ```
    pub fn document<T>(mut self, name: &str) -> Self
    where
        T: serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        let name = name.to_owned();
        self.documents.push(Box::new(move |config| config.document::<T>(name)));
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
    ///         Ok(())
    ///     })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn init_callback<F, Fut>(self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        let name = format!("init[{}]", self.init.len());
        self.init_callback_named(&name, f)
    }

    /// An [init callback](Self::init_callback) logged under `name`: its own
    /// log lines carry `callback{name=...}`, and so do micro's about it.
    ///
    /// ```
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .init_callback_named("warm-cache", || async {
    ///         tracing::info!("cache warm"); // callback{name=warm-cache}: cache warm
    ///         Ok(())
    ///     })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn init_callback_named<F, Fut>(mut self, name: &str, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.init.push(Callback::new(name, f));
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
    ///         Ok(())
    ///     })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn finish_callback<F, Fut>(self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        let name = format!("finish[{}]", self.finish.len());
        self.finish_callback_named(&name, f)
    }

    /// A [finish callback](Self::finish_callback) logged under `name`.
    ///
    /// ```
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .finish_callback_named("flush-outbox", || async { Ok(()) })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn finish_callback_named<F, Fut>(mut self, name: &str, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.finish.push(Callback::new(name, f));
        self
    }

    /// An async callback run after each reload that changed something, with the key paths
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
    ///         Ok(())
    ///     })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn on_reload<F, Fut>(self, f: F) -> Self
    where
        F: Fn(micro_actors::Changes) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        let name = format!("reload[{}]", self.reload.len());
        self.on_reload_named(&name, f)
    }

    /// An [on-reload callback](Self::on_reload) logged under `name`.
    ///
    /// ```
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .on_reload_named("resize-pool", |_changed| async { Ok(()) })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn on_reload_named<F, Fut>(mut self, name: &str, f: F) -> Self
    where
        F: Fn(micro_actors::Changes) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.reload.push(Callback::on_reload(name, f));
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
    ///         Ok(())
    ///     })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn worker<F, Fut>(self, name: &str, f: F) -> Self
    where
        F: Fn(micro_actors::Shutdown) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
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
    ///         Ok(())
    ///     })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn worker_with<F, Fut>(mut self, name: &str, policy: crate::RestartPolicy, f: F) -> Self
    where
        F: Fn(micro_actors::Shutdown) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
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
    ///         Ok(())
    ///     })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn health_check<F, Fut>(mut self, name: &str, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
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

    /// What this process hands to the new one at an upgrade: a small blob
    /// of warm state (at most `site.upgrade.state_max`), which the new
    /// process reads with [`upgrade::inherited_state`](crate::upgrade::inherited_state)
    /// from the start of its run. Made when the upgrade begins, on the
    /// blocking pool; an error or a panic fails the upgrade, and this
    /// process serves on.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// let seen = Arc::new(Mutex::new(vec!["alice".to_owned()]));
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .upgrade_state(move || Ok(seen.lock().map_err(|_| "poisoned")?.join("\n").into_bytes()))
    ///     .init_callback(|| async {
    ///         let warm = micro::upgrade::inherited_state().unwrap_or_default();
    ///         let _names: Vec<&[u8]> = warm.split(|byte| *byte == b'\n').collect();
    ///         Ok(())
    ///     })
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn upgrade_state(
        mut self,
        make: impl Fn() -> Result<Vec<u8>, crate::BoxError> + Send + Sync + 'static,
    ) -> Self {
        self.upgrade_state = Some(std::sync::Arc::new(make));
        self
    }

    /// The service's build identity: [`build_version!`](crate::build_version)
    /// (its package version and the commit its build captured), or a plain
    /// version string. What the service reports is, first found: a
    /// `REVISION` file in the working directory, `MICRO_REVISION`, this
    /// commit, this package version (`unknown` when none is given). Never
    /// micro's own.
    ///
    /// ```
    /// let service = micro::Service::builder("orders", "takes orders")
    ///     .version(micro::build_version!())
    ///     .build();
    /// assert!(!service.get_version(false).is_empty());
    /// let plain = micro::Service::builder("orders", "takes orders").version("1.4.0").build();
    /// # let _ = plain;
    /// ```
    pub fn version(mut self, version: impl Into<crate::BuildVersion>) -> Self {
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
        let config = match (self.config, self.config_layers.is_empty()) {
            (Some(config), _) => config,
            (None, true) => PreloadedConfig::new(["site"]).backend(micro_config::EnvBackend::new("MICRO")),
            (None, false) => PreloadedConfig::new(["site"]),
        };
        let config = self
            .config_layers
            .into_iter()
            .fold(config, PreloadedConfig::layer)
            .site_path(self.site_path);
        let config = self
            .documents
            .into_iter()
            .fold(config, |config, document| document(config));
        let config = self
            .validators
            .into_iter()
            .fold(validate_port_variable(validate_log_level(config)), |config, check| {
                config.validate(move |s| check(s))
            });
        let cwd = std::env::current_dir().unwrap_or_default();
        let build = self.version.unwrap_or_else(|| crate::BuildVersion::new("unknown"));
        Service::from_inner(Arc::new(ServiceInner {
            name: self.name,
            description: self.description,
            version: version::resolve(&cwd, &build),
            build,
            app: self.app,
            grpc: self.grpc,
            resources: self.resources,
            release: self.release,
            handle: ServiceHandle::new(config.clone()),
            config,
            init: self.init,
            finish: self.finish,
            reload: self.reload,
            workers: self.workers,
            checks: self.checks,
            health: crate::health::Health::default(),
            log_hook: self.log_hook,
            log_output: self.log_output,
            log_layers: std::sync::Mutex::new(self.log_layers),
            upgrade_state: self.upgrade_state,
        }))
    }

    /// Log lines to libtest's capture instead of stderr: for `micro::testing`.
    #[cfg(feature = "testing")]
    pub(crate) fn log_to_test_capture(mut self) -> Self {
        self.log_output = micro_actors::LogOutput::TestCapture;
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

/// Checks `PORT` when a snapshot is loaded, so a bad value is a
/// configuration error at startup, at reload and in `--check-config`, not
/// only when production mode binds.
fn validate_port_variable(config: PreloadedConfig) -> PreloadedConfig {
    // PORT stands for the site's port: the error names both.
    let path = format!("{}.http.port", config.site_path_keys().join("."));
    config.validate(move |_| match std::env::var("PORT") {
        Ok(value) if !value.trim().is_empty() && value.trim().parse::<u16>().is_err() => Err(LoadError::Invalid {
            at: micro_config::Source::from(micro_config::Origin::Env("PORT".into())),
            path: path.clone(),
            message: format!("{value:?} is not a port (0 to 65535)"),
        }),
        _ => Ok(()),
    })
}
