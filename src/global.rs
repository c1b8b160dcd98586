//! The process-wide accessors of the Python module: `get_config()` and
//! `get_service()`, which refer to the service running now.
//!
//! A run registers its service when it claims the process (one service runs
//! at a time) and clears the registration when it ends, or when its future
//! is dropped: nothing outlives the run, so a dropped service's backend is
//! released.

use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwapOption;
use micro_config::PreloadedConfig;
use tokio::sync::watch;

use crate::Service;
use crate::service::ServiceInner;

/// The running service: what the accessors read, one atomic load.
static CURRENT: ArcSwapOption<ServiceInner> = ArcSwapOption::const_empty();

/// The running service's name. Claims and releases change `CURRENT` inside
/// its lock, so two runs never both claim the process; waiters for "no
/// service runs" subscribe to it.
static RUNNING: LazyLock<watch::Sender<Option<String>>> = LazyLock::new(|| watch::Sender::new(None));

/// The process claimed by a run; dropping it releases the process.
pub(crate) struct Registration(Arc<ServiceInner>);

/// Claims the process for `service`'s run, or names the service running.
pub(crate) fn claim(service: &Service) -> Result<Registration, String> {
    let inner = service.inner_arc();
    let mut running_now = None;
    RUNNING.send_if_modified(|running| match running {
        Some(name) => {
            running_now = Some(name.clone());
            false
        }
        None => {
            CURRENT.store(Some(Arc::clone(&inner)));
            *running = Some(inner.name.clone());
            true
        }
    });
    match running_now {
        Some(name) => Err(name),
        None => Ok(Registration(inner)),
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        RUNNING.send_if_modified(|running| {
            let ours = CURRENT
                .load()
                .as_ref()
                .is_some_and(|current| Arc::ptr_eq(current, &self.0));
            if ours {
                CURRENT.store(None);
                *running = None;
            }
            ours
        });
    }
}

/// Waits until no service runs in the process; `false` when `bound`
/// passed first.
#[cfg(feature = "testing")]
pub(crate) async fn wait_idle(bound: std::time::Duration) -> bool {
    let mut running = RUNNING.subscribe();
    matches!(
        tokio::time::timeout(bound, running.wait_for(Option::is_none)).await,
        Ok(Ok(_))
    )
}

/// The service running in this process, if one is.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let service = micro::Service::builder("hello", "says hello").build();
/// assert!(micro::get_service().is_none(), "built, not running");
/// let handle = service.handle();
/// let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
/// handle.wait_running(std::time::Duration::from_secs(10)).await.unwrap();
/// assert_eq!(micro::get_service().unwrap().name(), "hello");
/// handle.stop().unwrap();
/// run.await.unwrap();
/// assert!(micro::get_service().is_none(), "the run has ended");
/// # }
/// ```
#[must_use]
pub fn get_service() -> Option<Service> {
    CURRENT.load_full().map(Service::from_inner)
}

/// The configuration accessor of the service running in this process; when
/// none runs, an empty one whose reads fail with `NotLoaded`. Reading
/// through it never locks and never waits; the accessor is borrowed, not
/// cloned (`.clone()` it to keep it).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use micro::config::{MemoryBackend, PreloadedConfig, ReadError};
/// let backend = MemoryBackend::new().with_yaml("demo", "greeting: hi").unwrap();
/// let service = micro::Service::builder("hello", "says hello")
///     .config(PreloadedConfig::new(["demo"]).backend(backend))
///     .build();
/// let not_running = micro::get_config().get_path::<String>("demo.greeting");
/// assert!(matches!(not_running, Err(ReadError::NotLoaded { .. })));
///
/// let handle = service.handle();
/// let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
/// handle.wait_running(std::time::Duration::from_secs(10)).await.unwrap();
/// assert_eq!(micro::get_config().get_path::<String>("demo.greeting").unwrap(), "hi");
/// handle.stop().unwrap();
/// run.await.unwrap();
/// # }
/// ```
#[must_use]
pub fn get_config() -> ConfigRef {
    ConfigRef(CURRENT.load())
}

/// The accessor [`get_config`] lends: derefs to [`PreloadedConfig`].
///
/// ```
/// let config: micro::ConfigRef = micro::get_config();
/// assert_eq!(config.generation(), 0, "no service runs: nothing loaded");
/// ```
pub struct ConfigRef(arc_swap::Guard<Option<std::sync::Arc<ServiceInner>>>);

impl std::ops::Deref for ConfigRef {
    type Target = PreloadedConfig;

    fn deref(&self) -> &PreloadedConfig {
        static EMPTY: std::sync::LazyLock<PreloadedConfig> =
            std::sync::LazyLock::new(|| PreloadedConfig::new(Vec::<String>::new()));
        match &*self.0 {
            Some(inner) => &inner.config,
            None => &EMPTY,
        }
    }
}

impl std::fmt::Debug for ConfigRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}
