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
}

impl fmt::Display for StopCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Signal(name) => f.write_str(name),
            Self::Handle => f.write_str("ServiceHandle::stop"),
            Self::StartFailed => f.write_str("startup failure"),
            Self::ActorDied(actor) => write!(f, "actor {actor} died"),
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
