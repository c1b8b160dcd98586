//! `/metrics` on the real binary: Prometheus text with the series an
//! operator's dashboards read.

use crate::support;

use std::collections::HashMap;

use nix::sys::signal::Signal;
use support::{Demo, Running};

/// One sample: metric name, labels, value.
#[derive(Debug)]
pub(crate) struct Sample {
    name: String,
    labels: HashMap<String, String>,
    pub(crate) value: f64,
}

/// Parses the Prometheus text exposition format strictly enough that a
/// malformed line fails the test: `# HELP`/`# TYPE` comments, then
/// `name{label="value",...} number` or `name number`.
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            let kind = words.next();
            assert!(matches!(kind, Some("HELP" | "TYPE")), "line {}: {line}", n + 1);
            if kind == Some("TYPE") {
                let kind = words.nth(1);
                assert!(
                    matches!(kind, Some("counter" | "gauge" | "histogram" | "summary" | "untyped")),
                    "line {}: {line}",
                    n + 1
                );
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("line {}: {line}", n + 1));
        let value: f64 = value.parse().unwrap_or_else(|e| panic!("line {}: {line}: {e}", n + 1));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("line {}: {line}", n + 1));
                (name, labels_of(body, line))
            }
            None => (series, HashMap::new()),
        };
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "line {}: bad metric name in {line}",
            n + 1
        );
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    samples
}

fn labels_of(body: &str, line: &str) -> HashMap<String, String> {
    let mut labels = HashMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("labels in {line}"));
        let end = after.find('"').unwrap_or_else(|| panic!("unclosed label in {line}"));
        labels.insert(key.to_owned(), after[..end].to_owned());
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

pub(crate) fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    samples.iter().find(|sample| {
        sample.name == name
            && labels
                .iter()
                .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(*value))
    })
}

pub(crate) fn scrape(demo: &Running) -> Vec<Sample> {
    let (status, body) = demo.get("/metrics");
    assert_eq!(status, 200, "{body}");
    parse(&body)
}

#[test]
fn metrics_parse_as_prometheus_text_and_carry_the_series_operators_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("demo.yaml");
    std::fs::write(&file, "greeting: hi\n").expect("write");
    let demo = Demo::new().args(["--production"]).config(dir.path()).start();
    for _ in 0..3 {
        assert_eq!(demo.get("/hello").0, 200);
    }
    assert_eq!(demo.get("/no/such/route/42").0, 404);
    assert_eq!(demo.get("/sleep/1").0, 200);

    // One valid and one rejected reload.
    std::fs::write(&file, "greeting: hey\n").expect("write");
    demo.signal(Signal::SIGHUP);
    demo.wait_for_line("config reloaded");
    std::fs::write(&file, "greeting: [unclosed\n").expect("write");
    demo.signal(Signal::SIGHUP);
    demo.wait_for_line("reload rejected");

    let samples = scrape(&demo);
    let hello = [("method", "GET"), ("route", "/hello"), ("status", "200")];
    let requests = find(&samples, "http_requests_total", &hello).expect("requests by route and status");
    assert_eq!(requests.value, 3.0);
    let count = find(&samples, "http_request_duration_seconds_count", &hello).expect("latency histogram");
    assert_eq!(count.value, 3.0);
    assert!(
        find(
            &samples,
            "http_request_duration_seconds_bucket",
            &[("route", "/hello"), ("le", "+Inf")]
        )
        .is_some()
    );
    // The route label is the pattern, not what the client sent.
    assert!(
        find(
            &samples,
            "http_requests_total",
            &[("route", "/sleep/{ms}"), ("status", "200")]
        )
        .is_some()
    );
    assert!(
        find(
            &samples,
            "http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        )
        .is_some()
    );
    assert!(!samples.iter().any(|s| s.labels.values().any(|v| v.contains("no/such"))));

    // The scrape itself is in flight.
    assert!(find(&samples, "http_requests_in_flight", &[]).expect("in flight").value >= 1.0);
    assert_eq!(
        find(&samples, "micro_config_generation", &[])
            .expect("generation")
            .value,
        2.0
    );
    let ok = find(&samples, "micro_config_reloads_total", &[("outcome", "ok")]).expect("reloads ok");
    assert_eq!(ok.value, 1.0);
    let rejected = find(&samples, "micro_config_reloads_total", &[("outcome", "rejected")]).expect("reloads rejected");
    assert_eq!(rejected.value, 1.0);
    for phase in ["config", "logging", "watch", "init", "http"] {
        assert!(
            find(
                &samples,
                "micro_phase_duration_seconds",
                &[("stage", "startup"), ("phase", phase)]
            )
            .is_some(),
            "startup phase {phase}"
        );
    }
    let build = find(&samples, "micro_build_info", &[("service", "micro-demo")]).expect("build info");
    assert_eq!(build.value, 1.0);
    assert!(!build.labels["version"].is_empty());
    assert!(find(&samples, "micro_uptime_seconds", &[]).is_some());
}
