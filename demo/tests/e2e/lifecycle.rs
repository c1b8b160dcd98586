//! The demo binary's life from outside: serve, stop on a signal with a
//! request in flight, exit codes.

use crate::support;

use std::thread;

use nix::sys::signal::Signal;
use support::Demo;

#[test]
fn healthcheck_answers_200_with_name_and_version() {
    let demo = Demo::start(&[]);
    let (status, body) = demo.get("/healthcheck");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["status"], "ok");
    assert_eq!(json["name"], "micro-demo");
    assert!(json["version"].as_str().is_some_and(|v| !v.is_empty()), "{json}");
}

#[test]
fn version_reports_the_full_and_short_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("REVISION"),
        "0123456789abcdef0123456789abcdef01234567\n",
    )
    .expect("write");
    let mut demo = Demo::spawn_in(&["--port", "0"], Some(dir.path()));
    let line = demo.wait_listening();
    let (status, body) = demo.get("/version");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["version"], "0123456789abcdef0123456789abcdef01234567");
    assert_eq!(json["short"], "0123456");
    assert!(
        line.starts_with("micro-demo 0123456 "),
        "every line names service and version: {line}"
    );
}

#[test]
fn production_logs_one_json_object_per_line_with_service_and_version() {
    let mut demo = Demo::start(&["--production"]);
    assert_eq!(demo.get("/hello"), (200, "hello".into()));
    demo.signal(Signal::SIGTERM);
    assert_eq!(demo.wait_exit().code(), Some(0), "{}", demo.stderr());
    let lines = demo.lines();
    assert!(lines.len() >= 5, "{lines:?}");
    for line in &lines {
        let json: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(json["service"], "micro-demo", "{line}");
        assert!(json["version"].as_str().is_some_and(|v| !v.is_empty()), "{line}");
        assert!(json["message"].is_string(), "{line}");
    }
}

#[test]
fn callbacks_log_under_their_own_name_and_no_line_shows_the_actors_inside() {
    let mut demo = Demo::start(&[]);
    demo.signal(Signal::SIGTERM);
    assert_eq!(demo.wait_exit().code(), Some(0), "{}", demo.stderr());
    let greet = demo.wait_for_line("demo init callback: ready to greet");
    assert!(greet.contains("callback{name=greet}"), "{greet}");
    let goodbye = demo.wait_for_line("demo finish callback: goodbye");
    assert!(goodbye.contains("callback{name=goodbye}"), "{goodbye}");
    let stderr = demo.stderr();
    assert!(!stderr.contains("Actor{"), "an actor's span on a line:\n{stderr}");
}

#[test]
fn the_demo_reports_its_own_build_never_an_empty_version() {
    let demo = Demo::start(&[]);
    let (status, body) = demo.get("/version");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["package_version"], env!("CARGO_PKG_VERSION"), "{json}");
    // Built in a git checkout, the demo's build script captured its commit.
    if let Some(commit) = option_env!("VERGEN_GIT_SHA") {
        assert_eq!(json["commit"], commit, "{json}");
        assert_eq!(json["version"], commit, "{json}");
    }
}

#[test]
fn readiness_and_liveness_answer_200_while_running() {
    let demo = Demo::start(&[]);
    assert_eq!(demo.get("/health/ready").0, 200);
    assert_eq!(demo.get("/health/live").0, 200);
    assert_eq!(demo.get("/hello"), (200, "hello".into()));
}

fn stop_with_a_request_in_flight(signal: Signal) {
    let mut demo = Demo::start(&[]);
    let url = demo.url("/sleep/1000");
    let request = thread::spawn(move || support::get(&url));
    // The handler logs before it sleeps: from then on the request is in flight.
    demo.wait_for_line("sleeping 1000 ms");
    demo.signal(signal);
    let (status, body) = request.join().expect("the request thread");
    assert_eq!(
        (status, body.as_str()),
        (200, "slept 1000 ms\n"),
        "stderr:\n{}",
        demo.stderr()
    );
    let exit = demo.wait_exit();
    assert_eq!(exit.code(), Some(0), "stderr:\n{}", demo.stderr());
    let stderr = demo.stderr();
    assert!(stderr.contains("demo finish callback: goodbye"), "{stderr}");
    assert!(stderr.contains("1 completed, 0 cut off"), "{stderr}");
}

#[test]
fn sigterm_drains_a_request_in_flight_runs_finish_callbacks_and_exits_0() {
    stop_with_a_request_in_flight(Signal::SIGTERM);
}

#[test]
fn sigint_drains_a_request_in_flight_runs_finish_callbacks_and_exits_0() {
    stop_with_a_request_in_flight(Signal::SIGINT);
}

#[test]
fn invalid_yaml_at_start_exits_78_naming_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("demo.yaml");
    std::fs::write(&file, "greeting: hi\nbroken: [\n").expect("write");
    let mut demo = Demo::spawn(&["--port", "0", "--config", dir.path().to_str().expect("utf-8")]);
    let exit = demo.wait_exit();
    let stderr = demo.stderr();
    assert_eq!(exit.code(), Some(78), "{stderr}");
    assert!(stderr.contains(&format!("{}:3:1: ", file.display())), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_invalid_site_value_at_start_exits_78_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("site.yaml"), "shutdown:\n  drain_timeout: whenever\n").expect("write");
    let mut demo = Demo::spawn(&["--port", "0", "--config", dir.path().to_str().expect("utf-8")]);
    let exit = demo.wait_exit();
    let stderr = demo.stderr();
    assert_eq!(exit.code(), Some(78), "{stderr}");
    assert!(stderr.contains("site.shutdown.drain_timeout"), "{stderr}");
}

#[test]
fn a_port_in_use_exits_69_with_a_clear_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let mut demo = Demo::spawn(&["--port", &port]);
    let exit = demo.wait_exit();
    let stderr = demo.stderr();
    assert_eq!(exit.code(), Some(69), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}: ")),
        "{stderr}"
    );
    let last = demo.wait_for_line("stopped micro-demo");
    assert!(last.ends_with("exit 69"), "{last}");
}

#[test]
fn a_second_sigterm_while_draining_exits_143_at_once() {
    let mut demo = Demo::start(&[]);
    let url = demo.url("/sleep/60000");
    let request = thread::spawn(move || std::panic::catch_unwind(|| support::get(&url)));
    demo.wait_for_line("sleeping 60000 ms");
    demo.signal(Signal::SIGTERM);
    demo.wait_for_line("stopping micro-demo (SIGTERM)");
    demo.signal(Signal::SIGTERM);
    let exit = demo.wait_exit();
    let stderr = demo.stderr();
    assert_eq!(exit.code(), Some(143), "{stderr}");
    assert!(
        stderr.contains("second SIGTERM while stopping: cutting the drain phase short"),
        "{stderr}"
    );
    let _ = request.join();
}

#[test]
fn a_body_over_the_limit_is_answered_413() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("site.yaml"), "http:\n  body_limit: 1KiB\n").expect("write");
    let demo = Demo::start(&["--config", dir.path().to_str().expect("utf-8")]);
    let agent = ureq::AgentBuilder::new().timeout(support::DEADLINE).build();
    let small = agent
        .post(&demo.url("/echo"))
        .send_bytes(&[b'x'; 1024])
        .expect("accepted");
    assert_eq!(small.into_string().expect("text"), "1024 bytes\n");
    match agent.post(&demo.url("/echo")).send_bytes(&[b'x'; 1025]) {
        Err(ureq::Error::Status(code, _)) => assert_eq!(code, 413),
        other => panic!("expected 413, got {other:?}"),
    }
}

#[test]
fn a_body_limit_above_axums_own_2_mib_lets_larger_bodies_through() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("site.yaml"), "http:\n  body_limit: 4MiB\n").expect("write");
    let demo = Demo::start(&["--config", dir.path().to_str().expect("utf-8")]);
    let agent = ureq::AgentBuilder::new().timeout(support::DEADLINE).build();
    let three_mib = vec![b'x'; 3 * 1024 * 1024];
    let answer = agent.post(&demo.url("/echo")).send_bytes(&three_mib).expect("accepted");
    assert_eq!(
        answer.into_string().expect("text"),
        format!("{} bytes\n", three_mib.len())
    );
    // Over it: refused from the announced length, before the body is read.
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(demo.addr.expect("listening")).expect("connect");
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 4194305\r\nconnection: close\r\n\r\n")
        .expect("write");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[test]
fn a_request_past_its_timeout_is_answered_503() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("site.yaml"), "http:\n  request_timeout: 100ms\n").expect("write");
    let demo = Demo::start(&["--config", dir.path().to_str().expect("utf-8")]);
    assert_eq!(demo.get("/sleep/5000").0, 503);
    assert_eq!(demo.get("/sleep/1").0, 200);
}

#[test]
fn debug_config_shows_the_config_in_force_with_secrets_redacted_in_debug_mode_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("demo.yaml"), "greeting: hi\ndb_password: hunter2\n").expect("write");
    let path = dir.path().to_str().expect("utf-8");
    let debug = Demo::start(&["--config", path]);
    let (status, body) = debug.get("/debug/config");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("greeting: hi") && body.contains("db_password: <redacted>"),
        "{body}"
    );
    assert!(!body.contains("hunter2"), "{body}");

    let (status, body) = debug.get("/debug/lifecycle");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["phase"], "running");
    let phases: Vec<&str> = json["history"]
        .as_array()
        .expect("a history")
        .iter()
        .filter_map(|step| step["phase"].as_str())
        .collect();
    assert_eq!(phases, ["config", "logging", "init", "http"], "{body}");

    let production = Demo::start(&["--config", path, "--production"]);
    assert_eq!(production.get("/debug/config").0, 404);
    assert_eq!(production.get("/debug/lifecycle").0, 404);
}

#[test]
fn a_drain_past_half_its_bound_says_what_it_waits_for_then_cuts_and_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("site.yaml"), "shutdown:\n  drain_timeout: 400ms\n").expect("write");
    let mut demo = Demo::start(&["--config", dir.path().to_str().expect("utf-8")]);
    let url = demo.url("/sleep/60000");
    let request = thread::spawn(move || std::panic::catch_unwind(|| support::get(&url)));
    demo.wait_for_line("sleeping 60000 ms");
    demo.signal(Signal::SIGTERM);
    let waiting = demo.wait_for_line("still waiting after");
    assert!(
        waiting.contains("200.0ms of 400.0ms: the drain: 1 requests in flight"),
        "{waiting}"
    );
    assert_eq!(demo.wait_exit().code(), Some(0));
    let stderr = demo.stderr();
    assert!(
        stderr.contains("1 requests in flight, 0 completed, 1 cut off (1 connections)"),
        "{stderr}"
    );
    let _ = request.join();
}

#[test]
fn sigterm_during_a_slow_init_callback_stops_cleanly_and_exits_0() {
    let mut demo = Demo::spawn(&["--port", "0", "--init-delay", "60s"]);
    demo.wait_for_line("demo init callback: taking 1m first");
    demo.signal(Signal::SIGTERM);
    let exit = demo.wait_exit();
    let stderr = demo.stderr();
    assert_eq!(exit.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stopping micro-demo (SIGTERM)"), "{stderr}");
    assert!(!stderr.contains("listening on"), "it never served: {stderr}");
    assert!(
        !stderr.contains("demo finish callback"),
        "finish callbacks are for a service that ran: {stderr}"
    );
}
