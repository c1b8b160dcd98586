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
/// it never locks and never waits; the accessor is borrowed, not cloned
/// (`.clone()` it to keep it).
///
/// ```
/// use micro::config::{MemoryBackend, PreloadedConfig};
/// let config = PreloadedConfig::new(["demo"]).backend(MemoryBackend::new());
/// let _service = micro::Service::builder("hello", "says hello").config(config).build();
/// assert_eq!(micro::get_config().preloads(), ["demo"]);
/// ```
#[must_use]
pub fn get_config() -> ConfigRef {
    ConfigRef(CURRENT.load())
}

/// The accessor [`get_config`] lends: derefs to [`PreloadedConfig`].
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
