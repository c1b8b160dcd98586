//! Telling systemd where the service is (sd_notify): `READY=1` once it
//! serves, `RELOADING=1` with `MONOTONIC_USEC` around a reload,
//! `STOPPING=1` when shutdown begins, `STATUS=` lines with the phase, and
//! `WATCHDOG=1` at half of `WATCHDOG_USEC` while it runs. Without
//! `NOTIFY_SOCKET` every call does nothing; a failure to notify is logged,
//! never fatal.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::task::JoinHandle;

fn notify(states: &[NotifyState<'_>]) {
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

/// `RELOADING=1`: a reload began.
pub(crate) fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[
            NotifyState::Reloading,
            now,
            NotifyState::Status("reloading configuration"),
        ]),
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
