//! Upgrades without downtime, on one machine: the binary at its path (a
//! new build may have replaced it) is started again with the same
//! arguments and environment, and handed the listening sockets; the
//! running process serves until the new one is ready, then drains and
//! exits 0. A new process that exits or is not ready within
//! `site.upgrade.timeout` is stopped, and the running one serves on.
//!
//! Asked by `SIGUSR2`, [`ServiceHandle::upgrade`](crate::ServiceHandle::upgrade)
//! or `POST /admin/upgrade`. What passes between the two processes:
//!
//! | from | what | how |
//! |---|---|---|
//! | running → new | the listening sockets (`http`, `admin`) and the channel | inherited descriptors named in `LISTEN_FDS`/`LISTEN_FDNAMES`, as systemd names them |
//! | running → new | the service's state ([`ServiceBuilder::upgrade_state`](crate::ServiceBuilder::upgrade_state)) | on the channel, at most `site.upgrade.state_max` |
//! | new → running | ready, or why it failed (its exit reason) | on the channel |
//! | running → new | systemd was told `MAINPID=` the new one | on the channel; the new one then says `READY=1` |
//!
//! ```
//! // In the process an upgrade started: what its predecessor handed over.
//! let warm: Vec<u8> = micro::upgrade::inherited_state().map(<[u8]>::to_vec).unwrap_or_default();
//! assert!(warm.is_empty(), "this process was not started by an upgrade");
//! ```

mod exec;
mod inherit;
mod wire;

use std::time::{Duration, SystemTime};

pub(crate) use exec::{Handover, Program, start};
pub(crate) use inherit::{Inherited, announce, inherited, report_end};

/// The state the process this one succeeded handed over at the upgrade
/// that started it ([`ServiceBuilder::upgrade_state`](crate::ServiceBuilder::upgrade_state));
/// `None` when this process was not started by an upgrade or was handed
/// nothing. Available from the start of the run, before the init callbacks.
///
/// ```
/// let caches: usize = micro::upgrade::inherited_state().map_or(0, |state| state.len());
/// assert_eq!(caches, 0);
/// ```
#[must_use]
pub fn inherited_state() -> Option<&'static [u8]> {
    inherit::state()
}

/// How an upgrade ended.
///
/// ```
/// assert_eq!(micro::upgrade::UpgradeOutcome::TimedOut.as_str(), "timed_out");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UpgradeOutcome {
    /// The new process serves; this one drains and exits.
    Succeeded,
    /// The new process could not start, or exited before it was ready.
    Failed,
    /// The new process was not ready within `site.upgrade.timeout`.
    TimedOut,
    /// Another upgrade was under way, or the service was not running.
    Refused,
}

impl UpgradeOutcome {
    /// The label value of `micro_upgrades_total{outcome}`.
    ///
    /// ```
    /// assert_eq!(micro::upgrade::UpgradeOutcome::Succeeded.as_str(), "succeeded");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Refused => "refused",
        }
    }
}

/// A successful upgrade: the process that serves now.
///
/// ```
/// fn say(report: &micro::upgrade::UpgradeReport) -> String {
///     format!("pid {} serves, ready in {:?}", report.pid, report.took)
/// }
/// # let _ = say;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpgradeReport {
    /// The new process.
    pub pid: u32,
    /// From the request to the new process being ready.
    pub took: Duration,
}

/// The last upgrade this process attempted, as `/version` shows it.
///
/// ```
/// let service = micro::Service::builder("hello", "says hello").build();
/// assert!(service.handle().last_upgrade().is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LastUpgrade {
    /// When it ended.
    pub at: SystemTime,
    /// How it ended.
    pub outcome: UpgradeOutcome,
    /// The new process, when one was started.
    pub pid: Option<u32>,
    /// From the request to its end.
    pub took: Duration,
    /// Why it failed: the new process's own reason when it gave one.
    pub reason: Option<String>,
}

/// Why an upgrade did not happen. The running process serves on.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let service = micro::Service::builder("hello", "says hello").build();
/// let err = service.handle().upgrade().await.unwrap_err();
/// assert!(matches!(err, micro::upgrade::UpgradeError::NotRunning));
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpgradeError {
    /// The service is not running (starting, stopping or stopped).
    #[error("the service is not running")]
    NotRunning,
    /// Another upgrade is under way; ask again once it ended.
    #[error("an upgrade is already under way ({})", pid.map_or_else(|| "its new process is being started".to_owned(), |pid| format!("new process {pid}")))]
    InProgress {
        /// The new process of the upgrade under way, once started.
        pid: Option<u32>,
    },
    /// The service does not run in a process of its own (a test run).
    #[error("upgrades need a process of the service's own; a test run has none")]
    Unsupported,
    /// Preparing the handover failed: a listening socket, the state, the channel.
    #[error("cannot prepare the upgrade: {0}")]
    Prepare(String),
    /// The binary could not be started.
    #[error("cannot start {path}: {source}")]
    Spawn {
        /// The binary.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The new process ended before it was ready.
    #[error("the new process {pid} {status}{}", reason.as_ref().map(|reason| format!(": {reason}")).unwrap_or_default())]
    Exited {
        /// The new process.
        pid: u32,
        /// How it ended: `exited with 78`, `killed by SIGSEGV`.
        status: String,
        /// Why, in its own words, when it said.
        reason: Option<String>,
    },
    /// The new process was not ready in time; it was stopped.
    #[error("the new process {pid} was not ready within {} (site.upgrade.timeout); stopped it", crate::exit::humantime(*bound))]
    TimedOut {
        /// The new process.
        pid: u32,
        /// `site.upgrade.timeout`.
        bound: Duration,
    },
    /// The supervisor did not answer in time.
    #[error("the supervisor did not answer within {}", crate::exit::humantime(*waited))]
    Unanswered {
        /// How long the caller waited.
        waited: Duration,
    },
}

impl UpgradeError {
    /// How this error counts in `micro_upgrades_total{outcome}`.
    ///
    /// ```
    /// use micro::upgrade::{UpgradeError, UpgradeOutcome};
    /// assert_eq!(UpgradeError::NotRunning.outcome(), UpgradeOutcome::Refused);
    /// ```
    #[must_use]
    pub fn outcome(&self) -> UpgradeOutcome {
        match self {
            Self::NotRunning | Self::InProgress { .. } | Self::Unsupported => UpgradeOutcome::Refused,
            Self::TimedOut { .. } => UpgradeOutcome::TimedOut,
            Self::Prepare(_) | Self::Spawn { .. } | Self::Exited { .. } | Self::Unanswered { .. } => {
                UpgradeOutcome::Failed
            }
        }
    }

    /// The new process, when one was started.
    fn pid(&self) -> Option<u32> {
        match self {
            Self::Exited { pid, .. } | Self::TimedOut { pid, .. } => Some(*pid),
            _ => None,
        }
    }
}

impl LastUpgrade {
    /// The record of an upgrade that ended now, `took` after it was asked.
    pub(crate) fn of(outcome: &Result<UpgradeReport, UpgradeError>, took: Duration) -> Self {
        let at = SystemTime::now();
        match outcome {
            Ok(report) => Self {
                at,
                outcome: UpgradeOutcome::Succeeded,
                pid: Some(report.pid),
                took,
                reason: None,
            },
            Err(err) => Self {
                at,
                outcome: err.outcome(),
                pid: err.pid(),
                took,
                reason: Some(err.to_string()),
            },
        }
    }
}
