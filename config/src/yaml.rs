//! YAML text → [`Value`]. The only module that knows the YAML parser.

use std::cell::Cell;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::{LoadError, Location, Origin, Source, Value};

/// Parses YAML text into a document tree; an empty text is an empty map.
///
/// Errors carry the origin and the line and column the parser stopped at.
///
/// ```
/// use micro_config::{yaml, Origin};
/// let value = yaml::parse("greeting: hi\n", &Origin::Memory("demo".into())).unwrap();
/// assert_eq!(value["greeting"], "hi");
///
/// let err = yaml::parse("greeting: [hi\n", &Origin::Memory("demo".into())).unwrap_err();
/// assert!(err.to_string().starts_with("demo (in memory):2:1: "), "{err}");
/// ```
pub fn parse(text: &str, origin: &Origin) -> Result<Value, LoadError> {
    let values = Cell::new(0);
    match (Strict { values: &values }).deserialize(serde_yaml::Deserializer::from_str(text)) {
        Ok(Value::Null) => Ok(Value::Object(serde_json::Map::new())),
        Ok(value) => Ok(value),
        Err(err) => {
            let location = err.location().map(|l| Location {
                line: l.line(),
                column: l.column(),
            });
            Err(LoadError::Syntax {
                at: Source {
                    origin: origin.clone(),
                    location,
                },
                message: strip_location(&err.to_string()),
            })
        }
    }
}

/// Bytes read from `origin` as text: an error when they are not UTF-8,
/// naming the origin and the line and column of the first byte that is not.
///
/// ```
/// use micro_config::{Origin, yaml};
/// let origin = Origin::File("site.yaml".into());
/// assert_eq!(yaml::decode(b"a: 1\n".to_vec(), &origin).unwrap(), "a: 1\n");
/// let err = yaml::decode(b"a: 1\nb: \xff\n".to_vec(), &origin).unwrap_err();
/// assert_eq!(err.to_string(), "site.yaml:2:4: the text is not valid UTF-8");
/// ```
pub fn decode(bytes: Vec<u8>, origin: &Origin) -> Result<String, LoadError> {
    String::from_utf8(bytes).map_err(|err| {
        let valid = err.as_bytes().get(..err.utf8_error().valid_up_to()).unwrap_or_default();
        LoadError::Syntax {
            at: Source {
                origin: origin.clone(),
                location: Some(location_after(valid)),
            },
            message: "the text is not valid UTF-8".to_owned(),
        }
    })
}

/// The line and column just after the valid UTF-8 text `before`.
fn location_after(before: &[u8]) -> Location {
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |at| at + 1);
    let column = String::from_utf8_lossy(before.get(line_start..).unwrap_or_default())
        .chars()
        .count();
    Location {
        line: before.iter().filter(|&&b| b == b'\n').count() + 1,
        column: column + 1,
    }
}

/// The line and column of the key at the end of `keys` in YAML `text`, or
/// `None` when the text does not have that path (or the path is empty: the
/// whole text). Only called on the error path: parsing for positions
/// costs nothing while the configuration is valid.
///
/// ```
/// use micro_config::{Location, yaml};
/// let text = "http:\n  host: a\n  port: 80\n";
/// assert_eq!(yaml::locate(text, &["http", "port"]), Some(Location { line: 3, column: 3 }));
/// assert_eq!(yaml::locate(text, &["nope"]), None);
/// ```
#[must_use]
pub fn locate(text: &str, keys: &[&str]) -> Option<Location> {
    Positions::parse(text).locate(keys)
}

/// A YAML text parsed for positions once, to answer many [`locate`]s.
///
/// ```
/// use micro_config::{Location, yaml::Positions};
/// let positions = Positions::parse("a: 1\nb:\n  c: 2\n");
/// assert_eq!(positions.locate(&["b", "c"]), Some(Location { line: 3, column: 3 }));
/// assert_eq!(positions.locate(&["a"]), Some(Location { line: 1, column: 1 }));
/// ```
pub struct Positions(Option<marked_yaml::Node>);

impl Positions {
    /// Parses `text` for positions (a text that does not parse has none).
    ///
    /// ```
    /// use micro_config::yaml::Positions;
    /// assert!(Positions::parse("a: 1\n").locate(&["a"]).is_some());
    /// assert!(Positions::parse("a: [\n").locate(&["a"]).is_none(), "no positions");
    /// ```
    #[must_use]
    pub fn parse(text: &str) -> Self {
        Self(marked_yaml::parse_yaml(0, text).ok())
    }

    /// Where the key at the end of `keys` is; see [`locate`].
    ///
    /// ```
    /// use micro_config::{Location, yaml::Positions};
    /// let positions = Positions::parse("list:\n  - x\n  - y\n");
    /// assert_eq!(positions.locate(&["list", "1"]), Some(Location { line: 3, column: 5 }));
    /// assert_eq!(positions.locate(&["other"]), None);
    /// ```
    #[must_use]
    pub fn locate(&self, keys: &[&str]) -> Option<Location> {
        walk(self.0.as_ref()?, keys)
    }
}

impl std::fmt::Debug for Positions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Positions")
    }
}

fn walk(root: &marked_yaml::Node, keys: &[&str]) -> Option<Location> {
    let mut node = root;
    let mut at = None;
    for key in keys {
        let (start, child) = match node {
            marked_yaml::Node::Mapping(map) => {
                let (marked_key, child) = map.iter().find(|(k, _)| k.as_str() == *key)?;
                (marked_key.span().start().copied(), child)
            }
            marked_yaml::Node::Sequence(items) => {
                let child = items.get(key.parse::<usize>().ok()?)?;
                (child.span().start().copied(), child)
            }
            marked_yaml::Node::Scalar(_) => return None,
        };
        at = start;
        node = child;
    }
    at.map(|marker| Location {
        line: marker.line(),
        column: marker.column(),
    })
}

/// The most values one YAML text may expand to. Aliases let a few KB
/// expand to millions of values (each alias copies what it names); no
/// configuration holds this many.
///
/// ```
/// use micro_config::{Origin, yaml};
/// let many = format!("[{}]", vec!["0"; yaml::MAX_VALUES + 1].join(","));
/// assert!(yaml::parse(&many, &Origin::Memory("t".into())).is_err());
/// ```
pub const MAX_VALUES: usize = 200_000;

/// Builds a [`Value`] like serde_json's own visitor, but refuses what a
/// config file should never contain: the same key twice in one map (YAML
/// would silently keep the last), numbers JSON cannot hold (`.nan`, `.inf`),
/// and more than [`MAX_VALUES`] values. Keys must be strings.
#[derive(Clone, Copy)]
struct Strict<'c> {
    values: &'c Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        let count = self.values.get() + 1;
        if count > MAX_VALUES {
            return Err(de::Error::custom(format!(
                "expands to more than {MAX_VALUES} values (aliases repeat what they name): refusing it"
            )));
        }
        self.values.set(count);
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("{v} is not a number a configuration can hold")))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "duplicate key `{key}`: the same map names it twice"
                )));
            }
            let value = map.next_value_seed(self)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// A short text (an environment variable's value) typed the way YAML types
/// a plain scalar: `8080` is a number, `true` a boolean, `~` null; anything
/// YAML would read as a map or a list, or cannot read, stays the text.
///
/// ```
/// use micro_config::yaml::scalar;
/// assert_eq!(scalar("8080"), serde_json::json!(8080));
/// assert_eq!(scalar("5s"), serde_json::json!("5s"));
/// assert_eq!(scalar("a: b"), serde_json::json!("a: b"));
/// ```
#[must_use]
pub fn scalar(text: &str) -> Value {
    let values = Cell::new(0);
    match (Strict { values: &values }).deserialize(serde_yaml::Deserializer::from_str(text)) {
        Ok(Value::Array(_) | Value::Object(_)) | Err(_) => Value::String(text.to_owned()),
        // YAML reads an empty text and a comment as null too; only the
        // spellings of null mean null here.
        Ok(Value::Null) if !matches!(text.trim(), "~" | "null" | "Null" | "NULL") => Value::String(text.to_owned()),
        Ok(value) => value,
    }
}

/// `value` as YAML text.
///
/// ```
/// let text = micro_config::yaml::to_string(&serde_json::json!({"http": {"port": 80}}));
/// assert_eq!(text, "http:\n  port: 80\n");
/// ```
#[must_use]
pub fn to_string(value: &Value) -> String {
    serde_yaml::to_string(value).unwrap_or_else(|err| format!("# cannot show as YAML: {err}\n"))
}

/// serde_yaml appends " at line L column C" to its messages; the location is
/// reported in front instead, the way compilers and editors expect it.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_line_and_column_once() {
        let origin = Origin::File("conf/demo.yaml".into());
        let err = parse("a: 1\nb: : 2\n", &origin).expect_err("invalid");
        let text = err.to_string();
        assert!(text.starts_with("conf/demo.yaml:2:"), "{text}");
        assert!(!text.contains(" at line "), "{text}");
    }

    #[test]
    fn an_empty_document_is_an_empty_map() {
        let value = parse("# nothing but a comment\n", &Origin::Embedded("x.yaml")).expect("valid");
        assert_eq!(value, Value::Object(serde_json::Map::new()));
    }
}
