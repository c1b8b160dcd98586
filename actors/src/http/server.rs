//! The accept loop and the bounded drain.
//!
//! axum's own `serve(..).with_graceful_shutdown` waits without limit and
//! cannot cut connections, so connections are served here with hyper-util:
//! each is watched by a `GracefulShutdown` and owned by a `JoinSet`, so a
//! drain can wait for them up to a bound and then abort the rest, counting
//! what it cut. Each socket is counted open until dropped (`conn.rs`), so
//! upgraded connections (WebSockets), which leave hyper's task for the
//! handler's, are waited for and cut at the bound too. Every request
//! carries the server's [`Shutdown`], requested when the drain begins
//! (`signal.rs`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::convert::Infallible;

use axum::BoxError;
use axum::body::{Bytes, HttpBody};
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tower::Service;

use super::InFlight;
use super::conn::Connections;
use super::signal::WithShutdown;
use crate::worker::Shutdown;

/// What a drain did. A request is in flight until its response body is
/// sent, so a streaming response (SSE, chunked) still running at the bound
/// is a request cut off, its connection a connection cut. An upgraded
/// connection (a WebSocket) is no request: it is counted apart.
///
/// ```
/// let report = micro_actors::DrainReport::default();
/// assert_eq!(
///     report.to_string(),
///     "0 requests in flight, 0 completed, 0 cut off (0 connections), 0 upgraded connections (0 cut off)"
/// );
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainReport {
    /// Requests being handled when the listener closed.
    pub in_flight: usize,
    /// Of those, how many completed within the bound.
    pub completed: usize,
    /// Requests still running at the bound, cut off.
    pub cut: usize,
    /// Connections aborted at the bound.
    pub cut_connections: usize,
    /// Upgraded connections (WebSockets) open when the listener closed or
    /// upgraded during the drain.
    pub upgraded: usize,
    /// Of those, how many were still open at the bound: their sockets
    /// were shut down.
    pub cut_upgraded: usize,
    /// How long the drain took.
    pub took: Duration,
}

impl std::fmt::Display for DrainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests in flight, {} completed, {} cut off ({} connections), {} upgraded connections ({} cut off)",
            self.in_flight, self.completed, self.cut, self.cut_connections, self.upgraded, self.cut_upgraded
        )
    }
}

/// A running accept loop, then the report of its drain.
pub(super) struct Server {
    pub(super) addr: SocketAddr,
    stop: Option<oneshot::Sender<Duration>>,
    task: Option<JoinHandle<DrainReport>>,
    drained: Option<DrainReport>,
    connections: Connections,
}

/// What the server can serve: the layered router (see `layers.rs`).
pub(super) trait Serves:
    Service<Request<Incoming>, Response = Response<Self::Body>, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
    /// The response body.
    type Body: HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static;
}

impl<S, B> Serves for S
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static,
    B: HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
{
    type Body = B;
}

impl Server {
    pub(super) fn start(
        listener: TcpListener,
        service: impl Serves,
        header_read_timeout: Duration,
        in_flight: InFlight,
        header_timeout: bool,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        if header_timeout {
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
        } else {
            builder.http1().header_read_timeout(None);
        }
        let (signal, shutdown) = Shutdown::pair();
        let connections = Connections::default();
        let accept = Accept {
            listener,
            service: WithShutdown::new(service, shutdown),
            builder: Arc::new(builder),
            header_read_timeout,
            in_flight,
            signal,
            connections: connections.clone(),
        };
        Ok(Self {
            addr,
            stop: Some(stop),
            task: Some(tokio::spawn(accept.run(stopped))),
            drained: None,
            connections,
        })
    }

    /// Whether the server was drained (it cannot serve again).
    pub(super) fn is_drained(&self) -> bool {
        self.task.is_none()
    }

    /// Closes the listener, waits up to `bound` for in-flight requests,
    /// then cuts off the rest. Draining again returns the first report.
    pub(super) async fn drain(&mut self, bound: Duration) -> DrainReport {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(bound);
        }
        if let Some(task) = self.task.take() {
            self.drained = Some(task.await.unwrap_or_default());
        }
        self.drained.unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // An actor that fails skips post_stop: never leave connections behind.
        if let Some(task) = &self.task {
            task.abort();
            self.connections.cut();
        }
    }
}

struct Accept<S> {
    listener: TcpListener,
    service: S,
    builder: Arc<auto::Builder<TokioExecutor>>,
    header_read_timeout: Duration,
    in_flight: InFlight,
    /// Requests the [`Shutdown`] every request carries.
    signal: watch::Sender<bool>,
    connections: Connections,
}

impl<S: Serves> Accept<S> {
    async fn run(self, mut stopped: oneshot::Receiver<Duration>) -> DrainReport {
        let graceful = GracefulShutdown::new();
        let (closing, closed) = watch::channel(false);
        let mut connections = JoinSet::new();
        let bound = loop {
            tokio::select! {
                bound = &mut stopped => break bound.unwrap_or_default(),
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _peer)) => {
                        connections.spawn(self.serve(stream, graceful.watcher(), closed.clone()));
                    }
                    Err(err) => {
                        // Out of file descriptors and the like: back off briefly
                        // instead of spinning, then keep serving.
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
            }
        };
        drop(self.listener);
        let _ = closing.send(true);
        self.signal.send_replace(true);

        let started = Instant::now();
        let at_close = self.in_flight.current();
        let (upgraded_at_close, upgrades_before) = (self.connections.upgraded_now(), self.connections.upgrades());
        let finished = tokio::time::timeout(bound, async {
            graceful.shutdown().await;
            while connections.join_next().await.is_some() {}
            self.connections.all_closed().await;
        })
        .await
        .is_ok();
        let cut = if finished { 0 } else { self.in_flight.current() };
        // Connections that ended while the drain waited on others are not cut.
        while connections.try_join_next().is_some() {}
        let cut_connections = connections.len();
        connections.abort_all();
        while connections.join_next().await.is_some() {}
        // What is open now outlived hyper's tasks: upgraded connections.
        let cut_upgraded = if finished { 0 } else { self.connections.cut() };
        DrainReport {
            in_flight: at_close,
            completed: at_close.saturating_sub(cut),
            cut,
            cut_connections,
            upgraded: upgraded_at_close + (self.connections.upgrades() - upgrades_before),
            cut_upgraded,
            took: started.elapsed(),
        }
    }

    /// Serves one connection. A client that connects and sends nothing
    /// holds no connection past the header read timeout, nor past the
    /// moment the server closes.
    fn serve(
        &self,
        stream: TcpStream,
        watcher: Watcher,
        mut closed: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let builder = Arc::clone(&self.builder);
        let service = TowerToHyperService::new(self.service.clone());
        let connections = self.connections.clone();
        let wait = self.header_read_timeout;
        async move {
            let mut first = [0_u8; 1];
            let spoke = tokio::select! {
                peeked = tokio::time::timeout(wait, stream.peek(&mut first)) => matches!(peeked, Ok(Ok(1..))),
                _ = closed.wait_for(|closed| *closed) => false,
            };
            if !spoke {
                return;
            }
            let io = connections.open(stream);
            let id = io.id();
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(io), service)
                .into_owned();
            if let Err(err) = watcher.watch(connection).await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            connections.served(id);
        }
    }
}
