//! Supervised background workers, in process through the real supervisor:
//! restarts within the intensity, escalation past it, and the stop in the
//! finish phase.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use micro::config::{MemoryBackend, PreloadedConfig};
use micro::{Phase, Service};

/// One service runs at a time in a process: the tests of this file take turns.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const BOUND: Duration = Duration::from_secs(20);

/// Fast restarts, two allowed per window.
fn quick_restarts() -> PreloadedConfig {
    let site = MemoryBackend::new()
        .with_yaml(
            "site",
            "supervision:\n  backoff_initial: 10ms\n  backoff_max: 50ms\n  max_restarts: 2\n  restart_window: 10s\n",
        )
        .expect("yaml");
    PreloadedConfig::new(["site"]).backend(site)
}

#[tokio::test]
async fn a_panicking_worker_is_restarted_within_the_intensity_then_the_service_stops_with_1() {
    let _turn = TURN.lock().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let service = Service::builder("crashing", "a worker that panics")
        .config(quick_restarts())
        .worker("crasher", move |_| {
            let runs = Arc::clone(&counted);
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                if true {
                    panic!("queue poisoned");
                }
                Ok(())
            }
        })
        .build();
    let handle = service.handle();

    let exit = tokio::time::timeout(BOUND, service.debug("127.0.0.1", 0))
        .await
        .expect("ended in time");

    assert_eq!(exit.code(), 1, "{}", exit.reason);
    assert!(exit.reason.contains("worker crasher failed"), "{}", exit.reason);
    assert!(exit.reason.contains("queue poisoned"), "{}", exit.reason);
    assert!(exit.reason.contains("giving up"), "{}", exit.reason);
    assert_eq!(runs.load(Ordering::SeqCst), 3, "the first run and two restarts");
    assert_eq!(handle.status().restarts.get("crasher"), Some(&2));
}

#[tokio::test]
async fn a_worker_is_asked_to_stop_in_the_finish_phase_before_finish_callbacks() {
    let _turn = TURN.lock().await;
    let journal: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let (by_worker, by_callback) = (Arc::clone(&journal), Arc::clone(&journal));
    let service = Service::builder("working", "a well-behaved worker")
        .worker("waiter", move |shutdown| {
            let journal = Arc::clone(&by_worker);
            async move {
                shutdown.requested().await;
                journal.lock().expect("lock").push("worker stopped");
                Ok(())
            }
        })
        .finish_callback(move || {
            let journal = Arc::clone(&by_callback);
            async move {
                journal.lock().expect("lock").push("finish callback");
                Ok(())
            }
        })
        .build();
    let handle = service.handle();
    let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    handle.wait_running(BOUND).await.expect("serving");
    let status = handle.status();
    assert_eq!((status.phase, status.generation), (Phase::Running, 1));
    assert!(status.uptime.is_some());

    handle.stop().expect("running");
    let exit = handle.wait(BOUND).await.expect("ended");
    assert_eq!(exit.code(), 0, "{}", exit.reason);
    assert!(
        exit.report.callbacks_failed.is_empty(),
        "{:?}",
        exit.report.callbacks_failed
    );
    assert_eq!(*journal.lock().expect("lock"), ["worker stopped", "finish callback"]);
    assert!(run.await.expect("joined").is_success());
}

#[tokio::test]
async fn a_worker_that_ignores_the_stop_is_cut_at_its_bound_and_reported() {
    let _turn = TURN.lock().await;
    let site = MemoryBackend::new()
        .with_yaml("site", "shutdown:\n  finish_timeout: 100ms\n")
        .expect("yaml");
    let service = Service::builder("stubborn", "a worker that never stops")
        .config(PreloadedConfig::new(["site"]).backend(site))
        .worker("stubborn", |_| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        })
        .build();
    let handle = service.handle();
    let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    handle.wait_running(BOUND).await.expect("serving");
    handle.stop().expect("running");
    let exit = tokio::time::timeout(BOUND, run)
        .await
        .expect("in time")
        .expect("joined");
    assert_eq!(exit.code(), 0);
    assert_eq!(
        exit.report.callbacks_failed,
        ["worker stubborn did not stop within its bound and was aborted"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_restart_is_counted_on_metrics_under_the_worker_name() {
    let _turn = TURN.lock().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let service = Service::builder("flaky", "a worker that fails twice, then settles")
        .config(quick_restarts())
        .worker("flaky-worker", move |shutdown: micro::Shutdown| {
            let runs = Arc::clone(&counted);
            async move {
                if runs.fetch_add(1, Ordering::SeqCst) < 2 {
                    return Err(std::io::Error::other("downstream refused").into());
                }
                shutdown.requested().await;
                Ok(())
            }
        })
        .build();
    let handle = service.handle();
    let running = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    handle.wait_running(BOUND).await.expect("running");
    let url = format!("http://{}/metrics", handle.status().addr.expect("bound"));

    let line = tokio::time::timeout(BOUND, async {
        loop {
            let url = url.clone();
            let body = tokio::task::spawn_blocking(move || ureq::get(&url).call().ok()?.into_string().ok())
                .await
                .expect("scrape task");
            let line = body.and_then(|body| {
                body.lines()
                    .find(|line| line.starts_with("micro_restarts_total{child=\"flaky-worker\"}"))
                    .map(str::to_owned)
            });
            match line {
                Some(line) if line.ends_with(" 2") => break line,
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
    .expect("two restarts counted in time");
    assert_eq!(line, "micro_restarts_total{child=\"flaky-worker\"} 2");

    handle.stop().expect("stop");
    let exit = tokio::time::timeout(BOUND, running)
        .await
        .expect("stopped")
        .expect("joined");
    assert_eq!(exit.code(), 0, "{}", exit.reason);
}
