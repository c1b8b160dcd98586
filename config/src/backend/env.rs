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
/// The environment is read at each load; variables whose name or value is
/// not UTF-8 are skipped. It does not watch: the environment of a running
/// process does not change.
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
    vars: Option<Arc<[(String, String)]>>,
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
    /// from somewhere else.
    ///
    /// ```
    /// use micro_config::{ConfigBackend, EnvBackend};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let vars = [("APP__DB__HOST".to_owned(), "db.internal".to_owned()), ("HOME".to_owned(), "/root".to_owned())];
    /// let backend = EnvBackend::from_vars("APP", vars);
    /// assert_eq!(backend.load("db").await.unwrap().unwrap().value()["host"], "db.internal");
    /// assert!(backend.load("site").await.unwrap().is_none());
    /// # });
    /// ```
    #[must_use]
    pub fn from_vars(prefix: impl Into<String>, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            prefix: prefix.into(),
            vars: Some(vars.into_iter().collect()),
        }
    }

    /// The variables with this backend's prefix, sorted by name.
    fn matching(&self) -> Vec<(String, String)> {
        let start = format!("{}{SEPARATOR}", self.prefix);
        let mut vars: Vec<(String, String)> = match &self.vars {
            Some(vars) => vars
                .iter()
                .filter(|(name, _)| name.starts_with(&start))
                .cloned()
                .collect(),
            None => std::env::vars_os()
                .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
                .filter(|(name, _)| name.starts_with(&start))
                .collect(),
        };
        vars.sort();
        vars
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
        for (var, text) in self.matching() {
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
mod tests {
    use serde_json::json;

    use super::*;

    fn backend(vars: &[(&str, &str)]) -> EnvBackend {
        EnvBackend::from_vars("MICRO", vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
    }

    async fn load(vars: &[(&str, &str)], name: &str) -> Result<Option<Document>, LoadError> {
        backend(vars).load(name).await
    }

    async fn value_of(text: &str) -> Value {
        let doc = load(&[("MICRO__DEMO__X", text)], "demo")
            .await
            .expect("load")
            .expect("document");
        doc.value()["x"].clone()
    }

    #[tokio::test]
    async fn a_variable_sets_a_nested_key() {
        let doc = load(&[("MICRO__SITE__HTTP__PORT", "8080")], "site")
            .await
            .expect("load")
            .expect("doc");
        assert_eq!(doc.name(), "site");
        assert_eq!(doc.value(), &json!({"http": {"port": 8080}}));
    }

    #[tokio::test]
    async fn names_and_keys_are_lowercased_and_a_single_underscore_stays_in_a_key() {
        let doc = load(&[("MICRO__SITE__SHUTDOWN__DRAIN_TIMEOUT", "5s")], "site")
            .await
            .expect("load")
            .expect("doc");
        assert_eq!(doc.value(), &json!({"shutdown": {"drain_timeout": "5s"}}));
    }

    #[tokio::test]
    async fn values_are_typed_by_yaml_scalar_rules() {
        assert_eq!(value_of("8080").await, json!(8080));
        assert_eq!(value_of("-3").await, json!(-3));
        assert_eq!(value_of("1.5").await, json!(1.5));
        assert_eq!(value_of("true").await, json!(true));
        assert_eq!(value_of("5s").await, json!("5s"));
        assert_eq!(value_of("\"quoted\"").await, json!("quoted"));
        assert_eq!(value_of("'8080'").await, json!("8080"));
        assert_eq!(value_of("~").await, Value::Null);
        assert_eq!(value_of("null").await, Value::Null);
    }

    #[tokio::test]
    async fn maps_lists_unparsable_and_empty_values_stay_plain_strings() {
        for text in [
            "a: b",
            "[1, 2]",
            "- x",
            "{unclosed",
            "\"open",
            "",
            "# not a comment",
            ".nan",
        ] {
            assert_eq!(value_of(text).await, json!(text), "{text:?}");
        }
    }

    #[tokio::test]
    async fn an_error_about_a_value_names_the_variable_that_set_it() {
        let vars = [("MICRO__SITE__HTTP__PORT", "x"), ("MICRO__SITE__HTTP__HOST", "a")];
        let doc = load(&vars, "site").await.expect("load").expect("doc");
        assert_eq!(doc.value(), &json!({"http": {"host": "a", "port": "x"}}));
        assert_eq!(
            doc.locate(&["http", "port"]).to_string(),
            "environment variable MICRO__SITE__HTTP__PORT"
        );
        assert_eq!(doc.layers().count(), 2, "one layer per variable");
    }

    #[tokio::test]
    async fn variables_merge_in_sorted_name_order() {
        // Given out of order; the deeper variable sorts later and wins.
        let vars = [("MICRO__SITE__HTTP__PORT", "1"), ("MICRO__SITE__HTTP", "5")];
        let doc = load(&vars, "site").await.expect("load").expect("doc");
        assert_eq!(doc.value(), &json!({"http": {"port": 1}}));
        let origins: Vec<String> = doc.layers().map(|(origin, _)| origin.to_string()).collect();
        assert_eq!(
            origins,
            [
                "environment variable MICRO__SITE__HTTP",
                "environment variable MICRO__SITE__HTTP__PORT"
            ]
        );
    }

    #[tokio::test]
    async fn variables_without_the_prefix_and_separator_are_ignored() {
        let vars = [
            ("MICROS__SITE__X", "1"),
            ("MICRO_SITE__X", "1"),
            ("MICRO", "1"),
            ("micro__site__x", "1"),
        ];
        assert!(load(&vars, "site").await.expect("load").is_none());
    }

    #[tokio::test]
    async fn a_document_no_variable_names_is_none() {
        let found = load(&[("MICRO__DB__HOST", "a")], "site").await.expect("load");
        assert!(found.is_none());
    }

    #[tokio::test]
    async fn a_variable_with_an_empty_or_invalid_path_is_an_error_naming_it() {
        let cases = [
            ("MICRO__", "(empty)"),
            ("MICRO____X", ".x"),
            ("MICRO__SITE", "site"),
            ("MICRO__SITE__", "site."),
            ("MICRO__SITE____PORT", "site..port"),
            ("MICRO__BAD.NAME__X", "bad.name.x"),
        ];
        for (var, path) in cases {
            // The error comes whatever document is loaded: the variable
            // cannot be attributed to one.
            let err = load(&[(var, "1"), ("MICRO__DB__HOST", "a")], "db")
                .await
                .expect_err(var);
            let LoadError::Invalid { at, path: got, .. } = &err else {
                panic!("{var}: {err}");
            };
            assert_eq!(at.origin, Origin::Env(var.to_owned()), "{err}");
            assert_eq!(got, path, "{err}");
            assert!(
                err.to_string().starts_with(&format!("environment variable {var}: ")),
                "{err}"
            );
        }
    }

    #[tokio::test]
    async fn loading_an_invalid_document_name_is_an_error() {
        let err = load(&[], "../site").await.expect_err("invalid");
        assert!(matches!(err, LoadError::InvalidName { .. }), "{err}");
    }

    #[test]
    fn describe_names_the_prefix_and_watching_is_not_offered() {
        let backend = EnvBackend::new("APP");
        assert_eq!(backend.describe(), "environment variables APP__*");
        let (changes, _rx) = crate::ChangeSender::channel();
        assert!(backend.watch(&changes).expect("watch").is_none());
    }

    /// The process environment cannot be changed safely in a test, so the
    /// test runs itself again as a child process with a variable set.
    #[tokio::test]
    async fn the_process_environment_is_read_at_each_load() {
        const CHILD: &str = "MICRO_CONFIG_ENV_TEST__DEMO__GREETING";
        if std::env::var_os(CHILD).is_some() {
            let backend = EnvBackend::new("MICRO_CONFIG_ENV_TEST");
            let doc = backend.load("demo").await.expect("load").expect("doc");
            assert_eq!(doc.value(), &json!({"greeting": "hi from the environment"}));
            return;
        }
        let exe = std::env::current_exe().expect("test binary");
        let output = std::process::Command::new(exe)
            .args([
                "--exact",
                "backend::env::tests::the_process_environment_is_read_at_each_load",
            ])
            .env(CHILD, "hi from the environment")
            .output()
            .expect("run the child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("1 passed"), "the child ran the test: {stdout}");
    }

    #[tokio::test]
    async fn a_variable_nested_too_deep_is_an_error_not_a_stack_overflow() {
        let var = format!("MICRO__DEMO{}", "__A".repeat(40_000));
        let backend = EnvBackend::from_vars("MICRO", [(var, "1".to_owned())]);
        let err = backend.load("demo").await.expect_err("too deep");
        assert!(err.to_string().contains("40000 keys deep; at most 32"), "{err}");
    }
}
