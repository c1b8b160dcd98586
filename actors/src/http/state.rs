//! Shared HTTP state read on the request path without messages: readiness
//! and the in-flight request count.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::watch;

/// Whether the service wants traffic. Flipped by HttpActor on `SetReady`,
/// read by the health routes (a read lock nobody else holds long) and
/// followed by whoever must react to a change (the gRPC health service).
///
/// ```
/// let ready = micro_actors::Readiness::default();
/// assert!(!ready.get());
/// ready.set(true);
/// assert!(ready.clone().get());
/// ```
#[derive(Debug, Clone)]
pub struct Readiness(Arc<watch::Sender<bool>>);

impl Default for Readiness {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(false)))
    }
}

impl Readiness {
    /// Whether the service is ready.
    ///
    /// ```
    /// let ready = micro_actors::Readiness::default();
    /// assert!(!ready.get()); // not ready until told
    /// ```
    #[must_use]
    pub fn get(&self) -> bool {
        *self.0.borrow()
    }

    /// Marks the service ready or not; every clone sees the change, and
    /// every [`changes`](Self::changes) receiver is woken when it is one.
    ///
    /// ```
    /// let ready = micro_actors::Readiness::default();
    /// let seen_by_routes = ready.clone();
    /// ready.set(true);
    /// assert!(seen_by_routes.get());
    /// ready.set(false);
    /// assert!(!seen_by_routes.get());
    /// ```
    pub fn set(&self, ready: bool) {
        self.0
            .send_if_modified(|current| std::mem::replace(current, ready) != ready);
    }

    /// Readiness as it changes: the receiver sees the current value, and
    /// `changed()` resolves at each flip (it fails once every `Readiness`
    /// clone is gone).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let ready = micro_actors::Readiness::default();
    /// let mut changes = ready.changes();
    /// assert!(!*changes.borrow_and_update());
    /// ready.set(true);
    /// changes.changed().await.unwrap();
    /// assert!(*changes.borrow_and_update());
    /// drop(ready);
    /// assert!(changes.changed().await.is_err());
    /// # });
    /// ```
    #[must_use]
    pub fn changes(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }
}

/// Counts requests being handled. A guard per request decrements on drop,
/// so cancelled requests count down too.
///
/// ```
/// let in_flight = micro_actors::InFlight::default();
/// let guard = in_flight.enter();
/// assert_eq!(in_flight.current(), 1);
/// drop(guard);
/// assert_eq!(in_flight.current(), 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Requests being handled now, across every clone.
    ///
    /// ```
    /// let in_flight = micro_actors::InFlight::default();
    /// assert_eq!(in_flight.current(), 0);
    /// let _first = in_flight.clone().enter();
    /// let _second = in_flight.enter();
    /// assert_eq!(in_flight.current(), 2);
    /// ```
    #[must_use]
    pub fn current(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Counts one request until the guard drops, even when the request's
    /// future is cancelled before it finishes.
    ///
    /// ```
    /// let in_flight = micro_actors::InFlight::default();
    /// let guard = in_flight.enter();
    /// let request = async move {
    ///     let _guard = guard;
    /// };
    /// assert_eq!(in_flight.current(), 1);
    /// drop(request); // cancelled, never polled
    /// assert_eq!(in_flight.current(), 0);
    /// ```
    #[must_use]
    pub fn enter(&self) -> InFlightGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(Arc::clone(&self.0))
    }
}

/// Decrements the in-flight count when dropped.
///
/// ```
/// let in_flight = micro_actors::InFlight::default();
/// let guards: Vec<micro_actors::http::InFlightGuard> = (0..3).map(|_| in_flight.enter()).collect();
/// assert_eq!(in_flight.current(), 3);
/// drop(guards);
/// assert_eq!(in_flight.current(), 0);
/// ```
#[derive(Debug)]
pub struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
