use super::*;

#[tokio::test]
async fn a_missing_preload_fails_the_load_naming_it() {
    let config = PreloadedConfig::new(["db"]).backend(MemoryBackend::labelled("test"));
    let err = config.load_candidate(1, &[]).await.expect_err("missing");
    assert_eq!(
        err.to_string(),
        "config document `db` is preloaded but test (in memory) has none"
    );
}

#[tokio::test]
async fn a_nested_site_path_reads_site_config_inside_another_document() {
    let backend = MemoryBackend::new()
        .with_yaml("hipchat", "site:\n  http:\n    port: 9100\nother: 1\n")
        .expect("yaml");
    let config = PreloadedConfig::new(["hipchat"])
        .backend(backend)
        .site_path(["hipchat", "site"]);
    let snapshot = config.load_candidate(1, &[]).await.expect("valid");
    assert_eq!(snapshot.site().http.port, 9100);
    assert_eq!(
        snapshot
            .get_path::<String>("hipchat.site.logging.level")
            .expect("default"),
        "info"
    );
    assert_eq!(snapshot.get_path::<u8>("hipchat.other").expect("kept"), 1);
}

#[tokio::test]
async fn a_site_path_through_a_non_map_is_an_error_not_a_silent_reset() {
    let backend = MemoryBackend::labelled("test")
        .with_yaml("hipchat", "site: just a string\n")
        .expect("yaml");
    let config = PreloadedConfig::new(["hipchat"])
        .backend(backend)
        .site_path(["hipchat", "site"]);
    let err = config.load_candidate(1, &[]).await.expect_err("not a map");
    assert!(
        err.to_string().starts_with("test (in memory):1:1: hipchat.site: "),
        "{err}"
    );
}

#[tokio::test]
async fn an_invalid_site_value_names_origin_and_key_path() {
    let backend = MemoryBackend::labelled("test")
        .with_yaml("site", "shutdown:\n  drain_timeout: soon\n")
        .expect("yaml");
    let config = PreloadedConfig::new(["site"]).backend(backend);
    let err = config.load_candidate(1, &[]).await.expect_err("invalid");
    let text = err.to_string();
    assert!(
        text.starts_with("test (in memory):2:3: site.shutdown.drain_timeout: "),
        "{text}"
    );
}

#[test]
fn reads_before_the_first_load_fail_without_panicking() {
    let config = PreloadedConfig::new(["demo"]);
    assert!(matches!(
        config.get_path::<String>("demo.greeting"),
        Err(ReadError::NotLoaded { .. })
    ));
    assert_eq!(config.generation(), 0);
}

#[tokio::test]
async fn a_document_in_use_that_vanishes_rejects_the_reload() {
    let backend = MemoryBackend::labelled("test")
        .with_yaml("db", "pool: 1")
        .expect("yaml");
    let config = PreloadedConfig::new(Vec::<String>::new()).backend(backend);
    config.store(config.load_candidate(1, &[]).await.expect("valid"));
    let err = config
        .load_candidate(2, &["gone".to_owned()])
        .await
        .expect_err("vanished");
    assert_eq!(
        err.to_string(),
        "config document `gone` is in use but test (in memory) has none any more"
            .replace(" has none any more", " no longer has it")
    );
}

#[tokio::test]
async fn a_typed_read_in_a_validator_fails_the_load_naming_the_location_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("db.yaml");
    std::fs::write(&file, "host: a\npool: many\n").expect("write");
    let config = PreloadedConfig::new(["db"])
        .backend(crate::FileBackend::new(dir.path()))
        .validate(|snapshot| {
            snapshot.get_path::<u32>("db.pool")?;
            snapshot.get_path::<String>("db.user")?;
            Ok(())
        });
    let err = config.load_candidate(1, &[]).await.expect_err("not a number");
    let located = format!("{}:2:1", file.display());
    assert_eq!(
        err.to_string(),
        format!("{located}: db.pool: invalid type: string \"many\", expected u32")
    );
    assert_eq!(err.to_string().matches(&located).count(), 1);

    std::fs::write(&file, "host: a\npool: 4\n").expect("write");
    let err = config.load_candidate(1, &[]).await.expect_err("no user");
    assert_eq!(err.to_string(), format!("{}: db.user: no such key", file.display()));
}

#[tokio::test]
async fn a_validator_reading_a_document_not_loaded_says_to_preload_it() {
    let config = PreloadedConfig::new(Vec::<String>::new()).validate(|snapshot| {
        snapshot.get::<serde_json::Value>("db")?;
        Ok(())
    });
    let err = config.load_candidate(1, &[]).await.expect_err("not loaded");
    assert!(
        matches!(err, LoadError::NotLoaded { ref name } if name == "db"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "config document `db` is not loaded: add it to the preloads"
    );
}

#[derive(serde::Deserialize, Debug)]
struct Orders {
    #[allow(dead_code)]
    region: String,
    max_items: u32,
}

#[tokio::test]
async fn a_typed_document_that_does_not_fit_fails_the_load_naming_file_line_column_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("orders.yaml");
    std::fs::write(&file, "region: eu\nmax_items: lots\n").expect("write");
    let config = PreloadedConfig::new(["site"])
        .backend(crate::FileBackend::new(dir.path()))
        .document::<Orders>("orders");
    assert_eq!(config.preloads(), ["site", "orders"]);
    let err = config.load_candidate(1, &[]).await.expect_err("lots is no u32");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2:1: orders.max_items: invalid type: string \"lots\", expected u32",
            file.display()
        )
    );

    std::fs::write(&file, "region: eu\nmax_items: 20\n").expect("write");
    config.store(config.load_candidate(1, &[]).await.expect("fits"));
    assert_eq!(config.typed::<Orders>("orders").expect("typed").max_items, 20);
}

#[test]
fn a_typed_document_already_preloaded_is_preloaded_once() {
    let config = PreloadedConfig::new(["orders", "site"]).document::<Orders>("orders");
    assert_eq!(config.preloads(), ["orders", "site"]);
}

#[tokio::test]
async fn a_typed_document_missing_from_the_backend_fails_the_load_as_a_preload() {
    let config = PreloadedConfig::new(Vec::<String>::new())
        .backend(MemoryBackend::labelled("test"))
        .document::<Orders>("orders");
    let err = config.load_candidate(1, &[]).await.expect_err("missing");
    assert!(
        matches!(err, LoadError::Missing { ref name, .. } if name == "orders"),
        "{err}"
    );
}

/// How many times each [`Counted`] type was deserialized.
static DESERIALIZED: [std::sync::atomic::AtomicUsize; 2] = [const { std::sync::atomic::AtomicUsize::new(0) }; 2];

/// A document that counts its deserializations, one counter per `ID` so
/// that tests running at once do not share one.
struct Counted<const ID: usize>;

impl<'de, const ID: usize> serde::Deserialize<'de> for Counted<ID> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(deserializer)?;
        DESERIALIZED[ID].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Self)
    }
}

fn deserialized(id: usize) -> usize {
    DESERIALIZED[id].load(std::sync::atomic::Ordering::SeqCst)
}

#[tokio::test]
async fn a_snapshot_that_passed_a_typed_check_answers_typed_reads_without_deserializing_again() {
    let config = PreloadedConfig::new(Vec::<String>::new())
        .backend(MemoryBackend::new().with_yaml("orders", "max_items: 20").expect("yaml"))
        .document::<Counted<0>>("orders");
    config.store(config.load_candidate(1, &[]).await.expect("valid"));
    assert_eq!(deserialized(0), 1, "by the check");
    config.typed::<Counted<0>>("orders").expect("typed");
    config.snapshot().typed::<Counted<0>>("orders").expect("typed");
    assert_eq!(deserialized(0), 1, "the check's value is read");
}

#[tokio::test]
async fn a_document_loaded_on_first_use_keeps_the_typed_reads_of_the_others() {
    let backend = MemoryBackend::new()
        .with_yaml("orders", "max_items: 20")
        .expect("yaml")
        .with_yaml("db", "port: 5432")
        .expect("yaml");
    let config = PreloadedConfig::new(Vec::<String>::new())
        .backend(backend)
        .document::<Counted<1>>("orders");
    config.store(config.load_candidate(1, &[]).await.expect("valid"));
    let before = config.typed::<Counted<1>>("orders").expect("typed");
    assert_eq!(config.fetch::<serde_json::Value>("db").await.expect("db")["port"], 5432);
    let after = config.typed::<Counted<1>>("orders").expect("typed");
    assert!(Arc::ptr_eq(&before, &after));
    assert_eq!(deserialized(1), 1, "the check at the load, and only then");
}

#[test]
fn same_values_is_exactly_an_empty_diff() {
    let doc = |name: &str, value: serde_json::Value| Document::new(name, crate::Origin::Memory("t".into()), value);
    let snapshot = |docs: Vec<Document>| Snapshot::new(1, docs, SiteConfig::default());
    let base = snapshot(vec![doc("a", serde_json::json!({"x": 1, "s": {"token": "t"}}))]);
    let others = [
        snapshot(vec![doc("a", serde_json::json!({"x": 1, "s": {"token": "t"}}))]),
        snapshot(vec![doc("a", serde_json::json!({"x": 2, "s": {"token": "t"}}))]),
        snapshot(vec![doc("a", serde_json::json!({"x": 1, "s": {"token": "u"}}))]),
        snapshot(vec![doc("a", serde_json::json!({"x": 1}))]),
        snapshot(vec![
            doc("a", serde_json::json!({"x": 1, "s": {"token": "t"}})),
            doc("b", serde_json::json!({})),
        ]),
        snapshot(vec![
            doc("a", serde_json::json!({"x": 1, "s": {"token": "t"}})),
            doc("b", serde_json::json!({"y": null})),
        ]),
        snapshot(Vec::new()),
    ];
    for other in &others {
        assert_eq!(base.same_values(other), base.diff(other).is_empty(), "{other:?}");
        assert_eq!(other.same_values(&base), other.diff(&base).is_empty(), "{other:?}");
    }
    assert!(base.same_values(&others[0]) && base.same_values(&others[4]));
}
