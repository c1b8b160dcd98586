//! The service under load from 64 keep-alive connections: what a deploy
//! and a config push do to the requests in flight. Nothing may be lost:
//! every request the server read is answered in full with a 2xx.

use crate::support;

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::load::{Bodies, Load, ids_in};
use support::{Demo, agent, config_dir, poll};

const CONNECTIONS: usize = 64;

#[test]
fn sigterm_under_load_answers_every_request_the_server_read() {
    let budget = Duration::from_secs(10);
    // Every request's start and finish logged: micro's DEBUG events inside
    // its request span, which carries the request id.
    let mut demo = Demo::new()
        .args(["--production"])
        .env("RUST_LOG", "info,micro::request=debug")
        .env("MICRO__SITE__SHUTDOWN__TOTAL", "10s")
        // The load never stops (no balancer takes the instance out): the
        // pre-drain serves it for its whole bound.
        .env("MICRO__SITE__SHUTDOWN__PRE_DRAIN_MAX", "1s")
        .start();
    let load = Load::start(
        demo.addr.expect("listening"),
        CONNECTIONS,
        "/sleep/10",
        &Bodies::exactly("slept 10 ms\n"),
    );
    poll("2000 requests sent under load", || (load.sent() >= 2000).then_some(()));
    // The log is the record of what the server read: it must be whole.
    let dropped = demo.metric("micro_log_lines_dropped_total");
    assert_eq!(
        dropped, 0.0,
        "log lines dropped: the log cannot say what the server read"
    );

    let sigterm = Instant::now();
    demo.signal(Signal::SIGTERM);
    let status = demo.wait_exit();
    let took = sigterm.elapsed();
    let tally = load.finish();

    assert!(status.success(), "exit {status:?}; stderr:\n{}", demo.stderr());
    assert!(
        took < budget,
        "SIGTERM → exit took {took:?}, over the {budget:?} budget"
    );
    eprintln!(
        "DEBUG {:?}",
        demo.lines()
            .iter()
            .filter(|l| l.contains("pre-drain") || l.contains("drain") || l.contains("stopping"))
            .collect::<Vec<_>>()
    );
    tally.assert_none_cut_or_wrong("under SIGTERM");
    // From unready on, each answer closed its connection: no client sent a
    // request on a kept-alive connection the server then closed unanswered.
    // Once the listener closed, each client is refused when it reconnects
    // (or, connected just as it closed, reset unread), and stops.
    assert!(
        tally.unanswered.is_empty() && tally.refused + tally.reset_new.len() <= CONNECTIONS,
        "{}",
        tally.summary()
    );
    let pre_drain = demo.wait_for_line("pre-drain: served ");
    assert!(
        pre_drain.contains("until its bound of 1s (site.shutdown.pre_drain_max)"),
        "{pre_drain}"
    );

    let lines = demo.lines();
    let started = ids_in(&lines, "started processing request");
    let finished = ids_in(&lines, "finished processing request");
    let unfinished: Vec<_> = started.difference(&finished).collect();
    assert!(unfinished.is_empty(), "read but never answered: {unfinished:?}");
    let read_then_dropped: Vec<_> = (tally.unanswered.iter().chain(&tally.reset_new))
        .filter(|id| started.contains(*id))
        .collect();
    assert!(
        read_then_dropped.is_empty(),
        "the server read these, the client saw their connection close unanswered: {read_then_dropped:?}"
    );
    let answered_unlogged: Vec<_> = tally.answered_ids.difference(&finished).collect();
    let logged_unanswered: Vec<_> = finished.difference(&tally.answered_ids).collect();
    assert!(
        answered_unlogged.is_empty() && logged_unanswered.is_empty(),
        "answered but not logged as finished: {answered_unlogged:?}; \
         logged as finished but no answer seen: {logged_unanswered:?}"
    );
    assert!(tally.answered() >= 2000, "{}", tally.summary());
    let drained = demo.wait_for_line("drained in");
    assert!(drained.contains(" 0 cut off"), "{drained}");
    eprintln!(
        "SIGTERM under load: {} answered 2xx, {} unanswered on kept-alive connections, {} new connections reset unread, {} refused, exit in {took:?}; {drained}",
        tally.answered(),
        tally.unanswered.len(),
        tally.reset_new.len(),
        tally.refused
    );
}

#[test]
fn a_thousand_reloads_half_invalid_under_load_lose_no_request() {
    let dir = config_dir(&[
        ("site.yaml", "admin:\n  enabled: true\n"),
        ("demo.yaml", "greeting: hello 0\n"),
    ]);
    let demo_yaml = dir.path().join("demo.yaml");
    let token = "0123456789abcdef-not-a-real-secret";
    let mut demo = Demo::new()
        .args(["--production"])
        .config(dir.path())
        .env("MICRO__SITE__ADMIN__TOKEN", token)
        .start();
    // Each client sees the greeting's number never go back, and never the
    // demo's built-in "hello".
    let load = Load::start(demo.addr.expect("listening"), 16, "/hello", &Bodies::numbered("hello "));

    let agent = agent();
    let reload = || match agent
        .post(&demo.url("/admin/reload"))
        .set("authorization", &format!("Bearer {token}"))
        .call()
    {
        Ok(response) => (response.status(), response.into_string().expect("text")),
        Err(ureq::Error::Status(code, response)) => (code, response.into_string().expect("text")),
        Err(err) => panic!("POST /admin/reload: {err}"),
    };
    // Invalid two ways: not YAML, and YAML the demo's schema refuses.
    let invalid = ["greeting: [unclosed\n", "greeting: {not: text}\n"];
    let (mut valid, mut rejected) = (0_u64, 0_usize);
    for i in 0..1000 {
        if i % 2 == 0 {
            valid += 1;
            std::fs::write(&demo_yaml, format!("greeting: hello {valid}\n")).expect("write");
            let (status, body) = reload();
            assert_eq!(status, 200, "valid reload {i}: {body}");
            let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            assert_eq!(
                body["generation"],
                valid + 1,
                "generation after {valid} valid reloads: {body}"
            );
        } else {
            rejected += 1;
            std::fs::write(&demo_yaml, invalid[(i / 2) % 2]).expect("write");
            let (status, body) = reload();
            assert_eq!(status, 422, "invalid reload {i}: {body}");
            assert!(names_line_and_column(&body), "the reason names file:line:col: {body}");
        }
    }
    assert_eq!(
        demo.get("/hello"),
        (200, format!("hello {valid}")),
        "the last valid config is served"
    );
    let sent = load.sent();
    let tally = load.finish();
    assert!(demo.stop().success(), "{}", demo.stderr());

    tally.assert_nothing_lost("under reloads");
    assert!(
        tally.answered() + 16 >= sent,
        "{} answered of {sent} sent",
        tally.answered()
    );
    let lines = demo.lines();
    let logged_rejections = lines
        .iter()
        .filter(|l| l.contains("reload rejected") && names_line_and_column(l))
        .count();
    assert_eq!(
        logged_rejections, rejected,
        "every invalid reload logged with its reason"
    );
    eprintln!(
        "1000 reloads under load: {} answers, all 2xx; {valid} applied, {rejected} rejected and logged",
        tally.answered()
    );
}

/// Whether `text` names `demo.yaml:LINE:COLUMN`.
fn names_line_and_column(text: &str) -> bool {
    text.split("demo.yaml:").skip(1).any(|rest| {
        let mut parts = rest.splitn(3, ':');
        let number = |part: Option<&str>| part.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        number(parts.next()) && number(parts.next())
    })
}
