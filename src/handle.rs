//! [`ServiceHandle`]: stop, reload and observe a running service from code.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use micro_actors::{ReloadError, ReloadReport};
use micro_config::PreloadedConfig;
use ractor::{ActorRef, rpc::CallResult};
use tokio::sync::watch;

use crate::ExitStatus;
use crate::supervisor::SupervisorMsg;
use crate::upgrade::{LastUpgrade, UpgradeError, UpgradeReport};

/// Where the service is in its life.
///
/// ```
/// let service = micro::Service::builder("hello", "says hello").build();
/// assert_eq!(service.handle().status().phase, micro::Phase::Idle);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Built, not started.
    Idle,
    /// Loading config, running init callbacks, binding.
    Starting,
    /// Serving.
    Running,
    /// Draining, running finish callbacks, stopping actors.
    Stopping,
    /// Stopped; the run has returned or is about to.
    Stopped,
}

/// A view of the service at one moment.
///
/// ```
/// let service = micro::Service::builder("hello", "says hello").build();
/// let status = service.handle().status();
/// assert_eq!(status.phase, micro::Phase::Idle);
/// assert_eq!(status.addr, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The phase.
    pub phase: Phase,
    /// The address served, once bound.
    pub addr: Option<SocketAddr>,
    /// The configuration generation in force (0 before the first load).
    pub generation: u64,
    /// How long the service has been running (serving), if it is.
    pub uptime: Option<Duration>,
    /// Restarts per worker during this run, by worker name.
    pub restarts: BTreeMap<String, u32>,
}

/// One step of the service's life, as `/debug/lifecycle` shows it.
///
/// ```
/// fn slowest(history: &[micro::PhaseRecord]) -> Option<&micro::PhaseRecord> {
///     history.iter().max_by_key(|step| step.took)
/// }
/// let service = micro::Service::builder("hello", "says hello").build();
/// assert!(slowest(&service.handle().history()).is_none(), "nothing ran yet");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PhaseRecord {
    /// The phase, of startup or of shutdown.
    pub phase: crate::LifecyclePhase,
    /// How long it took.
    pub took: Duration,
}

/// The phase and address, as the status channel carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Progress {
    phase: Phase,
    addr: Option<SocketAddr>,
    since: Option<Instant>,
    /// Runs claimed so far: the number of the current or last run.
    run: u64,
}

/// The service is not running: not started yet, or stopped.
///
/// ```
/// let service = micro::Service::builder("hello", "says hello").build();
/// assert!(service.handle().stop().is_err());
/// ```
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the service is not running")]
pub struct NotRunning;

/// Waiting for the service to serve did not succeed.
///
/// ```
/// let err = micro::WaitError::TimedOut(std::time::Duration::from_secs(1));
/// assert_eq!(err.to_string(), "the service was not serving within 1s");
/// ```
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// It stopped (or failed to start) instead.
    #[error("the service stopped before it was serving")]
    Stopped,
    /// The bound passed first.
    #[error("the service was not serving within {}", crate::exit::humantime(*.0))]
    TimedOut(Duration),
}

/// Controls a service from the code that embeds it: cloneable, usable from
/// any task, valid before, during and after a run.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let service = micro::Service::builder("hello", "says hello").build();
/// let handle = service.handle();
/// let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
/// let addr = handle.wait_running(std::time::Duration::from_secs(10)).await.unwrap();
/// assert_ne!(addr.port(), 0);
/// handle.stop().unwrap();
/// assert_eq!(run.await.unwrap().code(), 0);
/// # }
/// ```
#[derive(Clone)]
pub struct ServiceHandle {
    shared: Arc<Shared>,
}

struct Shared {
    /// Whether a run is under way: one at a time per service.
    running: AtomicBool,
    supervisor: Mutex<Option<ActorRef<SupervisorMsg>>>,
    status: watch::Sender<Progress>,
    /// How the last run ended, once it has.
    exit: watch::Sender<Option<ExitStatus>>,
    /// Restarts per worker, this run.
    restarts: Mutex<BTreeMap<String, u32>>,
    /// The phases of this run so far.
    history: Mutex<Vec<PhaseRecord>>,
    /// The last upgrade this process attempted.
    last_upgrade: Mutex<Option<LastUpgrade>>,
    config: PreloadedConfig,
}

impl ServiceHandle {
    pub(crate) fn new(config: PreloadedConfig) -> Self {
        let status = Progress {
            phase: Phase::Idle,
            addr: None,
            since: None,
            run: 0,
        };
        Self {
            shared: Arc::new(Shared {
                running: AtomicBool::new(false),
                supervisor: Mutex::new(None),
                status: watch::Sender::new(status),
                exit: watch::Sender::new(None),
                restarts: Mutex::default(),
                history: Mutex::default(),
                last_upgrade: Mutex::default(),
                config,
            }),
        }
    }

    /// Asks for a graceful stop, as SIGTERM does.
    ///
    /// ```
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// assert!(service.handle().stop().is_err(), "not running yet");
    /// ```
    pub fn stop(&self) -> Result<(), NotRunning> {
        let supervisor = self.supervisor().ok_or(NotRunning)?;
        supervisor
            .cast(SupervisorMsg::Stop(crate::StopCause::Handle))
            .map_err(|_| NotRunning)
    }

    /// Reloads the configuration, as SIGHUP does, and says what happened:
    /// what changed, or why the candidate was rejected (the old
    /// configuration then stays in force).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// let err = service.handle().reload().await.unwrap_err();
    /// assert!(matches!(err, micro::ReloadError::NotRunning));
    /// # }
    /// ```
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let supervisor = self.supervisor().ok_or(ReloadError::NotRunning)?;
        // The supervisor bounds each of its two calls (ConfigActor, then
        // LoggerActor) by call_timeout; this bound covers both with a margin,
        // and only bites when the supervisor stopped answering.
        let bound = self.shared.config.site().actors.call_timeout * 3;
        let asked = supervisor.call(|reply| SupervisorMsg::Reload(Some(reply)), Some(bound));
        answered(asked.await, bound).unwrap_or_else(|unanswered| {
            Err(unanswered.map_or(ReloadError::NotRunning, |waited| ReloadError::Unanswered { waited }))
        })
    }

    /// Upgrades the service without downtime, as SIGUSR2 does: starts the
    /// binary at its path again (a new build may have replaced it) with the
    /// same arguments and environment, hands it the listening sockets, and
    /// once it serves, drains this process, which then exits 0. Resolves
    /// when the new process serves, or with why it did not (this process
    /// then serves on). One upgrade at a time; within
    /// `site.upgrade.timeout`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// let err = service.handle().upgrade().await.unwrap_err();
    /// assert!(matches!(err, micro::upgrade::UpgradeError::NotRunning));
    /// # }
    /// ```
    pub async fn upgrade(&self) -> Result<UpgradeReport, UpgradeError> {
        let supervisor = self.supervisor().ok_or(UpgradeError::NotRunning)?;
        // The upgrade bounds itself; the margin covers asking the listeners.
        let site = self.shared.config.site();
        let bound = site.upgrade.timeout + site.actors.call_timeout * 3;
        let asked = supervisor.call(|reply| SupervisorMsg::Upgrade(Some(reply)), Some(bound));
        answered(asked.await, bound).unwrap_or_else(|unanswered| {
            Err(unanswered.map_or(UpgradeError::NotRunning, |waited| UpgradeError::Unanswered { waited }))
        })
    }

    /// The last upgrade this process attempted: how it ended, when, and
    /// why it failed. A process an upgrade started has none of its own yet.
    ///
    /// ```
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// assert_eq!(service.handle().last_upgrade(), None);
    /// ```
    #[must_use]
    pub fn last_upgrade(&self) -> Option<LastUpgrade> {
        self.shared
            .last_upgrade
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn record_upgrade(&self, last: LastUpgrade) {
        *self.shared.last_upgrade.lock().unwrap_or_else(PoisonError::into_inner) = Some(last);
    }

    /// The service now: phase, address, configuration generation, uptime
    /// and restarts per worker.
    ///
    /// ```
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// let status = service.handle().status();
    /// assert_eq!((status.addr, status.generation, status.uptime), (None, 0, None));
    /// assert!(status.restarts.is_empty());
    /// ```
    #[must_use]
    pub fn status(&self) -> Status {
        let progress = *self.shared.status.borrow();
        Status {
            phase: progress.phase,
            addr: progress.addr,
            generation: self.shared.config.generation(),
            uptime: progress.since.map(|since| since.elapsed()),
            restarts: self
                .shared
                .restarts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// Waits until the run ends and returns how it ended, with the shutdown
    /// report; fails when `bound` passes first. Called while no run is under
    /// way, it answers at once with how the last run ended (to wait for a
    /// run about to start, wait for it to be running first).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// let handle = service.handle();
    /// tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    /// handle.wait_running(std::time::Duration::from_secs(10)).await.unwrap();
    /// handle.stop().unwrap();
    /// let exit = handle.wait(std::time::Duration::from_secs(10)).await.unwrap();
    /// assert_eq!(exit.code(), 0);
    /// assert_eq!(exit.report.stopped.last().map(String::as_str), Some("config"));
    /// # }
    /// ```
    pub async fn wait(&self, bound: Duration) -> Result<ExitStatus, WaitError> {
        let mut exit = self.shared.exit.subscribe();
        match tokio::time::timeout(bound, exit.wait_for(Option::is_some)).await {
            Err(_) => Err(WaitError::TimedOut(bound)),
            Ok(Err(_)) => Err(WaitError::Stopped),
            Ok(Ok(status)) => status.clone().ok_or(WaitError::Stopped),
        }
    }

    pub(crate) fn set_exit(&self, status: &ExitStatus) {
        self.shared.exit.send_replace(Some(status.clone()));
    }

    /// Waits until the service serves and returns its address; fails when
    /// it stops first or `bound` passes. Called while no run is under way
    /// (before the first, or after one stopped), it waits for the next run:
    /// the last run's end does not count.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// let waited = service.handle().wait_running(std::time::Duration::from_millis(10)).await;
    /// assert!(matches!(waited, Err(micro::WaitError::TimedOut(_))));
    /// # }
    /// ```
    pub async fn wait_running(&self, bound: Duration) -> Result<SocketAddr, WaitError> {
        let mut status = self.shared.status.subscribe();
        let now = *status.borrow_and_update();
        // The run this wait is about: the one under way, else the next.
        let target = match now.phase {
            Phase::Idle | Phase::Stopped => now.run + 1,
            Phase::Starting | Phase::Running | Phase::Stopping => now.run,
        };
        let wait = status
            .wait_for(|s| s.run >= target && matches!(s.phase, Phase::Running | Phase::Stopping | Phase::Stopped));
        match tokio::time::timeout(bound, wait).await {
            Err(_) => Err(WaitError::TimedOut(bound)),
            Ok(Err(_)) => Err(WaitError::Stopped),
            Ok(Ok(s)) => match (s.phase, s.addr) {
                (Phase::Running, Some(addr)) => Ok(addr),
                _ => Err(WaitError::Stopped),
            },
        }
    }

    /// Waits until the run has ended; fails when `bound` passes first.
    /// Called while no run is under way, it answers at once when one ran.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// let handle = service.handle();
    /// let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    /// handle.wait_running(std::time::Duration::from_secs(10)).await.unwrap();
    /// handle.stop().unwrap();
    /// handle.wait_stopped(std::time::Duration::from_secs(10)).await.unwrap();
    /// assert_eq!(run.await.unwrap().code(), 0);
    /// # }
    /// ```
    pub async fn wait_stopped(&self, bound: Duration) -> Result<(), WaitError> {
        let mut status = self.shared.status.subscribe();
        match tokio::time::timeout(bound, status.wait_for(|s| s.phase == Phase::Stopped)).await {
            Err(_) => Err(WaitError::TimedOut(bound)),
            Ok(_) => Ok(()),
        }
    }

    pub(crate) fn supervisor(&self) -> Option<ActorRef<SupervisorMsg>> {
        self.shared
            .supervisor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Claims the service for a run; `false` when one is under way. The
    /// phase is `Starting` from here on, so a waiter never sees the last
    /// run's `Stopped`.
    pub(crate) fn claim(&self) -> bool {
        let claimed = self
            .shared
            .running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if claimed {
            self.shared.exit.send_replace(None);
            self.shared
                .restarts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
            self.shared
                .history
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
            self.shared.status.send_modify(|progress| {
                *progress = Progress {
                    phase: Phase::Starting,
                    addr: None,
                    since: None,
                    run: progress.run + 1,
                };
            });
        }
        claimed
    }

    /// Ends the run claimed with [`claim`](Self::claim).
    pub(crate) fn release(&self) {
        self.attach(None);
        self.shared.running.store(false, Ordering::Release);
    }

    pub(crate) fn attach(&self, supervisor: Option<ActorRef<SupervisorMsg>>) {
        *self.shared.supervisor.lock().unwrap_or_else(PoisonError::into_inner) = supervisor;
    }

    /// The phases of the current (or last) run with their timings: startup
    /// once it completed, shutdown once it ended.
    ///
    /// ```
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// assert!(service.handle().history().is_empty());
    /// ```
    #[must_use]
    pub fn history(&self) -> Vec<PhaseRecord> {
        self.shared
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn record_phases<P: Into<crate::LifecyclePhase> + Copy>(&self, phases: &[(P, Duration)]) {
        let records: Vec<PhaseRecord> = phases
            .iter()
            .map(|(phase, took)| PhaseRecord {
                phase: (*phase).into(),
                took: *took,
            })
            .collect();
        crate::metrics::phases(&records);
        let mut history = self.shared.history.lock().unwrap_or_else(PoisonError::into_inner);
        history.extend(records);
    }

    /// Records that `child` has been restarted `total` times.
    pub(crate) fn record_restart(&self, child: &str, total: u32) {
        crate::metrics::restarted(child);
        self.shared
            .restarts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(child.to_owned(), total);
    }

    pub(crate) fn set_phase(&self, phase: Phase, addr: Option<SocketAddr>) {
        self.shared.status.send_modify(|progress| {
            let since = match (phase, progress.since) {
                (Phase::Running, None) => Some(Instant::now()),
                (Phase::Running | Phase::Stopping, since) => since,
                _ => None,
            };
            *progress = Progress {
                phase,
                addr,
                since,
                run: progress.run,
            };
        });
    }
}

impl std::fmt::Debug for ServiceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceHandle").field("status", &self.status()).finish()
    }
}

/// The supervisor's answer to a call bounded by `bound`; otherwise
/// `Err(Some(bound))` when it did not answer in time, `Err(None)` when it
/// is gone (the service is not running).
fn answered<T, E>(call: Result<CallResult<T>, E>, bound: Duration) -> Result<T, Option<Duration>> {
    match call {
        Ok(CallResult::Success(outcome)) => Ok(outcome),
        Ok(CallResult::Timeout) => Err(Some(bound)),
        Ok(CallResult::SenderError) | Err(_) => Err(None),
    }
}
