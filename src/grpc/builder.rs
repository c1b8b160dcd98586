//! The [`ServiceBuilder`] methods that register tonic services.

use crate::{GrpcService, Resources, ServiceBuilder};

impl ServiceBuilder {
    /// A tonic service (a `tonic-build` generated server, such as
    /// `GreeterServer::new(greeter)`), served on the HTTP port beside the
    /// app, over HTTP/2 (h2c: clients connect with prior knowledge). Call
    /// once per service, as with tonic's `Server::add_service`. Every
    /// built-in layer applies to its calls (request id, request span,
    /// metrics, in flight, the drain); `grpc_requests_total{service, code}`
    /// counts them by gRPC status. With at least one service registered,
    /// `grpc.health.v1.Health` is served too, SERVING while the service is
    /// ready (as `/health/ready`), NOT_SERVING before and from the first
    /// moment of shutdown. Feature `grpc`.
    ///
    /// ```
    /// # use micro::axum;
    /// # use std::convert::Infallible;
    /// # #[derive(Clone)]
    /// # struct GreeterServer;
    /// # impl tonic::server::NamedService for GreeterServer { const NAME: &'static str = "greeter.Greeter"; }
    /// # impl tower::Service<axum::http::Request<axum::body::Body>> for GreeterServer {
    /// #     type Response = axum::http::Response<axum::body::Body>;
    /// #     type Error = Infallible;
    /// #     type Future = std::future::Ready<Result<Self::Response, Infallible>>;
    /// #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> { std::task::Poll::Ready(Ok(())) }
    /// #     fn call(&mut self, _: axum::http::Request<axum::body::Body>) -> Self::Future { std::future::ready(Ok(Default::default())) }
    /// # }
    /// // `GreeterServer` as `tonic-build` generates it from a `.proto`.
    /// let service = micro::Service::builder("greeter", "greets")
    ///     .app(axum::Router::new().route("/hello", axum::routing::get(|| async { "hello" })))
    ///     .grpc(GreeterServer)
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn grpc<S: GrpcService>(self, service: S) -> Self {
        self.grpc_with(move |_| service.clone())
    }

    /// A tonic service made once every init step ran, from what the
    /// service's [resources](Self::resource) opened, as
    /// [`app_with`](Self::app_with) makes routes. Otherwise as
    /// [`grpc`](Self::grpc). Feature `grpc`.
    ///
    /// ```
    /// # use micro::axum;
    /// # use std::convert::Infallible;
    /// # #[derive(Clone)]
    /// # struct GreeterServer(Pool);
    /// # impl tonic::server::NamedService for GreeterServer { const NAME: &'static str = "greeter.Greeter"; }
    /// # impl tower::Service<axum::http::Request<axum::body::Body>> for GreeterServer {
    /// #     type Response = axum::http::Response<axum::body::Body>;
    /// #     type Error = Infallible;
    /// #     type Future = std::future::Ready<Result<Self::Response, Infallible>>;
    /// #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> { std::task::Poll::Ready(Ok(())) }
    /// #     fn call(&mut self, _: axum::http::Request<axum::body::Body>) -> Self::Future { std::future::ready(Ok(Default::default())) }
    /// # }
    /// #[derive(Clone)]
    /// struct Pool(std::sync::Arc<str>);
    ///
    /// let service = micro::Service::builder("greeter", "greets")
    ///     .resource("pool", || async { Ok(Pool("postgres://db/greeter".into())) }, |_pool| async { Ok(()) })
    ///     .grpc_with(|resources| GreeterServer(resources.get::<Pool>()))
    ///     .build();
    /// # let _ = service;
    /// ```
    pub fn grpc_with<S: GrpcService>(mut self, make: impl Fn(&Resources) -> S + Send + Sync + 'static) -> Self {
        self.grpc.push(make);
        self
    }
}
