//! Reloading the demo's configuration with SIGHUP, from outside.

mod support;

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
