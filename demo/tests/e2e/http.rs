//! The HTTP layers micro puts around the service's routes, from outside:
//! request ids, panics, and switching layers off.

use crate::support;

use support::{DEADLINE, Demo};

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(DEADLINE).build()
}

/// GET `path` with an optional request id; the status and the id answered.
fn get_with_id(demo: &Demo, id: Option<&str>) -> (u16, Option<String>) {
    let mut request = agent().get(&demo.url("/hello"));
    if let Some(id) = id {
        request = request.set("x-request-id", id);
    }
    let response = request.call().expect("answered");
    (response.status(), response.header("x-request-id").map(str::to_owned))
}

#[test]
fn a_request_id_is_kept_when_sane_generated_otherwise_and_echoed() {
    let demo = Demo::start(&[]);
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
    let mut demo = Demo::start(&["--production"]);
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
fn layers_switched_off_in_config_are_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("site.yaml"),
        "http:\n  request_id: false\n  catch_panic: false\n",
    )
    .expect("write");
    let demo = Demo::start(&["--config", dir.path().to_str().expect("utf-8")]);
    assert_eq!(get_with_id(&demo, None), (200, None), "no request id without its layer");
}

#[test]
fn admin_reload_is_absent_by_default_and_needs_the_token_when_enabled() {
    let demo = Demo::start(&[]);
    let status = |result: Result<ureq::Response, ureq::Error>| match result {
        Ok(response) => response.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(status(agent().post(&demo.url("/admin/reload")).call()), 404);

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("site.yaml"), "admin:\n  enabled: true\n").expect("write");
    std::fs::write(dir.path().join("demo.yaml"), "greeting: before\n").expect("write");
    let token = "0123456789abcdef-not-a-real-secret";
    let path = dir.path().to_str().expect("utf-8");
    let mut demo = Demo::spawn_env(
        &["--port", "0", "--config", path],
        &[("MICRO__SITE__ADMIN__TOKEN", token)],
    );
    demo.wait_listening();
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
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("site.yaml"),
        "admin:\n  enabled: true\n  listen: 127.0.0.1:0\n",
    )
    .expect("write");
    let token = "0123456789abcdef-not-a-real-secret";
    let path = dir.path().to_str().expect("utf-8");
    let mut demo = Demo::spawn_env(
        &["--port", "0", "--config", path, "--production"],
        &[("MICRO__SITE__ADMIN__TOKEN", token)],
    );
    demo.wait_listening();
    let line = demo.wait_for_line("admin routes served on ");
    let admin = line
        .rsplit("served on ")
        .next()
        .and_then(|rest| rest.split(' ').next())
        .expect("an address");
    let status = |result: Result<ureq::Response, ureq::Error>| match result {
        Ok(response) => response.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(err) => panic!("{err}"),
    };
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
    let mut demo = Demo::spawn_env(
        &["--port", "0", "--production"],
        &[("MICRO__SITE__LOGGING__LEVEL", "info,micro::request=debug")],
    );
    demo.wait_listening();
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
fn at_the_default_level_request_spans_cost_nothing_and_are_not_logged() {
    let demo = Demo::start(&["--production"]);
    let response = agent()
        .get(&demo.url("/sleep/1"))
        .set("x-request-id", "order-7f3a")
        .call()
        .expect("answered");
    assert_eq!(response.status(), 200);
    let line = demo.wait_for_line("sleeping 1 ms");
    assert!(!line.contains("order-7f3a"), "{line}");
}

#[test]
fn a_request_past_the_timeout_is_answered_503_and_counted_as_such() {
    let mut demo = Demo::spawn_env(
        &["--port", "0", "--production"],
        &[("MICRO__SITE__HTTP__REQUEST_TIMEOUT", "200ms")],
    );
    demo.wait_listening();
    let status = match agent().get(&demo.url("/sleep/5000")).call() {
        Ok(response) => response.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(err) => panic!("the connection must answer, not drop: {err}"),
    };
    assert_eq!(status, 503);
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
