//! One named configuration document and where it came from.

use crate::{Origin, Value};

/// A named configuration document (`site`, `db`, ...): a tree of values and
/// the origin that error messages point at.
///
/// ```
/// use micro_config::{Document, Origin};
/// let doc = Document::new("demo", Origin::Memory("test".into()), serde_json::json!({"greeting": "hi"}));
/// assert_eq!(doc.name(), "demo");
/// assert_eq!(doc.value()["greeting"], "hi");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    name: String,
    origin: Origin,
    value: Value,
}

impl Document {
    /// A document named `name`, read from `origin`.
    ///
    /// ```
    /// use micro_config::{Document, Origin};
    /// let doc = Document::new(String::from("db"), Origin::Memory("t".into()), serde_json::json!({"port": 5432}));
    /// assert_eq!(doc.name(), "db");
    /// assert_eq!(doc.value()["port"], 5432);
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>, origin: Origin, value: Value) -> Self {
        Self {
            name: name.into(),
            origin,
            value,
        }
    }

    /// The document's name.
    ///
    /// ```
    /// use micro_config::{Document, Origin};
    /// let doc = Document::new("site", Origin::Memory("t".into()), serde_json::json!({}));
    /// assert_eq!(doc.name(), "site");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the document came from (for a layered document: the topmost layer).
    ///
    /// ```
    /// use micro_config::{Document, Origin};
    /// let doc = Document::new("demo", Origin::File("conf/demo.yaml".into()), serde_json::json!({}));
    /// assert_eq!(doc.origin().to_string(), "conf/demo.yaml");
    /// ```
    #[must_use]
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The document's tree.
    ///
    /// ```
    /// use micro_config::{Document, Origin};
    /// let doc = Document::new("demo", Origin::Memory("t".into()), serde_json::json!({"greeting": "hi"}));
    /// assert_eq!(doc.value(), &serde_json::json!({"greeting": "hi"}));
    /// ```
    #[must_use]
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Takes the document apart.
    ///
    /// ```
    /// use micro_config::{Document, Origin};
    /// let doc = Document::new("demo", Origin::Memory("t".into()), serde_json::json!({"greeting": "hi"}));
    /// let (name, origin, value) = doc.into_parts();
    /// assert_eq!((name.as_str(), origin), ("demo", Origin::Memory("t".into())));
    /// assert_eq!(value["greeting"], "hi");
    /// ```
    #[must_use]
    pub fn into_parts(self) -> (String, Origin, Value) {
        (self.name, self.origin, self.value)
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
