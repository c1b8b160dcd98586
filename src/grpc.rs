//! gRPC on the HTTP port: the tonic services a service registers
//! ([`ServiceBuilder::grpc`](crate::ServiceBuilder::grpc)), routed by the
//! same axum router as its HTTP routes, so every built-in layer applies to
//! them; and `grpc.health.v1.Health`, answered from the readiness the HTTP
//! probes report.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::response::IntoResponse;
use futures::{Stream, StreamExt as _};
use micro_actors::Readiness;
use tonic::server::NamedService;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::Resources;

mod builder;
mod status;

pub(crate) use status::GRPC_REQUESTS;

/// What a tonic service must be to be served: what a `tonic-build`
/// generated server (`GreeterServer<T>`) is. Feature `grpc`.
///
/// ```
/// fn servable<S: micro::GrpcService>(_: &S) {}
/// // tonic-health's server, generated as any other.
/// let (_reporter, health) = tonic_health::server::health_reporter();
/// servable(&health);
/// ```
pub trait GrpcService:
    tower::Service<Request<Body>, Response: IntoResponse + 'static, Error = Infallible, Future: Send + 'static>
    + NamedService
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> GrpcService for S where
    S: tower::Service<Request<Body>, Response: IntoResponse + 'static, Error = Infallible, Future: Send + 'static>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static
{
}

type AddService = Arc<dyn Fn(&Resources, Router) -> Router + Send + Sync>;

/// The registered tonic services, each made at startup from the resources.
#[derive(Clone, Default)]
pub(crate) struct GrpcServices {
    services: Vec<(&'static str, AddService)>,
}

impl GrpcServices {
    pub(crate) fn push<S: GrpcService>(&mut self, make: impl Fn(&Resources) -> S + Send + Sync + 'static) {
        let add: AddService = Arc::new(move |resources, router| route(router, make(resources)));
        self.services.push((S::NAME, add));
    }

    /// `app` with every registered service routed by its name (the paths
    /// `/<package.Service>/<Method>`) and, when there is one, the health
    /// service following `readiness`. Two services of one name, or a route
    /// of the app on their paths, panic as any overlap does in axum.
    pub(crate) fn merge_into(&self, app: Router, resources: &Resources, readiness: &Readiness) -> Router {
        if self.services.is_empty() {
            return app;
        }
        let names = self.services.iter().map(|(name, _)| *name).collect();
        let health = HealthServer::new(ReadinessHealth {
            readiness: readiness.clone(),
            names: Arc::new(names),
        });
        let grpc = self
            .services
            .iter()
            .fold(route(Router::new(), health), |router, (_, add)| add(resources, router));
        app.merge(grpc)
    }
}

/// `router` with `service` on `/<its name>/<any method>`, as tonic's own
/// `Routes` does, without its fallback: a path that is no route stays the
/// app's 404 (which gRPC clients read as UNIMPLEMENTED).
fn route<S: GrpcService>(router: Router, service: S) -> Router {
    let counted = status::Counted {
        inner: service,
        service: S::NAME,
    };
    router.route_service(&format!("/{}/{{*method}}", S::NAME), counted)
}

/// `grpc.health.v1.Health` answered from [`Readiness`]: SERVING while the
/// service is ready, NOT_SERVING before and from the first moment of its
/// shutdown, for the server (`""`) and for each registered service alike.
#[derive(Clone)]
struct ReadinessHealth {
    readiness: Readiness,
    names: Arc<Vec<&'static str>>,
}

impl ReadinessHealth {
    fn known(&self, service: &str) -> bool {
        service.is_empty() || self.names.contains(&service)
    }
}

fn answer(ready: bool) -> HealthCheckResponse {
    let status = if ready {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    HealthCheckResponse { status: status.into() }
}

type Changes = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl Health for ReadinessHealth {
    async fn check(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, tonic::Status> {
        let service = request.into_inner().service;
        if !self.known(&service) {
            return Err(tonic::Status::not_found(format!("no service {service:?} here")));
        }
        Ok(tonic::Response::new(answer(self.readiness.get())))
    }

    type WatchStream = Changes;

    async fn watch(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<Changes>, tonic::Status> {
        let service = request.into_inner().service;
        if !self.known(&service) {
            let unknown = HealthCheckResponse {
                status: ServingStatus::ServiceUnknown.into(),
            };
            // The set of services is fixed for the run: it stays unknown.
            let stream = futures::stream::once(futures::future::ready(Ok(unknown))).chain(futures::stream::pending());
            return Ok(tonic::Response::new(Box::pin(stream)));
        }
        let changes = self.readiness.changes();
        // The current status at once, then one message per flip; the stream
        // ends with the run (every `Readiness` gone).
        let stream = futures::stream::unfold((changes, true), |(mut changes, first)| async move {
            if !first {
                changes.changed().await.ok()?;
            }
            let ready = *changes.borrow_and_update();
            Some((Ok(answer(ready)), (changes, false)))
        });
        Ok(tonic::Response::new(Box::pin(stream)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(readiness: &Readiness) -> ReadinessHealth {
        ReadinessHealth {
            readiness: readiness.clone(),
            names: Arc::new(vec!["greeter.Greeter"]),
        }
    }

    async fn watch(health: &ReadinessHealth, service: &str) -> Changes {
        let request = tonic::Request::new(HealthCheckRequest {
            service: service.into(),
        });
        health.watch(request).await.expect("watched").into_inner()
    }

    async fn next(changes: &mut Changes) -> Option<ServingStatus> {
        let answer = tokio::time::timeout(std::time::Duration::from_secs(5), changes.next())
            .await
            .expect("a message within the bound")?;
        Some(answer.expect("a status").status())
    }

    #[tokio::test]
    async fn a_watch_sends_the_status_at_once_then_each_flip_and_ends_with_the_run() {
        let readiness = Readiness::default();
        let health = health(&readiness);
        let mut changes = watch(&health, "greeter.Greeter").await;
        assert_eq!(next(&mut changes).await, Some(ServingStatus::NotServing));
        readiness.set(true);
        assert_eq!(next(&mut changes).await, Some(ServingStatus::Serving));
        readiness.set(false);
        assert_eq!(next(&mut changes).await, Some(ServingStatus::NotServing));
        drop((health, readiness));
        assert_eq!(next(&mut changes).await, None);
    }

    #[tokio::test]
    async fn an_unknown_service_is_watched_as_service_unknown_and_checked_as_not_found() {
        let readiness = Readiness::default();
        let health = health(&readiness);
        let mut changes = watch(&health, "no.Such").await;
        assert_eq!(next(&mut changes).await, Some(ServingStatus::ServiceUnknown));
        let request = tonic::Request::new(HealthCheckRequest {
            service: "no.Such".into(),
        });
        let status = health.check(request).await.expect_err("unknown");
        assert_eq!(status.code(), tonic::Code::NotFound);
    }
}
