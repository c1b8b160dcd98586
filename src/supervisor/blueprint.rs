//! [`Blueprint`]: what the supervisor is told about the service it runs,
//! fixed for the run — the callbacks and workers in registration order, the
//! mode, the config — and [`Mode`].

use std::sync::Arc;

use micro_actors::{Callback, LogSettings, Worker};
use micro_config::{PreloadedConfig, SiteConfig};

use super::children::{CallbackKind, ChildId};
use crate::{RestartPolicy, Service, ServiceHandle};

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

/// The service as one run sees it.
pub(crate) struct Blueprint {
    /// For what the http step builds from it (routes) and the log settings.
    pub(crate) service: Service,
    pub(crate) mode: Mode,
    pub(crate) config: PreloadedConfig,
    pub(crate) handle: ServiceHandle,
    release: Vec<Callback>,
    init: Vec<Callback>,
    finish: Vec<Callback>,
    reload: Vec<Callback>,
    pub(crate) workers: Vec<(Worker, RestartPolicy)>,
}

impl Blueprint {
    pub(crate) fn new(service: &Service, mode: Mode) -> Self {
        let inner = service.inner();
        Self {
            service: service.clone(),
            mode,
            config: inner.config.clone(),
            handle: inner.handle.clone(),
            release: inner.release.clone(),
            init: inner.init.clone(),
            finish: inner.finish.clone(),
            reload: inner.reload.clone(),
            workers: inner.workers.clone(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        self.service.name()
    }

    pub(crate) fn site(&self) -> Arc<SiteConfig> {
        self.config.site()
    }

    /// The callbacks of `kind`, in registration order.
    pub(crate) fn callbacks(&self, kind: CallbackKind) -> &[Callback] {
        match kind {
            CallbackKind::Init => &self.init,
            CallbackKind::Finish => &self.finish,
            CallbackKind::Reload => &self.reload,
            CallbackKind::Release => &self.release,
        }
    }

    pub(crate) fn callback(&self, kind: CallbackKind, index: usize) -> &Callback {
        &self.callbacks(kind)[index]
    }

    /// Whether init callback `index` is a resource's open step.
    pub(crate) fn opens_resource(&self, index: usize) -> bool {
        let name = self.init[index].name();
        self.release.iter().any(|release| release.name() == name)
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

    /// The log settings the site config in force asks for, after the
    /// service's own hook (user code: call it where a panic is caught).
    pub(crate) fn log_settings(&self) -> LogSettings {
        self.log_settings_for(&self.site())
    }

    pub(crate) fn log_settings_for(&self, site: &SiteConfig) -> LogSettings {
        self.service.log_settings_for(site, self.mode.is_debug())
    }
}
