//! Configuration for micro: named documents from backends, read through
//! immutable snapshots.
//!
//! This crate knows no actors, no HTTP and no signals; it is usable on its own.
//!
//! - A [`ConfigBackend`] serves named documents: [`FileBackend`] reads
//!   `<dir>/<name>.yaml` (or the top-level keys of one file) and can watch
//!   them, [`EnvBackend`] reads variables like `MICRO__SITE__HTTP__PORT=8080`,
//!   [`MemoryBackend`] holds them in memory, [`Layered`] stacks backends
//!   (later layers win, maps merge deeply).
//! - [`PreloadedConfig`] loads the documents a service names at start into a
//!   [`Snapshot`] and answers typed reads from the current one without locks.
//! - [`SiteConfig`] is the typed schema of the site document, with defaults
//!   compiled in from `config/defaults/site.yaml`.
//! - Every error names its source ([`Origin`]), the key path and, for YAML,
//!   the line and column ([`LoadError`], [`ReadError`]).
//!
//! ```
//! use micro_config::{FileBackend, Layered, MemoryBackend, PreloadedConfig};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("demo.yaml"), "greeting: hello from a file\n").unwrap();
//!
//! let defaults = MemoryBackend::labelled("defaults").with_yaml("demo", "greeting: hello").unwrap();
//! let config = PreloadedConfig::new(["site", "demo"])
//!     .backend(Layered::new().layer(defaults).layer(FileBackend::new(dir.path())));
//!
//! config.store(config.load_candidate(1, &[]).await.unwrap());
//! assert_eq!(config.get_path::<String>("demo.greeting").unwrap(), "hello from a file");
//! assert_eq!(config.site().logging.level, "info");
//! # });
//! ```

mod backend;
pub mod document;
pub mod dump;
mod error;
mod origin;
mod preloaded;
pub mod site;
mod snapshot;
pub mod value;
pub mod yaml;

pub use backend::{Change, ChangeSender, ConfigBackend, EnvBackend, FileBackend, Layered, MemoryBackend, WatchGuard};
#[cfg(feature = "etcd")]
pub use backend::{EtcdBackend, EtcdStatus};
pub use document::{Document, Layer};
pub use error::{LoadError, ReadError};
pub use origin::{Location, Origin, Source};
#[doc(hidden)]
pub use preloaded::Swap;
pub use preloaded::{FetchError, LastReload, PreloadedConfig, Validator};
pub use site::SiteConfig;
pub use snapshot::Snapshot;

/// A document tree. YAML is parsed into this; typed reads deserialize from it.
///
/// ```
/// use micro_config::{Origin, Value, yaml};
/// let tree: Value = yaml::parse("http: {port: 8000}", &Origin::Memory("t".into())).unwrap();
/// assert_eq!(tree, serde_json::json!({"http": {"port": 8000}}));
/// ```
pub type Value = serde_json::Value;

/// The trait object of async-trait backends, re-exported for implementors.
pub use async_trait::async_trait;
