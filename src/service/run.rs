//! How a [`Service`] runs: once at a time, one service at a time in the
//! process, with the signals handled for the run only.

use ractor::Actor;
use tokio::sync::oneshot;

use super::{Mode, Service};
use crate::signals::{self, Force};
use crate::supervisor::{Supervisor, SupervisorArgs};
use crate::{ExitKind, ExitStatus};

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
                self.inner.handle.set_phase(crate::Phase::Stopped, None);
                self.inner.handle.set_exit(&status);
                self.inner.handle.release();
                return status;
            }
        };
        let status = self.run_claimed(mode, signals).await;
        // Released before the exit is told, so that whoever waits for it can
        // run the next service at once.
        drop(registration);
        self.inner.handle.set_exit(&status);
        self.inner.handle.release();
        // The last lines (the stop report) were queued after the shutdown's
        // flush phase; a process exits right after `run` returns.
        let _ = micro_actors::logger::flush(self.config_site().shutdown.flush_timeout).await;
        status
    }

    async fn run_claimed(&self, mode: Mode, handlers: SignalHandlers) -> ExitStatus {
        crate::metrics::install_in_background();
        let (done, finished) = oneshot::channel();
        let force = Force::new();
        let args = SupervisorArgs {
            service: self.clone(),
            mode,
            force: force.clone(),
            done,
        };
        let (supervisor, running) = match Actor::spawn(None, Supervisor, args).await {
            Ok(spawned) => spawned,
            Err(err) => {
                self.inner.handle.set_phase(crate::Phase::Stopped, None);
                return ExitStatus::unreported(ExitKind::Software, format!("cannot start the supervisor: {err}"));
            }
        };
        let signals = match handlers {
            SignalHandlers::Install => match signals::forward(supervisor.clone(), force) {
                Ok(signals) => Some(signals),
                Err(err) => {
                    supervisor.kill();
                    self.inner.handle.set_phase(crate::Phase::Stopped, None);
                    return ExitStatus::unreported(
                        ExitKind::Software,
                        format!("cannot install signal handlers: {err}"),
                    );
                }
            },
            SignalHandlers::Skip => None,
        };
        self.inner.handle.attach(Some(supervisor));
        let _ = running.await;
        // Signals stay handled until here; from now on SIGTERM, SIGINT and
        // SIGHUP take their default action again (see signals.rs).
        if let Some(signals) = signals {
            signals.close();
        }
        finished.await.unwrap_or_else(|_| {
            ExitStatus::unreported(ExitKind::Failure, "the supervisor stopped without reporting how".into())
        })
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
