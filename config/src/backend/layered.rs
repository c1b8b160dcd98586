use std::sync::Arc;

use crate::{ChangeSender, ConfigBackend, Document, LoadError, WatchGuard};

/// Several backends as one: each document is the deep merge of what every
/// layer has for it, later layers winning (maps merge key by key, everything
/// else replaces).
///
/// ```
/// use micro_config::{ConfigBackend, Layered, MemoryBackend};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let defaults = MemoryBackend::labelled("defaults").with_yaml("db", "host: a\nport: 5432").unwrap();
/// let overrides = MemoryBackend::labelled("overrides").with_yaml("db", "host: b").unwrap();
/// let layered = Layered::new().layer(defaults).layer(overrides);
/// let db = layered.load("db").await.unwrap().unwrap();
/// assert_eq!(db.value(), &serde_json::json!({"host": "b", "port": 5432}));
/// assert_eq!(db.origin().to_string(), "overrides (in memory)");
/// # });
/// ```
#[derive(Default)]
pub struct Layered {
    layers: Vec<Box<dyn ConfigBackend>>,
}

impl Layered {
    /// No layers yet.
    ///
    /// ```
    /// use micro_config::{ConfigBackend, Layered};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// assert!(Layered::new().load("site").await.unwrap().is_none());
    /// # });
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a layer over the ones added before.
    ///
    /// ```
    /// use micro_config::{ConfigBackend, FileBackend, Layered, MemoryBackend};
    /// let layered = Layered::new().layer(MemoryBackend::labelled("defaults")).layer(FileBackend::new("conf"));
    /// assert_eq!(layered.describe(), "defaults (in memory) < files in conf");
    /// ```
    #[must_use]
    pub fn layer(mut self, backend: impl ConfigBackend) -> Self {
        self.layers.push(Box::new(backend));
        self
    }
}

impl Layered {
    /// `top` over a backend already shared (a config's own).
    pub(crate) fn over_shared(base: Arc<dyn ConfigBackend>, top: impl ConfigBackend) -> Self {
        Self::new().layer(Shared(base)).layer(top)
    }
}

/// A shared backend as a layer.
struct Shared(Arc<dyn ConfigBackend>);

#[async_trait::async_trait]
impl ConfigBackend for Shared {
    fn describe(&self) -> String {
        self.0.describe()
    }

    fn watch(&self, changes: &ChangeSender) -> Result<Option<WatchGuard>, LoadError> {
        self.0.watch(changes)
    }

    async fn refresh(&self) -> Result<(), LoadError> {
        self.0.refresh().await
    }

    async fn load(&self, name: &str) -> Result<Option<Document>, LoadError> {
        self.0.load(name).await
    }
}

impl std::fmt::Debug for Layered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Layered").field(&self.describe()).finish()
    }
}

#[async_trait::async_trait]
impl ConfigBackend for Layered {
    fn describe(&self) -> String {
        let names: Vec<String> = self.layers.iter().map(|l| l.describe()).collect();
        names.join(" < ")
    }

    fn watch(&self, changes: &ChangeSender) -> Result<Option<WatchGuard>, LoadError> {
        let mut guards = Vec::new();
        for layer in &self.layers {
            guards.extend(layer.watch(changes)?);
        }
        Ok((!guards.is_empty()).then(|| WatchGuard::new(guards)))
    }

    async fn refresh(&self) -> Result<(), LoadError> {
        for layer in &self.layers {
            layer.refresh().await?;
        }
        Ok(())
    }

    async fn load(&self, name: &str) -> Result<Option<Document>, LoadError> {
        let mut merged: Option<Document> = None;
        for layer in &self.layers {
            let Some(doc) = layer.load(name).await? else {
                continue;
            };
            merged = Some(match merged {
                None => doc,
                Some(below) => below.merged(doc),
            });
        }
        Ok(merged)
    }
}
