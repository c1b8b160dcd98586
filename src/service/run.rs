//! How a [`Service`] runs: once at a time, one service at a time in the
//! process, with the signals handled for the run only.

use std::sync::Arc;
use std::time::Instant;

use super::{Mode, Service};
use crate::supervisor::{self, Blueprint, Callbacks};
use crate::{ExitKind, ExitStatus, Phase};

/// Whether a run installs the signal handlers (SIGTERM, SIGINT, SIGHUP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignalHandlers {
    /// A service's own process: signals stop and reload it.
    Install,
    /// A test run (`micro::testing`): the process's signals are left alone;
    /// the service is stopped and reloaded through its handle.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    Skip,
}

impl Service {
    pub(crate) async fn run(&self, mode: Mode) -> ExitStatus {
        self.run_with(mode, SignalHandlers::Install).await
    }

    /// Runs the service, once at a time, and one service at a time in the
    /// process: a second service's run returns at once with exit 70 naming
    /// the one running. While it runs, [`get_service`](crate::get_service)
    /// and [`get_config`](crate::get_config) refer to it.
    pub(crate) async fn run_with(&self, mode: Mode, signals: SignalHandlers) -> ExitStatus {
        if !self.inner.handle.claim() {
            let reason = format!("{} is already running: a service runs once at a time", self.name());
            say(&reason);
            return ExitStatus::unreported(ExitKind::Software, reason);
        }
        let registration = match crate::global::claim(self) {
            Ok(registration) => registration,
            Err(running) => {
                let status = ExitStatus::unreported(
                    ExitKind::Software,
                    format!(
                        "cannot run {}: service {running} is already running in this process (one service runs at a time)",
                        self.name()
                    ),
                );
                say(&status.reason);
                self.inner.handle.release();
                self.inner.handle.set_phase(Phase::Stopped, None);
                self.inner.handle.set_exit(&status);
                return status;
            }
        };
        let (status, deadline) = self.run_claimed(mode, signals).await;
        // The last lines (the stop report) were queued after the shutdown's
        // flush phase; a process exits right after `run` returns. Within
        // what is left of shutdown.total.
        let mut flush = self.config_site().shutdown.flush_timeout;
        if let Some(deadline) = deadline {
            flush = flush.min(deadline.saturating_duration_since(Instant::now()));
        }
        let _ = micro_actors::logger::flush(flush).await;
        // Released before Stopped and the exit are told, so that whoever
        // waits for them can run the service again at once.
        drop(registration);
        self.inner.handle.release();
        self.inner.handle.set_phase(Phase::Stopped, None);
        self.inner.handle.set_exit(&status);
        status
    }

    async fn run_claimed(&self, mode: Mode, handlers: SignalHandlers) -> (ExitStatus, Option<Instant>) {
        crate::metrics::install_in_background();
        self.inner.health.reset();
        // Installed before anything starts: a signal during startup is
        // handled (SIGHUP deferred, SIGTERM stops), never the default action.
        let signals = match handlers {
            SignalHandlers::Install => match crate::signals::listen() {
                Ok(signals) => Some(signals),
                Err(err) => {
                    let reason = format!("cannot install signal handlers: {err}");
                    return (ExitStatus::unreported(ExitKind::Software, reason), None);
                }
            },
            SignalHandlers::Skip => None,
        };
        let own_process = handlers == SignalHandlers::Install;
        let inherited = if own_process {
            // Before the binary can be replaced by a new build.
            let _ = crate::upgrade::Program::capture();
            crate::upgrade::inherited().await
        } else {
            crate::upgrade::Inherited::default()
        };
        let blueprint = Arc::new(self.blueprint(mode, own_process, inherited));
        let (status, deadline) = supervisor::run(Arc::clone(&blueprint), signals).await;
        // A run an upgrade started that never got ready: the process it
        // was to succeed learns why.
        let channel = blueprint.inherited().channel();
        crate::upgrade::report_end(channel, &status).await;
        (status, deadline)
    }

    /// What the supervisor is told of the service for one run.
    fn blueprint(&self, mode: Mode, own_process: bool, inherited: crate::upgrade::Inherited) -> Blueprint {
        let inner = &self.inner;
        let (app, service, debug) = (inner.app.clone(), self.clone(), mode.is_debug());
        Blueprint {
            name: inner.name.clone(),
            description: inner.description.clone(),
            version: inner.version.clone(),
            build: inner.build.clone(),
            mode,
            config: inner.config.clone(),
            handle: inner.handle.clone(),
            callbacks: Callbacks {
                release: inner.release.clone(),
                init: inner.init.clone(),
                finish: inner.finish.clone(),
                reload: inner.reload.clone(),
            },
            workers: inner.workers.clone(),
            checks: inner.checks.clone(),
            health: inner.health.clone(),
            resources: inner.resources.clone(),
            routes: Arc::new(move |resources| app.router(resources)),
            grpc: inner.grpc.clone(),
            log_settings: Arc::new(move |site| service.log_settings_for(site, debug)),
            log_layers: std::sync::Mutex::new(Some(self.take_log_layers())),
            upgrade_state: inner.upgrade_state.clone(),
            own_process,
            inherited: std::sync::Mutex::new(inherited),
            #[cfg(feature = "otel")]
            telemetry: std::sync::Mutex::new(None),
        }
    }
}

/// Says why a run did not start: through the log when there is one,
/// else on stderr, so an exit 70 never comes without its reason.
fn say(reason: &str) {
    if micro_actors::logger::is_installed() {
        tracing::error!(target: "micro", "{reason}");
    } else {
        eprintln!("{reason}");
    }
}
