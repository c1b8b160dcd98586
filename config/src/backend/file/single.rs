//! Single-file mode: one YAML file whose top-level keys are the documents.
//!
//! A document keeps YAML text so that errors can name the line and column
//! of a value, but that text must have the document's keys at its top
//! level. The text kept is therefore the document's own section of the file
//! at the place it has in the file: the lines before it left empty, the
//! part of its first line before it blanked out. Parsed alone, that text
//! gives the document; positions in it are positions in the file.

use std::path::Path;

use marked_yaml::Node;

use crate::{Document, LoadError, Origin, Source, Value, yaml};

/// Document `name` of the single file at `path`, whose text is `text`.
pub(super) fn document(name: &str, path: &Path, text: &str) -> Result<Option<Document>, LoadError> {
    let origin = Origin::File(path.to_owned());
    let value = match yaml::parse(text, &origin)? {
        Value::Object(mut documents) => match documents.remove(name) {
            Some(Value::Null) => Value::Object(serde_json::Map::new()),
            Some(value) => value,
            None => return Ok(None),
        },
        other => {
            return Err(LoadError::Syntax {
                at: Source::from(origin),
                message: format!(
                    "a file holding several documents must be a map from document names to documents, not {}",
                    kind(&other)
                ),
            });
        }
    };
    // Positions are a help for messages: when the section cannot be cut out
    // so that it reads as the same value (anchors defined elsewhere in the
    // file, a flow map at the top), the document goes without them.
    let positioned = section(text, name)
        .and_then(|section| Document::from_yaml(name, origin.clone(), &section).ok())
        .filter(|doc| doc.value() == &value);
    Ok(Some(positioned.unwrap_or_else(|| Document::new(name, origin, value))))
}

/// What a YAML value is, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// The value of top-level key `name` in `text`, at its place in `text`:
/// everything up to the `:` after the key blanked out (lines kept) and
/// everything from the line of the next top-level key on left off. `None`
/// when `text` is not a map that has `name`.
fn section(text: &str, name: &str) -> Option<String> {
    let Node::Mapping(root) = marked_yaml::parse_yaml(0, text).ok()? else {
        return None;
    };
    let key_start = |key: &marked_yaml::types::MarkedScalarNode| key.span().start().map(marked_yaml::Marker::character);
    let (key, _) = root.iter().find(|(key, _)| key.as_str() == name)?;
    let key_at = key_start(key)?;
    let next_key_at = root.keys().filter_map(key_start).filter(|&at| at > key_at).min();

    let key_at = byte_index(text, key_at);
    // A document name has no `:`, quoted or not: the first one after the
    // key is the one that ends it.
    let value_at = key_at + text.get(key_at..)?.find(':')? + 1;
    // The top level is a block map (a flow map fails the check of the
    // caller): the line of the next key is all that key's.
    let end = match next_key_at {
        Some(at) => {
            let at = byte_index(text, at);
            text.get(..at)?
                .rfind('\n')
                .map_or(0, |newline| newline + 1)
                .max(value_at)
        }
        None => text.len(),
    };
    let before = text.get(..value_at)?;
    let line = before.rsplit('\n').next().unwrap_or_default();
    let mut section = "\n".repeat(before.matches('\n').count());
    section.extend(line.chars().map(|_| ' '));
    section.push_str(text.get(value_at..end)?);
    Some(section)
}

/// The byte index of the character at `chars` (the end for one past it).
fn byte_index(text: &str, chars: usize) -> usize {
    text.char_indices().nth(chars).map_or(text.len(), |(at, _)| at)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn load(text: &str, name: &str) -> Result<Option<Document>, LoadError> {
        document(name, Path::new("all.yaml"), text)
    }

    #[test]
    fn a_section_keeps_its_place_in_the_file() {
        let text = "db:\n  host: a\nsite:\n  http:\n    port: 80\nlast: 1\n";
        assert_eq!(
            section(text, "site").as_deref(),
            Some("\n\n     \n  http:\n    port: 80\n")
        );
        assert_eq!(section(text, "nope"), None);
    }

    #[test]
    fn positions_of_a_block_section_are_those_of_the_file() {
        let text = "# all documents\ndb:\n  host: a\nsite:\n  http:\n    host: b\n    port: x\ndemo:\n  greeting: hi\n";
        let site = load(text, "site").expect("load").expect("doc");
        assert_eq!(site.value(), &json!({"http": {"host": "b", "port": "x"}}));
        assert_eq!(site.locate(&["http", "port"]).to_string(), "all.yaml:7:5");
        let demo = load(text, "demo").expect("load").expect("doc");
        assert_eq!(demo.locate(&["greeting"]).to_string(), "all.yaml:9:3");
    }

    #[test]
    fn positions_of_a_flow_section_are_those_of_the_file() {
        let text = "db: {host: a}\nsite: {http: {port: x}}\n";
        let site = load(text, "site").expect("load").expect("doc");
        assert_eq!(site.value(), &json!({"http": {"port": "x"}}));
        assert_eq!(site.locate(&["http", "port"]).to_string(), "all.yaml:2:15");
    }

    #[test]
    fn positions_survive_quoted_and_complex_keys_comments_and_crlf() {
        let cases = [
            ("\"site\":\n  port: x\n'db': 1\n", "all.yaml:2:3"),
            (
                "site: # the site\n  port: x # here\n# next\n? db\n: {a: 1}\n",
                "all.yaml:2:3",
            ),
            ("\"é\": 1\nsite: {a: 1, port: x}\n\"zz\": 2\n", "all.yaml:2:14"),
            ("site:\r\n  port: x\r\ndb: 1\r\n", "all.yaml:2:3"),
            ("---\nsite:\n  port: x\n...\n", "all.yaml:3:3"),
        ];
        for (text, at) in cases {
            let site = load(text, "site").expect(text).expect("document");
            assert_eq!(site.locate(&["port"]).to_string(), at, "{text:?}");
        }
    }

    #[test]
    fn a_section_that_cannot_stand_alone_loads_without_positions() {
        let text = "base: &base {port: 80}\nsite:\n  http: *base\n";
        let site = load(text, "site").expect("load").expect("doc");
        assert_eq!(site.value(), &json!({"http": {"port": 80}}));
        assert_eq!(site.locate(&["http", "port"]).to_string(), "all.yaml");
    }

    #[test]
    fn a_flow_map_at_the_top_still_loads() {
        let site = load("{db: {host: a}, site: {port: 1}}", "site")
            .expect("load")
            .expect("doc");
        assert_eq!(site.value(), &json!({"port": 1}));
    }

    #[test]
    fn an_empty_section_is_an_empty_document() {
        let site = load("site:\ndb:\n  host: a\n", "site").expect("load").expect("doc");
        assert_eq!(site.value(), &json!({}));
    }

    #[test]
    fn a_missing_key_or_an_empty_file_is_no_document() {
        assert!(load("db:\n  host: a\n", "site").expect("load").is_none());
        assert!(load("", "site").expect("load").is_none());
        assert!(load("# nothing yet\n", "site").expect("load").is_none());
    }

    #[test]
    fn a_top_level_that_is_not_a_map_is_an_error_naming_the_file() {
        for text in ["- site\n- db\n", "just text\n", "42\n"] {
            let err = load(text, "site").expect_err(text);
            assert!(matches!(err, LoadError::Syntax { .. }), "{err}");
            assert!(
                err.to_string()
                    .starts_with("all.yaml: a file holding several documents"),
                "{err}"
            );
        }
    }

    #[test]
    fn invalid_yaml_names_the_file_line_and_column() {
        let err = load("site:\n  http: [\n", "site").expect_err("invalid");
        assert!(err.to_string().starts_with("all.yaml:3:1: "), "{err}");
    }

    #[test]
    fn any_text_is_an_answer_or_an_error_never_a_panic() {
        let texts = [
            "site: \u{feff}x",
            "site:\t1",
            "? [a]\n: 1\nsite: 2",
            "site: !!binary aGk=",
            "\u{0}",
            "site: *x",
        ];
        for text in texts {
            let _ = load(text, "site");
            let _ = section(text, "site");
        }
    }
}
