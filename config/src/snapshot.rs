//! [`Snapshot`]: one immutable, numbered view of every loaded document.

use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;

use crate::site::join_path;
use crate::{Document, ReadError, SiteConfig, Value, value};

/// Every loaded document at one moment, with the typed site config.
///
/// Snapshots never change: a reload builds a new one with the next
/// generation number and swaps it in whole, so a reader sees either the old
/// configuration or the new one, never a mix.
///
/// ```
/// use micro_config::{Document, Origin, SiteConfig, Snapshot};
/// let demo = Document::new("demo", Origin::Memory("t".into()), serde_json::json!({"greeting": "hi"}));
/// let snapshot = Snapshot::new(1, [demo], SiteConfig::default());
/// assert_eq!(snapshot.get_path::<String>("demo.greeting").unwrap(), "hi");
/// assert!(snapshot.get_path::<u16>("demo.greeting").is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    generation: u64,
    documents: BTreeMap<String, Arc<Document>>,
    site: Arc<SiteConfig>,
    /// Key paths changed from the snapshot this one replaced.
    changed: Arc<[String]>,
    /// Typed reads already made of this snapshot (see [`Snapshot::typed`]).
    typed: Arc<TypedCache>,
}

/// Values deserialized from a snapshot, by document and type: a snapshot
/// never changes, so a typed read is made once per snapshot. A fixed set of
/// write-once slots: a read scans the filled ones (one atomic load each, no
/// reference counting), a miss deserializes and fills the next free slot.
/// Past [`TYPED_SLOTS`] distinct reads of one snapshot, reads deserialize.
#[derive(Default)]
struct TypedCache([OnceLock<Typed>; TYPED_SLOTS]);

/// How many distinct (document, type) reads of one snapshot are cached.
const TYPED_SLOTS: usize = 16;

/// `a == b`, compared inline: document names are short, and a call to
/// the C library's `bcmp` was a measurable part of a typed read.
#[inline]
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

#[derive(Clone)]
struct Typed {
    type_id: TypeId,
    name: Box<str>,
    value: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for TypedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TypedCache")
            .field(&self.0.iter().filter(|slot| slot.get().is_some()).count())
            .finish()
    }
}

impl Snapshot {
    /// A snapshot numbered `generation` holding `documents`.
    ///
    /// ```
    /// use micro_config::{Document, Origin, SiteConfig, Snapshot};
    /// let demo = Document::new("demo", Origin::Memory("t".into()), serde_json::json!({}));
    /// let snapshot = Snapshot::new(3, [demo], SiteConfig::default());
    /// assert_eq!(snapshot.generation(), 3);
    /// assert!(snapshot.document("demo").is_some());
    /// ```
    #[must_use]
    pub fn new(generation: u64, documents: impl IntoIterator<Item = Document>, site: SiteConfig) -> Self {
        Self {
            generation,
            documents: documents
                .into_iter()
                .map(|doc| (doc.name().to_owned(), Arc::new(doc)))
                .collect(),
            site: Arc::new(site),
            changed: Arc::new([]),
            typed: Arc::default(),
        }
    }

    /// This snapshot, recording `changed` as what differs from the one it replaces.
    ///
    /// ```
    /// use micro_config::{SiteConfig, Snapshot};
    /// let snapshot = Snapshot::new(2, Vec::new(), SiteConfig::default()).with_changes(vec!["demo.greeting".into()]);
    /// assert_eq!(snapshot.changed(), ["demo.greeting"]);
    /// ```
    #[must_use]
    pub fn with_changes(mut self, changed: Vec<String>) -> Self {
        self.changed = changed.into();
        self
    }

    /// Key paths that changed from the snapshot this one replaced (values
    /// are never listed, so secrets cannot leak through a diff).
    ///
    /// ```
    /// assert!(micro_config::Snapshot::default().changed().is_empty());
    /// ```
    #[must_use]
    pub fn changed(&self) -> &[String] {
        &self.changed
    }

    /// This snapshot with `doc` added (or replaced), same generation: how a
    /// document loaded on first use joins the snapshot in force. Typed
    /// reads already made of the other documents are kept.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use micro_config::{Document, Origin, SiteConfig, Snapshot};
    /// let site = Document::new("site", Origin::Memory("t".into()), serde_json::json!({}));
    /// let snapshot = Snapshot::new(4, [site], SiteConfig::default());
    /// let before: Arc<serde_json::Value> = snapshot.typed("site").unwrap();
    /// let later = snapshot.with_document(Document::new("db", Origin::Memory("t".into()), serde_json::json!({"port": 1})));
    /// assert_eq!((later.generation(), later.get_path::<u16>("db.port").unwrap()), (4, 1));
    /// assert!(snapshot.document("db").is_none());
    /// assert!(Arc::ptr_eq(&before, &later.typed("site").unwrap()), "not deserialized again");
    /// ```
    #[must_use]
    pub fn with_document(&self, doc: Document) -> Self {
        let mut next = self.clone();
        let typed = TypedCache::default();
        let kept = self.typed.0.iter().filter_map(OnceLock::get);
        for (slot, entry) in typed
            .0
            .iter()
            .zip(kept.filter(|entry| !same_name(&entry.name, doc.name())))
        {
            let _ = slot.set(entry.clone());
        }
        next.typed = Arc::new(typed);
        next.documents.insert(doc.name().to_owned(), Arc::new(doc));
        next.changed = Arc::new([]);
        next
    }

    /// The cached typed read of `name` as `T`, if one was made. Runs no
    /// user code (no deserialization).
    #[inline]
    pub(crate) fn cached<T: Send + Sync + 'static>(&self, name: &str) -> Option<Arc<T>> {
        let type_id = TypeId::of::<T>();
        for slot in &self.typed.0 {
            let entry = slot.get()?;
            if entry.type_id == type_id && same_name(&entry.name, name) {
                return Arc::clone(&entry.value).downcast::<T>().ok();
            }
        }
        None
    }

    /// Document `name` as a shared `T`, deserialized once per snapshot and
    /// type: the fast typed read for hot paths. Errors are those of
    /// [`get`](Self::get), and are not cached.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use micro_config::{Document, Origin, SiteConfig, Snapshot};
    /// #[derive(serde::Deserialize, Debug, PartialEq)]
    /// struct Db { host: String, port: u16 }
    /// let db = Document::new("db", Origin::Memory("t".into()), serde_json::json!({"host": "a", "port": 5432}));
    /// let snapshot = Snapshot::new(1, [db], SiteConfig::default());
    /// let first: Arc<Db> = snapshot.typed("db").unwrap();
    /// let again: Arc<Db> = snapshot.typed("db").unwrap();
    /// assert!(Arc::ptr_eq(&first, &again), "deserialized once");
    /// assert_eq!(first.port, 5432);
    /// ```
    #[inline]
    pub fn typed<T>(&self, name: &str) -> Result<Arc<T>, ReadError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        match self.cached::<T>(name) {
            Some(value) => Ok(value),
            None => self.typed_first(name),
        }
    }

    /// The first typed read of `name` as `T` in this snapshot: deserializes
    /// and fills a cache slot. Kept out of line so the cached read above
    /// inlines into its caller.
    #[cold]
    #[inline(never)]
    fn typed_first<T>(&self, name: &str) -> Result<Arc<T>, ReadError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let type_id = TypeId::of::<T>();
        let value: Arc<T> = Arc::new(self.get(name)?);
        let mut entry = Typed {
            type_id,
            name: name.into(),
            value: Arc::clone(&value) as Arc<dyn Any + Send + Sync>,
        };
        for slot in &self.typed.0 {
            match slot.set(entry) {
                Ok(()) => break,
                Err(back) => {
                    // Filled meanwhile by another reader: with this very
                    // read, share theirs; else try the next slot.
                    if let Some(theirs) = self.cached::<T>(name) {
                        return Ok(theirs);
                    }
                    entry = back;
                }
            }
        }
        Ok(value)
    }

    /// 0 before the first load, then one more for each accepted reload
    /// that changed something (one that changed nothing keeps the snapshot
    /// in force).
    ///
    /// ```
    /// use micro_config::{SiteConfig, Snapshot};
    /// assert_eq!(Snapshot::default().generation(), 0);
    /// assert_eq!(Snapshot::new(2, Vec::new(), SiteConfig::default()).generation(), 2);
    /// ```
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The typed site config.
    ///
    /// ```
    /// use micro_config::Snapshot;
    /// let snapshot = Snapshot::default();
    /// assert_eq!(snapshot.site().http.port, 8000);
    /// assert_eq!(snapshot.site().logging.level, "info");
    /// ```
    #[must_use]
    pub fn site(&self) -> &SiteConfig {
        &self.site
    }

    /// The typed site config, shared.
    ///
    /// ```
    /// let snapshot = micro_config::Snapshot::default();
    /// let site = snapshot.site_arc();
    /// drop(snapshot); // the site config outlives the snapshot
    /// assert_eq!(site.http.host, "127.0.0.1");
    /// ```
    #[must_use]
    pub fn site_arc(&self) -> Arc<SiteConfig> {
        Arc::clone(&self.site)
    }

    /// Document `name`, when loaded.
    ///
    /// ```
    /// use micro_config::{Document, Origin, SiteConfig, Snapshot};
    /// let demo = Document::new("demo", Origin::Memory("t".into()), serde_json::json!({"greeting": "hi"}));
    /// let snapshot = Snapshot::new(1, [demo], SiteConfig::default());
    /// assert_eq!(snapshot.document("demo").unwrap().value()["greeting"], "hi");
    /// assert!(snapshot.document("db").is_none());
    /// ```
    #[must_use]
    pub fn document(&self, name: &str) -> Option<&Document> {
        self.documents.get(name).map(Arc::as_ref)
    }

    /// Where the value at a dotted path was set (see [`Document::locate`]);
    /// for a document that is not loaded, the path alone says nothing more.
    ///
    /// ```
    /// use micro_config::{Document, Origin, SiteConfig, Snapshot};
    /// let db = Document::from_yaml("db", Origin::File("db.yaml".into()), "host: a\npool: 0\n").unwrap();
    /// let snapshot = Snapshot::new(1, [db], SiteConfig::default());
    /// assert_eq!(snapshot.locate("db.pool").to_string(), "db.yaml:2:1");
    /// ```
    #[must_use]
    pub fn locate(&self, path: &str) -> crate::Source {
        let mut keys = path.split('.');
        let name = keys.next().unwrap_or_default();
        let keys: Vec<&str> = keys.collect();
        match self.document(name) {
            Some(doc) => doc.locate(&keys),
            None => crate::Source::from(crate::Origin::Memory(format!("document `{name}` (not loaded)"))),
        }
    }

    /// The names of the loaded documents, sorted.
    ///
    /// ```
    /// use micro_config::{Document, Origin, SiteConfig, Snapshot};
    /// let doc = |name: &str| Document::new(name, Origin::Memory("t".into()), serde_json::json!({}));
    /// let snapshot = Snapshot::new(1, [doc("site"), doc("db")], SiteConfig::default());
    /// assert_eq!(snapshot.names().collect::<Vec<_>>(), ["db", "site"]);
    /// ```
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.documents.keys().map(String::as_str)
    }

    /// Document `name` deserialized as `T`.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use micro_config::{Document, Origin, SiteConfig, Snapshot};
    /// let demo = Document::new("demo", Origin::Memory("t".into()), serde_json::json!({"greeting": "hi"}));
    /// let snapshot = Snapshot::new(1, [demo], SiteConfig::default());
    /// let demo: BTreeMap<String, String> = snapshot.get("demo").unwrap();
    /// assert_eq!(demo["greeting"], "hi");
    /// let err = snapshot.get::<BTreeMap<String, String>>("db").unwrap_err();
    /// assert_eq!(err.to_string(), "config document `db` is not loaded: add it to the preloads");
    /// ```
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, ReadError> {
        self.read(name, &[])
    }

    /// The value at a dotted path (`"site.http.port"`: document `site`, keys
    /// `http` then `port`) deserialized as `T`.
    ///
    /// ```
    /// use micro_config::{Document, Origin, SiteConfig, Snapshot};
    /// let demo = Document::new("demo", Origin::Memory("t".into()), serde_json::json!({"port": 8080}));
    /// let snapshot = Snapshot::new(1, [demo], SiteConfig::default());
    /// assert_eq!(snapshot.get_path::<u16>("demo.port").unwrap(), 8080);
    /// let err = snapshot.get_path::<String>("demo.host").unwrap_err();
    /// assert_eq!(err.to_string(), "t (in memory): demo.host: no such key");
    /// ```
    pub fn get_path<T: DeserializeOwned>(&self, path: &str) -> Result<T, ReadError> {
        let mut keys = path.split('.');
        let name = keys.next().unwrap_or_default();
        let keys: Vec<&str> = keys.collect();
        self.read(name, &keys)
    }

    fn read<T: DeserializeOwned>(&self, name: &str, keys: &[&str]) -> Result<T, ReadError> {
        let doc = self
            .document(name)
            .ok_or_else(|| ReadError::NotLoaded { name: name.into() })?;
        let mut path = name.to_owned();
        for key in keys {
            path.push('.');
            path.push_str(key);
        }
        let node: &Value = value::lookup(doc.value(), keys.iter().copied()).ok_or_else(|| ReadError::MissingKey {
            at: doc.locate(keys),
            path: path.clone(),
        })?;
        serde_path_to_error::deserialize(node).map_err(|err| {
            let inner: Vec<String> = err.path().iter().filter_map(segment_key).collect();
            let full: Vec<&str> = keys.iter().copied().chain(inner.iter().map(String::as_str)).collect();
            // serde quotes the value it could not use: not for secrets.
            let message = if full.iter().any(|key| crate::dump::is_secret(key)) {
                "the value does not fit the type (not shown: the key looks secret)".to_owned()
            } else {
                err.into_inner().to_string()
            };
            ReadError::Type {
                at: doc.locate(&full),
                path: join_path(&path, &inner.join(".")),
                message,
            }
        })
    }

    /// Whether `other` holds the same values as `self`: exactly when
    /// [`diff`](Self::diff) would find nothing (a document on one side
    /// only counts as an empty map on the other), decided on the trees
    /// without listing paths. Generations, origins and positions are not
    /// compared.
    ///
    /// ```
    /// use micro_config::{Document, Origin, SiteConfig, Snapshot};
    /// let doc = |g: &str, from: &str| Document::new("demo", Origin::Memory(from.into()), serde_json::json!({"greeting": g}));
    /// let old = Snapshot::new(1, [doc("hi", "a")], SiteConfig::default());
    /// assert!(old.same_values(&Snapshot::new(2, [doc("hi", "b")], SiteConfig::default())));
    /// assert!(!old.same_values(&Snapshot::new(2, [doc("hey", "a")], SiteConfig::default())));
    /// ```
    #[must_use]
    pub fn same_values(&self, other: &Self) -> bool {
        let empty = Value::Object(serde_json::Map::new());
        self.names().chain(other.names()).all(|name| {
            let old = self.document(name).map_or(&empty, Document::value);
            let new = other.document(name).map_or(&empty, Document::value);
            old == new
        })
    }

    /// What changed from `self` to `newer`: dotted key paths, values never shown.
    ///
    /// ```
    /// use micro_config::{Document, Origin, SiteConfig, Snapshot};
    /// let doc = |g: &str| Document::new("demo", Origin::Memory("t".into()), serde_json::json!({"greeting": g}));
    /// let old = Snapshot::new(1, [doc("hi")], SiteConfig::default());
    /// let new = Snapshot::new(2, [doc("hey")], SiteConfig::default());
    /// assert_eq!(old.diff(&new), ["demo.greeting"]);
    /// ```
    #[must_use]
    pub fn diff(&self, newer: &Self) -> Vec<String> {
        let empty = Value::Object(serde_json::Map::new());
        let mut names: Vec<&str> = self.names().chain(newer.names()).collect();
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .flat_map(|name| {
                let old = self.document(name).map_or(&empty, Document::value);
                let new = newer.document(name).map_or(&empty, Document::value);
                value::diff(name, old, new)
            })
            .collect()
    }
}

/// A serde path segment as a key of [`value::lookup`].
pub(crate) fn segment_key(segment: &serde_path_to_error::Segment) -> Option<String> {
    match segment {
        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
        serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
        _ => None,
    }
}
