//! Faults from outside the process: what the service does when the world
//! around it misbehaves.

use crate::support;

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::load::{Bodies, Load};
use support::{Demo, poll};

/// The demo in production with `args` and `env`, its stderr a pipe nobody
/// reads, filled: after 3000 requests logging ~200 bytes each (~600 KB,
/// far past the 64 KiB pipe and the 100-line queue) every write blocks.
/// Returns how many requests were answered.
fn with_stderr_blocked(args: &[&str], env: &[(&str, &str)]) -> (support::Running, usize) {
    let demo = Demo::new()
        .args(["--production"])
        .args(args)
        .env("MICRO__SITE__LOGGING__BUFFER_LINES", "100")
        .envs(env)
        .hold_stderr_after("started micro-demo")
        .start();
    let load = Load::start(
        demo.addr.expect("listening"),
        8,
        "/sleep/0",
        &Bodies::exactly("slept 0 ms\n"),
    );
    poll("3000 requests sent with stderr blocked", || {
        (load.sent() >= 3000).then_some(())
    });
    let tally = load.finish();
    tally.assert_nothing_lost("with stderr blocked");
    (demo, tally.answered())
}

/// Sends SIGTERM; returns how long until the process exited 0.
fn sigterm_to_exit_0(demo: &mut support::Running) -> Duration {
    let sigterm = Instant::now();
    demo.signal(Signal::SIGTERM);
    let status = demo.wait_exit();
    let took = sigterm.elapsed();
    assert_eq!(status.code(), Some(0), "{status:?}");
    took
}

#[test]
fn a_blocked_stderr_drops_log_lines_and_neither_requests_nor_shutdown_wait_on_it() {
    let total = Duration::from_secs(5);
    let env = [
        ("MICRO__SITE__SHUTDOWN__FLUSH_TIMEOUT", "500ms"),
        ("MICRO__SITE__SHUTDOWN__TOTAL", "5s"),
    ];
    let (mut demo, answered) = with_stderr_blocked(&[], &env);
    let dropped = demo.metric("micro_log_lines_dropped_total");
    assert!(dropped > 1000.0, "dropped {dropped} lines");

    let took = sigterm_to_exit_0(&mut demo);
    assert!(
        took < total,
        "SIGTERM → exit took {took:?} with stderr blocked; the budget is {total:?}"
    );
    eprintln!("stderr blocked: {answered} requests answered 2xx, {dropped} log lines dropped, SIGTERM → exit {took:?}");
}

#[test]
fn everything_after_sigterm_fits_in_shutdown_total_even_with_stderr_blocked_and_a_hanging_finish_callback() {
    let total = Duration::from_secs(1);
    let env = [
        ("MICRO__SITE__SHUTDOWN__TOTAL", "1s"),
        ("MICRO__SITE__SHUTDOWN__FINISH_TIMEOUT", "10s"),
        ("MICRO__SITE__SHUTDOWN__FLUSH_TIMEOUT", "3s"),
    ];
    let (mut demo, _) = with_stderr_blocked(&["--hanging-finish-callback"], &env);

    let took = sigterm_to_exit_0(&mut demo);
    // What is left after the bound: the process's own exit.
    let margin = Duration::from_secs(1);
    assert!(
        took < total + margin,
        "SIGTERM → exit took {took:?}; site.shutdown.total is {total:?}"
    );
}

#[test]
fn a_worker_panicking_at_every_run_is_restarted_then_the_service_stops_with_1_saying_why() {
    // The service stops about 90 ms after it started: nothing is asked of
    // it, everything is read from its log once it exited.
    let mut demo = Demo::new()
        .args(["--production", "--panicking-worker", "20ms"])
        .envs(&[
            ("MICRO__SITE__SUPERVISION__MAX_RESTARTS", "2"),
            ("MICRO__SITE__SUPERVISION__BACKOFF_INITIAL", "10ms"),
        ])
        .spawn();
    let status = demo.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", demo.stderr());
    let restarts = demo
        .lines()
        .iter()
        .filter(|line| line.contains("worker panicking-worker failed") && line.contains("restarting in"))
        .count();
    assert_eq!(restarts, 2, "two restarts, then escalation:\n{}", demo.stderr());
    let lines = demo.lines();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}:\n{}", demo.stderr()))
    };
    assert!(at("giving up") < at("stopped micro-demo"), "{}", demo.stderr());
    let gave_up = &lines[at("giving up")];
    assert!(
        gave_up.contains("panicked, as asked"),
        "the reason names the panic: {gave_up}"
    );
    assert!(gave_up.contains("site.supervision.max_restarts = 2"), "{gave_up}");
    let stopped = &lines[at("stopped micro-demo")];
    assert!(
        stopped.contains("exit 1"),
        "the stop report gives the exit code: {stopped}"
    );
}

#[test]
fn a_hanging_finish_callback_is_cut_at_its_bound_and_the_next_one_still_runs() {
    let mut demo = Demo::new()
        .args(["--production", "--hanging-finish-callback"])
        .env("MICRO__SITE__SHUTDOWN__FINISH_TIMEOUT", "300ms")
        .start();

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
