//! How a run ended: [`ExitStatus`], its [`ExitKind`] (the process exit
//! code, sysexits-style) and the [`StartError`] that maps onto it.

use std::process::{ExitCode, Termination};

use micro_actors::{BindError, CallbackError, LogError};
use micro_config::LoadError;

use crate::{ShutdownReport, StartupPhase};

/// Why the service stopped, as a process exit code.
///
/// | code | kind | when |
/// |---|---|---|
/// | 0 | [`Clean`](Self::Clean) | stopped by a signal or `ServiceHandle::stop` |
/// | 1 | [`Failure`](Self::Failure) | an actor died while running, or the supervisor failed |
/// | 69 | [`Unavailable`](Self::Unavailable) | cannot listen, or the config backend is unreachable |
/// | 70 | [`Software`](Self::Software) | an init callback failed |
/// | 78 | [`Config`](Self::Config) | the configuration is invalid |
/// | 130 | [`Interrupted`](Self::Interrupted) | a second SIGINT cut the shutdown short |
/// | 143 | [`Terminated`](Self::Terminated) | a second SIGTERM cut the shutdown short |
///
/// ```
/// assert_eq!(micro::ExitKind::Config.code(), 78);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitKind {
    /// 0: a requested, orderly stop.
    Clean,
    /// 1: a failure while running.
    Failure,
    /// 69: something the service needs is not there.
    Unavailable,
    /// 70: the service's own code failed at startup.
    Software,
    /// 78: the configuration is invalid.
    Config,
    /// 130: forced by a second SIGINT.
    Interrupted,
    /// 143: forced by a second SIGTERM.
    Terminated,
}

impl ExitKind {
    /// The process exit code.
    ///
    /// ```
    /// assert_eq!(micro::ExitKind::Terminated.code(), 143);
    /// ```
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Self::Clean => 0,
            Self::Failure => 1,
            Self::Unavailable => 69,
            Self::Software => 70,
            Self::Config => 78,
            Self::Interrupted => 130,
            Self::Terminated => 143,
        }
    }
}

/// How a run of the service ended: the exit kind, why, and — when the
/// service got as far as stopping — the shutdown report.
///
/// `main` can return it directly; the process then exits with its code:
///
/// ```no_run
/// #[tokio::main]
/// async fn main() -> micro::ExitStatus {
///     let service = micro::Service::builder("hello", "says hello").build();
///     service.debug("127.0.0.1", 7000).await
/// }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExitStatus {
    /// The kind, which gives the exit code.
    pub kind: ExitKind,
    /// Why, in one line.
    pub reason: String,
    /// What the shutdown did, phase by phase.
    pub report: ShutdownReport,
}

impl ExitStatus {
    /// A status for a run that ended before any shutdown report existed.
    pub(crate) fn unreported(kind: ExitKind, reason: String) -> Self {
        Self {
            kind,
            reason,
            report: ShutdownReport::default(),
        }
    }

    /// The process exit code.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use micro::config::{MemoryBackend, PreloadedConfig};
    /// let bad = MemoryBackend::new().with_yaml("site", "http: {port: eighty}").unwrap();
    /// let service = micro::Service::builder("hello", "").config(PreloadedConfig::new(["site"]).backend(bad)).build();
    /// let status = service.check_config(false).await;
    /// assert_eq!((status.code(), status.kind), (78, micro::ExitKind::Config));
    /// # }
    /// ```
    #[must_use]
    pub fn code(&self) -> u8 {
        self.kind.code()
    }

    /// Whether the service stopped cleanly (exit code 0).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let service = micro::Service::builder("hello", "says hello").build();
    /// let status = service.check_config(false).await; // the defaults are valid
    /// assert!(status.is_success());
    /// # }
    /// ```
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.kind == ExitKind::Clean
    }
}

impl Termination for ExitStatus {
    fn report(self) -> ExitCode {
        ExitCode::from(self.code())
    }
}

/// Startup failed; the variant says at which step and why.
///
/// ```
/// use micro::{ExitKind, StartError};
/// let err = StartError::TimedOut { step: micro::StartupPhase::Init, bound: std::time::Duration::from_secs(60) };
/// assert_eq!(err.to_string(), "startup did not finish within 60s (stuck in: init; bound: site.startup.timeout)");
/// assert_eq!(err.exit_kind(), ExitKind::Software);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration could not be loaded or is invalid.
    #[error("configuration: {0}")]
    Config(#[source] LoadError),
    /// Logging could not be configured.
    #[error("logging: {0}")]
    Logging(#[source] LogError),
    /// The OpenTelemetry exporter could not be built from `site.telemetry`
    /// and the standard `OTEL_*` variables.
    #[cfg(feature = "otel")]
    #[error("{0}")]
    Telemetry(#[source] crate::telemetry::TelemetryError),
    /// An init callback failed, panicked or timed out.
    #[error("init: {0}")]
    Init(#[source] CallbackError),
    /// The listener could not be opened.
    #[error("http: {0}")]
    Bind(#[source] BindError),
    /// The `PORT` environment variable is not a port number.
    #[error("PORT={value:?} is not a port number (0–65535)")]
    Port {
        /// The value found.
        value: String,
    },
    /// The service's router defines a route micro serves itself.
    #[error("http: the app's routes conflict with micro's built-in routes: {0}")]
    Routes(String),
    /// Making the service's routes (`ServiceBuilder::app_with`) panicked,
    /// e.g. asking for a resource that was never registered.
    #[error("http: the service's routes could not be made: {0}")]
    App(String),
    /// An actor could not be started or did not answer.
    #[error("{step}: actor {actor}: {reason}")]
    Actor {
        /// The startup phase.
        step: StartupPhase,
        /// Which actor.
        actor: String,
        /// What went wrong.
        reason: String,
    },
    /// Startup as a whole ran past `site.startup.timeout`.
    #[error("startup did not finish within {} (stuck in: {step}; bound: site.startup.timeout)", humantime(*bound))]
    TimedOut {
        /// The phase running when the bound hit.
        step: StartupPhase,
        /// The bound.
        bound: std::time::Duration,
    },
}

impl StartError {
    /// The exit kind this failure maps to.
    ///
    /// ```
    /// let err = micro::StartError::Port { value: "eighty".into() };
    /// assert_eq!(err.exit_kind(), micro::ExitKind::Config);
    /// ```
    #[must_use]
    pub fn exit_kind(&self) -> ExitKind {
        match self {
            Self::Bind(_) | Self::Config(LoadError::Unavailable { .. }) => ExitKind::Unavailable,
            Self::Config(_) | Self::Logging(_) | Self::Port { .. } => ExitKind::Config,
            #[cfg(feature = "otel")]
            Self::Telemetry(_) => ExitKind::Config,
            Self::TimedOut {
                step: StartupPhase::Config | StartupPhase::Watch | StartupPhase::Http,
                ..
            } => ExitKind::Unavailable,
            Self::Init(_) | Self::Routes(_) | Self::App(_) | Self::Actor { .. } | Self::TimedOut { .. } => {
                ExitKind::Software
            }
        }
    }
}

pub(crate) fn humantime(d: std::time::Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.as_secs() == 0 {
        format!("{:.1}ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}
