//! Operations on document trees: deep merge, dotted-path lookup and diff.

use crate::Value;

/// Merges `over` into `base`: maps merge key by key, recursively; an empty
/// value (`null`) changes nothing; any other value in `over` replaces the
/// one in `base`.
///
/// Layers merged in order give the same result however they are grouped
/// (`config/tests/merge.rs`), as long as each key is a map in every layer
/// or in none: a value between two maps (`a: {x: 1}`, then `a: 5`, then
/// `a: {y: 2}`) resets the key when merged in order, but not when the last
/// two are merged first.
///
/// ```
/// use serde_json::json;
/// let mut base = json!({"http": {"host": "127.0.0.1", "port": 8000}, "tags": [1]});
/// micro_config::value::merge(&mut base, json!({"http": {"port": 9000}, "tags": [2]}));
/// assert_eq!(base, json!({"http": {"host": "127.0.0.1", "port": 9000}, "tags": [2]}));
/// ```
pub fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        // A key left empty (`port:`, or `http:` with everything under it
        // commented out) changes nothing.
        (_, Value::Null) => {}
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

/// Follows a path of map keys (array indices as decimal numbers) into `value`.
///
/// ```
/// use serde_json::json;
/// let doc = json!({"http": {"port": 8000}, "hosts": ["a", "b"]});
/// assert_eq!(micro_config::value::lookup(&doc, ["http", "port"]), Some(&json!(8000)));
/// assert_eq!(micro_config::value::lookup(&doc, ["hosts", "1"]), Some(&json!("b")));
/// assert_eq!(micro_config::value::lookup(&doc, ["http", "nope"]), None);
/// ```
pub fn lookup<'v, 'k>(value: &'v Value, path: impl IntoIterator<Item = &'k str>) -> Option<&'v Value> {
    path.into_iter().try_fold(value, |node, key| match node {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Lists the dotted key paths whose values differ between `old` and `new`,
/// each prefixed with `prefix` (usually the document name). Only leaves and
/// keys added or removed are listed, never their values.
///
/// ```
/// use serde_json::json;
/// let old = json!({"http": {"port": 8000, "host": "a"}, "gone": 1});
/// let new = json!({"http": {"port": 9000, "host": "a"}, "new": 2});
/// assert_eq!(
///     micro_config::value::diff("site", &old, &new),
///     ["site.gone", "site.http.port", "site.new"]
/// );
/// ```
#[must_use]
pub fn diff(prefix: &str, old: &Value, new: &Value) -> Vec<String> {
    let mut changed = Vec::new();
    diff_into(prefix, old, new, &mut changed);
    changed.sort();
    changed
}

fn diff_into(path: &str, old: &Value, new: &Value, changed: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            for (key, old_value) in old {
                let child = format!("{path}.{key}");
                match new.get(key) {
                    // Under a secret-looking key even the key names may be
                    // secret (`tokens: {sk-live-...: svc}`): name the key only.
                    Some(new_value) if crate::dump::is_secret(key) => {
                        if old_value != new_value {
                            changed.push(child);
                        }
                    }
                    Some(new_value) => diff_into(&child, old_value, new_value, changed),
                    None => changed.push(child),
                }
            }
            changed.extend(
                new.keys()
                    .filter(|key| !old.contains_key(*key))
                    .map(|key| format!("{path}.{key}")),
            );
        }
        (old, new) if old != new => changed.push(path.to_owned()),
        _ => {}
    }
}

/// What kind of value `value` is, for messages: "a map", "a list", ...
///
/// ```
/// assert_eq!(micro_config::value::kind(&serde_json::json!([1])), "a list");
/// ```
#[must_use]
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}
