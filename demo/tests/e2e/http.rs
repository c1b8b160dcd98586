//! The HTTP layers micro puts around the service's routes, from outside:
//! request ids, panics, and switching layers off.

use crate::support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use support::{DEADLINE, Demo, Running, agent, config_dir, status};

/// GET `/hello` with an optional request id; the status and the id answered.
fn get_with_id(demo: &Running, id: Option<&str>) -> (u16, Option<String>) {
    let mut request = agent().get(&demo.url("/hello"));
    if let Some(id) = id {
        request = request.set("x-request-id", id);
    }
    let response = request.call().expect("answered");
    (response.status(), response.header("x-request-id").map(str::to_owned))
}

#[test]
fn a_request_id_is_kept_when_sane_generated_otherwise_and_echoed() {
    let demo = Demo::new().start();
    assert_eq!(
        get_with_id(&demo, Some("abc-123.x:y")),
        (200, Some("abc-123.x:y".into()))
    );

    // Generated: the process's random prefix, then a counter.
    let generated = |id: &str| {
        id.len() == 33 && id.as_bytes()[16] == b'-' && id.bytes().filter(|b| *b != b'-').all(|b| b.is_ascii_hexdigit())
    };
    let (_, first) = get_with_id(&demo, None);
    let first = first.expect("an id is generated");
    assert!(generated(&first), "{first}");
    let (_, second) = get_with_id(&demo, None);
    let second = second.expect("an id is generated");
    assert!(generated(&second) && second != first, "{second}");
    assert_eq!(first[..16], second[..16], "one prefix per process");

    for insane in ["has space", "x".repeat(129).as_str(), "quote\"d"] {
        let (_, answered) = get_with_id(&demo, Some(insane));
        let answered = answered.expect("an id");
        assert_ne!(answered, insane);
        assert!(generated(&answered), "replaced by a generated id: {answered}");
    }
}

#[test]
fn a_panicking_handler_answers_500_logs_through_tracing_and_the_process_lives() {
    let mut demo = Demo::new().args(["--production"]).start();
    assert_eq!(demo.get("/panic").0, 500);
    assert_eq!(demo.get("/hello"), (200, "hello".into()), "still serving");
    assert!(demo.is_alive());
    let line = demo.wait_for_line("panicked: the demo's /panic route panicked, as asked");
    let json: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line, not plain text");
    assert_eq!(json["service"], "micro-demo");
    assert!(
        json["location"].as_str().is_some_and(|l| l.contains("main.rs")),
        "{line}"
    );
}

#[test]
fn every_layer_switched_off_in_config_is_gone() {
    let dir = config_dir(&[(
        "site.yaml",
        "http:\n  request_id: false\n  trace: false\n  catch_panic: false\n  metrics: false\n  \
         timeout: false\n  request_timeout: 100ms\n  limit_body: false\n  body_limit: 1KiB\n  \
         header_timeout: false\n  header_read_timeout: 500ms\n\
         logging:\n  level: info,micro::request=debug\n",
    )]);
    let mut demo = Demo::new().config(dir.path()).start();

    // request_id: none echoed, none generated.
    assert_eq!(
        get_with_id(&demo, Some("layers-off")),
        (200, None),
        "no request id without its layer"
    );
    // timeout: a request past request_timeout runs to its end.
    assert_eq!(
        demo.get("/sleep/300"),
        (200, "slept 300 ms\n".into()),
        "no 503 without the timeout"
    );
    // limit_body: a body over body_limit is read (axum's own 2 MB stays).
    let body = agent()
        .post(&demo.url("/echo"))
        .send_bytes(&[b'x'; 4096])
        .expect("no 413 without the limit");
    assert_eq!(body.into_string().expect("text"), "4096 bytes\n");
    // catch_panic: the panicking handler's connection closes unanswered.
    match agent().get(&demo.url("/panic")).call() {
        Err(ureq::Error::Transport(_)) => {}
        other => panic!("without catch_panic a panic answers nothing, got {other:?}"),
    }
    assert!(demo.is_alive(), "the process outlives the panic");
    // header_timeout: a keep-alive connection's second request may take
    // longer than header_read_timeout to send its headers.
    let mut stream = TcpStream::connect(demo.addr.expect("listening")).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nhost: a\r\n\r\n")
        .expect("first request");
    let mut answer = [0_u8; 512];
    let n = stream.read(&mut answer).expect("first answer");
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
    stream.write_all(b"GET /hello HTTP/1.1\r\n").expect("half a request");
    std::thread::sleep(Duration::from_secs(1)); // the slow client, past the 500 ms
    stream.write_all(b"host: a\r\n\r\n").expect("the rest of it");
    let n = stream.read(&mut answer).expect("second answer");
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "the second request's headers were not bounded: {}",
        String::from_utf8_lossy(&answer[..n])
    );
    // metrics: no request series; the service's own stay.
    let (_, metrics) = demo.get("/metrics");
    assert!(
        !metrics.contains("http_requests_total") && !metrics.contains("http_request_duration_seconds"),
        "{metrics}"
    );
    assert!(metrics.contains("micro_build_info"), "{metrics}");
    // trace: no request span, although micro::request is at DEBUG.
    assert!(demo.stop().success(), "{}", demo.stderr());
    assert!(demo.lines().iter().any(|line| line.contains("sleeping 300 ms")));
    demo.assert_never_logged("processing request", "no request span without trace");
}

#[test]
fn admin_reload_is_absent_by_default_and_needs_the_token_when_enabled() {
    let demo = Demo::new().start();
    assert_eq!(status(agent().post(&demo.url("/admin/reload")).call()), 404);

    let dir = config_dir(&[
        ("site.yaml", "admin:\n  enabled: true\n"),
        ("demo.yaml", "greeting: before\n"),
    ]);
    let token = "0123456789abcdef-not-a-real-secret";
    let demo = Demo::new()
        .config(dir.path())
        .env("MICRO__SITE__ADMIN__TOKEN", token)
        .start();
    let url = demo.url("/admin/reload");
    assert_eq!(status(agent().post(&url).call()), 401, "no token");
    assert_eq!(
        status(agent().post(&url).set("authorization", "Bearer wrong").call()),
        401
    );

    std::fs::write(dir.path().join("demo.yaml"), "greeting: after\n").expect("write");
    let response = agent()
        .post(&url)
        .set("authorization", &format!("Bearer {token}"))
        .call()
        .expect("authorized");
    let body: serde_json::Value = serde_json::from_str(&response.into_string().expect("text")).expect("JSON");
    assert_eq!(body["generation"], 2, "{body}");
    assert_eq!(demo.get("/hello"), (200, "after".into()));
    let (_, dump) = demo.get("/debug/config");
    assert!(dump.contains("token: <redacted>") && !dump.contains(token), "{dump}");
}

#[test]
fn admin_routes_on_their_own_listener_are_gone_from_the_service_port() {
    let dir = config_dir(&[("site.yaml", "admin:\n  enabled: true\n  listen: 127.0.0.1:0\n")]);
    let token = "0123456789abcdef-not-a-real-secret";
    let demo = Demo::new()
        .config(dir.path())
        .args(["--production"])
        .env("MICRO__SITE__ADMIN__TOKEN", token)
        .start();
    let admin = demo.admin_addr(1);
    let bearer = format!("Bearer {token}");
    let on_service = demo.url("/admin/reload");
    assert_eq!(
        status(agent().post(&on_service).set("authorization", &bearer).call()),
        404
    );

    let on_admin = format!("http://{admin}/admin/reload");
    assert_eq!(status(agent().post(&on_admin).call()), 401, "no token");
    assert_eq!(
        status(agent().post(&on_admin).set("authorization", &bearer).call()),
        200
    );
    assert_eq!(
        status(agent().get(&format!("http://{admin}/hello")).call()),
        404,
        "only admin routes"
    );
}

#[test]
fn with_request_spans_asked_for_a_handler_log_line_carries_the_request_id() {
    let demo = Demo::new()
        .args(["--production"])
        .env("MICRO__SITE__LOGGING__LEVEL", "info,micro::request=debug")
        .start();
    let response = agent()
        .get(&demo.url("/sleep/1"))
        .set("x-request-id", "order-7f3a")
        .call()
        .expect("answered");
    assert_eq!(response.header("x-request-id"), Some("order-7f3a"));

    let line = demo.wait_for_line("sleeping 1 ms");
    let event: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(event["service"], "micro-demo", "{line}");
    assert!(event["version"].as_str().is_some_and(|v| !v.is_empty()), "{line}");
    assert_eq!(event["span"]["request_id"], "order-7f3a", "{line}");
    assert_eq!(event["span"]["path"], "/sleep/1", "{line}");
}

#[test]
fn at_the_default_level_request_spans_are_not_logged() {
    let mut demo = Demo::new().args(["--production"]).start();
    let response = agent()
        .get(&demo.url("/sleep/1"))
        .set("x-request-id", "order-7f3a")
        .call()
        .expect("answered");
    assert_eq!(response.status(), 200);
    demo.wait_for_line("sleeping 1 ms");
    assert!(demo.stop().success(), "{}", demo.stderr());
    demo.assert_never_logged("order-7f3a", "the request id is in no line at the default level");
    demo.assert_never_logged("processing request", "no request span at the default level");
}

#[test]
fn a_request_past_the_timeout_is_answered_503_and_counted_as_such() {
    let demo = Demo::new()
        .args(["--production"])
        .env("MICRO__SITE__HTTP__REQUEST_TIMEOUT", "200ms")
        .start();
    assert_eq!(status(agent().get(&demo.url("/sleep/5000")).call()), 503);
    assert_eq!(demo.get("/sleep/1").0, 200, "a request within the timeout is served");
    assert_eq!(demo.get("/panic").0, 500);

    let (_, metrics) = demo.get("/metrics");
    assert!(
        metrics.contains(r#"http_requests_total{method="GET",route="/sleep/{ms}",status="503"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"http_requests_total{method="GET",route="/panic",status="500"} 1"#),
        "{metrics}"
    );
}
