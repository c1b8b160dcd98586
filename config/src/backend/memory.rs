use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::document::check_name;
use crate::{ConfigBackend, Document, LoadError, Origin, Value};

/// Documents held in memory: for embedded defaults, tests and services that
/// build their configuration in code.
///
/// Clones share the same documents, so code that keeps a clone can change a
/// document with [`MemoryBackend::set`] and then ask the service to reload.
///
/// ```
/// use micro_config::{ConfigBackend, MemoryBackend};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let backend = MemoryBackend::new().with_yaml("demo", "greeting: hi").unwrap();
/// let handle = backend.clone();
/// handle.set_yaml("demo", "greeting: hey").unwrap();
/// assert_eq!(backend.load("demo").await.unwrap().unwrap().value()["greeting"], "hey");
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    label: Arc<str>,
    documents: Arc<RwLock<HashMap<String, Document>>>,
}

impl MemoryBackend {
    /// An empty backend labelled "memory".
    ///
    /// ```
    /// use micro_config::{ConfigBackend, MemoryBackend};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let backend = MemoryBackend::new();
    /// assert_eq!(backend.describe(), "memory (in memory)");
    /// assert!(backend.load("demo").await.unwrap().is_none());
    /// # });
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::labelled("memory")
    }

    /// An empty backend; `label` names it in messages (e.g. "demo defaults").
    ///
    /// ```
    /// use micro_config::{ConfigBackend, MemoryBackend};
    /// let backend = MemoryBackend::labelled("demo defaults");
    /// assert_eq!(backend.describe(), "demo defaults (in memory)");
    /// ```
    #[must_use]
    pub fn labelled(label: &str) -> Self {
        Self {
            label: label.into(),
            documents: Arc::default(),
        }
    }

    /// Adds document `name` parsed from YAML text.
    ///
    /// ```
    /// use micro_config::{ConfigBackend, MemoryBackend};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let backend = MemoryBackend::labelled("t").with_yaml("demo", "greeting: hi").unwrap();
    /// assert_eq!(backend.load("demo").await.unwrap().unwrap().value()["greeting"], "hi");
    /// let err = MemoryBackend::labelled("t").with_yaml("demo", "greeting: [hi").unwrap_err();
    /// assert!(err.to_string().starts_with("t (in memory):"), "{err}");
    /// # });
    /// ```
    pub fn with_yaml(self, name: &str, text: &str) -> Result<Self, LoadError> {
        self.set_yaml(name, text)?;
        Ok(self)
    }

    /// Adds document `name` as a tree.
    ///
    /// ```
    /// use micro_config::{ConfigBackend, MemoryBackend};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let backend = MemoryBackend::new().with_value("db", serde_json::json!({"port": 5432}));
    /// assert_eq!(backend.load("db").await.unwrap().unwrap().value()["port"], 5432);
    /// # });
    /// ```
    #[must_use]
    pub fn with_value(self, name: &str, value: Value) -> Self {
        self.set(name, value);
        self
    }

    /// Replaces document `name` with YAML text; on a syntax error nothing changes.
    ///
    /// ```
    /// use micro_config::{ConfigBackend, MemoryBackend};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let backend = MemoryBackend::new().with_yaml("demo", "greeting: hi").unwrap();
    /// assert!(backend.set_yaml("demo", "greeting: [hey").is_err());
    /// assert_eq!(backend.load("demo").await.unwrap().unwrap().value()["greeting"], "hi");
    /// # });
    /// ```
    pub fn set_yaml(&self, name: &str, text: &str) -> Result<(), LoadError> {
        check_name(name)?;
        let doc = Document::from_yaml(name, self.origin(), text)?;
        self.put(doc);
        Ok(())
    }

    /// Replaces document `name` with a tree.
    ///
    /// ```
    /// use micro_config::{ConfigBackend, MemoryBackend};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let backend = MemoryBackend::new().with_value("db", serde_json::json!({"port": 5432}));
    /// backend.set("db", serde_json::json!({"port": 6432}));
    /// assert_eq!(backend.load("db").await.unwrap().unwrap().value()["port"], 6432);
    /// # });
    /// ```
    pub fn set(&self, name: &str, value: Value) {
        self.put(Document::new(name, self.origin(), value));
    }

    fn put(&self, doc: Document) {
        self.documents
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(doc.name().to_owned(), doc);
    }

    fn origin(&self) -> Origin {
        Origin::Memory(self.label.to_string())
    }
}

#[async_trait::async_trait]
impl ConfigBackend for MemoryBackend {
    fn describe(&self) -> String {
        format!("{} (in memory)", self.label)
    }

    async fn load(&self, name: &str) -> Result<Option<Document>, LoadError> {
        let documents = self.documents.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(documents.get(name).cloned())
    }
}
