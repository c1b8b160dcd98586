//! One named configuration document, the layers it was merged from, and
//! where each of its values came from.

use std::sync::Arc;

use crate::{Origin, Source, Value, value, yaml};

/// One layer of a document: what one backend (one file, one variable, one
/// in-memory map) said about it. Its `Debug` names the origin only.
#[derive(Clone, PartialEq)]
pub struct Layer {
    origin: Origin,
    /// Shared with the document while it has this one layer: no copy.
    tree: Arc<Value>,
    /// The YAML text the tree was parsed from, kept to point at lines.
    text: Option<Arc<str>>,
}

/// A named configuration document (`site`, `db`, ...): the merged tree of
/// its layers, bottom to top, and the origin of each layer, so an error
/// about any value can name the file (and line) or variable that set it.
///
/// ```
/// use micro_config::{Document, Origin};
/// let doc = Document::new("demo", Origin::Memory("test".into()), serde_json::json!({"greeting": "hi"}));
/// assert_eq!(doc.name(), "demo");
/// assert_eq!(doc.value()["greeting"], "hi");
/// ```
#[derive(Clone, PartialEq)]
pub struct Document {
    name: String,
    value: Arc<Value>,
    layers: Vec<Arc<Layer>>,
}

impl Document {
    /// A one-layer document named `name`, read from `origin`.
    ///
    /// ```
    /// use micro_config::{Document, Origin};
    /// let doc = Document::new(String::from("db"), Origin::Memory("t".into()), serde_json::json!({"port": 5432}));
    /// assert_eq!(doc.name(), "db");
    /// assert_eq!(doc.value()["port"], 5432);
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>, origin: Origin, value: Value) -> Self {
        Self::layered(name, origin, value, None)
    }

    /// A one-layer document parsed from YAML text; the text is kept so
    /// errors about its values can name their line and column.
    ///
    /// ```
    /// use micro_config::{Document, Origin};
    /// let doc = Document::from_yaml("db", Origin::File("db.yaml".into()), "host: a\nport: x\n").unwrap();
    /// assert_eq!(doc.locate(&["port"]).to_string(), "db.yaml:2:1");
    /// ```
    pub fn from_yaml(name: impl Into<String>, origin: Origin, text: &str) -> Result<Self, crate::LoadError> {
        let value = yaml::parse(text, &origin)?;
        if !value.is_object() {
            return Err(crate::LoadError::Syntax {
                at: Source {
                    location: Some(crate::Location { line: 1, column: 1 }),
                    origin,
                },
                message: format!(
                    "a config document is a map of keys to values, not {}",
                    value::kind(&value)
                ),
            });
        }
        Ok(Self::layered(name, origin, value, Some(text.into())))
    }

    fn layered(name: impl Into<String>, origin: Origin, value: Value, text: Option<Arc<str>>) -> Self {
        let value = Arc::new(value);
        Self {
            name: name.into(),
            layers: vec![Arc::new(Layer {
                origin,
                tree: Arc::clone(&value),
                text,
            })],
            value,
        }
    }

    /// `above` merged over `self`: maps merge key by key, anything else in
    /// `above` replaces; both keep their layers.
    ///
    /// ```
    /// use micro_config::{Document, Origin};
    /// let below = Document::new("db", Origin::Memory("defaults".into()), serde_json::json!({"host": "a", "port": 1}));
    /// let above = Document::new("db", Origin::Env("APP__DB__HOST".into()), serde_json::json!({"host": "b"}));
    /// let db = below.merged(above);
    /// assert_eq!(db.value(), &serde_json::json!({"host": "b", "port": 1}));
    /// assert_eq!(db.locate(&["host"]).to_string(), "environment variable APP__DB__HOST");
    /// assert_eq!(db.locate(&["port"]).to_string(), "defaults (in memory)");
    /// ```
    #[must_use]
    pub fn merged(mut self, above: Self) -> Self {
        value::merge(Arc::make_mut(&mut self.value), Arc::unwrap_or_clone(above.value));
        self.layers.extend(above.layers);
        self
    }

    /// The document's name.
    ///
    /// ```
    /// use micro_config::{Document, Origin};
    /// assert_eq!(Document::new("site", Origin::Memory("t".into()), serde_json::json!({})).name(), "site");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The origin of the topmost layer.
    ///
    /// ```
    /// use micro_config::{Document, Origin};
    /// let doc = Document::new("demo", Origin::File("conf/demo.yaml".into()), serde_json::json!({}));
    /// assert_eq!(doc.origin(), &Origin::File("conf/demo.yaml".into()));
    /// ```
    #[must_use]
    pub fn origin(&self) -> &Origin {
        &self.layers[self.layers.len() - 1].origin
    }

    /// The merged tree.
    ///
    /// ```
    /// use micro_config::{Document, Origin};
    /// let doc = Document::new("demo", Origin::Memory("t".into()), serde_json::json!({"greeting": "hi"}));
    /// assert_eq!(doc.value()["greeting"], "hi");
    /// ```
    #[must_use]
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Where the value at `keys` (inside this document) was set: the topmost
    /// layer that has it — or, when none has the whole path, the longest part
    /// of it — with line and column when that layer is YAML text.
    ///
    /// ```
    /// use micro_config::{Document, Origin};
    /// let doc = Document::from_yaml("site", Origin::File("site.yaml".into()), "http:\n  port: 80\n").unwrap();
    /// assert_eq!(doc.locate(&["http", "port"]).to_string(), "site.yaml:2:3");
    /// assert_eq!(doc.locate(&["http", "nope"]).to_string(), "site.yaml:1:1");
    /// ```
    #[must_use]
    pub fn locate(&self, keys: &[&str]) -> Source {
        self.locate_with(keys, &mut vec![None; self.layers.len()])
    }

    /// [`locate`](Self::locate) for many paths, parsing each layer's text
    /// for positions at most once.
    ///
    /// ```
    /// use micro_config::{Document, Origin};
    /// let doc = Document::from_yaml("db", Origin::File("db.yaml".into()), "host: a\nport: 1\n").unwrap();
    /// let found = doc.locate_many(&[vec!["host"], vec!["port"]]);
    /// assert_eq!(found[1].to_string(), "db.yaml:2:1");
    /// ```
    #[must_use]
    pub fn locate_many(&self, paths: &[Vec<&str>]) -> Vec<Source> {
        let mut parsed = vec![None; self.layers.len()];
        paths.iter().map(|keys| self.locate_with(keys, &mut parsed)).collect()
    }

    fn locate_with(&self, keys: &[&str], parsed: &mut [Option<Arc<yaml::Positions>>]) -> Source {
        for depth in (0..=keys.len()).rev() {
            let prefix = &keys[..depth];
            let found = self
                .layers
                .iter()
                .enumerate()
                .rev()
                .find(|(_, layer)| value::lookup(&layer.tree, prefix.iter().copied()).is_some());
            if let Some((index, layer)) = found {
                let location = layer.text.as_deref().and_then(|text| {
                    parsed[index]
                        .get_or_insert_with(|| Arc::new(yaml::Positions::parse(text)))
                        .locate(prefix)
                });
                return Source {
                    origin: layer.origin.clone(),
                    location,
                };
            }
        }
        Source::from(self.origin().clone())
    }

    /// The layers, bottom to top.
    ///
    /// ```
    /// use micro_config::{Document, Origin};
    /// let doc = Document::new("db", Origin::Memory("a".into()), serde_json::json!({}))
    ///     .merged(Document::new("db", Origin::Memory("b".into()), serde_json::json!({})));
    /// let origins: Vec<String> = doc.layers().map(|(origin, _)| origin.to_string()).collect();
    /// assert_eq!(origins, ["a (in memory)", "b (in memory)"]);
    /// ```
    pub fn layers(&self) -> impl Iterator<Item = (&Origin, &Value)> {
        self.layers.iter().map(|layer| (&layer.origin, &*layer.tree))
    }
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Layer").field(&self.origin.to_string()).finish()
    }
}

/// Shows the tree with secret-looking values redacted, never the raw text.
impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Document")
            .field("name", &self.name)
            .field("value", &crate::dump::redacted(&self.value))
            .field("layers", &self.layers)
            .finish()
    }
}

/// Checks that `name` can be a document name: non-empty, ASCII letters,
/// digits, `-` and `_`. Backends that map names to files or keys call this
/// first, so no name can reach outside their directory or prefix.
///
/// ```
/// assert!(micro_config::document::check_name("site").is_ok());
/// assert!(micro_config::document::check_name("../etc/passwd").is_err());
/// ```
pub fn check_name(name: &str) -> Result<(), crate::LoadError> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(crate::LoadError::InvalidName { name: name.into() })
    }
}
