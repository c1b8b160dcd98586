//! Reloading the demo's configuration with SIGHUP, from outside.

use crate::support;

use nix::sys::signal::Signal;
use support::{Demo, Running, agent, config_dir, poll};

fn demo_with(greeting: &str) -> (Running, tempfile::TempDir) {
    let dir = config_dir(&[("demo.yaml", &format!("greeting: {greeting}\n"))]);
    let demo = Demo::new().config(dir.path()).start();
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
fn a_file_fixed_after_a_rejected_reload_is_taken_by_the_next_sighup() {
    let (demo, dir) = demo_with("hi");
    let file = dir.path().join("demo.yaml");
    std::fs::write(&file, "greeting: [unclosed\n").expect("write");
    demo.signal(Signal::SIGHUP);
    demo.wait_for_line("reload rejected");
    assert_eq!(demo.get("/hello"), (200, "hi".into()));

    std::fs::write(&file, "greeting: fixed\n").expect("write");
    demo.signal(Signal::SIGHUP);
    poll("/hello to answer the fixed greeting", || {
        (demo.get("/hello").1 == "fixed").then_some(())
    });
    let line = demo.wait_for_line("config reloaded");
    assert!(
        line.contains("generation 2"),
        "the rejected one took no generation: {line}"
    );
}

#[test]
fn editing_a_watched_file_reloads_without_a_signal() {
    let dir = config_dir(&[("demo.yaml", "greeting: hi\n")]);
    let demo = Demo::new().config(dir.path()).args(["--watch-config"]).start();
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
fn a_reloaded_log_level_applies_from_the_next_request_on() {
    let (mut demo, dir) = demo_with("hi");
    let request = |id: &str| {
        let answer = agent().get(&demo.url("/sleep/1")).set("x-request-id", id).call();
        assert_eq!(answer.expect("answered").status(), 200);
    };
    request("before-the-reload");
    std::fs::write(dir.path().join("site.yaml"), "logging:\n  level: debug\n").expect("write");
    demo.signal(Signal::SIGHUP);
    demo.wait_for_line("config reloaded: generation 2, changed: site.logging.level");
    // The first request once the reload is in force: its span, at DEBUG,
    // is logged; the one before it, at INFO, was not.
    request("after-the-reload");
    let line = demo.wait_for_line("after-the-reload");
    assert!(line.contains("DEBUG"), "{line}");
    assert_eq!(demo.stop().code(), Some(0));
    demo.assert_never_logged("before-the-reload", "a request before the reload, at INFO");
}
