//! `micro::testing`: a service run in process by its own integration tests,
//! several tests of this binary at once.

#![cfg(feature = "testing")]

mod reexec;

use std::io::Read as _;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use axum::{Router, routing::get};
use micro::config::{FileBackend, MemoryBackend, PreloadedConfig};
use micro::testing::{TestError, TestService};
use micro::{ServiceBuilder, StopCause};
use nix::sys::signal::{Signal, kill};
use reexec::{Child, is_child, tell_parent};

/// A service as its `main` builds it: its own configuration from files.
fn greeter(files: &std::path::Path) -> ServiceBuilder {
    let read = |key: &'static str| async move {
        micro::get_config()
            .get_path::<String>(&format!("greeter.{key}"))
            .unwrap_or_else(|err| err.to_string())
    };
    let app = Router::new()
        .route("/hello", get(move || read("greeting")))
        .route("/bye", get(move || read("farewell")));
    micro::Service::builder("greeter", "greets")
        .app(app)
        .config(PreloadedConfig::new(["site", "greeter"]).backend(FileBackend::new(files)))
}

/// A directory holding the service's own `greeter.yaml`.
fn own_files() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("greeter.yaml"), "greeting: hello\nfarewell: bye\n").expect("written");
    dir
}

fn overrides(yaml: &str) -> MemoryBackend {
    MemoryBackend::labelled("test")
        .with_yaml("greeter", yaml)
        .expect("yaml")
}

async fn fetch(url: String) -> (u16, String) {
    tokio::task::spawn_blocking(move || match ureq::get(&url).call() {
        Ok(response) => (response.status(), response.into_string().expect("a body")),
        Err(ureq::Error::Status(code, response)) => (code, response.into_string().expect("a body")),
        Err(err) => panic!("GET {url}: {err}"),
    })
    .await
    .expect("joined")
}

#[tokio::test]
async fn overrides_in_memory_win_over_the_services_own_files_and_the_rest_stays() {
    let files = own_files();
    let svc = TestService::start(greeter(files.path()), overrides("greeting: hi"))
        .await
        .expect("started");
    assert!(svc.addr().ip().is_loopback());
    assert_eq!(fetch(svc.url("/hello")).await, (200, "hi".into()), "the override");
    assert_eq!(fetch(svc.url("/bye")).await, (200, "bye".into()), "the file's");
    assert_eq!(
        fetch(svc.url("/debug/config")).await.0,
        200,
        "debug mode: the debug routes are served"
    );
    assert_eq!(svc.stop().await.expect("stopped").code(), 0);
}

#[tokio::test]
async fn changed_overrides_are_served_after_a_reload_that_reports_what_changed() {
    let files = own_files();
    let overrides = overrides("greeting: hi");
    let svc = TestService::start(greeter(files.path()), overrides.clone())
        .await
        .expect("started");

    overrides.set_yaml("greeter", "greeting: hey").expect("yaml");
    let report = svc.reload().await.expect("accepted");
    assert_eq!(report.changed, ["greeter.greeting"]);
    assert_eq!(fetch(svc.url("/hello")).await, (200, "hey".into()));

    overrides.set_yaml("greeter", "greeting: [hey").expect_err("not YAML");
    overrides.set_yaml("site", "http: {port: eighty}").expect("YAML");
    let rejected = svc.reload().await.expect_err("not a port");
    assert!(rejected.to_string().contains("site.http.port"), "{rejected}");
    assert_eq!(
        fetch(svc.url("/hello")).await,
        (200, "hey".into()),
        "the last good one stays"
    );
    assert_eq!(svc.stop().await.expect("stopped").code(), 0);
}

#[tokio::test]
async fn stop_returns_the_exit_status_with_the_shutdown_report() {
    let files = own_files();
    let svc = TestService::start(greeter(files.path()), MemoryBackend::new())
        .await
        .expect("started");
    let exit = svc.stop().await.expect("stopped");
    assert!(exit.is_success(), "{}", exit.reason);
    assert_eq!(exit.report.cause, Some(StopCause::Handle));
    let phases: Vec<&str> = exit.report.phases.iter().map(|(phase, _)| phase.as_str()).collect();
    assert_eq!(phases, ["unready", "drain", "finish", "flush", "stop"]);
    assert_eq!(exit.report.drain.expect("drained").cut, 0);
}

#[tokio::test]
async fn an_upgrade_of_a_test_service_is_refused_for_it_has_no_process_of_its_own() {
    let files = own_files();
    let svc = TestService::start(greeter(files.path()), MemoryBackend::new())
        .await
        .expect("started");
    let err = svc.handle().upgrade().await.expect_err("refused");
    assert!(matches!(err, micro::upgrade::UpgradeError::Unsupported), "{err}");
    let last = svc.handle().last_upgrade();
    assert_eq!(last, None, "a refusal is no upgrade attempted");
    assert_eq!(fetch(svc.url("/hello")).await.0, 200, "serving on");
    assert_eq!(svc.stop().await.expect("stopped").code(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_services_started_at_once_queue_for_the_process_and_all_run() {
    let files = own_files();
    let starts = (0..4).map(|i| {
        let builder = greeter(files.path());
        tokio::spawn(async move {
            let svc = TestService::start(builder, overrides(&format!("greeting: hi {i}")))
                .await
                .expect("started in turn");
            assert_eq!(fetch(svc.url("/hello")).await, (200, format!("hi {i}")));
            svc.stop().await.expect("stopped").code()
        })
    });
    for start in starts.collect::<Vec<_>>() {
        assert_eq!(start.await.expect("joined"), 0);
    }
}

#[tokio::test]
async fn a_dropped_test_service_stops_and_the_next_one_starts_after_it() {
    let files = own_files();
    let first = TestService::start(greeter(files.path()), overrides("greeting: first"))
        .await
        .expect("started");
    let handle = first.handle();
    drop(first);
    let second = TestService::start(greeter(files.path()), overrides("greeting: second"))
        .await
        .expect("started once the first has stopped");
    assert_eq!(handle.status().phase, micro::Phase::Stopped);
    assert_eq!(fetch(second.url("/hello")).await, (200, "second".into()));
    assert_eq!(second.stop().await.expect("stopped").code(), 0);
}

#[tokio::test]
async fn a_service_that_cannot_start_is_reported_with_its_exit() {
    let files = own_files();
    let broken = MemoryBackend::new()
        .with_yaml("site", "http: {prot: 80}")
        .expect("yaml");
    let err = TestService::start(greeter(files.path()), broken)
        .await
        .expect_err("invalid configuration");
    let TestError::NotStarted(exit) = err else {
        panic!("{err}")
    };
    assert_eq!(exit.code(), 78);
    assert!(exit.reason.contains("site.http.prot"), "{}", exit.reason);
}

#[tokio::test]
async fn a_service_not_serving_within_the_bound_is_reported_naming_the_wait() {
    let files = own_files();
    let stuck = greeter(files.path()).init_callback(|| async {
        std::future::pending::<()>().await;
        Ok(())
    });
    let bound = Duration::from_millis(300);
    let err = TestService::start_within(stuck, MemoryBackend::new(), bound)
        .await
        .expect_err("stuck in its init callback");
    assert!(
        matches!(err, TestError::TimedOut { waiting_for: "the service to serve", bound: b } if b == bound),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "gave up waiting for the service to serve after 300.0ms"
    );
}

#[test]
fn a_signal_while_a_test_service_runs_takes_its_default_action() {
    let mut child = Child::start("child_runs_a_test_service_and_waits_for_a_signal", true);
    child.wait_for_stdout("serving; waiting for a signal");
    kill(child.pid(), Signal::SIGTERM).expect("signalled");
    let status = child.wait();
    assert_eq!(
        status.signal(),
        Some(Signal::SIGTERM as i32),
        "no handler of micro's: {status}\n{}",
        child.stderr()
    );
}

#[tokio::test]
#[ignore = "a child of a_signal_while_a_test_service_runs_takes_its_default_action"]
async fn child_runs_a_test_service_and_waits_for_a_signal() {
    if !is_child("child_runs_a_test_service_and_waits_for_a_signal") {
        return;
    }
    let files = own_files();
    let _svc = TestService::start(greeter(files.path()), MemoryBackend::new())
        .await
        .expect("started");
    tell_parent("serving; waiting for a signal");
    // Until the parent's signal ends the process (or the parent is gone).
    let _ = std::io::stdin().read(&mut [0; 1]);
}
