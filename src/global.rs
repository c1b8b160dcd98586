//! The process-wide accessors of the Python module: `get_config()` and
//! `get_service()`.

use arc_swap::ArcSwapOption;
use micro_config::PreloadedConfig;

use crate::Service;
use crate::service::ServiceInner;

static CURRENT: ArcSwapOption<ServiceInner> = ArcSwapOption::const_empty();

pub(crate) fn register(service: &Service) {
    CURRENT.store(Some(service.inner_arc()));
}

/// The service built last in this process, if any.
///
/// ```
/// let service = micro::Service::builder("hello", "says hello").build();
/// assert_eq!(micro::get_service().unwrap().name(), "hello");
/// ```
#[must_use]
pub fn get_service() -> Option<Service> {
    CURRENT.load_full().map(Service::from_inner)
}

/// The configuration accessor of the service built last; before any service
/// is built, an empty one whose reads fail with `NotLoaded`. Reading through
/// it never locks and never waits.
///
/// ```
/// use micro::config::{MemoryBackend, PreloadedConfig};
/// let config = PreloadedConfig::new(["demo"]).backend(MemoryBackend::new());
/// let _service = micro::Service::builder("hello", "says hello").config(config).build();
/// assert_eq!(micro::get_config().preloads(), ["demo"]);
/// ```
#[must_use]
pub fn get_config() -> PreloadedConfig {
    match &*CURRENT.load() {
        Some(inner) => inner.config.clone(),
        None => PreloadedConfig::new(Vec::<String>::new()),
    }
}
