//! Running a service in process from its own integration tests (feature
//! `testing`).
//!
//! [`TestService::start`] takes the service's [`ServiceBuilder`], not yet
//! built, and a [`MemoryBackend`] of overrides layered over the service's
//! own configuration (its files, its environment): a test names only the
//! values it changes, and keeps a clone of the backend to change them again
//! before a [`reload`](TestService::reload). The service runs in debug mode
//! on `127.0.0.1`, on a port the system picks, and installs no signal
//! handler: it is stopped and reloaded through its handle only.
//!
//! **One service at a time.** A process runs one service at a time (a
//! second run ends at once with exit 70), so a test service takes the
//! process's turn: a process-wide async lock, held from
//! [`start`](TestService::start) until the service is stopped or dropped.
//! Tests running in parallel in one test binary queue for it instead of
//! failing. Waiting for the turn is bounded like every other wait here.
//!
//! **Every wait is bounded** (30 s, or the bound given to
//! [`start_within`](TestService::start_within)): for the turn, for the
//! service to serve, for it to stop. A bound that passes is a
//! [`TestError::TimedOut`] naming what was awaited.
//!
//! **Logs go to libtest's capture** when a test service is the first to
//! set up logging in the process: lines logged on a test's thread (all of
//! them under `#[tokio::test]`'s one thread) show with that test's output
//! when it fails, or at once with `--nocapture`.
//!
//! The test brings its own HTTP client. A blocking one (`ureq`) must not
//! run on the runtime's only thread (`#[tokio::test]` is single-threaded):
//! call it in `tokio::task::spawn_blocking`, or use
//! `#[tokio::test(flavor = "multi_thread")]`.
//!
//! ```
//! use axum::{Router, routing::get};
//! use micro::config::{MemoryBackend, PreloadedConfig};
//! use micro::testing::TestService;
//!
//! type Error = Box<dyn std::error::Error + Send + Sync>;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! // What the service's main builds, its own backend included.
//! fn orders() -> micro::ServiceBuilder {
//!     let greet = || async { micro::get_config().get_path::<String>("orders.greeting").unwrap_or_default() };
//!     let own = MemoryBackend::labelled("files").with_yaml("orders", "greeting: hello").unwrap();
//!     micro::Service::builder("orders", "takes orders")
//!         .app(Router::new().route("/hello", get(greet)))
//!         .config(PreloadedConfig::new(["site", "orders"]).backend(own))
//! }
//!
//! let overrides = MemoryBackend::labelled("test").with_yaml("orders", "greeting: hi")?;
//! let svc = TestService::start(orders(), overrides.clone()).await?;
//! let get = |url: String| {
//!     tokio::task::spawn_blocking(move || -> Result<String, Error> {
//!         Ok(ureq::get(&url).call()?.into_string()?)
//!     })
//! };
//! assert_eq!(get(svc.url("/hello")).await??, "hi");
//!
//! overrides.set_yaml("orders", "greeting: hey")?;
//! let report = svc.reload().await?;
//! assert_eq!(report.changed, ["orders.greeting"]);
//! assert_eq!(get(svc.url("/hello")).await??, "hey");
//!
//! let exit = svc.stop().await?;
//! assert_eq!(exit.code(), 0);
//! assert_eq!(exit.report.cause, Some(micro::StopCause::Handle));
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use micro_config::MemoryBackend;
use tokio::sync::{Mutex, MutexGuard};
use tokio::task::JoinHandle;

use crate::exit::humantime;
use crate::service::{Mode, SignalHandlers};
use crate::{ExitStatus, ReloadError, ReloadReport, Service, ServiceBuilder, ServiceHandle, WaitError};

/// The process's turn to run a service, held by a [`TestService`].
static TURN: Mutex<()> = Mutex::const_new(());

/// The bound of each wait unless [`TestService::start_within`] gives one.
///
/// ```
/// assert_eq!(micro::testing::DEFAULT_BOUND, std::time::Duration::from_secs(30));
/// ```
pub const DEFAULT_BOUND: Duration = Duration::from_secs(30);

/// A test service did not do what was awaited.
///
/// ```
/// let err = micro::testing::TestError::TimedOut {
///     waiting_for: "the service to stop",
///     bound: std::time::Duration::from_secs(30),
/// };
/// assert_eq!(err.to_string(), "gave up waiting for the service to stop after 30s");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestError {
    /// The run ended before the service served; how it ended.
    #[error("the service did not start: exit {}: {}", .0.code(), .0.reason)]
    NotStarted(Box<ExitStatus>),
    /// A bound passed first.
    #[error("gave up waiting for {waiting_for} after {}", humantime(*bound))]
    TimedOut {
        /// What was awaited.
        waiting_for: &'static str,
        /// The bound that passed.
        bound: Duration,
    },
    /// The task running the service ended without an exit status (it was
    /// cancelled, or its runtime shut down).
    #[error("the service's run ended without an exit status: {0}")]
    Lost(String),
}

/// A service running in process for a test: see the [module](self) docs.
/// Dropping it asks the service to stop and gives the turn to the next
/// test; [`stop`](Self::stop) waits for the stop and says how it went.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), micro::testing::TestError> {
/// use micro::config::MemoryBackend;
/// let svc = micro::testing::TestService::start(micro::Service::builder("orders", ""), MemoryBackend::new()).await?;
/// assert_eq!(svc.service().name(), "orders");
/// drop(svc); // stops it; the next test service waits until it has
/// # Ok(())
/// # }
/// ```
pub struct TestService {
    service: Service,
    handle: ServiceHandle,
    addr: SocketAddr,
    bound: Duration,
    run: Option<JoinHandle<ExitStatus>>,
    _turn: MutexGuard<'static, ()>,
}

impl TestService {
    /// Builds the service with `overrides` over its own configuration and
    /// runs it on `127.0.0.1`, any free port, in debug mode, once it is this
    /// test's turn; returns when it serves. Each wait is bounded by
    /// [`DEFAULT_BOUND`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use micro::config::MemoryBackend;
    /// let overrides = MemoryBackend::new().with_yaml("site", "logging: {level: warn}")?;
    /// let svc = micro::testing::TestService::start(micro::Service::builder("orders", ""), overrides).await?;
    /// assert_eq!(svc.service().config_site().logging.level, "warn");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start(builder: ServiceBuilder, overrides: MemoryBackend) -> Result<Self, TestError> {
        Self::start_within(builder, overrides, DEFAULT_BOUND).await
    }

    /// [`start`](Self::start), each wait bounded by `bound` (for the turn,
    /// for the service to serve, later for it to stop).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use micro::config::MemoryBackend;
    /// use micro::testing::{TestError, TestService};
    /// let broken = MemoryBackend::new().with_yaml("site", "http: {port: eighty}").unwrap();
    /// let builder = micro::Service::builder("orders", "");
    /// let err = TestService::start_within(builder, broken, std::time::Duration::from_secs(5)).await.err().unwrap();
    /// let TestError::NotStarted(exit) = err else { panic!("{err}") };
    /// assert_eq!(exit.code(), 78, "{}", exit.reason);
    /// # }
    /// ```
    pub async fn start_within(
        builder: ServiceBuilder,
        overrides: MemoryBackend,
        bound: Duration,
    ) -> Result<Self, TestError> {
        let turn = tokio::time::timeout(bound, TURN.lock())
            .await
            .map_err(|_| TestError::TimedOut {
                waiting_for: "the test service before this one to be stopped or dropped",
                bound,
            })?;
        // A test service dropped without `stop` may still be stopping.
        if !crate::global::wait_idle(bound).await {
            return Err(TestError::TimedOut {
                waiting_for: "the service running in this process to stop",
                bound,
            });
        }
        let service = builder.config_layer(overrides).log_to_test_capture().build();
        let handle = service.handle();
        let runner = service.clone();
        let mode = Mode::Debug {
            host: "127.0.0.1".into(),
            port: Some(0),
        };
        let run = tokio::spawn(async move { runner.run_with(mode, SignalHandlers::Skip).await });
        match handle.wait_running(bound).await {
            Ok(addr) => Ok(Self {
                service,
                handle,
                addr,
                bound,
                run: Some(run),
                _turn: turn,
            }),
            Err(WaitError::TimedOut(_)) => {
                let _ = end(&handle, run, bound).await;
                Err(TestError::TimedOut {
                    waiting_for: "the service to serve",
                    bound,
                })
            }
            Err(_) => Err(TestError::NotStarted(Box::new(end(&handle, run, bound).await?))),
        }
    }

    /// The address the service listens on.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), micro::testing::TestError> {
    /// let builder = micro::Service::builder("orders", "");
    /// let svc = micro::testing::TestService::start(builder, micro::config::MemoryBackend::new()).await?;
    /// assert!(svc.addr().ip().is_loopback());
    /// assert_ne!(svc.addr().port(), 0);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr><path>`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let builder = micro::Service::builder("orders", "");
    /// let svc = micro::testing::TestService::start(builder, micro::config::MemoryBackend::new()).await?;
    /// let url = svc.url("/health/live");
    /// assert_eq!(url, format!("http://{}/health/live", svc.addr()));
    /// let status = tokio::task::spawn_blocking(move || ureq::get(&url).call().map(|r| r.status())).await??;
    /// assert_eq!(status, 200);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The service running.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), micro::testing::TestError> {
    /// let svc = micro::testing::TestService::start(micro::Service::builder("orders", ""), micro::config::MemoryBackend::new()).await?;
    /// assert_eq!(micro::get_service().unwrap().name(), svc.service().name());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// The service's handle: status, history, and what a test drives by
    /// hand.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), micro::testing::TestError> {
    /// let svc = micro::testing::TestService::start(micro::Service::builder("orders", ""), micro::config::MemoryBackend::new()).await?;
    /// assert_eq!(svc.handle().status().phase, micro::Phase::Running);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn handle(&self) -> ServiceHandle {
        self.handle.clone()
    }

    /// Reloads the configuration (after the test changed its overrides)
    /// and says what changed, or why the candidate was rejected; bounded as
    /// [`ServiceHandle::reload`] is.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use micro::config::MemoryBackend;
    /// let overrides = MemoryBackend::new();
    /// let svc = micro::testing::TestService::start(micro::Service::builder("orders", ""), overrides.clone()).await?;
    /// overrides.set_yaml("site", "logging: {level: warn}")?;
    /// assert_eq!(svc.reload().await?.changed, ["site.logging.level"]);
    /// overrides.set_yaml("site", "logging: {level: 'info,=['}")?;
    /// assert!(svc.reload().await.is_err(), "rejected: not a log filter");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        self.handle.reload().await
    }

    /// Stops the service, waits for the run to end (bounded) and returns
    /// how it ended, with its [`ShutdownReport`](crate::ShutdownReport) in
    /// [`ExitStatus::report`]. A service that already stopped by itself
    /// (a failed worker) is not asked again: its exit is returned.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), micro::testing::TestError> {
    /// let svc = micro::testing::TestService::start(micro::Service::builder("orders", ""), micro::config::MemoryBackend::new()).await?;
    /// let exit = svc.stop().await?;
    /// assert!(exit.is_success(), "{}", exit.reason);
    /// assert_eq!(exit.report.stopped.last().map(String::as_str), Some("config"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn stop(mut self) -> Result<ExitStatus, TestError> {
        match self.run.take() {
            Some(run) => end(&self.handle, run, self.bound).await,
            None => Err(TestError::Lost("already stopped".into())),
        }
    }
}

/// Asks the run to stop and waits for it, at most `bound`; past it the
/// supervisor is killed and the task aborted, so nothing of it lingers.
async fn end(
    handle: &ServiceHandle,
    mut run: JoinHandle<ExitStatus>,
    bound: Duration,
) -> Result<ExitStatus, TestError> {
    // NotRunning when it has stopped by itself: its exit is read below.
    let _ = handle.stop();
    match tokio::time::timeout(bound, &mut run).await {
        Ok(Ok(status)) => Ok(status),
        Ok(Err(err)) => Err(TestError::Lost(err.to_string())),
        Err(_) => {
            if let Some(supervisor) = handle.supervisor() {
                supervisor.kill();
            }
            run.abort();
            Err(TestError::TimedOut {
                waiting_for: "the service to stop",
                bound,
            })
        }
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        if self.run.is_some() {
            // The run goes on stopping on its runtime (or ends with it); the
            // next test service waits until it has.
            let _ = self.handle.stop();
        }
    }
}

impl std::fmt::Debug for TestService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestService")
            .field("service", &self.service.name())
            .field("addr", &self.addr)
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}
