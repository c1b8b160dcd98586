//! [`ShutdownReport`]: what stopping the service did, phase by phase.

use std::fmt;
use std::time::Duration;

use micro_actors::DrainReport;

use crate::exit::humantime;

/// What started the stop.
///
/// ```
/// assert_eq!(micro::StopCause::Signal("SIGTERM").to_string(), "SIGTERM");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopCause {
    /// A signal, by name.
    Signal(&'static str),
    /// `ServiceHandle::stop`.
    Handle,
    /// Startup failed.
    StartFailed,
    /// An actor died while the service ran.
    ActorDied(String),
    /// An upgrade: the new process serves.
    Upgraded {
        /// The new process.
        pid: u32,
    },
}

impl fmt::Display for StopCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Signal(name) => f.write_str(name),
            Self::Handle => f.write_str("ServiceHandle::stop"),
            Self::StartFailed => f.write_str("startup failure"),
            Self::ActorDied(actor) => write!(f, "actor {actor} died"),
            Self::Upgraded { pid } => write!(f, "upgrade: process {pid} serves"),
        }
    }
}

/// What the shutdown did.
///
/// ```
/// let report = micro::ShutdownReport::default();
/// assert!(report.phases.is_empty());
/// assert!(report.stopped.is_empty());
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// What started the stop (`None` when the service never stopped).
    pub cause: Option<StopCause>,
    /// Each phase that ran (`unready`, `drain`, `finish`, `flush`, `stop`)
    /// with how long it took, in order.
    pub phases: Vec<(crate::ShutdownPhase, Duration)>,
    /// How long the listener kept serving after readiness turned 503, when
    /// it was open.
    pub pre_drain: Option<PreDrainReport>,
    /// What the drain did, when the listener was open.
    pub drain: Option<DrainReport>,
    /// Finish callbacks and workers that failed, panicked or did not stop in
    /// time, with why.
    pub callbacks_failed: Vec<String>,
    /// Actors in the order they were stopped.
    pub stopped: Vec<String>,
    /// Actors that did not stop within their bound and were killed.
    pub killed: Vec<String>,
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total: Duration = self.phases.iter().map(|(_, d)| *d).sum();
        write!(f, "in {}", humantime(total))?;
        if let Some(cause) = &self.cause {
            write!(f, " ({cause})")?;
        }
        let phases: Vec<String> = self
            .phases
            .iter()
            .map(|(name, took)| format!("{name} {}", humantime(*took)))
            .collect();
        if !phases.is_empty() {
            write!(f, ": {}", phases.join(", "))?;
        }
        if let Some(pre_drain) = &self.pre_drain {
            write!(f, "; pre-drain: {pre_drain}")?;
        }
        if let Some(drain) = &self.drain {
            write!(f, "; drain: {drain}")?;
        }
        if !self.callbacks_failed.is_empty() {
            write!(f, "; finish callbacks failed: {}", self.callbacks_failed.join("; "))?;
        }
        if !self.killed.is_empty() {
            write!(f, "; killed: {}", self.killed.join(", "))?;
        }
        Ok(())
    }
}

/// What the pre-drain did: between readiness turning 503 and the listener
/// closing, the service served whatever still came.
///
/// ```
/// use micro::{PreDrainEnd, PreDrainReport};
/// use std::time::Duration;
/// let report = PreDrainReport { waited: Duration::from_millis(1200), served: 340, end: PreDrainEnd::Quiet(Duration::from_secs(1)) };
/// assert_eq!(report.to_string(), "served 340 requests in 1.20s after unready, until none came for 1s (site.shutdown.quiet_period)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreDrainReport {
    /// How long it kept serving.
    pub waited: Duration,
    /// Requests that came meanwhile (probes and `/metrics` not counted).
    pub served: u64,
    /// Why it ended.
    pub end: PreDrainEnd,
}

/// Why the pre-drain ended.
///
/// ```
/// assert_eq!(micro::PreDrainEnd::Max(std::time::Duration::from_secs(8)).to_string(), "its bound of 8s (site.shutdown.pre_drain_max)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PreDrainEnd {
    /// No request had come for `site.shutdown.quiet_period`.
    Quiet(Duration),
    /// It reached `site.shutdown.pre_drain_max` (at most half of
    /// `site.shutdown.total`).
    Max(Duration),
}

impl fmt::Display for PreDrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = match self.end {
            PreDrainEnd::Quiet(quiet) => format!("none came for {} (site.shutdown.quiet_period)", humantime(quiet)),
            max @ PreDrainEnd::Max(_) => max.to_string(),
        };
        write!(
            f,
            "served {} requests in {} after unready, until {end}",
            self.served,
            humantime(self.waited)
        )
    }
}

impl fmt::Display for PreDrainEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Quiet(quiet) => write!(f, "no request for {} (site.shutdown.quiet_period)", humantime(*quiet)),
            Self::Max(max) => write!(f, "its bound of {} (site.shutdown.pre_drain_max)", humantime(*max)),
        }
    }
}
