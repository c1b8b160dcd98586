//! The restart policy of a worker (`RestartPolicy`), in process through the
//! real supervisor: `Permanent` (`.worker`) restarts whether the worker
//! failed or finished, `Transient` only when it failed, `Temporary` never;
//! a worker not restarted leaves the service running.
//!
//! "Not restarted" is read from the supervisor's own line saying so, the
//! moment the decision is made, never from a quiet interval.

#![cfg(feature = "testing")]

mod logged;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use micro::config::MemoryBackend;
use micro::testing::TestService;
use micro::{Phase, RestartPolicy};

const BOUND: Duration = Duration::from_secs(20);

/// Fast restarts, two allowed per window.
fn quick_restarts() -> MemoryBackend {
    MemoryBackend::labelled("test")
        .with_yaml(
            "site",
            "supervision:\n  backoff_initial: 10ms\n  backoff_max: 50ms\n  max_restarts: 2\n  restart_window: 10s\n",
        )
        .expect("yaml")
}

/// How a worker's run ends.
#[derive(Clone, Copy)]
enum Ends {
    /// Its first run fails; later runs wait for the stop.
    FailingOnce,
    /// Its first run returns `Ok`; later runs wait for the stop.
    FinishingOnce,
}

/// A service with one worker `name` under `policy`, serving, and the count
/// of the worker's runs.
async fn serving(name: &str, policy: RestartPolicy, ends: Ends) -> (TestService, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let builder = micro::Service::builder("policies", "a worker under a restart policy")
        .log_layer(logged::layer())
        .worker_with(name, policy, move |shutdown: micro::Shutdown| {
            let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                match (first, ends) {
                    (true, Ends::FailingOnce) => Err(std::io::Error::other("the first run fails").into()),
                    (true, Ends::FinishingOnce) => Ok(()),
                    (false, _) => {
                        shutdown.requested().await;
                        Ok(())
                    }
                }
            }
        });
    let svc = TestService::start(builder, quick_restarts()).await.expect("serving");
    (svc, runs)
}

/// Waits until the worker ran `n` times.
async fn ran(runs: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + BOUND;
    while runs.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "the worker did not run {n} times within {BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Checks the worker was restarted once: ran twice, counted once, said so.
async fn restarted_once(svc: TestService, name: &str, runs: &AtomicUsize) {
    ran(runs, 2).await;
    assert_eq!(svc.handle().status().restarts.get(name), Some(&1));
    let line = logged::wait_for(&[&format!("worker {name} "), "; restarting in "], BOUND).await;
    assert!(line.ends_with("(restart 1)"), "{line}");
    let exit = svc.stop().await.expect("stopped");
    assert_eq!(exit.code(), 0, "{}", exit.reason);
    assert!(
        exit.report.callbacks_failed.is_empty(),
        "{:?}",
        exit.report.callbacks_failed
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

/// Checks the worker was not restarted: the supervisor said so, it ran
/// once, no restart is counted, and the service still runs and stops 0.
async fn not_restarted(svc: TestService, name: &str, runs: &AtomicUsize, why: &str, policy: &str) {
    let line = logged::wait_for(&[&format!("worker {name} "), "not restarted"], BOUND).await;
    assert!(line.starts_with(&format!("INFO worker {name} {why}")), "{line}");
    assert!(line.ends_with(&format!("; not restarted ({policy})")), "{line}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let status = svc.handle().status();
    assert_eq!(status.restarts.get(name), None);
    assert_eq!(status.phase, Phase::Running);
    let exit = svc.stop().await.expect("stopped");
    assert_eq!(exit.code(), 0, "{}", exit.reason);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "not started again by the stop");
}

#[tokio::test]
async fn a_permanent_worker_that_finishes_is_restarted() {
    let name = "permanent-finishing";
    let (svc, runs) = serving(name, RestartPolicy::Permanent, Ends::FinishingOnce).await;
    restarted_once(svc, name, &runs).await;
}

#[tokio::test]
async fn a_transient_worker_that_fails_is_restarted() {
    let name = "transient-failing";
    let (svc, runs) = serving(name, RestartPolicy::Transient, Ends::FailingOnce).await;
    restarted_once(svc, name, &runs).await;
}

#[tokio::test]
async fn a_transient_worker_that_finishes_is_not_restarted_and_the_service_runs_on() {
    let name = "transient-finishing";
    let (svc, runs) = serving(name, RestartPolicy::Transient, Ends::FinishingOnce).await;
    let why = "finished";
    not_restarted(svc, name, &runs, why, "Transient").await;
}

#[tokio::test]
async fn a_temporary_worker_that_fails_is_not_restarted_and_the_service_runs_on() {
    let name = "temporary-failing";
    let (svc, runs) = serving(name, RestartPolicy::Temporary, Ends::FailingOnce).await;
    let line = logged::wait_for(&[&format!("worker {name} "), "not restarted"], BOUND).await;
    assert!(line.contains("the first run fails"), "says why it ended: {line}");
    not_restarted(svc, name, &runs, "failed: ", "Temporary").await;
}

#[tokio::test]
async fn a_temporary_worker_that_finishes_is_not_restarted_and_the_service_runs_on() {
    let name = "temporary-finishing";
    let (svc, runs) = serving(name, RestartPolicy::Temporary, Ends::FinishingOnce).await;
    let why = "finished";
    not_restarted(svc, name, &runs, why, "Temporary").await;
}
