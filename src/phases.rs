//! The phases of a run, as types: [`StartupPhase`], [`ShutdownPhase`], and
//! [`LifecyclePhase`] for either. Logs, STATUS lines, metric labels, the
//! shutdown report and [`StartError`](crate::StartError) all name a phase
//! by these, so a phase has one spelling and decisions are made on the type.

use std::fmt;

/// A phase of startup, in the order they run.
///
/// ```
/// assert_eq!(micro::StartupPhase::Init.to_string(), "init");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum StartupPhase {
    /// Load and preload the configuration.
    Config,
    /// Install logging.
    Logging,
    /// Start the configuration backend's watch.
    Watch,
    /// Resources and init callbacks (finish, on-reload and release actors
    /// are spawned here too).
    Init,
    /// Start the workers.
    Workers,
    /// Open the listeners.
    Http,
}

impl StartupPhase {
    /// The phase's name, as logged and used as a metric label.
    ///
    /// ```
    /// assert_eq!(micro::StartupPhase::Http.as_str(), "http");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Logging => "logging",
            Self::Watch => "watch",
            Self::Init => "init",
            Self::Workers => "workers",
            Self::Http => "http",
        }
    }
}

/// A phase of shutdown, in the order they run.
///
/// ```
/// assert_eq!(micro::ShutdownPhase::Drain.to_string(), "drain");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ShutdownPhase {
    /// Answer 503 on readiness (and wait `site.shutdown.pre_drain_delay`).
    Unready,
    /// Close the listeners and let requests in flight finish.
    Drain,
    /// Stop the workers, run finish callbacks, release resources.
    Finish,
    /// Write out buffered log lines.
    Flush,
    /// Stop the actors in reverse start order.
    Stop,
}

impl ShutdownPhase {
    /// The phase's name, as logged and used as a metric label.
    ///
    /// ```
    /// assert_eq!(micro::ShutdownPhase::Finish.as_str(), "finish");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unready => "unready",
            Self::Drain => "drain",
            Self::Finish => "finish",
            Self::Flush => "flush",
            Self::Stop => "stop",
        }
    }
}

/// A phase of startup or of shutdown, as [`ServiceHandle::history`] records it.
///
/// ```
/// use micro::{LifecyclePhase, ShutdownPhase};
/// let phase = LifecyclePhase::Shutdown(ShutdownPhase::Drain);
/// assert_eq!((phase.stage(), phase.to_string().as_str()), ("shutdown", "drain"));
/// ```
///
/// [`ServiceHandle::history`]: crate::ServiceHandle::history
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LifecyclePhase {
    /// A phase of startup.
    Startup(StartupPhase),
    /// A phase of shutdown.
    Shutdown(ShutdownPhase),
}

impl LifecyclePhase {
    /// `"startup"` or `"shutdown"`, as used for the metric label `stage`.
    ///
    /// ```
    /// use micro::{LifecyclePhase, StartupPhase};
    /// assert_eq!(LifecyclePhase::Startup(StartupPhase::Config).stage(), "startup");
    /// ```
    #[must_use]
    pub const fn stage(self) -> &'static str {
        match self {
            Self::Startup(_) => "startup",
            Self::Shutdown(_) => "shutdown",
        }
    }

    /// The phase's own name.
    ///
    /// ```
    /// use micro::{LifecyclePhase, StartupPhase};
    /// assert_eq!(LifecyclePhase::Startup(StartupPhase::Init).as_str(), "init");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Startup(phase) => phase.as_str(),
            Self::Shutdown(phase) => phase.as_str(),
        }
    }
}

impl From<StartupPhase> for LifecyclePhase {
    fn from(phase: StartupPhase) -> Self {
        Self::Startup(phase)
    }
}

impl From<ShutdownPhase> for LifecyclePhase {
    fn from(phase: ShutdownPhase) -> Self {
        Self::Shutdown(phase)
    }
}

impl fmt::Display for StartupPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ShutdownPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for LifecyclePhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
