//! [`Toggle`]: a tower layer switched on or off at runtime with one service
//! type either way, so a stack of optional layers needs no boxing: the
//! response body is an `Either` of the two branches' bodies.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::Response;
use http_body_util::Either;
use tower::{Layer, Service};

/// `Some(layer)`: the layer applies; `None`: requests go straight through.
#[derive(Debug, Clone)]
pub(crate) struct Toggle<L>(pub(crate) Option<L>);

impl<L> Toggle<L> {
    pub(crate) fn new(on: bool, layer: impl FnOnce() -> L) -> Self {
        Self(on.then(layer))
    }
}

impl<S, L: Layer<S>> Layer<S> for Toggle<L> {
    type Service = Toggled<L::Service, S>;

    fn layer(&self, inner: S) -> Self::Service {
        match &self.0 {
            Some(layer) => Toggled::On(layer.layer(inner)),
            None => Toggled::Off(inner),
        }
    }
}

/// The service of a [`Toggle`].
#[derive(Debug, Clone)]
pub(crate) enum Toggled<A, B> {
    On(A),
    Off(B),
}

impl<A, B, Request, BodyA, BodyB> Service<Request> for Toggled<A, B>
where
    A: Service<Request, Response = Response<BodyA>>,
    B: Service<Request, Response = Response<BodyB>, Error = A::Error>,
{
    type Response = Response<Either<BodyA, BodyB>>;
    type Error = A::Error;
    type Future = ToggledFuture<A::Future, B::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), A::Error>> {
        match self {
            Self::On(service) => service.poll_ready(cx),
            Self::Off(service) => service.poll_ready(cx),
        }
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self {
            Self::On(service) => ToggledFuture::On {
                future: service.call(request),
            },
            Self::Off(service) => ToggledFuture::Off {
                future: service.call(request),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Toggled`].
    #[project = ToggledProjection]
    pub(crate) enum ToggledFuture<FA, FB> {
        On { #[pin] future: FA },
        Off { #[pin] future: FB },
    }
}

impl<FA, FB, BodyA, BodyB, E> Future for ToggledFuture<FA, FB>
where
    FA: Future<Output = Result<Response<BodyA>, E>>,
    FB: Future<Output = Result<Response<BodyB>, E>>,
{
    type Output = Result<Response<Either<BodyA, BodyB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ToggledProjection::On { future } => future.poll(cx).map_ok(|r| r.map(Either::Left)),
            ToggledProjection::Off { future } => future.poll(cx).map_ok(|r| r.map(Either::Right)),
        }
    }
}
