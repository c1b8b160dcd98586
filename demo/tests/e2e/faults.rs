//! Faults from outside the process: what the service does when the world
//! around it misbehaves.

use crate::support;

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::load::Load;
use support::{Demo, poll};

#[test]
fn a_blocked_stderr_drops_log_lines_and_neither_requests_nor_shutdown_wait_on_it() {
    let total = Duration::from_secs(5);
    let mut demo = Demo::spawn_holding_stderr(
        &["--production", "--port", "0"],
        &[
            ("MICRO__SITE__LOGGING__BUFFER_LINES", "100"),
            ("MICRO__SITE__SHUTDOWN__FLUSH_TIMEOUT", "500ms"),
            ("MICRO__SITE__SHUTDOWN__TOTAL", "5s"),
        ],
        "started micro-demo",
    );
    demo.wait_listening();
    demo.wait_for_line("started micro-demo");

    // Each /sleep/0 logs a line of ~200 bytes: 3000 of them are ~600 KB,
    // far past the 64 KiB pipe and the 100-line queue.
    let load = Load::start(demo.addr.expect("listening"), 8, "/sleep/0");
    poll("3000 requests sent with stderr blocked", || {
        (load.sent() >= 3000).then_some(())
    });
    let tally = load.finish();
    tally.assert_nothing_lost("with stderr blocked");

    let (status, metrics) = demo.get("/metrics");
    assert_eq!(status, 200);
    let dropped: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("micro_log_lines_dropped_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no micro_log_lines_dropped_total in:\n{metrics}"));
    assert!(dropped > 1000.0, "dropped {dropped} lines");

    let sigterm = Instant::now();
    demo.signal(Signal::SIGTERM);
    let status = demo.wait_exit();
    let took = sigterm.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took < total,
        "SIGTERM → exit took {took:?} with stderr blocked; the budget is {total:?}"
    );
    eprintln!(
        "stderr blocked: {} requests answered 2xx, {dropped} log lines dropped, SIGTERM → exit {took:?}",
        tally.answered()
    );
}

#[test]
fn a_worker_panicking_at_every_run_is_restarted_then_the_service_stops_with_1_saying_why() {
    let mut demo = Demo::spawn_env(
        &["--production", "--port", "0", "--panicking-worker", "20ms"],
        &[
            ("MICRO__SITE__SUPERVISION__MAX_RESTARTS", "2"),
            ("MICRO__SITE__SUPERVISION__BACKOFF_INITIAL", "10ms"),
        ],
    );
    demo.wait_listening();
    assert_eq!(demo.get("/hello").0, 200, "serving while the worker fails");

    let status = demo.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", demo.stderr());
    let restarts = demo
        .lines()
        .iter()
        .filter(|line| line.contains("worker panicking-worker failed") && line.contains("restarting in"))
        .count();
    assert_eq!(restarts, 2, "two restarts, then escalation:\n{}", demo.stderr());
    let gave_up = demo.wait_for_line("giving up");
    assert!(
        gave_up.contains("panicked, as asked"),
        "the reason names the panic: {gave_up}"
    );
    assert!(gave_up.contains("site.supervision.max_restarts = 2"), "{gave_up}");
    let stopped = demo.wait_for_line("stopped micro-demo");
    assert!(
        stopped.contains("exit 1"),
        "the stop report gives the exit code: {stopped}"
    );
}

#[test]
fn a_hanging_finish_callback_is_cut_at_its_bound_and_the_next_one_still_runs() {
    let mut demo = Demo::spawn_env(
        &["--production", "--port", "0", "--hanging-finish-callback"],
        &[("MICRO__SITE__SHUTDOWN__FINISH_TIMEOUT", "300ms")],
    );
    demo.wait_listening();
    demo.wait_for_line("started micro-demo");

    let sigterm = Instant::now();
    demo.signal(Signal::SIGTERM);
    let status = demo.wait_exit();
    let took = sigterm.elapsed();
    assert!(status.success(), "{}", demo.stderr());
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let lines = demo.lines();
    let cut = lines
        .iter()
        .position(|line| line.contains("hang did not finish within 300ms"))
        .unwrap_or_else(|| panic!("no cut reported:\n{}", demo.stderr()));
    let next = lines
        .iter()
        .position(|line| line.contains("demo finish callback: goodbye"))
        .unwrap_or_else(|| panic!("the next finish callback did not run:\n{}", demo.stderr()));
    assert!(cut < next, "cut first, then the next one ran");
}
