//! What changes while a service runs: the snapshot in force, its
//! subscribers, the last reload's outcome, and documents loaded on first use.

use std::sync::Arc;
use std::time::SystemTime;

use std::sync::{Mutex, PoisonError};

use arc_swap::{ArcSwap, ArcSwapOption};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::PreloadedConfig;
use crate::{LoadError, ReadError, Snapshot};

/// The shared, changing part of a [`PreloadedConfig`].
pub(super) struct Live {
    pub(super) current: ArcSwap<Snapshot>,
    /// Serializes writers (a reload's swap, a first-use fetch) so the
    /// snapshot swapped in is the one subscribers are told about; readers
    /// never take it.
    write: Mutex<()>,
    updates: watch::Sender<Arc<Snapshot>>,
    last_reload: ArcSwapOption<LastReload>,
}

impl Default for Live {
    fn default() -> Self {
        let first = Arc::new(Snapshot::default());
        Self {
            current: ArcSwap::new(Arc::clone(&first)),
            write: Mutex::new(()),
            updates: watch::Sender::new(first),
            last_reload: ArcSwapOption::empty(),
        }
    }
}

impl Live {
    pub(super) fn store(&self, snapshot: Snapshot) -> Arc<Snapshot> {
        let _writer = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let snapshot = Arc::new(snapshot);
        let replaced = self.current.swap(Arc::clone(&snapshot));
        self.updates.send_replace(snapshot);
        replaced
    }

    /// Makes `candidate` the snapshot in force, recording what changed,
    /// unless it holds the same values as the one in force: that one stays,
    /// and subscribers are not told.
    pub(super) fn swap_in(&self, candidate: Snapshot) -> Swap {
        let _writer = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.current.load_full();
        if current.same_values(&candidate) {
            return Swap::Unchanged(current);
        }
        let changed = current.diff(&candidate);
        let next = Arc::new(candidate.with_changes(changed));
        self.current.store(Arc::clone(&next));
        self.updates.send_replace(Arc::clone(&next));
        Swap::Stored(next)
    }

    /// Makes `candidate` — `base` with document `name` added, validated —
    /// the snapshot in force, if `base` still is (its typed reads, the
    /// validators' among them, are kept). Else adds the document to the
    /// snapshot in force, unless that already has one of that name (a
    /// reload or another fetch got there first: theirs is as new).
    fn add(&self, base: &Arc<Snapshot>, candidate: Snapshot, name: &str) {
        let _writer = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.current.load_full();
        let next = if Arc::ptr_eq(&now, base) {
            candidate
        } else {
            match candidate.document(name) {
                Some(doc) if now.document(name).is_none() => now.with_document(doc.clone()),
                _ => return,
            }
        };
        let next = Arc::new(next);
        self.current.store(Arc::clone(&next));
        self.updates.send_replace(next);
    }
}

/// What [`PreloadedConfig::swap_in`] did with a candidate. Exhaustive, so
/// the runtime must handle any outcome added.
///
/// ```
/// use micro_config::{MemoryBackend, PreloadedConfig, Swap};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let config = PreloadedConfig::new(["demo"]).backend(MemoryBackend::new().with_yaml("demo", "a: 1").unwrap());
/// let Swap::Stored(first) = config.swap_in(config.load_candidate(1, &[]).await.unwrap()) else { panic!() };
/// assert_eq!(first.generation(), 1);
/// let Swap::Unchanged(kept) = config.swap_in(config.load_candidate(2, &[]).await.unwrap()) else { panic!() };
/// assert_eq!(kept.generation(), 1);
/// # });
/// ```
// The runtime's (ConfigActor's), not part of the API.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub enum Swap {
    /// The candidate holds other values: it is in force now, with the key
    /// paths that changed ([`Snapshot::changed`]).
    Stored(Arc<Snapshot>),
    /// The candidate holds the values in force: the snapshot in force
    /// stays, generation and all, and subscribers are not told.
    Unchanged(Arc<Snapshot>),
}

/// How the last reload ended, as [`PreloadedConfig::last_reload`] tells it.
/// The runtime records it; a service reads it.
///
/// ```
/// use micro_config::{LastReload, PreloadedConfig};
/// let config = PreloadedConfig::new(["demo"]);
/// # config.record_reload(LastReload::new(std::time::SystemTime::now(), 2, None));
/// if let Some(last) = config.last_reload() {
///     match &last.error {
///         None => println!("generation {} in force since {:?}", last.generation, last.at),
///         Some(why) => println!("rejected, generation {} stays: {why}", last.generation),
///     }
/// }
/// ```
///
/// It may grow, so it is not built by hand outside this crate:
///
/// ```compile_fail
/// let last = micro_config::LastReload { at: std::time::SystemTime::now(), generation: 1, error: None };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LastReload {
    /// When it ended.
    pub at: SystemTime,
    /// The generation in force after it (unchanged when it was rejected).
    pub generation: u64,
    /// Why it was rejected, when it was.
    pub error: Option<String>,
}

impl LastReload {
    /// A reload that ended `at`, leaving `generation` in force, rejected
    /// for `error` when there is one.
    ///
    /// ```
    /// let last = micro_config::LastReload::new(std::time::SystemTime::UNIX_EPOCH, 2, None);
    /// assert_eq!((last.generation, last.error), (2, None));
    /// ```
    // The runtime's (ConfigActor's), not part of the API.
    #[doc(hidden)]
    #[must_use]
    pub fn new(at: SystemTime, generation: u64, error: Option<String>) -> Self {
        Self { at, generation, error }
    }
}

/// Loading a document on first use failed.
///
/// ```
/// use micro_config::{FetchError, FileBackend, PreloadedConfig};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let config = PreloadedConfig::new(Vec::<String>::new()).backend(FileBackend::new("no/such/conf"));
/// let err = config.fetch::<serde_json::Value>("db").await.unwrap_err();
/// assert!(matches!(err, FetchError::Missing { .. }));
/// assert_eq!(
///     err.to_string(),
///     "config document `db` not found in files in no/such/conf: config directory no/such/conf does not exist"
/// );
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The backend has no such document.
    #[error("config document `{name}` not found in {backend}{}", crate::error::because(.why))]
    #[non_exhaustive]
    Missing {
        /// The document.
        name: String,
        /// The backend, as it describes itself.
        backend: String,
        /// Why, when the backend can say more (see
        /// [`ConfigBackend::explain_missing`](crate::ConfigBackend::explain_missing)).
        why: Option<String>,
    },
    /// The backend failed, or the document (with the rest) is invalid.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The document is there but the value does not fit the type.
    #[error(transparent)]
    Read(#[from] ReadError),
}

impl PreloadedConfig {
    /// A receiver of the snapshot in force: it wakes when a new one is
    /// stored (a reload that changed something, a document loaded on first
    /// use) and always sees the latest; when several are stored quickly,
    /// the ones between are skipped (compare generations, or diff two
    /// snapshots, to see all that changed). Never blocks the writer.
    ///
    /// ```
    /// use micro_config::{MemoryBackend, PreloadedConfig};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let config = PreloadedConfig::new(["demo"]).backend(MemoryBackend::new().with_yaml("demo", "a: 1").unwrap());
    /// let mut updates = config.subscribe();
    /// config.store(config.load_candidate(1, &[]).await.unwrap());
    /// updates.changed().await.unwrap();
    /// assert_eq!(updates.borrow_and_update().generation(), 1);
    /// # });
    /// ```
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.live.updates.subscribe()
    }

    /// Records how a reload ended (ConfigActor does, after each one).
    ///
    /// ```
    /// use micro_config::{LastReload, PreloadedConfig};
    /// let config = PreloadedConfig::new(["demo"]);
    /// assert!(config.last_reload().is_none());
    /// config.record_reload(LastReload::new(std::time::SystemTime::now(), 0, Some("bad".into())));
    /// assert_eq!(config.last_reload().unwrap().error.as_deref(), Some("bad"));
    /// ```
    // The runtime's (ConfigActor's), not part of the API.
    #[doc(hidden)]
    pub fn record_reload(&self, outcome: LastReload) {
        self.live.last_reload.store(Some(Arc::new(outcome)));
    }

    /// How the last reload ended, if there was one (for status routes).
    ///
    /// ```
    /// use micro_config::{MemoryBackend, PreloadedConfig};
    /// let config = PreloadedConfig::new(["demo"]).backend(MemoryBackend::new());
    /// assert!(config.last_reload().is_none(), "no reload yet");
    /// ```
    #[must_use]
    pub fn last_reload(&self) -> Option<Arc<LastReload>> {
        self.live.last_reload.load_full()
    }

    /// Document `name` as `T`, loading it from the backend on first use.
    ///
    /// A document that is not preloaded is loaded once, validated with the
    /// rest of the snapshot, and kept in the snapshot in force (same
    /// generation); later reads, and reloads, include it. Preloads and
    /// documents loaded before are read without touching the backend.
    ///
    /// ```
    /// use micro_config::{MemoryBackend, PreloadedConfig};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let backend = MemoryBackend::new().with_yaml("db", "port: 5432").unwrap();
    /// let config = PreloadedConfig::new(Vec::<String>::new()).backend(backend);
    /// config.store(config.load_candidate(1, &[]).await.unwrap());
    /// assert!(config.get_path::<u16>("db.port").is_err(), "not loaded yet");
    /// assert_eq!(config.fetch::<serde_json::Value>("db").await.unwrap()["port"], 5432);
    /// assert_eq!(config.get_path::<u16>("db.port").unwrap(), 5432, "kept in the snapshot");
    /// assert!(config.fetch::<serde_json::Value>("nope").await.is_err());
    /// # });
    /// ```
    pub async fn fetch<T: DeserializeOwned>(&self, name: &str) -> Result<T, FetchError> {
        let current = self.snapshot();
        if current.document(name).is_none() {
            let doc = self.backend.load(name).await?.ok_or_else(|| FetchError::Missing {
                name: name.to_owned(),
                backend: self.backend.describe(),
                why: self.backend.explain_missing(name),
            })?;
            let candidate = current.with_document(doc);
            for check in self.validators.iter() {
                check(&candidate)?;
            }
            self.live.add(&current, candidate, name);
        }
        Ok(self.snapshot().get(name)?)
    }
}
