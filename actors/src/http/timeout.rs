//! The request timeout: a request still running `timeout` after its
//! handler first had to wait is answered 503.
//!
//! tower-http's `TimeoutLayer` creates a timer for every request, even one
//! whose handler answers on its first poll; that measured +0.7 µs per
//! request here (`cargo bench --bench layers`). This one creates the timer
//! only when the handler first returns `Pending`, so a handler that answers
//! at once costs nothing, and one that waits is bounded as before (from the
//! moment it first waited, microseconds after the request arrived).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{Response, StatusCode};
use tokio::time::Sleep;
use tower::{Layer, Service};

/// Answers 503 when a request runs past `timeout` once its handler waited.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeoutLayer {
    timeout: Duration,
}

impl TimeoutLayer {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            timeout: self.timeout,
        }
    }
}

/// The service of [`TimeoutLayer`].
#[derive(Debug, Clone)]
pub(crate) struct Timeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S, Request, B> Service<Request> for Timeout<S>
where
    S: Service<Request, Response = Response<B>>,
    B: Default,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        TimeoutFuture {
            inner: self.inner.call(request),
            sleep: None,
            timeout: self.timeout,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Timeout`].
    pub(crate) struct TimeoutFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Option<Sleep>,
        timeout: Duration,
    }
}

impl<F, B, E> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(output) = this.inner.poll(cx) {
            return Poll::Ready(output);
        }
        if this.sleep.is_none() {
            this.sleep.set(Some(tokio::time::sleep(*this.timeout)));
        }
        match this.sleep.as_pin_mut().map(|sleep| sleep.poll(cx)) {
            Some(Poll::Ready(())) => {
                let mut response = Response::new(B::default());
                *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                Poll::Ready(Ok(response))
            }
            _ => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    fn service(handler_sleeps: Duration) -> Timeout<impl Service<(), Response = Response<String>, Error = ()> + Clone> {
        TimeoutLayer::new(Duration::from_millis(50)).layer(tower::service_fn(move |()| async move {
            if !handler_sleeps.is_zero() {
                tokio::time::sleep(handler_sleeps).await;
            }
            Ok::<_, ()>(Response::new("done".to_owned()))
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn a_handler_past_the_bound_is_answered_503() {
        let response = service(Duration::from_secs(60)).oneshot(()).await.expect("answered");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.body().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_handler_that_waits_within_the_bound_answers_itself() {
        let response = service(Duration::from_millis(20)).oneshot(()).await.expect("answered");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), "done");
    }

    #[tokio::test]
    async fn a_handler_that_answers_at_once_arms_no_timer() {
        let mut future = std::pin::pin!(service(Duration::ZERO).call(()));
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(response)) => assert_eq!(response.status(), StatusCode::OK),
            other => panic!(
                "not answered on the first poll: {:?}",
                other.map(|r| r.map(|r| r.status()))
            ),
        }
        assert!(future.sleep.is_none(), "no timer created");
    }
}
