//! [`PreloadedConfig`]: the configuration accessor a service reads through.
//! What changes while a service runs — the snapshot in force, its
//! subscribers, the last reload's outcome, documents loaded on first use —
//! is in `live.rs`.

mod live;

use live::Live;
pub use live::{FetchError, LastReload, Swap};

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::site::DEFAULTS_ORIGIN;
use crate::{ConfigBackend, Document, LoadError, MemoryBackend, ReadError, SiteConfig, Snapshot, value};

/// A check a candidate snapshot must pass; see [`PreloadedConfig::validate`].
///
/// ```
/// use std::sync::Arc;
/// use micro_config::{LoadError, Snapshot, Validator};
/// let needs_db: Validator = Arc::new(|snapshot: &Snapshot| match snapshot.document("db") {
///     Some(_) => Ok(()),
///     None => Err(LoadError::NotLoaded { name: "db".into() }),
/// });
/// assert!(needs_db(&Snapshot::default()).is_err());
/// ```
pub type Validator = Arc<dyn Fn(&Snapshot) -> Result<(), LoadError> + Send + Sync>;

/// The configuration accessor: which documents to preload, from which
/// backend, and the current [`Snapshot`].
///
/// The name and the idea come from the Python `PreloadedConfig`: the
/// documents named at construction are loaded before the service starts, so
/// a missing or broken one fails startup instead of the first request.
///
/// Clones share the current snapshot. Reads are one atomic load: they never
/// lock and never wait.
///
/// ```
/// use micro_config::{MemoryBackend, PreloadedConfig};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let config = PreloadedConfig::new(["demo"])
///     .backend(MemoryBackend::new().with_yaml("demo", "greeting: hi").unwrap());
/// let snapshot = config.load_candidate(1, &[]).await.unwrap();
/// config.store(snapshot);
/// assert_eq!(config.get_path::<String>("demo.greeting").unwrap(), "hi");
/// assert_eq!(config.site().http.port, 8000);
/// # });
/// ```
#[derive(Clone)]
pub struct PreloadedConfig {
    validators: Arc<[Validator]>,
    preloads: Arc<[String]>,
    backend: Arc<dyn ConfigBackend>,
    site_path: Arc<[String]>,
    live: Arc<Live>,
}

impl PreloadedConfig {
    /// Preloads `preloads` from an empty in-memory backend until
    /// [`backend`](Self::backend) names another.
    ///
    /// ```
    /// let config = micro_config::PreloadedConfig::new(["site", "db"]);
    /// assert_eq!(config.preloads(), ["site", "db"]);
    /// assert_eq!(config.describe_backend(), "no backend (in memory)");
    /// assert_eq!(config.generation(), 0);
    /// ```
    #[must_use]
    pub fn new<I, S>(preloads: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            validators: Arc::new([]),
            preloads: preloads.into_iter().map(Into::into).collect(),
            backend: Arc::new(MemoryBackend::labelled("no backend")),
            site_path: Arc::new(["site".to_owned()]),
            live: Arc::default(),
        }
    }

    /// Reads documents from `backend`.
    ///
    /// ```
    /// use micro_config::{MemoryBackend, PreloadedConfig};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let config = PreloadedConfig::new(["demo"]);
    /// assert!(config.load_candidate(1, &[]).await.is_err()); // the default backend is empty
    /// let config = config.backend(MemoryBackend::new().with_yaml("demo", "greeting: hi").unwrap());
    /// assert!(config.load_candidate(1, &[]).await.is_ok());
    /// # });
    /// ```
    #[must_use]
    pub fn backend(mut self, backend: impl ConfigBackend) -> Self {
        self.backend = Arc::new(backend);
        self
    }

    /// Puts `backend` over the backend read so far: where both have a value,
    /// `backend`'s wins (maps merge key by key, as in [`Layered`](crate::Layered)).
    ///
    /// ```
    /// use micro_config::{MemoryBackend, PreloadedConfig};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let config = PreloadedConfig::new(["demo"])
    ///     .backend(MemoryBackend::labelled("defaults").with_yaml("demo", "greeting: hi\nshout: false").unwrap())
    ///     .layer(MemoryBackend::labelled("test").with_yaml("demo", "shout: true").unwrap());
    /// assert_eq!(config.describe_backend(), "defaults (in memory) < test (in memory)");
    /// let snapshot = config.load_candidate(1, &[]).await.unwrap();
    /// assert_eq!(snapshot.get_path::<bool>("demo.shout").unwrap(), true);
    /// assert_eq!(snapshot.get_path::<String>("demo.greeting").unwrap(), "hi");
    /// # });
    /// ```
    #[must_use]
    pub fn layer(mut self, backend: impl ConfigBackend) -> Self {
        let below = Arc::clone(&self.backend);
        self.backend = Arc::new(crate::Layered::new().layer(below).layer(backend));
        self
    }

    /// Adds a check every candidate snapshot must pass, at startup and on
    /// each reload; a failing check rejects the candidate whole.
    ///
    /// ```
    /// use micro_config::{LoadError, MemoryBackend, Origin, PreloadedConfig};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let config = PreloadedConfig::new(["db"])
    ///     .backend(MemoryBackend::labelled("t").with_yaml("db", "pool: 0").unwrap())
    ///     .validate(|snapshot| match snapshot.get_path::<u32>("db.pool") {
    ///         Ok(0) => Err(LoadError::Invalid {
    ///             at: snapshot.document("db").unwrap().locate(&["pool"]),
    ///             path: "db.pool".into(),
    ///             message: "must be at least 1".into(),
    ///         }),
    ///         _ => Ok(()),
    ///     });
    /// let err = config.load_candidate(1, &[]).await.unwrap_err();
    /// assert_eq!(err.to_string(), "t (in memory):1:1: db.pool: must be at least 1");
    /// # });
    /// ```
    // The runtime's: a service sets this once, on its `ServiceBuilder`.
    #[doc(hidden)]
    #[must_use]
    pub fn validate(mut self, check: impl Fn(&Snapshot) -> Result<(), LoadError> + Send + Sync + 'static) -> Self {
        let mut validators = self.validators.to_vec();
        validators.push(Arc::new(check));
        self.validators = validators.into();
        self
    }

    /// Preloads document `name` (unless it already is) and checks that it
    /// deserializes into `T` in every candidate snapshot — the first load,
    /// each reload, a configuration check (`--check-config`), a document
    /// loaded on first use ([`fetch`](Self::fetch)) — as a
    /// [`validate`](Self::validate) check does: a value that does not fit
    /// fails the candidate, naming the file, line and column, and the key
    /// path. Checks run in the order they were added.
    ///
    /// The check is a [`Snapshot::typed`] read, so a snapshot that passed
    /// it answers `typed::<T>(name)` without deserializing again.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use micro_config::{MemoryBackend, PreloadedConfig};
    /// #[derive(serde::Deserialize)]
    /// struct Orders { region: String, max_items: u32 }
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let backend = MemoryBackend::labelled("t").with_yaml("orders", "region: eu\nmax_items: lots\n").unwrap();
    /// let config = PreloadedConfig::new(["site"]).backend(backend.clone()).document::<Orders>("orders");
    /// assert_eq!(config.preloads(), ["site", "orders"]);
    /// let err = config.load_candidate(1, &[]).await.unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "t (in memory):2:1: orders.max_items: invalid type: string \"lots\", expected u32"
    /// );
    ///
    /// backend.set_yaml("orders", "region: eu\nmax_items: 20\n").unwrap();
    /// config.store(config.load_candidate(1, &[]).await.unwrap());
    /// let orders: Arc<Orders> = config.typed("orders").unwrap(); // checked, and already deserialized
    /// assert_eq!((orders.region.as_str(), orders.max_items), ("eu", 20));
    /// # });
    /// ```
    // The runtime's: a service sets this once, on its `ServiceBuilder`.
    #[doc(hidden)]
    #[must_use]
    pub fn document<T>(mut self, name: impl Into<String>) -> Self
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let name = name.into();
        if !self.preloads.contains(&name) {
            let mut preloads = self.preloads.to_vec();
            preloads.push(name.clone());
            self.preloads = preloads.into();
        }
        self.validate(move |snapshot| {
            snapshot.typed::<T>(&name)?;
            Ok(())
        })
    }

    /// Where the site config sits: `["site"]` (the default) is document
    /// `site`; `["hipchat", "site"]` is key `site` of document `hipchat`.
    /// An empty path keeps the default.
    ///
    /// ```
    /// use micro_config::{MemoryBackend, PreloadedConfig};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let config = PreloadedConfig::new(["hipchat"])
    ///     .backend(MemoryBackend::new().with_yaml("hipchat", "site: {http: {port: 9100}}").unwrap())
    ///     .site_path(["hipchat", "site"]);
    /// assert_eq!(config.load_candidate(1, &[]).await.unwrap().site().http.port, 9100);
    /// assert_eq!(config.site_path(Vec::<String>::new()).site_path_keys(), ["hipchat", "site"]);
    /// # });
    /// ```
    // The runtime's: a service sets this once, on its `ServiceBuilder`.
    #[doc(hidden)]
    #[must_use]
    pub fn site_path<I, S>(mut self, path: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let path: Arc<[String]> = path.into_iter().map(Into::into).collect();
        if !path.is_empty() {
            self.site_path = path;
        }
        self
    }

    /// The documents loaded at start.
    ///
    /// ```
    /// let config = micro_config::PreloadedConfig::new(vec![String::from("db"), String::from("cache")]);
    /// assert_eq!(config.preloads(), ["db", "cache"]);
    /// ```
    #[must_use]
    pub fn preloads(&self) -> &[String] {
        &self.preloads
    }

    /// The site path, e.g. `["site"]`.
    ///
    /// ```
    /// use micro_config::PreloadedConfig;
    /// assert_eq!(PreloadedConfig::new(["db"]).site_path_keys(), ["site"]);
    /// let nested = PreloadedConfig::new(["hipchat"]).site_path(["hipchat", "site"]);
    /// assert_eq!(nested.site_path_keys(), ["hipchat", "site"]);
    /// ```
    #[must_use]
    pub fn site_path_keys(&self) -> &[String] {
        &self.site_path
    }

    /// The backend, as it describes itself.
    ///
    /// ```
    /// use micro_config::{FileBackend, Layered, MemoryBackend, PreloadedConfig};
    /// let backend = Layered::new().layer(MemoryBackend::labelled("defaults")).layer(FileBackend::new("conf"));
    /// let config = PreloadedConfig::new(["db"]).backend(backend);
    /// assert_eq!(config.describe_backend(), "defaults (in memory) < files in conf");
    /// ```
    #[must_use]
    pub fn describe_backend(&self) -> String {
        self.backend.describe()
    }

    /// Starts the backend's watch, if it has one (see [`ConfigBackend::watch`]).
    ///
    /// ```
    /// use micro_config::{ChangeSender, MemoryBackend, PreloadedConfig};
    /// let config = PreloadedConfig::new(["demo"]).backend(MemoryBackend::new());
    /// let (sender, _changes) = ChangeSender::channel();
    /// assert!(config.watch(&sender).unwrap().is_none(), "memory does not watch");
    /// ```
    // The runtime's (ConfigActor's), not part of the API.
    #[doc(hidden)]
    pub fn watch(&self, changes: &crate::ChangeSender) -> Result<Option<crate::WatchGuard>, LoadError> {
        self.backend.watch(changes)
    }

    /// The current snapshot.
    ///
    /// ```
    /// use micro_config::{MemoryBackend, PreloadedConfig};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let config = PreloadedConfig::new(["demo"]).backend(MemoryBackend::new().with_yaml("demo", "a: 1").unwrap());
    /// assert_eq!(config.snapshot().names().count(), 0); // nothing loaded yet
    /// config.store(config.load_candidate(1, &[]).await.unwrap());
    /// assert_eq!(config.snapshot().names().collect::<Vec<_>>(), ["demo", "site"]);
    /// # });
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.live.current.load_full()
    }

    /// The current typed site config.
    ///
    /// ```
    /// use micro_config::{MemoryBackend, PreloadedConfig};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let config = PreloadedConfig::new(["site"])
    ///     .backend(MemoryBackend::new().with_yaml("site", "http: {port: 9000}").unwrap());
    /// assert_eq!(config.site().http.port, 8000); // the defaults, before the first load
    /// config.store(config.load_candidate(1, &[]).await.unwrap());
    /// assert_eq!(config.site().http.port, 9000);
    /// # });
    /// ```
    #[must_use]
    pub fn site(&self) -> Arc<SiteConfig> {
        self.live.current.load().site_arc()
    }

    /// The current generation (0 before the first load).
    ///
    /// ```
    /// use micro_config::{MemoryBackend, PreloadedConfig};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let config = PreloadedConfig::new(["demo"]).backend(MemoryBackend::new().with_yaml("demo", "a: 1").unwrap());
    /// assert_eq!(config.generation(), 0);
    /// config.store(config.load_candidate(7, &[]).await.unwrap());
    /// assert_eq!(config.generation(), 7);
    /// # });
    /// ```
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.live.current.load().generation()
    }

    /// Document `name` of the current snapshot as `T`.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use micro_config::{MemoryBackend, PreloadedConfig};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let config = PreloadedConfig::new(["db"])
    ///     .backend(MemoryBackend::new().with_yaml("db", "host: a\nport: 5432").unwrap());
    /// assert!(config.get::<BTreeMap<String, String>>("db").is_err()); // not loaded yet
    /// config.store(config.load_candidate(1, &[]).await.unwrap());
    /// let db: BTreeMap<String, serde_json::Value> = config.get("db").unwrap();
    /// assert_eq!(db["port"], 5432);
    /// # });
    /// ```
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, ReadError> {
        self.live.current.load().get(name)
    }

    /// Document `name` of the current snapshot as a shared `T`, deserialized
    /// once per snapshot (see [`Snapshot::typed`]): the read for hot paths.
    ///
    /// ```
    /// use micro_config::{MemoryBackend, PreloadedConfig};
    /// #[derive(serde::Deserialize)]
    /// struct Db { port: u16 }
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let config = PreloadedConfig::new(["db"]).backend(MemoryBackend::new().with_yaml("db", "port: 5432").unwrap());
    /// config.store(config.load_candidate(1, &[]).await.unwrap());
    /// assert_eq!(config.typed::<Db>("db").unwrap().port, 5432);
    /// # });
    /// ```
    #[inline]
    pub fn typed<T>(&self, name: &str) -> Result<Arc<T>, ReadError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.live.current.load().typed(name)
    }

    /// The value at a dotted path of the current snapshot as `T`.
    ///
    /// ```
    /// use micro_config::{MemoryBackend, PreloadedConfig};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let config = PreloadedConfig::new(["db"])
    ///     .backend(MemoryBackend::labelled("t").with_yaml("db", "port: 5432").unwrap());
    /// config.store(config.load_candidate(1, &[]).await.unwrap());
    /// assert_eq!(config.get_path::<u16>("db.port").unwrap(), 5432);
    /// assert_eq!(config.get_path::<u16>("site.http.port").unwrap(), 8000);
    /// let err = config.get_path::<u16>("db.pool").unwrap_err();
    /// assert_eq!(err.to_string(), "t (in memory): db.pool: no such key");
    /// # });
    /// ```
    pub fn get_path<T: DeserializeOwned>(&self, path: &str) -> Result<T, ReadError> {
        self.live.current.load().get_path(path)
    }

    /// Loads a candidate snapshot numbered `generation`: every preload, the
    /// site document, and `also` (documents loaded since). Validates the site
    /// config. Does not change the current snapshot.
    ///
    /// ```
    /// use micro_config::{MemoryBackend, PreloadedConfig};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let config = PreloadedConfig::new(["demo"]).backend(MemoryBackend::new().with_yaml("demo", "a: 1").unwrap());
    /// let candidate = config.load_candidate(1, &[]).await.unwrap();
    /// assert_eq!(candidate.get_path::<u8>("demo.a").unwrap(), 1);
    /// assert_eq!(config.generation(), 0); // not in force until stored
    /// let err = PreloadedConfig::new(["db"]).load_candidate(1, &[]).await.unwrap_err();
    /// assert_eq!(err.to_string(), "config document `db` is preloaded but no backend (in memory) has none");
    /// # });
    /// ```
    // The runtime's (ConfigActor's, `--check-config`'s), not part of the API.
    #[doc(hidden)]
    pub async fn load_candidate(&self, generation: u64, also: &[String]) -> Result<Snapshot, LoadError> {
        let site_name = self.site_path[0].as_str();
        let mut names: Vec<&str> = self.preloads.iter().map(String::as_str).collect();
        names.extend(also.iter().map(String::as_str));
        names.push(site_name);
        names.sort_unstable();
        names.dedup();

        self.backend.refresh().await?;
        let mut documents = Vec::with_capacity(names.len());
        for name in names {
            match self.backend.load(name).await? {
                Some(doc) => documents.push(doc),
                None if name == site_name => {}
                None if self.preloads.iter().any(|p| p == name) => {
                    return Err(LoadError::Missing {
                        name: name.into(),
                        backend: self.backend.describe(),
                        why: self.backend.explain_missing(name),
                    });
                }
                // A document loaded on first use is in use: its vanishing is
                // a failure of the candidate, not a silent removal.
                None => {
                    return Err(LoadError::Vanished {
                        name: name.into(),
                        backend: self.backend.describe(),
                        why: self.backend.explain_missing(name),
                    });
                }
            }
        }

        let site = self.settle_site(&mut documents)?;
        let snapshot = Snapshot::new(generation, documents, site);
        for check in self.validators.iter() {
            check(&snapshot)?;
        }
        Ok(snapshot)
    }

    /// Puts the site defaults under the site document as its bottom layer
    /// (creating the document when absent) and types the result.
    fn settle_site(&self, documents: &mut Vec<Document>) -> Result<SiteConfig, LoadError> {
        let (site_name, inner) = self.site_path.split_first().unwrap_or((&self.site_path[0], &[]));
        let inner: Vec<&str> = inner.iter().map(String::as_str).collect();
        let defaults = inner.iter().rev().fold(
            SiteConfig::defaults_value(),
            |tree, key| serde_json::json!({ *key: tree }),
        );
        let defaults = Document::new(site_name.as_str(), DEFAULTS_ORIGIN, defaults);
        let doc = match documents.iter().position(|d| d.name() == site_name) {
            Some(i) => defaults.merged(documents.remove(i)),
            None => defaults,
        };
        let locate = |keys: &[&str]| {
            let full: Vec<&str> = inner.iter().chain(keys).copied().collect();
            doc.locate(&full)
        };
        let prefix = self.site_path.join(".");
        let site = match value::lookup(doc.value(), inner.iter().copied()) {
            Some(tree) => SiteConfig::from_tree(tree, &prefix, &locate)?,
            None => {
                // Something that is not a map replaced a map on the way down.
                return Err(LoadError::Invalid {
                    at: doc.locate(&inner),
                    path: prefix,
                    message: "expected a map holding the site config".into(),
                });
            }
        };
        documents.push(doc);
        Ok(site)
    }

    /// Makes `snapshot` the current one and returns the one it replaced.
    /// ConfigActor is the only caller in a running service.
    ///
    /// ```
    /// use micro_config::{MemoryBackend, PreloadedConfig};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let config = PreloadedConfig::new(["demo"]).backend(MemoryBackend::new().with_yaml("demo", "a: 1").unwrap());
    /// let reader = config.clone();
    /// let replaced = config.store(config.load_candidate(1, &[]).await.unwrap());
    /// assert_eq!(replaced.generation(), 0);
    /// assert_eq!(reader.get_path::<u8>("demo.a").unwrap(), 1); // clones share the snapshot
    /// # });
    /// ```
    // The runtime's (ConfigActor's), not part of the API.
    #[doc(hidden)]
    pub fn store(&self, snapshot: Snapshot) -> Arc<Snapshot> {
        self.live.store(snapshot)
    }

    /// Makes `candidate` the current snapshot, with what changed from the
    /// one it replaces — unless nothing did: then the current one stays
    /// (its generation too) and subscribers are not told. Decided on the
    /// values ([`Snapshot::same_values`]), under the lock that orders
    /// writers, so a document loaded on first use meanwhile is compared
    /// too.
    ///
    /// ```
    /// use micro_config::{MemoryBackend, PreloadedConfig, Swap};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let backend = MemoryBackend::new().with_yaml("demo", "a: 1").unwrap();
    /// let config = PreloadedConfig::new(["demo"]).backend(backend.clone());
    /// config.store(config.load_candidate(1, &[]).await.unwrap());
    /// let updates = config.subscribe();
    /// assert!(matches!(config.swap_in(config.load_candidate(2, &[]).await.unwrap()), Swap::Unchanged(_)));
    /// assert_eq!(config.generation(), 1);
    /// assert!(!updates.has_changed().unwrap());
    /// backend.set_yaml("demo", "a: 2").unwrap();
    /// let Swap::Stored(now) = config.swap_in(config.load_candidate(2, &[]).await.unwrap()) else { panic!() };
    /// assert_eq!((now.generation(), now.changed()), (2, &["demo.a".to_owned()][..]));
    /// assert!(updates.has_changed().unwrap());
    /// # });
    /// ```
    // The runtime's (ConfigActor's), not part of the API.
    #[doc(hidden)]
    pub fn swap_in(&self, candidate: Snapshot) -> Swap {
        self.live.swap_in(candidate)
    }
}

impl std::fmt::Debug for PreloadedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreloadedConfig")
            .field("preloads", &self.preloads)
            .field("backend", &self.backend.describe())
            .field("site_path", &self.site_path)
            .field("generation", &self.generation())
            .field("validators", &self.validators.len())
            .finish()
    }
}

#[cfg(test)]
mod tests;
