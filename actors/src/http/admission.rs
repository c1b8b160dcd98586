//! Admission: a request over `max_in_flight` is answered 503 with
//! `Retry-After` at once, never queued; the paths that are not traffic
//! (probes, `/metrics`) are always admitted, so they answer promptly at any
//! load. And, when asked (`unready_shed_percent`), readiness turns off
//! while a share of the requests is being refused, so a balancer moves the
//! load elsewhere, and back on once it is not.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{self, HeaderValue, StatusCode, header};
use http_body_util::{Either, Full};

use super::{HttpLimits, InFlight, InFlightGuard, Readiness, Traffic};

/// The limit and what a refusal says; `None` from [`Admission::new`] when
/// there is no limit.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    limit: usize,
    retry_after: HeaderValue,
    /// `http_requests_shed_total{reason="max_in_flight"}`, resolved once.
    shed: metrics::Counter,
}

impl Admission {
    pub(crate) fn new(limits: &HttpLimits) -> Option<Self> {
        (limits.max_in_flight > 0).then(|| Self {
            limit: limits.max_in_flight,
            // Whole seconds, rounded up: at least 1.
            retry_after: HeaderValue::from(limits.retry_after.as_secs_f64().ceil().max(1.0) as u64),
            shed: metrics::counter!("http_requests_shed_total", "reason" => "max_in_flight"),
        })
    }

    /// The request's slot, or, at the limit, the answer that refuses it
    /// (counted).
    pub(crate) fn admit(&self, in_flight: &InFlight) -> Result<InFlightGuard, HeaderValue> {
        in_flight.try_enter(self.limit).ok_or_else(|| {
            self.shed.increment(1);
            in_flight.traffic().record_refusal();
            self.retry_after.clone()
        })
    }
}

/// 503 with `Retry-After`: the service is at `site.http.max_in_flight`.
pub(crate) fn overloaded<B>(retry_after: HeaderValue) -> http::Response<Either<B, Full<Bytes>>> {
    let body = Full::from("overloaded: too many requests in flight (site.http.max_in_flight); retry later\n");
    let mut response = http::Response::new(Either::Right(body));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, retry_after);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Turns readiness off while at least `percent` of the requests of the
/// last `window` were refused, and on again once fewer were (or none
/// came: the balancer moved them). Runs until aborted.
pub(crate) async fn watch_shedding(traffic: Traffic, readiness: Readiness, percent: u32, window: Duration) {
    let tick = (window / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
    // (when, arrivals, refused) over the last window.
    let mut seen: VecDeque<(Instant, u64, u64)> = VecDeque::new();
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let now = Instant::now();
        seen.push_back((now, traffic.arrivals(), traffic.refusals()));
        while seen.len() > 1 && seen[1].0 + window <= now {
            seen.pop_front();
        }
        let (Some(&(since, arrived_then, refused_then)), Some(&(_, arrived, refused))) = (seen.front(), seen.back())
        else {
            continue;
        };
        if now.duration_since(since) < window {
            // Not a whole window seen yet.
            continue;
        }
        let (arrivals, refusals) = (arrived - arrived_then, refused - refused_then);
        let shedding = arrivals > 0 && refusals * 100 >= arrivals * u64::from(percent);
        if shedding != readiness.is_shedding() {
            readiness.set_shedding(shedding);
            if shedding {
                tracing::warn!(
                    target: "micro",
                    "not ready: {refusals} of {arrivals} requests in the last {} refused for site.http.max_in_flight (site.http.unready_shed_percent = {percent})",
                    humantime::format_duration(window)
                );
            } else {
                tracing::info!(target: "micro", "ready again: {refusals} of {arrivals} requests refused in the last {}", humantime::format_duration(window));
            }
        }
    }
}
