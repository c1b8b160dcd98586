//! A request's bounds, kept by [`Track`] itself rather than by layers of
//! their own around the router (each layer moves the whole response
//! future into its own, ~500 instructions a request for the two):
//! - **body limit** → 413: a request announcing a longer body is answered
//!   at once, as tower-http's `RequestBodyLimit` does; any other body is
//!   limited, and a handler reading past the limit fails (axum's
//!   extractors answer 413);
//! - **request timeout** → 503: a request still running `timeout` after
//!   its handler first had to wait. tower-http's `TimeoutLayer` creates a
//!   timer for every request, even one whose handler answers on its first
//!   poll (+0.7 µs a request, `cargo bench --bench layers`); here the timer
//!   is created when the handler first returns `Pending`, so a handler
//!   that answers at once costs nothing, and one that waits is bounded from
//!   the moment it first waited, microseconds after the request arrived.
//!
//! [`Track`]: super::track::Track

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{self, HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::{Either, Full};
use tokio::time::Sleep;

/// The bounds of every request, `None` where switched off.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Bounds {
    pub(crate) body_limit: Option<usize>,
    pub(crate) timeout: Option<Duration>,
}

impl Bounds {
    /// How much of a body with `headers` may be read; `None`: it announces
    /// more than the limit (answer [`too_large`]).
    pub(crate) fn body_limit(&self, headers: &HeaderMap) -> Option<usize> {
        let Some(limit) = self.body_limit else {
            return Some(usize::MAX);
        };
        match headers
            .get(header::CONTENT_LENGTH)
            .and_then(|length| length.to_str().ok()?.parse::<usize>().ok())
        {
            Some(announced) if announced > limit => None,
            Some(announced) => Some(announced),
            None => Some(limit),
        }
    }
}

/// 413, as tower-http's `RequestBodyLimit` answers.
pub(crate) fn too_large<B>() -> http::Response<Either<B, Full<Bytes>>> {
    let mut response = http::Response::new(Either::Right(Full::from("length limit exceeded")));
    *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// 503 with no body: the request ran past its timeout.
pub(crate) fn timed_out<B>() -> http::Response<Either<B, Full<Bytes>>> {
    let mut response = http::Response::new(Either::Right(Full::default()));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response
}

/// A request's timeout (`None`: off) and its timer, created when its
/// handler first waits. Boxed: a response future moves a few times before
/// it is polled, and a timer inline would make every move longer.
#[derive(Debug, Default)]
pub(crate) struct Deadline {
    timeout: Option<Duration>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    pub(crate) fn new(timeout: Option<Duration>) -> Self {
        Self { timeout, sleep: None }
    }

    /// Whether the timeout has passed since the first call (which starts
    /// the timer); wakes `cx` when it will have. Never, when it is off.
    pub(crate) fn passed(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(timeout) = self.timeout else {
            return false;
        };
        let sleep = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        sleep.as_mut().poll(cx) == Poll::Ready(())
    }

    /// Whether the timer was created (the handler waited).
    #[cfg(test)]
    pub(crate) fn started(&self) -> bool {
        self.sleep.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(length: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from_str(length).expect("a header value"),
        );
        headers
    }

    #[test]
    fn an_announced_body_over_the_limit_is_refused_and_any_other_limited() {
        let bounds = Bounds {
            body_limit: Some(1024),
            timeout: None,
        };
        assert_eq!(bounds.body_limit(&headers("1025")), None);
        assert_eq!(bounds.body_limit(&headers("1024")), Some(1024));
        assert_eq!(bounds.body_limit(&headers("10")), Some(10), "no more than announced");
        assert_eq!(bounds.body_limit(&HeaderMap::new()), Some(1024), "chunked: the limit");
        assert_eq!(bounds.body_limit(&headers("many")), Some(1024), "unreadable: the limit");
        assert_eq!(Bounds::default().body_limit(&headers("999999999")), Some(usize::MAX));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_passes_its_timeout_after_the_first_wait_and_not_before() {
        let mut deadline = Deadline::new(Some(Duration::from_millis(50)));
        assert!(!deadline.started());
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(!deadline.passed(&mut cx));
        assert!(deadline.started());
        tokio::time::advance(Duration::from_millis(49)).await;
        assert!(!deadline.passed(&mut cx));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(deadline.passed(&mut cx));
    }
}
