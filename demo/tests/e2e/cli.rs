//! The demo's command line beyond running: `--check-config`, single-file
//! configuration and the environment overlay.

use crate::support;

use support::{Demo, check_config, config_dir};

#[test]
fn check_config_prints_the_effective_config_with_secrets_redacted_and_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("demo.yaml"), "greeting: checked\napi_key: hunter2\n").expect("write");
    // The port is taken: a check that bound it would fail.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let (code, stdout, stderr) = check_config(&["--config", dir.path().to_str().expect("utf-8"), "--port", &port], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("greeting: checked"), "{stdout}");
    assert!(
        stdout.contains("api_key: <redacted>") && !stdout.contains("hunter2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("drain_timeout: 20s"),
        "defaults are shown merged: {stdout}"
    );
    assert!(!stderr.contains("init callback"), "no callback ran: {stderr}");
}

#[test]
fn check_config_with_sources_says_where_each_value_was_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("site.yaml"), "http:\n  port: 9000\n").expect("write");
    let path = dir.path().to_str().expect("utf-8");
    let (code, stdout, stderr) = check_config(
        &["--config", path, "--sources"],
        &[("MICRO__SITE__SHUTDOWN__DRAIN_TIMEOUT", "3s")],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let file = dir.path().join("site.yaml");
    assert!(
        stdout.contains(&format!("site.http.port: 9000  # {}:2:3", file.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "site.shutdown.drain_timeout: \"3s\"  # environment variable MICRO__SITE__SHUTDOWN__DRAIN_TIMEOUT"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("site.http.host: \"127.0.0.1\"  # config/defaults/site.yaml (embedded)"),
        "{stdout}"
    );
    assert!(stdout.contains("demo.greeting: \"hello\"  # demo defaults"), "{stdout}");
}

#[test]
fn check_config_exits_78_naming_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("site.yaml"), "http:\n  port: high\n").expect("write");
    let (code, stdout, stderr) = check_config(&["--config", dir.path().to_str().expect("utf-8")], &[]);
    assert_eq!(code, Some(78), "{stdout}");
    let file = dir.path().join("site.yaml");
    assert!(
        stderr.contains(&format!("{}:2:3: site.http.port: invalid type", file.display())),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");
}

#[test]
fn one_config_file_can_hold_every_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("service.yaml");
    std::fs::write(&file, "demo:\n  greeting: from one file\nsite:\n  http:\n    port: x\n").expect("write");
    let (code, _, stderr) = check_config(&["--config", file.to_str().expect("utf-8")], &[]);
    assert_eq!(code, Some(78));
    assert!(
        stderr.contains(&format!("{}:5:5: site.http.port", file.display())),
        "{stderr}"
    );

    std::fs::write(&file, "demo:\n  greeting: from one file\n").expect("write");
    let demo = Demo::new().config(&file).start();
    assert_eq!(demo.get("/hello"), (200, "from one file".into()));
}

#[test]
fn environment_variables_override_files() {
    let dir = config_dir(&[("demo.yaml", "greeting: from the file\n")]);
    let demo = Demo::new()
        .config(dir.path())
        .env("MICRO__DEMO__GREETING", "from the environment")
        .start();
    assert_eq!(demo.get("/hello"), (200, "from the environment".into()));
}

#[test]
fn a_port_variable_that_is_not_a_port_is_a_configuration_error_before_anything_binds() {
    let (code, _, stderr) = check_config(&["--production"], &[("PORT", "abc")]);
    assert_eq!(code, Some(78), "{stderr}");
    assert!(
        stderr.contains("environment variable PORT: site.http.port: \"abc\" is not a port"),
        "{stderr}"
    );
    let (code, _, stderr) = check_config(&[], &[("PORT", "8080")]);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn help_lists_the_service_flags_and_no_test_only_fault_injection() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_micro"))
        .arg("--help")
        .output()
        .expect("the demo runs");
    let help = String::from_utf8(output.stdout).expect("utf-8");
    assert!(output.status.success(), "{help}");
    assert!(help.contains("--config") && help.contains("--production"), "{help}");
    for fault in [
        "--init-delay",
        "--panicking-worker",
        "--hanging-finish-callback",
        "Fault",
    ] {
        assert!(!help.contains(fault), "{fault} in --help:\n{help}");
    }
}
