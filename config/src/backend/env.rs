use std::ffi::OsString;
use std::sync::Arc;

use crate::document::check_name;
use crate::{ConfigBackend, Document, LoadError, Origin, Source, Value, yaml};

/// Separates the prefix, the document name and the keys in a variable name.
/// How deep a variable may nest: deeper is a mistake, and unbounded depth
/// would let one variable exhaust the stack.
const MAX_DEPTH: usize = 32;

const SEPARATOR: &str = "__";

/// Reads documents from environment variables: `MICRO__SITE__HTTP__PORT=8080`
/// sets key `http.port` of document `site` when the prefix is `MICRO`.
///
/// - Names are `<PREFIX>__<DOCUMENT>__<KEY>[__<KEY>...]`; the document name
///   and the keys are lowercased, and a single `_` stays inside a key
///   (`DRAIN_TIMEOUT` → `drain_timeout`).
/// - Values are typed the way a YAML scalar would be: `8080` is an integer,
///   `true` a bool, `~` and `null` are null, `"8080"` and `5s` are strings.
///   A value that YAML would read as a map or a list, or cannot read at
///   all, is kept as the plain string, and so is an empty value.
/// - Each variable is a layer of its own, merged in sorted name order, so an
///   error about a value names the variable that set it.
/// - A variable with the prefix whose name does not make a document and a
///   key (`MICRO__`, `MICRO____PORT`, `MICRO__SITE`) is an error naming it:
///   a misspelt override should not be ignored silently.
///
/// The environment is read at each load. A variable with the prefix whose
/// name or value is not UTF-8 is an error naming it (other variables are
/// not looked at). It does not watch: the environment of a running process
/// does not change.
///
/// ```
/// use micro_config::{ConfigBackend, EnvBackend};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let backend = EnvBackend::from_vars("MICRO", [
///     ("MICRO__SITE__HTTP__PORT".to_owned(), "8080".to_owned()),
///     ("MICRO__SITE__SHUTDOWN__DRAIN_TIMEOUT".to_owned(), "5s".to_owned()),
/// ]);
/// let site = backend.load("site").await.unwrap().unwrap();
/// assert_eq!(site.value(), &serde_json::json!({"http": {"port": 8080}, "shutdown": {"drain_timeout": "5s"}}));
/// assert_eq!(site.locate(&["http", "port"]).to_string(), "environment variable MICRO__SITE__HTTP__PORT");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct EnvBackend {
    prefix: String,
    /// Fixed variables, or `None` to read the process environment.
    vars: Option<Arc<[(OsString, OsString)]>>,
}

impl EnvBackend {
    /// A backend reading the process environment for variables named
    /// `<prefix>__...` (give the prefix without the separator).
    ///
    /// ```
    /// use micro_config::{ConfigBackend, EnvBackend};
    /// let backend = EnvBackend::new("MICRO");
    /// assert_eq!(backend.describe(), "environment variables MICRO__*");
    /// ```
    #[must_use]
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            vars: None,
        }
    }

    /// A backend reading the given variables instead of the process
    /// environment: for tests, and for services that get their variables
    /// from somewhere else. Names and values are `String`s or `OsString`s
    /// (which need not be UTF-8, as in the process environment).
    ///
    /// ```
    /// use micro_config::{ConfigBackend, EnvBackend};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let vars = [("APP__DB__HOST".to_owned(), "db.internal".to_owned()), ("HOME".to_owned(), "/root".to_owned())];
    /// let backend = EnvBackend::from_vars("APP", vars);
    /// assert_eq!(backend.load("db").await.unwrap().unwrap().value()["host"], "db.internal");
    /// assert!(backend.load("site").await.unwrap().is_none());
    ///
    /// use std::os::unix::ffi::OsStringExt;
    /// let bytes = std::ffi::OsString::from_vec(b"\xff".to_vec());
    /// let backend = EnvBackend::from_vars("APP", [(std::ffi::OsString::from("APP__DB__HOST"), bytes)]);
    /// let err = backend.load("db").await.unwrap_err();
    /// assert_eq!(err.to_string(), "environment variable APP__DB__HOST: db.host: the value is not UTF-8 text");
    /// # });
    /// ```
    #[must_use]
    pub fn from_vars<N, V>(prefix: impl Into<String>, vars: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: Into<OsString>,
        V: Into<OsString>,
    {
        Self {
            prefix: prefix.into(),
            vars: Some(
                vars.into_iter()
                    .map(|(name, value)| (name.into(), value.into()))
                    .collect(),
            ),
        }
    }

    /// The variables with this backend's prefix, sorted by name; one whose
    /// name or value is not UTF-8 is an error naming it.
    fn matching(&self) -> Result<Vec<(String, String)>, LoadError> {
        let start = format!("{}{SEPARATOR}", self.prefix);
        let ours = |name: &OsString| name.as_encoded_bytes().starts_with(start.as_bytes());
        let vars: Vec<(OsString, OsString)> = match &self.vars {
            Some(vars) => vars.iter().filter(|(name, _)| ours(name)).cloned().collect(),
            None => std::env::vars_os().filter(|(name, _)| ours(name)).collect(),
        };
        let mut texts = Vec::with_capacity(vars.len());
        for (name, value) in vars {
            let name = name.into_string().map_err(|name| LoadError::Syntax {
                at: Source::from(Origin::Env(name.to_string_lossy().into_owned())),
                message: "the variable's name is not UTF-8 text".to_owned(),
            })?;
            let Ok(value) = value.into_string() else {
                let (document, keys) = self.split(&name)?;
                return Err(LoadError::Invalid {
                    at: Source::from(Origin::Env(name)),
                    path: format!("{document}.{}", keys.join(".")),
                    message: "the value is not UTF-8 text".to_owned(),
                });
            };
            texts.push((name, value));
        }
        texts.sort();
        Ok(texts)
    }

    /// Splits `var` (which has the prefix) into a document name and keys.
    fn split(&self, var: &str) -> Result<(String, Vec<String>), LoadError> {
        let rest = var.get(self.prefix.len() + SEPARATOR.len()..).unwrap_or_default();
        let parts: Vec<String> = rest.split(SEPARATOR).map(str::to_lowercase).collect();
        let invalid = |message: String| LoadError::Invalid {
            at: Source::from(Origin::Env(var.to_owned())),
            path: if rest.is_empty() {
                "(empty)".to_owned()
            } else {
                parts.join(".")
            },
            message,
        };
        let form = format!(
            "expected {}{SEPARATOR}<DOCUMENT>{SEPARATOR}<KEY>[{SEPARATOR}<KEY>...]",
            self.prefix
        );
        let Some((name, keys)) = parts.split_first() else {
            return Err(invalid(form));
        };
        if name.is_empty() {
            return Err(invalid(format!("has no document name; {form}")));
        }
        if check_name(name).is_err() {
            return Err(invalid(format!(
                "`{name}` cannot be a document name (letters, digits, `-` and `_` only); {form}"
            )));
        }
        if keys.is_empty() {
            return Err(invalid(format!("names document `{name}` but no key in it; {form}")));
        }
        if keys.len() > MAX_DEPTH {
            return Err(invalid(format!("is {} keys deep; at most {MAX_DEPTH}", keys.len())));
        }
        if keys.iter().any(String::is_empty) {
            return Err(invalid(format!("has an empty key; {form}")));
        }
        Ok((name.clone(), keys.to_vec()))
    }
}

/// `value` at `keys`, as a tree of maps.
fn nest(keys: &[String], value: Value) -> Value {
    keys.iter().rev().fold(value, |inner, key| {
        let mut map = serde_json::Map::new();
        map.insert(key.clone(), inner);
        Value::Object(map)
    })
}

#[async_trait::async_trait]
impl ConfigBackend for EnvBackend {
    fn describe(&self) -> String {
        format!("environment variables {}{SEPARATOR}*", self.prefix)
    }

    async fn load(&self, name: &str) -> Result<Option<Document>, LoadError> {
        check_name(name)?;
        let mut merged: Option<Document> = None;
        for (var, text) in self.matching()? {
            // Every variable is checked, not only this document's: a variable
            // that names no document cannot be attributed to one.
            let (doc_name, keys) = self.split(&var)?;
            if doc_name != name {
                continue;
            }
            let layer = Document::new(name, Origin::Env(var), nest(&keys, yaml::scalar(&text)));
            merged = Some(match merged {
                None => layer,
                Some(below) => below.merged(layer),
            });
        }
        Ok(merged)
    }
}

#[cfg(test)]
mod tests;
