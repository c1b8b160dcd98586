//! Shared HTTP state read on the request path without messages: readiness
//! and the in-flight request count.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Whether the service wants traffic. Flipped by HttpActor on `SetReady`,
/// read by the health routes with one atomic load.
///
/// ```
/// let ready = micro_actors::Readiness::default();
/// assert!(!ready.get());
/// ready.set(true);
/// assert!(ready.clone().get());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Whether the service is ready.
    ///
    /// ```
    /// let ready = micro_actors::Readiness::default();
    /// assert!(!ready.get()); // not ready until told
    /// ```
    #[must_use]
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Marks the service ready or not; every clone sees the change.
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
        self.0.store(ready, Ordering::Release);
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
