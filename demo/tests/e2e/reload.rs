//! Reloading the demo's configuration with SIGHUP, from outside.

use crate::support;

use nix::sys::signal::Signal;
use support::{Demo, poll};

fn demo_with(greeting: &str) -> (Demo, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("demo.yaml"), format!("greeting: {greeting}\n")).expect("write");
    let demo = Demo::start(&["--config", dir.path().to_str().expect("utf-8")]);
    (demo, dir)
}

#[test]
fn hello_changes_after_editing_the_yaml_and_sending_sighup() {
    let (demo, dir) = demo_with("hi");
    assert_eq!(demo.get("/hello"), (200, "hi".into()));

    std::fs::write(dir.path().join("demo.yaml"), "greeting: hey there\n").expect("write");
    demo.signal(Signal::SIGHUP);
    poll("/hello to answer the new greeting", || {
        (demo.get("/hello").1 == "hey there").then_some(())
    });
    let line = demo.wait_for_line("config reloaded");
    assert!(line.contains("generation 2, changed: demo.greeting"), "{line}");
}

#[test]
fn broken_yaml_and_sighup_keep_the_old_config_and_the_process() {
    let (mut demo, dir) = demo_with("hi");
    let file = dir.path().join("demo.yaml");
    std::fs::write(&file, "greeting: [unclosed\n").expect("write");
    demo.signal(Signal::SIGHUP);

    let line = demo.wait_for_line("reload rejected");
    assert!(line.contains(&format!("{}:2:1", file.display())), "{line}");
    assert!(line.contains("generation 1 stays in force"), "{line}");
    assert_eq!(demo.get("/hello"), (200, "hi".into()));
    assert!(demo.is_alive());

    // A fixed file is picked up by the next reload.
    std::fs::write(&file, "greeting: fixed\n").expect("write");
    demo.signal(Signal::SIGHUP);
    poll("/hello to answer the fixed greeting", || {
        (demo.get("/hello").1 == "fixed").then_some(())
    });
}

#[test]
fn editing_a_watched_file_reloads_without_a_signal() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("demo.yaml"), "greeting: hi\n").expect("write");
    let demo = Demo::start(&["--config", dir.path().to_str().expect("utf-8"), "--watch-config"]);
    demo.wait_for_line("watching");
    std::fs::write(dir.path().join("demo.yaml"), "greeting: seen by the watch\n").expect("write");
    poll("/hello to answer the edited greeting", || {
        (demo.get("/hello").1 == "seen by the watch").then_some(())
    });
    // A broken edit is rejected like any reload: the last good one stays.
    std::fs::write(dir.path().join("demo.yaml"), "greeting: [\n").expect("write");
    demo.wait_for_line("reload rejected");
    assert_eq!(demo.get("/hello"), (200, "seen by the watch".into()));
}

#[test]
fn version_reports_the_last_reload_outcome() {
    let (demo, dir) = demo_with("hi");
    std::fs::write(dir.path().join("site.yaml"), "http:\n  prot: 1\n").expect("write");
    demo.signal(Signal::SIGHUP);
    demo.wait_for_line("reload rejected");
    let (status, body) = demo.get("/version");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["config_generation"], 1);
    assert_eq!(json["last_reload"]["ok"], false);
    let error = json["last_reload"]["error"].as_str().expect("an error");
    assert!(
        error.contains("site.http.prot: unknown key `prot`; did you mean `port`?"),
        "{error}"
    );
}

#[test]
fn a_reloaded_log_level_applies_at_once() {
    let (mut demo, dir) = demo_with("hi");
    std::fs::write(dir.path().join("site.yaml"), "logging:\n  level: debug\n").expect("write");
    demo.signal(Signal::SIGHUP);
    demo.wait_for_line("config reloaded: generation 2, changed: site.logging.level");
    demo.signal(Signal::SIGTERM);
    assert_eq!(demo.wait_exit().code(), Some(0));
    // Debug lines, silent at the starting level, are written once it changed.
    assert!(
        demo.stderr().contains("DEBUG micro: stopped actor http"),
        "{}",
        demo.stderr()
    );
}
