//! [`Blueprint`]: what the supervisor is told about the service it runs,
//! fixed for the run — the callbacks and workers in registration order, the
//! mode, the config — and [`Mode`].

use std::sync::{Arc, Mutex, PoisonError};

use micro_actors::logger::ExtraLayers;
use micro_actors::{Callback, LogSettings, Worker};
use micro_config::{PreloadedConfig, SiteConfig};

use super::children::{CallbackKind, ChildId};
use crate::health::Health;
use crate::{BuildVersion, Resources, RestartPolicy, ServiceHandle};

/// How the service serves.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    /// Human-readable logs, the port given (`None`: `site.http.port`).
    Debug { host: String, port: Option<u16> },
    /// JSON logs, the port from `PORT` or `site.http.port`, the host given
    /// or `site.http.host`.
    Production { host: Option<String> },
}

impl Mode {
    pub(crate) fn is_debug(&self) -> bool {
        matches!(self, Self::Debug { .. })
    }
}

/// Makes the service's routes from what the resources opened.
pub(crate) type MakeRoutes = Arc<dyn Fn(&Resources) -> axum::Router + Send + Sync>;

/// The log settings a site config asks for, after the service's own hook.
pub(crate) type MakeLogSettings = Arc<dyn Fn(&SiteConfig) -> LogSettings + Send + Sync>;

/// The callbacks, each kind in registration order.
#[derive(Default)]
pub(crate) struct Callbacks {
    pub(crate) release: Vec<Callback>,
    pub(crate) init: Vec<Callback>,
    pub(crate) finish: Vec<Callback>,
    pub(crate) reload: Vec<Callback>,
}

/// The service as the supervisor sees it for one run, fixed for the run.
/// The service makes it; the supervisor reads nothing else of the service.
pub(crate) struct Blueprint {
    pub(crate) name: String,
    pub(crate) description: String,
    /// The full version.
    pub(crate) version: String,
    pub(crate) build: BuildVersion,
    pub(crate) mode: Mode,
    pub(crate) config: PreloadedConfig,
    pub(crate) handle: ServiceHandle,
    pub(crate) callbacks: Callbacks,
    pub(crate) workers: Vec<(Worker, RestartPolicy)>,
    pub(crate) checks: Vec<Callback>,
    pub(crate) health: Health,
    pub(crate) resources: Resources,
    pub(crate) routes: MakeRoutes,
    /// The tonic services, merged into the routes when the http step serves.
    pub(crate) grpc: crate::grpc::GrpcServices,
    /// User code (the `log_configuration` hook): call where a panic is caught.
    pub(crate) log_settings: MakeLogSettings,
    /// The service's own tracing layers, taken by the logging step.
    pub(crate) log_layers: Mutex<Option<ExtraLayers>>,
    /// User code: the state handed to the new process at an upgrade.
    pub(crate) upgrade_state: Option<UpgradeState>,
    /// The run has a process of its own (not a test run): it may upgrade.
    pub(crate) own_process: bool,
    /// What this process inherited: sockets, and after an upgrade the
    /// channel to its predecessor.
    pub(crate) inherited: Mutex<crate::upgrade::Inherited>,
    /// The run's OpenTelemetry exporter, once the logging step started it.
    #[cfg(feature = "otel")]
    pub(crate) telemetry: Mutex<Option<crate::telemetry::Telemetry>>,
}

#[cfg(feature = "otel")]
impl Blueprint {
    /// The run's OpenTelemetry exporter, once the logging step started it.
    pub(crate) fn telemetry(&self) -> Option<crate::telemetry::Telemetry> {
        self.telemetry.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Makes the state an upgrade hands to the new process.
pub(crate) type UpgradeState = Arc<dyn Fn() -> Result<Vec<u8>, crate::BoxError> + Send + Sync>;

impl Blueprint {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The version with the commit shortened, as log lines carry it.
    pub(crate) fn short_version(&self) -> &str {
        crate::version::short(&self.version)
    }

    pub(crate) fn site(&self) -> Arc<SiteConfig> {
        self.config.site()
    }

    /// The callbacks of `kind`, in registration order.
    pub(crate) fn callbacks(&self, kind: CallbackKind) -> &[Callback] {
        let callbacks = &self.callbacks;
        match kind {
            CallbackKind::Init => &callbacks.init,
            CallbackKind::Finish => &callbacks.finish,
            CallbackKind::Reload => &callbacks.reload,
            CallbackKind::Release => &callbacks.release,
        }
    }

    pub(crate) fn callback(&self, kind: CallbackKind, index: usize) -> &Callback {
        &self.callbacks(kind)[index]
    }

    /// Whether init callback `index` is a resource's open step.
    pub(crate) fn opens_resource(&self, index: usize) -> bool {
        let name = self.callbacks.init[index].name();
        self.callbacks.release.iter().any(|release| release.name() == name)
    }

    /// The child's name, as logs and reports give it.
    pub(crate) fn child_name(&self, id: ChildId) -> String {
        match id {
            ChildId::Config => "config".into(),
            ChildId::Logger => "logger".into(),
            ChildId::Callback(kind, index) => format!("callback {}", self.callback(kind, index).name()),
            ChildId::Worker(index) => format!("worker {}", self.workers[index].0.name()),
            ChildId::Http => "http".into(),
            ChildId::Admin => "admin http".into(),
        }
    }

    /// The log settings the site config in force asks for (user code).
    pub(crate) fn log_settings(&self) -> LogSettings {
        (self.log_settings)(&self.site())
    }

    /// What this process inherited, for a step to take its part.
    pub(crate) fn inherited(&self) -> std::sync::MutexGuard<'_, crate::upgrade::Inherited> {
        self.inherited.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The service's own tracing layers; empty after the first call.
    pub(crate) fn take_log_layers(&self) -> ExtraLayers {
        let mut layers = self.log_layers.lock().unwrap_or_else(PoisonError::into_inner);
        layers.take().unwrap_or(ExtraLayers(Vec::new()))
    }
}
