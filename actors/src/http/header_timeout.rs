//! The header read timeout, kept per connection instead of per request.
//!
//! hyper's own (`http1().header_read_timeout`) allocates and registers a
//! timer for every request and reads the socket once more after every
//! request head: ~1,600 instructions and a system call per request. Here
//! each connection has a watchdog that wakes every quarter of the timeout,
//! and the requests only count themselves ([`Busy`]: two atomic
//! increments and a decrement). A connection on which no request was in
//! progress and none began for the whole timeout is closed: a client that
//! sends its request head too slowly (a slow loris), or holds a keep-alive
//! connection without asking anything, is disconnected between the timeout
//! and 1.25 × it. Nothing is answered, as hyper answers nothing when its
//! timeout fires.
//!
//! A request counts from the moment its head was read until its response
//! body has been sent or dropped, so a slow handler or a long stream (SSE)
//! is never cut by this timeout. An HTTP/2 connection is watched until its
//! first request only: HTTP/2 multiplexes requests and has pings of its
//! own, and hyper's timeout applies to HTTP/1 alone.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio::time::MissedTickBehavior;

use axum::http::Version;

/// What a connection's requests tell its watchdog.
#[derive(Debug, Default)]
pub(super) struct Activity {
    /// Requests begun and not finished.
    busy: AtomicUsize,
    /// Requests begun so far.
    begun: AtomicU64,
    /// The connection speaks HTTP/2: no longer watched.
    multiplexed: AtomicBool,
}

/// Watches one connection, whose requests count themselves in `activity`:
/// aborts its task (which closes its socket) once it has had no request in
/// progress and none begun for `timeout` (up to a quarter more). Ends with
/// the connection, or once it spoke HTTP/2. A task of its own, so the
/// connection's task polls no timer of it when woken for its requests.
pub(super) async fn watch(activity: Weak<Activity>, timeout: Duration, connection: AbortHandle) {
    let tick = (timeout / 4).max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // A request counts from its head: at the start the connection is as
    // idle as one whose last request just ended.
    let mut idle_ticks = 1_u32;
    let mut begun = 0;
    loop {
        ticks.tick().await;
        let Some(activity) = activity.upgrade() else {
            return;
        };
        if connection.is_finished() || activity.multiplexed.load(Ordering::Relaxed) {
            return;
        }
        let now_begun = activity.begun.load(Ordering::Relaxed);
        idle_ticks = if activity.busy.load(Ordering::Acquire) > 0 {
            0
        } else if now_begun != begun {
            // Begun and ended since the last tick.
            1
        } else {
            idle_ticks + 1
        };
        begun = now_begun;
        // Idle for at least `idle_ticks - 1` ticks: four are the timeout.
        if idle_ticks > 4 {
            tracing::debug!(
                ?timeout,
                "connection closed: no request head within the header read timeout"
            );
            connection.abort();
            return;
        }
    }
}

/// One request in progress on its connection, until dropped: [`Track`]
/// begins it and hands it to the response body.
///
/// [`Track`]: super::track::Track
#[derive(Debug)]
pub(super) struct Busy(Arc<Activity>);

impl Busy {
    pub(super) fn begin(activity: &Arc<Activity>, version: Version) -> Self {
        activity.begun.fetch_add(1, Ordering::Relaxed);
        activity.busy.fetch_add(1, Ordering::AcqRel);
        if version >= Version::HTTP_2 {
            activity.multiplexed.store(true, Ordering::Relaxed);
        }
        Self(Arc::clone(activity))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A service that serves one connection at a time as told: its requests
/// counted in the connection's [`Activity`] (`None`: the header timeout is
/// off), each until its response body is done.
pub(super) trait PerConnection {
    /// This service, for one connection.
    #[must_use]
    fn for_connection(&self, activity: Option<Arc<Activity>>) -> Self;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection's stand-in: a task that runs until aborted, watched
    /// with `timeout`. Resolves with how long it ran, once it is aborted.
    async fn watched(activity: &Arc<Activity>, timeout: Duration) -> tokio::task::JoinHandle<Duration> {
        let connection = tokio::spawn(std::future::pending::<()>());
        tokio::spawn(watch(Arc::downgrade(activity), timeout, connection.abort_handle()));
        let started = tokio::time::Instant::now();
        tokio::spawn(async move {
            let aborted = connection.await;
            assert!(aborted.is_err_and(|err| err.is_cancelled()), "aborted");
            started.elapsed()
        })
    }

    fn between(ran: Duration, least: Duration, most: Duration) -> bool {
        ran >= least && ran <= most
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_given_up_between_the_timeout_and_a_quarter_more() {
        let activity = Arc::new(Activity::default());
        let ran = watched(&activity, Duration::from_secs(4)).await.await.expect("joined");
        assert!(between(ran, Duration::from_secs(4), Duration::from_secs(5)), "{ran:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_progress_is_never_idle_and_its_end_starts_the_timeout() {
        let activity = Arc::new(Activity::default());
        let busy = Busy::begin(&activity, Version::HTTP_11);
        let mut connection = watched(&activity, Duration::from_secs(4)).await;
        assert!(
            tokio::time::timeout(Duration::from_secs(40), &mut connection)
                .await
                .is_err(),
            "given up while a request was in progress"
        );
        drop(busy);
        let ran = connection.await.expect("joined");
        assert!(
            between(ran, Duration::from_secs(44), Duration::from_secs(45)),
            "{ran:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_begun_and_ended_between_two_ticks_starts_the_timeout_again() {
        let activity = Arc::new(Activity::default());
        let mut connection = watched(&activity, Duration::from_secs(4)).await;
        assert!(
            tokio::time::timeout(Duration::from_millis(3500), &mut connection)
                .await
                .is_err()
        );
        drop(Busy::begin(&activity, Version::HTTP_11));
        let ran = connection.await.expect("joined");
        assert!(
            between(ran, Duration::from_millis(7500), Duration::from_millis(8500)),
            "{ran:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_http2_connection_is_not_watched_after_its_first_request() {
        let activity = Arc::new(Activity::default());
        drop(Busy::begin(&activity, Version::HTTP_2));
        let connection = watched(&activity, Duration::from_secs(4)).await;
        assert!(
            tokio::time::timeout(Duration::from_secs(3600), connection)
                .await
                .is_err(),
            "an HTTP/2 connection was given up"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_ends_with_its_connection() {
        let activity = Arc::new(Activity::default());
        let connection = tokio::spawn(std::future::pending::<()>());
        let watchdog = tokio::spawn(watch(
            Arc::downgrade(&activity),
            Duration::from_secs(4),
            connection.abort_handle(),
        ));
        drop(activity);
        tokio::time::timeout(Duration::from_secs(2), watchdog)
            .await
            .expect("ended within a tick of its connection's end")
            .expect("joined");
        assert!(!connection.is_finished(), "a connection already gone is not aborted");
    }
}
