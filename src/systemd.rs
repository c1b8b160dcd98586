//! Telling systemd where the service is (sd_notify): `READY=1` once it
//! serves, `RELOADING=1` with `MONOTONIC_USEC` around a reload,
//! `STOPPING=1` when shutdown begins, `STATUS=` lines with the phase, and
//! `WATCHDOG=1` at half of `WATCHDOG_USEC` while it runs. Without
//! `NOTIFY_SOCKET` every call does nothing; a failure to notify is logged,
//! never fatal.
//!
//! An upgrade hands the main process over: the running process says
//! `MAINPID=` the new one and from then on tells systemd nothing (its
//! `STOPPING=1` would stop the unit the new process serves); the new one
//! says nothing until then, and then `READY=1` with `MAINPID=` itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::task::JoinHandle;

/// Whether this process speaks for the unit: not once it handed the main
/// process over to its successor, and not before a process an upgrade
/// started was handed it (until then its messages are not the unit's: its
/// STOPPING=1 after a failed start would stop the unit its predecessor
/// serves, and systemd logs a warning for each under `NotifyAccess=main`).
static SILENT: AtomicBool = AtomicBool::new(false);

fn notify(states: &[NotifyState<'_>]) {
    if SILENT.load(Ordering::SeqCst) {
        return;
    }
    if let Err(err) = sd_notify::notify(states) {
        tracing::debug!(target: "micro", "sd_notify failed: {err}");
    }
}

/// A `STATUS=` line: what `systemctl status` shows.
pub(crate) fn status(text: &str) {
    notify(&[NotifyState::Status(text)]);
}

/// `READY=1`: startup is complete and the service serves.
pub(crate) fn ready(text: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(text)]);
}

/// `READY=1` from a process an upgrade started, with `MAINPID=` itself
/// (its predecessor said so already; this holds under `NotifyAccess=all`
/// too, whichever datagram systemd reads first).
pub(crate) fn ready_as_main(text: &str) {
    SILENT.store(false, Ordering::SeqCst);
    notify(&[
        NotifyState::MainPid(std::process::id()),
        NotifyState::Ready,
        NotifyState::Status(text),
    ]);
}

/// `MAINPID=`: systemd now watches `pid`; this process tells it nothing more.
pub(crate) fn hand_over(pid: u32) {
    notify(&[NotifyState::MainPid(pid)]);
    SILENT.store(true, Ordering::SeqCst);
}

/// A process an upgrade started: silent until [`ready_as_main`].
pub(crate) fn silent_until_main() {
    SILENT.store(true, Ordering::SeqCst);
}

/// `RELOADING=1`: a reload began.
pub(crate) fn reloading() {
    reloading_with("reloading configuration");
}

/// `RELOADING=1`: an upgrade began; `READY=1` ends it, from the new
/// process or, when it failed, from this one.
pub(crate) fn upgrading() {
    reloading_with("upgrading: starting the new process");
}

fn reloading_with(status: &str) {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now, NotifyState::Status(status)]),
        Err(err) => tracing::debug!(target: "micro", "sd_notify: no monotonic clock: {err}"),
    }
}

/// `STOPPING=1`: shutdown began.
pub(crate) fn stopping(text: &str) {
    notify(&[NotifyState::Stopping, NotifyState::Status(text)]);
}

/// Pings the watchdog at half the interval systemd asked for, until the
/// returned task is aborted; `None` when no watchdog is configured.
pub(crate) fn watchdog() -> Option<JoinHandle<()>> {
    let interval = sd_notify::watchdog_enabled()?;
    let every = (interval / 2).max(Duration::from_millis(10));
    Some(tokio::spawn(async move {
        loop {
            notify(&[NotifyState::Watchdog]);
            tokio::time::sleep(every).await;
        }
    }))
}
