//! What a service run leaves of the process it runs in: the signals' default
//! actions after the run, a panic hook or a subscriber the program installed
//! first, and a test assertion that fails while a service runs.
//!
//! Each case changes something process-wide, so it runs in a process of its
//! own: this test binary re-executed on one `#[ignore]`d test (`--exact NAME
//! --ignored`) with `MICRO_TEST_CHILD=NAME`. Run by hand with `--ignored`,
//! the child tests do nothing.

mod logged;
mod reexec;

use std::io::Read as _;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::{Router, routing::get};
use micro::config::{MemoryBackend, PreloadedConfig};
use nix::sys::signal::{Signal, kill};
use reexec::{BOUND, Child, is_child, tell_parent};
async fn boom() -> &'static str {
    panic!("boom in the handler")
}

/// A service answering `/hello` and panicking on `/boom`.
fn service() -> micro::Service {
    let app = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/boom", get(boom));
    micro::Service::builder("citizen", "lives in a process of its own")
        .app(app)
        .build()
}

/// GET `url` with a blocking client off the runtime: the status and body.
async fn fetch(url: String) -> (u16, String) {
    tokio::task::spawn_blocking(move || match ureq::get(&url).call() {
        Ok(response) => (response.status(), response.into_string().expect("a body")),
        Err(ureq::Error::Status(code, response)) => (code, response.into_string().expect("a body")),
        Err(err) => panic!("GET {url}: {err}"),
    })
    .await
    .expect("joined")
}

async fn start(service: &micro::Service) -> (micro::ServiceHandle, tokio::task::JoinHandle<micro::ExitStatus>, String) {
    let handle = service.handle();
    let runner = service.clone();
    let run = tokio::spawn(async move { runner.debug("127.0.0.1", 0).await });
    let addr = handle.wait_running(BOUND).await.expect("serving");
    (handle, run, format!("http://{addr}"))
}

async fn stop(handle: &micro::ServiceHandle, run: tokio::task::JoinHandle<micro::ExitStatus>) -> micro::ExitStatus {
    handle.stop().expect("running");
    tokio::time::timeout(BOUND, run)
        .await
        .expect("stopped in time")
        .expect("joined")
}

#[test]
fn after_a_run_sigterm_sigint_and_sighup_terminate_the_process_as_by_default() {
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        let mut child = Child::start("child_runs_a_service_then_waits_for_a_signal", true);
        child.wait_for_stdout("the run has ended; waiting for a signal");
        kill(child.pid(), signal).expect("signalled");
        let status = child.wait();
        assert_eq!(
            status.signal(),
            Some(signal as i32),
            "{signal} should have terminated it: {status}\n{}",
            child.stderr()
        );
    }
}

#[tokio::test]
#[ignore = "a child of after_a_run_sigterm_sigint_and_sighup_terminate_the_process_as_by_default"]
async fn child_runs_a_service_then_waits_for_a_signal() {
    if !is_child("child_runs_a_service_then_waits_for_a_signal") {
        return;
    }
    let service = service();
    let (handle, run, _) = start(&service).await;
    assert_eq!(stop(&handle, run).await.code(), 0);
    tell_parent("the run has ended; waiting for a signal");
    // Until the parent's signal ends the process (or the parent is gone).
    let _ = std::io::stdin().read(&mut [0; 1]);
}

#[test]
fn a_panic_hook_installed_before_micro_still_runs_after_micro_logged_the_panic() {
    let mut child = Child::start("child_with_its_own_panic_hook_requests_a_panicking_handler", true);
    let status = child.wait();
    let stderr = child.stderr();
    assert!(status.success(), "{status}\n{}\n{stderr}", child.stdout());
    assert!(
        stderr.contains("panicked: boom in the handler"),
        "micro logs the panic through tracing:\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child of a_panic_hook_installed_before_micro_still_runs_after_micro_logged_the_panic"]
async fn child_with_its_own_panic_hook_requests_a_panicking_handler() {
    if !is_child("child_with_its_own_panic_hook_requests_a_panicking_handler") {
        return;
    }
    static RAN: AtomicUsize = AtomicUsize::new(0);
    std::panic::set_hook(Box::new(|_| {
        RAN.fetch_add(1, Ordering::SeqCst);
    }));
    let service = service();
    let (handle, run, url) = start(&service).await;
    assert_eq!(fetch(format!("{url}/boom")).await.0, 500);
    assert_eq!(
        fetch(format!("{url}/hello")).await,
        (200, "hello".into()),
        "still serving"
    );
    assert_eq!(RAN.load(Ordering::SeqCst), 1, "the program's own hook ran once");
    assert_eq!(stop(&handle, run).await.code(), 0);
}

#[test]
fn a_subscriber_installed_before_micro_gets_micros_events_and_keeps_its_own_filter() {
    let mut child = Child::start("child_with_its_own_subscriber_runs_a_service", true);
    let status = child.wait();
    assert!(status.success(), "{status}\n{}\n{}", child.stdout(), child.stderr());
}

/// A subscriber of the program's own: keeps every event's message.
#[derive(Clone, Default)]
struct Kept(Arc<Mutex<Vec<String>>>);

impl Kept {
    /// Waits until an event kept so far contains `needle`.
    async fn wait_for(&self, needle: &str, why: &str) {
        let deadline = tokio::time::Instant::now() + BOUND;
        while !self.0.lock().expect("kept").iter().any(|m| m.contains(needle)) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {needle:?} within {BOUND:?}: {why}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Kept {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let line = format!("{} {}", event.metadata().level(), logged::message(event));
        self.0.lock().expect("kept").push(line);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child of a_subscriber_installed_before_micro_gets_micros_events_and_keeps_its_own_filter"]
async fn child_with_its_own_subscriber_runs_a_service() {
    use tracing_subscriber::layer::SubscriberExt as _;
    if !is_child("child_with_its_own_subscriber_runs_a_service") {
        return;
    }
    let kept = Kept::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(kept.clone())).expect("the first");

    let site = MemoryBackend::new();
    site.set_yaml("site", "logging: {level: error}").expect("yaml");
    let service = micro::Service::builder("citizen", "logs to the program's subscriber")
        .config(PreloadedConfig::new(["site"]).backend(site.clone()))
        .build();
    let (handle, run, _) = start(&service).await;
    kept.wait_for("WARN another tracing subscriber is installed", "told why")
        .await;
    kept.wait_for("INFO started citizen", "micro's level (error) does not filter it")
        .await;

    site.set_yaml("site", "logging: {level: 'off'}").expect("yaml");
    handle.reload().await.expect("reloaded");
    tracing::info!("after the reload");
    kept.wait_for("INFO after the reload", "nor does a reloaded one").await;
    assert_eq!(stop(&handle, run).await.code(), 0);
    kept.wait_for("INFO stopped citizen", "the stop report").await;
}

#[test]
fn a_failing_assertion_while_a_service_runs_is_reported_by_libtest_with_its_message() {
    let (_, stdout, failure) = Child::run_failing("child_fails_an_assertion_while_its_service_runs");
    assert!(
        failure.contains("assertion `left == right` failed: the greeting the test expected"),
        "{stdout}"
    );
    assert!(failure.contains(r#"left: "hello""#), "{stdout}");
    assert!(stdout.contains("test result: FAILED"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child of a_failing_assertion_while_a_service_runs_is_reported_by_libtest_with_its_message"]
async fn child_fails_an_assertion_while_its_service_runs() {
    if !is_child("child_fails_an_assertion_while_its_service_runs") {
        return;
    }
    let service = service();
    let (_handle, _run, url) = start(&service).await;
    let (_, greeting) = fetch(format!("{url}/hello")).await;
    assert_eq!(greeting, "goodbye", "the greeting the test expected");
}

#[cfg(feature = "testing")]
#[test]
fn a_test_services_log_lines_are_captured_with_the_failing_tests_output() {
    let (child, stdout, failure) = Child::run_failing("child_logs_through_a_test_service_then_fails");
    assert!(failure.contains("the test's own line"), "not captured:\n{stdout}");
    assert!(failure.contains("started captured"), "micro's lines too:\n{stdout}");
    assert!(
        !child.stderr().contains("the test's own line"),
        "a captured line is not on stderr:\n{}",
        child.stderr()
    );
}

#[cfg(feature = "testing")]
#[tokio::test]
#[ignore = "a child of a_test_services_log_lines_are_captured_with_the_failing_tests_output"]
async fn child_logs_through_a_test_service_then_fails() {
    if !is_child("child_logs_through_a_test_service_then_fails") {
        return;
    }
    let builder = micro::Service::builder("captured", "logs into the test's output");
    let svc = micro::testing::TestService::start(builder, MemoryBackend::new())
        .await
        .expect("started");
    tracing::info!("the test's own line");
    drop(svc);
    panic!("failing on purpose, so libtest shows the captured output");
}

#[test]
fn a_metrics_recorder_installed_before_micro_gets_micros_series_and_micro_serves_no_metrics() {
    let mut child = Child::start("child_with_its_own_metrics_recorder_runs_a_service", true);
    let status = child.wait();
    assert!(status.success(), "{status}\n{}\n{}", child.stdout(), child.stderr());
    assert!(
        child.stderr().contains("no /metrics: "),
        "micro says why:\n{}",
        child.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child of a_metrics_recorder_installed_before_micro_gets_micros_series_and_micro_serves_no_metrics"]
async fn child_with_its_own_metrics_recorder_runs_a_service() {
    if !is_child("child_with_its_own_metrics_recorder_runs_a_service") {
        return;
    }
    let own = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("the first recorder of the process");

    let site = MemoryBackend::new();
    let service = micro::Service::builder("citizen", "records into the program's recorder")
        .app(Router::new().route("/hello", get(|| async { "hello" })))
        .config(PreloadedConfig::new(["site"]).backend(site.clone()))
        .build();
    let (handle, run, url) = start(&service).await;
    assert_eq!(fetch(format!("{url}/hello")).await, (200, "hello".into()));
    assert_eq!(fetch(format!("{url}/metrics")).await.0, 404, "micro serves no /metrics");
    site.set_yaml("site", "logging: {level: debug}").expect("yaml");
    handle.reload().await.expect("reloaded");

    let text = own.render();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/hello",status="200"} 1"#),
        "micro's request series in the program's recorder:\n{text}"
    );
    assert!(
        text.contains(r#"http_request_duration_seconds_count{method="GET",route="/hello",status="200"} 1"#),
        "and its latencies (not kept by micro):\n{text}"
    );
    assert!(
        text.contains(r#"micro_config_reloads_total{outcome="ok"} 1"#),
        "and its own series:\n{text}"
    );
    assert_eq!(stop(&handle, run).await.code(), 0);
}
