//! README, Lifecycle: "Past half of any bound, the phase logs what it is
//! waiting for (`still waiting after 10s of 20s: ...`); at the bound it cuts
//! and reports." One test per bound: the init callback, the preloads, the
//! finish phase (a finish callback, a worker), an actor stopping, the flush.
//!
//! The lines are read through a layer of the test's own (`logged`), or, for
//! what needs a process of its own, from the re-executed child's stderr.

mod logged;
mod reexec;

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use micro::config::{ConfigBackend, Document, LoadError, MemoryBackend, PreloadedConfig};
use micro::{ExitStatus, Service, ServiceBuilder};
use reexec::{BOUND, CHILD, Child, is_child};

/// One service runs at a time in a process: the tests of this file take turns.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A callback or worker that does not finish by itself.
async fn never_finishes() -> Result<(), micro::BoxError> {
    std::future::pending().await
}

/// A service whose site document is `yaml` over the defaults, its lines kept.
fn builder(name: &str, yaml: &str) -> ServiceBuilder {
    let site = MemoryBackend::new().with_yaml("site", yaml).expect("yaml");
    Service::builder(name, "waits on a bound")
        .config(PreloadedConfig::new(["site"]).backend(site))
        .log_layer(logged::layer())
}

async fn ended(run: tokio::task::JoinHandle<ExitStatus>) -> ExitStatus {
    tokio::time::timeout(BOUND, run)
        .await
        .expect("ended in time")
        .expect("joined")
}

#[tokio::test]
async fn an_init_callback_past_half_its_bound_is_named_then_cut_at_the_bound() {
    let _turn = TURN.lock().await;
    let service = builder("slow-init", "startup:\n  init_timeout: 400ms\n")
        .init_callback_named("warm-cache", never_finishes)
        .build();
    let exit = ended(tokio::spawn(async move { service.debug("127.0.0.1", 0).await })).await;
    assert_eq!(exit.code(), 70, "{}", exit.reason);
    let line = logged::wait_for(&["still waiting", "warm-cache"], BOUND).await;
    assert_eq!(
        line,
        "WARN still waiting after 200.0ms of 400.0ms: init callback warm-cache"
    );
}

#[tokio::test]
async fn a_finish_callback_and_a_worker_past_half_the_finish_bound_are_named() {
    let _turn = TURN.lock().await;
    let service = builder("slow-finish", "shutdown:\n  finish_timeout: 400ms\n")
        .worker("deaf-worker", |_| never_finishes())
        .finish_callback_named("hangs-in-finish", never_finishes)
        .build();
    let handle = service.handle();
    let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    handle.wait_running(BOUND).await.expect("serving");
    handle.stop().expect("running");
    let exit = ended(run).await;
    assert_eq!(exit.code(), 0, "{}", exit.reason);
    assert_eq!(
        exit.report.callbacks_failed.len(),
        2,
        "both cut: {:?}",
        exit.report.callbacks_failed
    );
    let worker = logged::wait_for(&["still waiting", "deaf-worker"], BOUND).await;
    assert_eq!(
        worker,
        "WARN still waiting after 200.0ms of 400.0ms: worker deaf-worker to stop"
    );
    let callback = logged::wait_for(&["still waiting", "hangs-in-finish"], BOUND).await;
    assert_eq!(
        callback,
        "WARN still waiting after 200.0ms of 400.0ms: finish callback hangs-in-finish"
    );
}

#[tokio::test]
async fn an_actor_past_half_its_stop_bound_is_named_then_killed() {
    let _turn = TURN.lock().await;
    let entered = Arc::new(tokio::sync::Notify::new());
    let signal = Arc::clone(&entered);
    let service = builder("slow-stop", "shutdown:\n  actor_stop_timeout: 400ms\n")
        .init_callback_named("busy-init", move || {
            // Busy in its callback, the actor cannot stop between messages.
            signal.notify_one();
            never_finishes()
        })
        .build();
    let handle = service.handle();
    let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    tokio::time::timeout(BOUND, entered.notified())
        .await
        .expect("the init callback started");
    handle.stop().expect("starting counts as running");
    let exit = ended(run).await;
    assert_eq!(exit.code(), 0, "{}", exit.reason);
    assert_eq!(exit.report.killed.len(), 1, "{:?}", exit.report.killed);
    let killed = &exit.report.killed[0];
    let line = logged::wait_for(&["still waiting", &format!("actor {killed} to stop")], BOUND).await;
    assert_eq!(
        line,
        format!("WARN still waiting after 200.0ms of 400.0ms: actor {killed} to stop")
    );
}

/// A backend whose documents never come.
struct Unanswering;

#[micro::config::async_trait]
impl ConfigBackend for Unanswering {
    fn describe(&self) -> String {
        "a backend that never answers".into()
    }

    async fn load(&self, _: &str) -> Result<Option<Document>, LoadError> {
        std::future::pending().await
    }
}

#[test]
fn preloads_past_half_the_startup_bound_are_named() {
    // The startup bound in force before the site document is loaded is the
    // default, 60s: the line is due after 30s.
    let child = Child::start("child_preloads_from_a_backend_that_never_answers", true);
    let deadline = Instant::now() + Duration::from_secs(45);
    let said = |stderr: &str| {
        stderr.lines().any(|line| {
            line.contains("still waiting after ") && line.ends_with(": the preloads from a backend that never answers")
        })
    };
    while !said(&child.stderr()) {
        assert!(
            Instant::now() < deadline,
            "no line naming the preloads on stderr within 45s:\n{}",
            child.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
#[ignore = "a child of preloads_past_half_the_startup_bound_are_named"]
async fn child_preloads_from_a_backend_that_never_answers() {
    if !is_child("child_preloads_from_a_backend_that_never_answers") {
        return;
    }
    let service = Service::builder("preloading", "preloads forever")
        .config(PreloadedConfig::new(["site"]).backend(Unanswering))
        .build();
    // Ends at the startup bound (60s), or when the parent kills it.
    let exit = service.debug("127.0.0.1", 0).await;
    assert_eq!(exit.code(), 70, "{}", exit.reason);
}

#[test]
fn a_flush_past_half_its_bound_is_named() {
    let name = "child_flushes_into_a_stderr_nobody_reads";
    // stderr is piped and never read: once the pipe is full, the log's
    // writer blocks and the flush phase waits on it.
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", name, "--ignored", "--test-threads=1"])
        .env(CHILD, name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawned");
    let held = child.stderr.take().expect("piped");
    let deadline = Instant::now() + BOUND;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the child did not end within {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(held);
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut stdout)
        .expect("stdout");
    assert!(status.success(), "{status}\n{stdout}");
}

#[tokio::test]
#[ignore = "a child of a_flush_past_half_its_bound_is_named"]
async fn child_flushes_into_a_stderr_nobody_reads() {
    if !is_child("child_flushes_into_a_stderr_nobody_reads") {
        return;
    }
    let service = builder("slow-flush", "shutdown:\n  flush_timeout: 1s\n").build();
    let handle = service.handle();
    let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    handle.wait_running(BOUND).await.expect("serving");
    // Far more than a pipe holds (64 KiB), far less than the queue.
    for n in 0..3000 {
        tracing::info!("filling stderr, line {n:>5}: {}", "x".repeat(80));
    }
    handle.stop().expect("running");
    assert_eq!(ended(run).await.code(), 0);
    // The flush did wait on the blocked stderr, up to its bound...
    logged::wait_for(&["bytes of log still unwritten after 1s"], BOUND).await;
    // ...so, logged before that, the line at half its bound is there.
    let waiting = logged::lines_with(&["still waiting after 500.0ms of 1s"]);
    assert_eq!(waiting.len(), 1, "one line naming the flush: {waiting:?}");
    assert!(waiting[0].contains("flush"), "{waiting:?}");
}
