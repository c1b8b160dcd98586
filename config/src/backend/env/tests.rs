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
async fn a_variable_of_ours_that_is_not_utf8_is_an_error_naming_it_and_others_are_not_looked_at() {
    use std::os::unix::ffi::OsStringExt;
    let bytes = |b: &[u8]| OsString::from_vec(b.to_vec());
    let value = EnvBackend::from_vars("MICRO", [(bytes(b"MICRO__SITE__HTTP__PORT"), bytes(b"80\xff"))]);
    assert_eq!(
        value.load("demo").await.expect_err("not UTF-8").to_string(),
        "environment variable MICRO__SITE__HTTP__PORT: site.http.port: the value is not UTF-8 text"
    );
    let name = EnvBackend::from_vars("MICRO", [(bytes(b"MICRO__SITE__\xff"), bytes(b"1"))]);
    assert_eq!(
        name.load("site").await.expect_err("not UTF-8").to_string(),
        "environment variable MICRO__SITE__\u{fffd}: the variable's name is not UTF-8 text"
    );
    let others = EnvBackend::from_vars("MICRO", [(bytes(b"HOME\xff"), bytes(b"\xff"))]);
    assert!(others.load("site").await.expect("not ours").is_none());
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
