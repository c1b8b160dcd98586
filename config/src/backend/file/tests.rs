use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc::Receiver;

use super::*;
use crate::Change;

/// Long enough for a loaded machine; the wait ends as soon as a change comes.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long nothing must come, in the tests that check that nothing does.
const QUIET: Duration = Duration::from_millis(600);
const DEBOUNCE: Duration = Duration::from_millis(50);

async fn next_change(changes: &mut Receiver<Change>) -> Change {
    tokio::time::timeout(PATIENCE, changes.recv())
        .await
        .expect("a change within the patience")
        .expect("the channel is open")
}

async fn assert_quiet(changes: &mut Receiver<Change>) {
    // A closed channel (the watcher gone) is quiet too.
    if let Ok(Some(change)) = tokio::time::timeout(QUIET, changes.recv()).await {
        panic!("unexpected change: {change:?}");
    }
}

fn watched(path: &Path) -> (WatchGuard, Receiver<Change>) {
    let (sender, changes) = ChangeSender::channel();
    let backend = FileBackend::new(path).watching(true).debounce(DEBOUNCE);
    let guard = backend.watch(&sender).expect("watch starts").expect("watching");
    (guard, changes)
}

#[tokio::test]
async fn a_missing_file_is_no_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let found = FileBackend::new(dir.path()).load("absent").await.expect("load");
    assert!(found.is_none());
}

#[tokio::test]
async fn invalid_yaml_names_the_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("demo.yaml"), "greeting: hi\nbad: [\n").expect("write");
    let err = FileBackend::new(dir.path()).load("demo").await.expect_err("invalid");
    let expected = format!("{}:3:1: ", dir.path().join("demo.yaml").display());
    assert!(err.to_string().starts_with(&expected), "{err}");
}

#[tokio::test]
async fn names_cannot_leave_the_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = FileBackend::new(dir.path())
        .load("../secret")
        .await
        .expect_err("rejected");
    assert!(matches!(err, LoadError::InvalidName { .. }), "{err}");
}

#[tokio::test]
async fn a_single_file_holds_one_document_per_top_level_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("all.yaml");
    std::fs::write(&file, "site:\n  http:\n    port: 80\ndb:\n  host: a\n").expect("write");
    let backend = FileBackend::new(&file);
    let site = backend.load("site").await.expect("load").expect("site");
    assert_eq!(site.value(), &json!({"http": {"port": 80}}));
    assert_eq!(site.origin(), &Origin::File(file.clone()));
    assert_eq!(
        site.locate(&["http", "port"]).to_string(),
        format!("{}:3:5", file.display())
    );
    assert_eq!(
        backend.load("db").await.expect("load").expect("db").value(),
        &json!({"host": "a"})
    );
    assert!(backend.load("other").await.expect("load").is_none());
}

#[tokio::test]
async fn a_single_file_that_is_not_a_map_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("all.yaml");
    std::fs::write(&file, "- site\n").expect("write");
    let err = FileBackend::new(&file).load("site").await.expect_err("not a map");
    assert!(err.to_string().starts_with(&format!("{}: ", file.display())), "{err}");
}

#[tokio::test]
async fn whether_the_path_is_a_file_is_decided_at_each_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("conf");
    let backend = FileBackend::new(&path);
    assert!(backend.load("site").await.expect("nothing there").is_none());
    std::fs::write(&path, "site:\n  from: file\n").expect("write");
    let site = backend.load("site").await.expect("load").expect("site");
    assert_eq!(site.value(), &json!({"from": "file"}));
    assert_eq!(backend.describe(), format!("file {}", path.display()));
    std::fs::remove_file(&path).expect("remove");
    std::fs::create_dir(&path).expect("mkdir");
    std::fs::write(path.join("site.yaml"), "from: dir\n").expect("write");
    let site = backend.load("site").await.expect("load").expect("site");
    assert_eq!(site.value(), &json!({"from": "dir"}));
    assert_eq!(backend.describe(), format!("files in {}", path.display()));
}

#[tokio::test]
async fn a_file_over_the_limit_is_refused_without_being_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("site.yaml");
    // Sparse: its size is in the metadata, nothing is written.
    let file = std::fs::File::create(&big).expect("create");
    file.set_len(FileBackend::MAX_FILE_SIZE + 1).expect("set_len");
    for backend in [FileBackend::new(dir.path()), FileBackend::new(&big)] {
        let err = backend.load("site").await.expect_err("too large");
        let text = err.to_string();
        assert!(text.starts_with(&format!("{}: ", big.display())), "{text}");
        assert!(text.contains("over the limit of 10 MiB"), "{text}");
    }
}

#[tokio::test]
async fn a_file_at_the_limit_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("site.yaml");
    let mut text = "port: 1\n".to_owned();
    let limit = usize::try_from(FileBackend::MAX_FILE_SIZE).expect("fits");
    text.push_str(&"#".repeat(limit - text.len()));
    std::fs::write(&path, text).expect("write");
    let site = FileBackend::new(dir.path())
        .load("site")
        .await
        .expect("load")
        .expect("site");
    assert_eq!(site.value(), &json!({"port": 1}));
}

#[tokio::test]
async fn invalid_utf8_is_an_error_naming_the_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("site.yaml");
    std::fs::write(&path, b"a: 1\nb: \xc3\xa9\xff\n").expect("write");
    for backend in [FileBackend::new(dir.path()), FileBackend::new(&path)] {
        let err = backend.load("site").await.expect_err("not UTF-8");
        assert_eq!(
            err.to_string(),
            format!("{}:2:5: the text is not valid UTF-8", path.display())
        );
    }
}

#[tokio::test]
async fn a_document_path_that_is_not_a_file_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("site.yaml")).expect("mkdir");
    let err = FileBackend::new(dir.path())
        .load("site")
        .await
        .expect_err("a directory");
    assert!(matches!(err, LoadError::Read { .. }), "{err}");
}

#[test]
fn describe_names_the_directory() {
    assert_eq!(FileBackend::new("no/such/conf").describe(), "files in no/such/conf");
}

#[test]
fn watching_is_off_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (sender, _changes) = ChangeSender::channel();
    assert!(FileBackend::new(dir.path()).watch(&sender).expect("watch").is_none());
}

#[test]
fn a_watch_that_cannot_start_is_a_read_error_naming_the_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing");
    let (sender, _changes) = ChangeSender::channel();
    let err = FileBackend::new(&missing)
        .watching(true)
        .watch(&sender)
        .expect_err("cannot watch");
    let LoadError::Read { path, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(path, &missing);
}

#[tokio::test]
async fn writing_a_yaml_file_in_a_watched_directory_reports_a_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_guard, mut changes) = watched(dir.path());
    let path = dir.path().join("site.yaml");
    std::fs::write(&path, "http: {port: 1}\n").expect("write");
    assert_eq!(next_change(&mut changes).await.what, path.display().to_string());
}

#[tokio::test]
async fn writing_the_watched_single_file_reports_a_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("all.yaml");
    std::fs::write(&file, "site: {}\n").expect("write");
    let (_guard, mut changes) = watched(&file);
    // Saved the way editors do: another file written, then renamed over it.
    let tmp = dir.path().join(".all.yaml.tmp");
    std::fs::write(&tmp, "site: {http: {port: 2}}\n").expect("write");
    std::fs::rename(&tmp, &file).expect("rename");
    assert_eq!(next_change(&mut changes).await.what, file.display().to_string());
}

#[tokio::test]
async fn loading_a_watched_file_reports_no_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("site.yaml"), "http: {port: 1}\n").expect("write");
    let (_guard, mut changes) = watched(dir.path());
    let backend = FileBackend::new(dir.path());
    backend.load("site").await.expect("load").expect("site");
    assert_quiet(&mut changes).await;
}

#[tokio::test]
async fn dropping_the_guard_stops_the_watch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (guard, mut changes) = watched(dir.path());
    std::fs::write(dir.path().join("a.yaml"), "a: 1\n").expect("write");
    next_change(&mut changes).await;
    drop(guard);
    // A stopped watcher lets go of its sender, so the channel closes (after
    // what it reported before the drop); nothing can come after that.
    let closed = tokio::time::timeout(PATIENCE, async { while changes.recv().await.is_some() {} }).await;
    assert!(closed.is_ok(), "the watcher stopped");
    std::fs::write(dir.path().join("b.yaml"), "b: 1\n").expect("write");
    // Closed, not merely empty for now: no change can ever come.
    assert_eq!(
        changes.try_recv().expect_err("nothing after the drop"),
        tokio::sync::mpsc::error::TryRecvError::Disconnected
    );
}

#[test]
fn a_load_reads_and_parses_off_the_runtime_thread_so_other_tasks_run_meanwhile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let items: Vec<String> = (0..50_000).map(|i| format!("  key{i}: value {i}\n")).collect();
    std::fs::write(dir.path().join("big.yaml"), format!("items:\n{}", items.concat())).expect("write");
    // One runtime thread: a task spawned on it runs only while the load
    // awaits something, never while it reads or parses on that thread.
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime.block_on(async {
        let ticks = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let ticker = Arc::clone(&ticks);
        let ticking = tokio::spawn(async move {
            loop {
                ticker.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        });
        let doc = FileBackend::new(dir.path())
            .load("big")
            .await
            .expect("load")
            .expect("big");
        assert_eq!(doc.value()["items"]["key49999"], "value 49999");
        assert!(
            ticks.load(std::sync::atomic::Ordering::SeqCst) > 0,
            "the runtime thread was held by the load"
        );
        ticking.abort();
    });
}

#[tokio::test]
async fn a_preload_from_a_directory_that_does_not_exist_says_the_directory_does_not_exist() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("conf");
    let config = crate::PreloadedConfig::new(["db"]).backend(FileBackend::new(&conf));
    let err = config.load_candidate(1, &[]).await.expect_err("no directory");
    assert_eq!(
        err.to_string(),
        format!(
            "config document `db` is preloaded but files in {0} has none: config directory {0} does not exist",
            conf.display()
        )
    );
}

#[tokio::test]
async fn a_preload_from_a_single_file_that_does_not_exist_says_the_file_does_not_exist() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("service.yaml");
    let config = crate::PreloadedConfig::new(["db"]).backend(FileBackend::new(&file));
    let err = config.load_candidate(1, &[]).await.expect_err("no file");
    assert!(
        err.to_string()
            .ends_with(&format!(": config file {} does not exist", file.display())),
        "{err}"
    );
}

#[tokio::test]
async fn a_preload_missing_from_an_existing_directory_names_the_file_looked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("site.yaml"), "{}\n").expect("write");
    let config = crate::PreloadedConfig::new(["db"]).backend(FileBackend::new(dir.path()));
    let err = config.load_candidate(1, &[]).await.expect_err("no db.yaml");
    assert_eq!(
        err.to_string(),
        format!(
            "config document `db` is preloaded but files in {} has none: no file {}",
            dir.path().display(),
            dir.path().join("db.yaml").display()
        )
    );
}

#[tokio::test]
async fn a_preload_missing_from_a_single_file_names_the_key_looked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("all.yaml");
    std::fs::write(&file, "site: {}\n").expect("write");
    let config = crate::PreloadedConfig::new(["db"]).backend(FileBackend::new(&file));
    let err = config.load_candidate(1, &[]).await.expect_err("no key db");
    assert!(
        err.to_string()
            .ends_with(&format!("has none: {} has no top-level key `db`", file.display())),
        "{err}"
    );
}

#[tokio::test]
async fn under_layers_a_directory_that_does_not_exist_is_still_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("conf");
    let backend = crate::Layered::new()
        .layer(crate::MemoryBackend::labelled("defaults"))
        .layer(FileBackend::new(&conf));
    let config = crate::PreloadedConfig::new(["db"]).backend(backend);
    let err = config.load_candidate(1, &[]).await.expect_err("no directory");
    assert_eq!(
        err.to_string(),
        format!(
            "config document `db` is preloaded but defaults (in memory) < files in {0} has none: \
             config directory {0} does not exist",
            conf.display()
        )
    );
}
