//! Shared HTTP state read on the request path without messages: readiness,
//! the in-flight request count, and when requests last arrived.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// Whether the service wants traffic: it is serving (flipped by HttpActor
/// on `SetReady`) and not shedding load (see `unready_shed_percent`).
/// Read by the health routes (a read lock nobody else holds long) and
/// followed by whoever must react to a change (the gRPC health service).
///
/// ```
/// let ready = micro_actors::Readiness::default();
/// assert!(!ready.get());
/// ready.set(true);
/// assert!(ready.clone().get());
/// ready.set_shedding(true);
/// assert!(!ready.get() && ready.is_shedding());
/// ```
#[derive(Debug, Clone)]
pub struct Readiness(Arc<ReadinessState>);

#[derive(Debug)]
struct ReadinessState {
    /// `serving && !shedding`, as readers see it.
    ready: watch::Sender<bool>,
    serving: AtomicBool,
    shedding: AtomicBool,
}

impl Default for Readiness {
    fn default() -> Self {
        Self(Arc::new(ReadinessState {
            ready: watch::Sender::new(false),
            serving: AtomicBool::new(false),
            shedding: AtomicBool::new(false),
        }))
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
        *self.0.ready.borrow()
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
        self.0.serving.store(ready, Ordering::SeqCst);
        self.publish();
    }

    /// Marks the service as shedding load or not: while it does, it is not
    /// ready, whatever [`set`](Self::set) said.
    ///
    /// ```
    /// let ready = micro_actors::Readiness::default();
    /// ready.set(true);
    /// ready.set_shedding(true);
    /// assert!(!ready.get());
    /// ready.set_shedding(false);
    /// assert!(ready.get());
    /// ```
    pub fn set_shedding(&self, shedding: bool) {
        self.0.shedding.store(shedding, Ordering::SeqCst);
        self.publish();
    }

    /// Whether readiness is off for shedding load.
    ///
    /// ```
    /// assert!(!micro_actors::Readiness::default().is_shedding());
    /// ```
    #[must_use]
    pub fn is_shedding(&self) -> bool {
        self.0.shedding.load(Ordering::SeqCst)
    }

    fn publish(&self) {
        // Under the watch's lock: concurrent flips serialize here, and the
        // last one sees both flags as they are.
        let state = &self.0;
        state.ready.send_if_modified(|current| {
            let ready = state.serving.load(Ordering::SeqCst) && !state.shedding.load(Ordering::SeqCst);
            std::mem::replace(current, ready) != ready
        });
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
        self.0.ready.subscribe()
    }
}

/// Counts requests being handled. A guard per request decrements on drop,
/// so cancelled requests count down too. It also carries the service's
/// [`Traffic`]: when requests last arrived, for the pre-drain.
///
/// ```
/// let in_flight = micro_actors::InFlight::default();
/// let guard = in_flight.enter();
/// assert_eq!(in_flight.current(), 1);
/// drop(guard);
/// assert_eq!(in_flight.current(), 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<Counts>, Traffic);

/// Requests in flight: all of them, and those admitted under a limit
/// (traffic: not the probes and scrapes, which never take a slot).
#[derive(Debug, Default)]
struct Counts {
    all: AtomicUsize,
    admitted: AtomicUsize,
}

impl InFlight {
    /// An in-flight count whose [`Traffic`] does not count requests to
    /// `paths` (probes and scrapes, which keep coming from the balancer
    /// and the monitoring after the service turned unready).
    ///
    /// ```
    /// let in_flight = micro_actors::InFlight::not_counting(&["/health/ready"]);
    /// in_flight.traffic().arrived("/health/ready");
    /// assert_eq!(in_flight.traffic().arrivals(), 0);
    /// in_flight.traffic().arrived("/orders");
    /// assert_eq!(in_flight.traffic().arrivals(), 1);
    /// ```
    #[must_use]
    pub fn not_counting(paths: &[&str]) -> Self {
        let traffic = Traffic(Arc::new(TrafficState {
            exempt: paths.iter().map(|path| (*path).to_owned()).collect(),
            ..TrafficState::default()
        }));
        Self(Arc::default(), traffic)
    }

    /// When requests arrive, and whether the service is winding down.
    ///
    /// ```
    /// let in_flight = micro_actors::InFlight::default();
    /// assert!(!in_flight.traffic().is_winding_down());
    /// ```
    #[must_use]
    pub fn traffic(&self) -> &Traffic {
        &self.1
    }

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
        self.0.all.load(Ordering::Acquire)
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
        self.0.all.fetch_add(1, Ordering::AcqRel);
        InFlightGuard {
            counts: Arc::clone(&self.0),
            admitted: false,
        }
    }

    /// Counts a request in flight unless `limit` requests admitted this
    /// way already are: `None` then, and nothing counted. Requests counted
    /// with [`enter`](Self::enter) (probes, scrapes) take no slot.
    ///
    /// ```
    /// let in_flight = micro_actors::InFlight::default();
    /// let probe = in_flight.enter();
    /// let first = in_flight.try_enter(1).expect("admitted: the probe takes no slot");
    /// assert!(in_flight.try_enter(1).is_none(), "at the limit");
    /// assert_eq!(in_flight.current(), 2, "both are in flight");
    /// drop(first);
    /// assert!(in_flight.try_enter(1).is_some());
    /// drop(probe);
    /// ```
    #[must_use]
    pub fn try_enter(&self, limit: usize) -> Option<InFlightGuard> {
        let counts = &self.0;
        if counts.admitted.fetch_add(1, Ordering::AcqRel) >= limit {
            counts.admitted.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        counts.all.fetch_add(1, Ordering::AcqRel);
        Some(InFlightGuard {
            counts: Arc::clone(counts),
            admitted: true,
        })
    }
}

/// When requests arrive, read by the shutdown's pre-drain without a
/// message: it waits until none has come for a quiet period. Once winding
/// down, every HTTP/1 answer carries `Connection: close`, so a keep-alive
/// client reconnects (through its balancer, elsewhere) instead of sending
/// on a connection the drain will close.
///
/// ```
/// let traffic = micro_actors::InFlight::default().traffic().clone();
/// assert_eq!(traffic.idle_for(), None, "nothing arrived yet");
/// traffic.arrived("/orders");
/// assert!(traffic.idle_for().is_some());
/// traffic.wind_down();
/// assert!(traffic.is_winding_down());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Traffic(Arc<TrafficState>);

#[derive(Debug)]
struct TrafficState {
    /// What arrival times are counted from.
    origin: Instant,
    /// Milliseconds after `origin` of the last arrival, plus one (0: none).
    last: AtomicU64,
    arrivals: AtomicU64,
    winding_down: AtomicBool,
    /// Requests refused for the in-flight limit.
    refused: AtomicU64,
    /// Paths whose requests are not traffic.
    exempt: Vec<String>,
}

impl Default for TrafficState {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            last: AtomicU64::new(0),
            arrivals: AtomicU64::new(0),
            winding_down: AtomicBool::new(false),
            refused: AtomicU64::new(0),
            exempt: Vec::new(),
        }
    }
}

impl Traffic {
    /// Records a request to `path` unless the path is exempt; says whether
    /// it is traffic (not exempt: subject to admission too).
    ///
    /// ```
    /// let traffic = micro_actors::InFlight::not_counting(&["/health/live"]).traffic().clone();
    /// assert!(traffic.arrived("/orders"));
    /// assert!(!traffic.arrived("/health/live"));
    /// assert_eq!(traffic.arrivals(), 1);
    /// ```
    pub fn arrived(&self, path: &str) -> bool {
        let state = &self.0;
        if state.exempt.iter().any(|exempt| exempt == path) {
            return false;
        }
        // Whole milliseconds without a 128-bit division; most requests
        // land in a millisecond already recorded and write nothing.
        let since = state.origin.elapsed();
        let millis = since
            .as_secs()
            .saturating_mul(1000)
            .saturating_add(u64::from(since.subsec_millis()));
        let last = millis.saturating_add(1);
        if state.last.load(Ordering::Acquire) < last {
            state.last.fetch_max(last, Ordering::AcqRel);
        }
        state.arrivals.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// Records a request refused for the in-flight limit.
    ///
    /// ```
    /// let traffic = micro_actors::InFlight::default().traffic().clone();
    /// traffic.record_refusal();
    /// assert_eq!(traffic.refusals(), 1);
    /// ```
    pub fn record_refusal(&self) {
        self.0.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests refused for the in-flight limit so far.
    ///
    /// ```
    /// assert_eq!(micro_actors::InFlight::default().traffic().refusals(), 0);
    /// ```
    #[must_use]
    pub fn refusals(&self) -> u64 {
        self.0.refused.load(Ordering::Relaxed)
    }

    /// Requests counted so far.
    ///
    /// ```
    /// assert_eq!(micro_actors::InFlight::default().traffic().arrivals(), 0);
    /// ```
    #[must_use]
    pub fn arrivals(&self) -> u64 {
        self.0.arrivals.load(Ordering::Acquire)
    }

    /// How long since the last request counted (to the millisecond);
    /// `None` when none came yet.
    ///
    /// ```
    /// let traffic = micro_actors::InFlight::default().traffic().clone();
    /// traffic.arrived("/");
    /// assert!(traffic.idle_for().unwrap() < std::time::Duration::from_secs(60));
    /// ```
    #[must_use]
    pub fn idle_for(&self) -> Option<Duration> {
        let last = self.0.last.load(Ordering::Acquire).checked_sub(1)?;
        Some(self.0.origin.elapsed().saturating_sub(Duration::from_millis(last)))
    }

    /// From now on, HTTP/1 answers carry `Connection: close`.
    ///
    /// ```
    /// let traffic = micro_actors::InFlight::default().traffic().clone();
    /// traffic.wind_down();
    /// assert!(traffic.is_winding_down());
    /// ```
    pub fn wind_down(&self) {
        self.0.winding_down.store(true, Ordering::Release);
    }

    /// Whether [`wind_down`](Self::wind_down) was called.
    ///
    /// ```
    /// assert!(!micro_actors::InFlight::default().traffic().is_winding_down());
    /// ```
    #[must_use]
    pub fn is_winding_down(&self) -> bool {
        self.0.winding_down.load(Ordering::Acquire)
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
pub struct InFlightGuard {
    counts: Arc<Counts>,
    /// Holds one of the limit's slots.
    admitted: bool,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.counts.all.fetch_sub(1, Ordering::AcqRel);
        if self.admitted {
            self.counts.admitted.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
