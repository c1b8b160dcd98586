//! The [`ConfigBackend`] trait and the backends that implement it.

mod env;
#[cfg(feature = "etcd")]
mod etcd;
mod file;
mod layered;
mod memory;
mod watch;

pub use env::EnvBackend;
#[cfg(feature = "etcd")]
pub use etcd::{EtcdBackend, EtcdStatus};
pub use file::FileBackend;
pub use layered::Layered;
pub use memory::MemoryBackend;
pub use watch::{Change, ChangeSender, WatchGuard};

use crate::{Document, LoadError};

/// A source of named configuration documents.
///
/// A backend answers one question: what is document `name` right now?
/// `Ok(None)` means it has no such document (another layer may); `Err` means
/// it has one but cannot produce it (unreadable, invalid YAML, unreachable).
///
/// ```
/// use micro_config::{ConfigBackend, MemoryBackend};
/// # tokio_test();
/// # fn tokio_test() { tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let backend = MemoryBackend::new().with_yaml("demo", "greeting: hi").unwrap();
/// let doc = backend.load("demo").await.unwrap().unwrap();
/// assert_eq!(doc.value()["greeting"], "hi");
/// assert!(backend.load("other").await.unwrap().is_none());
/// # }) }
/// ```
#[async_trait::async_trait]
pub trait ConfigBackend: Send + Sync + 'static {
    /// A short description for messages: "files in ./config".
    fn describe(&self) -> String;

    /// Loads document `name`, or `None` when this backend has none.
    async fn load(&self, name: &str) -> Result<Option<Document>, LoadError>;

    /// Called once before the documents of a snapshot are loaded, so a
    /// backend can read everything at one point in time (etcd reads its
    /// prefix at one revision here). The default does nothing.
    async fn refresh(&self) -> Result<(), LoadError> {
        Ok(())
    }

    /// Why this backend has no document `name`, when it can say more than
    /// that it has none: the path it was given does not exist, the file it
    /// looked for. Called only to word an error after [`load`](Self::load)
    /// found nothing; the default says nothing more.
    ///
    /// ```
    /// use micro_config::{ConfigBackend, FileBackend, MemoryBackend};
    /// assert_eq!(MemoryBackend::new().explain_missing("db"), None);
    /// assert_eq!(
    ///     FileBackend::new("no/such/conf").explain_missing("db").unwrap(),
    ///     "config directory no/such/conf does not exist"
    /// );
    /// ```
    fn explain_missing(&self, name: &str) -> Option<String> {
        let _ = name;
        None
    }

    /// Starts watching for changes, if this backend can and was asked to:
    /// each change (debounced) goes to `changes` until the guard is dropped.
    /// `Ok(None)`: nothing to watch. The default watches nothing.
    fn watch(&self, changes: &ChangeSender) -> Result<Option<WatchGuard>, LoadError> {
        let _ = changes;
        Ok(None)
    }
}

/// A shared backend is a backend: what lets a layer be put over one already
/// in use ([`PreloadedConfig::layer`](crate::PreloadedConfig::layer)).
#[async_trait::async_trait]
impl ConfigBackend for std::sync::Arc<dyn ConfigBackend> {
    fn describe(&self) -> String {
        (**self).describe()
    }

    async fn load(&self, name: &str) -> Result<Option<Document>, LoadError> {
        (**self).load(name).await
    }

    async fn refresh(&self) -> Result<(), LoadError> {
        (**self).refresh().await
    }

    fn explain_missing(&self, name: &str) -> Option<String> {
        (**self).explain_missing(name)
    }

    fn watch(&self, changes: &ChangeSender) -> Result<Option<WatchGuard>, LoadError> {
        (**self).watch(changes)
    }
}
