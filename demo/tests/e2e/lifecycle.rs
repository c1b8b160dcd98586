//! The demo binary's life from outside: serve, stop on a signal with a
//! request in flight, exit codes.

use crate::support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{DEADLINE, Demo, config_dir, poll};

#[test]
fn healthcheck_answers_200_with_name_and_version() {
    let demo = Demo::new().start();
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
    let mut demo = Demo::new().dir(dir.path()).spawn();
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
    let mut demo = Demo::new().args(["--production"]).start();
    assert_eq!(demo.get("/hello"), (200, "hello".into()));
    assert_eq!(demo.stop().code(), Some(0), "{}", demo.stderr());
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
    let mut demo = Demo::new().start();
    assert_eq!(demo.stop().code(), Some(0), "{}", demo.stderr());
    let greet = demo.wait_for_line("demo init callback: ready to greet");
    assert!(greet.contains("callback{name=greet}"), "{greet}");
    let goodbye = demo.wait_for_line("demo finish callback: goodbye");
    assert!(goodbye.contains("callback{name=goodbye}"), "{goodbye}");
    demo.assert_never_logged("Actor{", "an actor's span on a line");
}

#[test]
fn the_demo_reports_its_own_build_never_an_empty_version() {
    let demo = Demo::new().start();
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
    let demo = Demo::new().start();
    assert_eq!(demo.get("/health/ready").0, 200);
    assert_eq!(demo.get("/health/live").0, 200);
    assert_eq!(demo.get("/hello"), (200, "hello".into()));
}

fn stop_with_a_request_in_flight(signal: Signal) {
    // No pre-drain: the request is still in flight when the drain begins.
    let mut demo = Demo::new().env("MICRO__SITE__SHUTDOWN__PRE_DRAIN_MAX", "0s").start();
    // In flight until the test sends the rest of its body: the server has
    // read its headers and runs its handler, which waits for the body.
    let mut request = TcpStream::connect(demo.addr.expect("listening")).expect("connect");
    request.set_read_timeout(Some(DEADLINE)).expect("timeout");
    request.set_write_timeout(Some(DEADLINE)).expect("timeout");
    request
        .write_all(b"POST /echo HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\n12345")
        .expect("headers and half the body");
    poll("the request in flight beside the scrape", || {
        (demo.metric("http_requests_in_flight") >= 2.0).then_some(())
    });
    demo.signal(signal);
    demo.wait_for_line(&format!("stopping micro-demo ({})", signal.as_str()));
    request
        .write_all(b"67890")
        .expect("the rest of the body, once stopping");
    let mut answer = String::new();
    let mut buffer = [0_u8; 1024];
    while !answer.ends_with("10 bytes\n") {
        match request.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => answer.push_str(&String::from_utf8_lossy(&buffer[..n])),
            Err(err) => panic!("reading the answer: {err}; so far {answer:?}"),
        }
    }
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("\r\n\r\n10 bytes\n"),
        "{answer:?}; stderr:\n{}",
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
fn a_port_in_use_exits_69_with_a_clear_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let mut demo = Demo::new().port(port.as_str()).spawn();
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

/// A second `signal` while the drain waits on a request: exit `code` at
/// once, the drain cut short.
fn a_second_stop_signal_while_draining_exits_at_once(signal: Signal, code: i32) {
    // No pre-drain: the second signal comes while the drain waits.
    let mut demo = Demo::new().env("MICRO__SITE__SHUTDOWN__PRE_DRAIN_MAX", "0s").start();
    let url = demo.url("/sleep/60000");
    let request = thread::spawn(move || std::panic::catch_unwind(|| support::get(&url)));
    demo.wait_for_line("sleeping 60000 ms");
    demo.signal(signal);
    demo.wait_for_line(&format!("stopping micro-demo ({signal})"));
    // The pre-drain's report comes as the drain begins (a loaded machine
    // may take a while between the two).
    demo.wait_for_line("pre-drain: ");
    let second = Instant::now();
    demo.signal(signal);
    let exit = demo.wait_exit();
    let took = second.elapsed();
    let stderr = demo.stderr();
    assert_eq!(exit.code(), Some(code), "{stderr}");
    // The drain alone may take 20 s (drain_timeout), the request 60 s.
    assert!(
        took < Duration::from_secs(3),
        "the second {signal} → exit took {took:?}"
    );
    assert!(
        stderr.contains(&format!(
            "second {signal} while stopping: cutting the drain phase short"
        )),
        "{stderr}"
    );
    let last = demo.wait_for_line("stopped micro-demo");
    assert!(last.ends_with(&format!("exit {code}")), "{last}");
    let _ = request.join();
}

#[test]
fn a_second_sigterm_while_draining_exits_143_at_once() {
    a_second_stop_signal_while_draining_exits_at_once(Signal::SIGTERM, 143);
}

#[test]
fn a_second_sigint_while_draining_exits_130_at_once() {
    a_second_stop_signal_while_draining_exits_at_once(Signal::SIGINT, 130);
}

#[test]
fn a_body_limit_above_axums_own_2_mib_lets_larger_bodies_through() {
    let dir = config_dir(&[("site.yaml", "http:\n  body_limit: 4MiB\n")]);
    let demo = Demo::new().config(dir.path()).start();
    let three_mib = vec![b'x'; 3 * 1024 * 1024];
    let answer = support::agent()
        .post(&demo.url("/echo"))
        .send_bytes(&three_mib)
        .expect("accepted");
    assert_eq!(
        answer.into_string().expect("text"),
        format!("{} bytes\n", three_mib.len())
    );
    // Over it: refused from the announced length, before the body is read.
    let mut stream = TcpStream::connect(demo.addr.expect("listening")).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    stream.set_write_timeout(Some(DEADLINE)).expect("timeout");
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 4194305\r\nconnection: close\r\n\r\n")
        .expect("write");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[test]
fn debug_config_shows_the_config_in_force_with_secrets_redacted_in_debug_mode_only() {
    let dir = config_dir(&[("demo.yaml", "greeting: hi\ndb_password: hunter2\n")]);
    let debug = Demo::new().config(dir.path()).start();
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
    assert_eq!(phases, ["config", "logging", "watch", "init", "http"], "{body}");

    let production = Demo::new().config(dir.path()).args(["--production"]).start();
    assert_eq!(production.get("/debug/config").0, 404);
    assert_eq!(production.get("/debug/lifecycle").0, 404);
}

#[test]
fn a_drain_past_half_its_bound_says_what_it_waits_for_then_cuts_and_counts() {
    let dir = config_dir(&[("site.yaml", "shutdown:\n  drain_timeout: 400ms\n")]);
    let mut demo = Demo::new().config(dir.path()).start();
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
    let mut demo = Demo::new().args(["--init-delay", "60s"]).spawn();
    demo.wait_for_line("demo init callback: taking 1m first");
    demo.signal(Signal::SIGTERM);
    let exit = demo.wait_exit();
    let stderr = demo.stderr();
    assert_eq!(exit.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stopping micro-demo (SIGTERM)"), "{stderr}");
    demo.assert_never_logged("listening on", "it never served");
    demo.assert_never_logged("demo finish callback", "finish callbacks are for a service that ran");
}

#[test]
fn sighup_while_starting_is_kept_for_once_the_service_runs() {
    let mut demo = Demo::new().args(["--init-delay", "3s"]).spawn();
    demo.wait_for_line("demo init callback: taking 3s first");

    demo.signal(Signal::SIGHUP);
    demo.wait_for_line("SIGHUP while starting: the config is reloaded once the service runs");
    demo.wait_listening();
    demo.wait_for_line("reloading the config for the SIGHUP received while starting");
    demo.wait_for_line("config reload: nothing changed, generation 1 stays in force");

    demo.signal(Signal::SIGTERM);
    assert_eq!(demo.wait_exit().code(), Some(0), "{}", demo.stderr());
}

#[test]
fn the_admin_listener_is_drained_not_aborted() {
    let dir = config_dir(&[("site.yaml", "admin:\n  enabled: true\n  listen: 127.0.0.1:0\n")]);
    let mut demo = Demo::new()
        .config(dir.path())
        .env("MICRO__SITE__ADMIN__TOKEN", "0123456789abcdef-not-a-real-secret")
        .spawn();
    demo.wait_listening();
    demo.wait_for_line("admin routes served on ");

    demo.signal(Signal::SIGTERM);
    assert_eq!(demo.wait_exit().code(), Some(0), "{}", demo.stderr());
    demo.wait_for_line("admin listener drained in ");
}

#[test]
fn an_idle_service_starts_draining_at_once_on_sigterm() {
    let mut demo = Demo::new().start();
    demo.signal(Signal::SIGTERM);
    assert_eq!(demo.wait_exit().code(), Some(0), "{}", demo.stderr());
    let pre_drain = demo.wait_for_line("pre-drain: ");
    assert!(
        pre_drain.contains("served 0 requests in ")
            && pre_drain.ends_with("until none came for 1s (site.shutdown.quiet_period)"),
        "{pre_drain}"
    );
}

#[test]
fn after_sigterm_requests_are_served_closing_their_connections_until_none_comes_for_the_quiet_period() {
    let mut demo = Demo::new().env("MICRO__SITE__SHUTDOWN__QUIET_PERIOD", "600ms").start();
    let agent = support::agent();
    let hello = demo.url("/hello");
    let before = agent.get(&hello).call().expect("served");
    assert_eq!(before.header("connection"), None, "kept alive while running");

    demo.signal(Signal::SIGTERM);
    demo.wait_for_line("stopping micro-demo (SIGTERM)");
    // The balancer still sends for a while: each request is served, and its
    // answer closes the connection; readiness says 503 meanwhile.
    for _ in 0..5 {
        let response = agent.get(&hello).call().expect("served after unready");
        assert_eq!((response.status(), response.header("connection")), (200, Some("close")));
        assert_eq!(support::status(agent.get(&demo.url("/health/ready")).call()), 503);
    }
    // Then nothing more: the drain begins a quiet period later.
    assert_eq!(demo.wait_exit().code(), Some(0), "{}", demo.stderr());
    let pre_drain = demo.wait_for_line("pre-drain: ");
    assert!(
        pre_drain.contains("served 5 requests in ")
            && pre_drain.ends_with("until none came for 600.0ms (site.shutdown.quiet_period)"),
        "probes are not traffic: {pre_drain}"
    );
}
