//! Showing configuration to people: secret-looking values redacted, and
//! each value's source on request.

use std::fmt::Write as _;

use crate::{Snapshot, Value, yaml};

/// What a redacted value is shown as.
///
/// ```
/// use micro_config::dump::{REDACTED, redacted};
/// assert_eq!(redacted(&serde_json::json!({"password": "hunter2"}))["password"], REDACTED);
/// ```
pub const REDACTED: &str = "<redacted>";

/// Whether a key looks like it holds a secret, in any case and spelling
/// (`db_password`, `apiKey`, `auth-token`, `dsn`...). Errs on the side of
/// hiding: showing a secret is worse than hiding a harmless value.
///
/// ```
/// use micro_config::dump::is_secret;
/// for key in ["password", "DB_PASSWORD", "api_key", "apiKey", "auth-token", "passphrase", "pwd", "dsn",
///             "session_cookie", "tokens", "keys", "client_secret", "credentials", "authorization"] {
///     assert!(is_secret(key), "{key}");
/// }
/// for key in ["keyspace", "port", "host", "greeting", "timeout"] {
///     assert!(!is_secret(key), "{key}");
/// }
/// ```
#[must_use]
pub fn is_secret(key: &str) -> bool {
    // Called for every key of every diff: normalised on the stack, no allocation.
    let mut buffer = [0_u8; 64];
    let mut len = 0;
    for byte in key.bytes().filter(u8::is_ascii_alphanumeric) {
        if len == buffer.len() {
            // Longer than any real key name: judge the first 64 characters.
            break;
        }
        buffer[len] = byte.to_ascii_lowercase();
        len += 1;
    }
    let key = &buffer[..len];
    const WORDS: [&[u8]; 12] = [
        b"password",
        b"passwd",
        b"passphrase",
        b"pwd",
        b"secret",
        b"token",
        b"credential",
        b"private",
        b"auth",
        b"cookie",
        b"dsn",
        b"signature",
    ];
    WORDS
        .iter()
        .any(|word| key.windows(word.len()).any(|window| window == *word))
        || key.ends_with(b"key")
        || key.ends_with(b"keys")
        || key.windows(4).any(|window| window == b"salt")
}

/// `value` with every secret-looking key's value replaced by [`REDACTED`].
///
/// ```
/// use serde_json::json;
/// let shown = micro_config::dump::redacted(&json!({"db": {"host": "a", "password": "hunter2"}}));
/// assert_eq!(shown, json!({"db": {"host": "a", "password": "<redacted>"}}));
/// ```
#[must_use]
pub fn redacted(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let shown = if is_secret(key) {
                        Value::String(REDACTED.into())
                    } else {
                        redacted(value)
                    };
                    (key.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

impl Snapshot {
    /// Every document, merged and redacted, as YAML whose top-level keys are
    /// the document names — or, with `sources`, one line per value:
    /// `path: value  # where it was set`.
    ///
    /// ```
    /// use micro_config::{Document, Origin, SiteConfig, Snapshot};
    /// let db = Document::from_yaml("db", Origin::File("db.yaml".into()), "host: a\npassword: hunter2\n").unwrap();
    /// let snapshot = Snapshot::new(1, [db], SiteConfig::default());
    /// let yaml = snapshot.dump(false);
    /// assert!(yaml.contains("password: <redacted>") && !yaml.contains("hunter2"), "{yaml}");
    /// let lines = snapshot.dump(true);
    /// assert!(lines.contains("db.host: \"a\"  # db.yaml:1:1"), "{lines}");
    /// ```
    #[must_use]
    pub fn dump(&self, sources: bool) -> String {
        if !sources {
            let all: serde_json::Map<String, Value> = self
                .names()
                .filter_map(|name| Some((name.to_owned(), redacted(self.document(name)?.value()))))
                .collect();
            return yaml::to_string(&Value::Object(all));
        }
        let mut out = String::new();
        for name in self.names() {
            let Some(doc) = self.document(name) else { continue };
            let mut leaves = Vec::new();
            leaves_of(&redacted(doc.value()), &mut Vec::new(), &mut leaves);
            let paths: Vec<Vec<&str>> = leaves
                .iter()
                .map(|(keys, _)| keys.iter().map(String::as_str).collect())
                .collect();
            let sources = doc.locate_many(&paths);
            for ((keys, source), (_, value)) in paths.iter().zip(sources).zip(&leaves) {
                let path = std::iter::once(name)
                    .chain(keys.iter().copied())
                    .collect::<Vec<_>>()
                    .join(".");
                let _ = writeln!(out, "{path}: {value}  # {source}");
            }
        }
        out
    }
}

/// The leaves of `value` with their key paths, in key order.
fn leaves_of(value: &Value, at: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                at.push(key.clone());
                leaves_of(child, at, out);
                at.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (index, child) in items.iter().enumerate() {
                at.push(index.to_string());
                leaves_of(child, at, out);
                at.pop();
            }
        }
        leaf => out.push((at.clone(), leaf.to_string())),
    }
}
