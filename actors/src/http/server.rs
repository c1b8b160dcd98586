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
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};
use tower::Service;

use super::conn::{Connections, Slot};
use super::gate::Gate;
use super::header_timeout::{Activity, PerConnection, watch};
use super::signal::WithShutdown;
use super::{HttpLimits, InFlight};
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
    /// The listening socket, shared with the accept loop while it accepts.
    listener: Option<Arc<TcpListener>>,
    /// Asks the accept loop to close its listener and accept no more.
    release: Option<oneshot::Sender<oneshot::Sender<()>>>,
    stop: Option<oneshot::Sender<Duration>>,
    task: Option<JoinHandle<DrainReport>>,
    drained: Option<DrainReport>,
    connections: Connections,
}

/// What the server can serve: the layered router (see `layers.rs`).
pub(super) trait Serves:
    Service<Request<Incoming>, Response = Response<Self::Body>, Error = Infallible, Future: Send + 'static>
    + Clone
    + PerConnection
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
        + PerConnection
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
        limits: HttpLimits,
        in_flight: InFlight,
        header_timeout: bool,
    ) -> std::io::Result<Self> {
        let header_read_timeout = limits.header_read_timeout;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let (release, released) = oneshot::channel();
        let listener = Arc::new(listener);
        let builder = |keep_alive| {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            // The header read timeout is kept per connection (see
            // `header_timeout.rs`), not by hyper's timer per request.
            builder.http1().keep_alive(keep_alive).header_read_timeout(None);
            Arc::new(builder)
        };
        let (signal, shutdown) = Shutdown::pair();
        let connections = Connections::default();
        let accept = Accept {
            listener: Some(Arc::clone(&listener)),
            released: Some(released),
            service: WithShutdown::new(service, shutdown),
            builder: builder(true),
            last_call: builder(false),
            header_read_timeout,
            header_timeout,
            quiet_period: limits.quiet_period,
            max_connections: limits.max_connections,
            in_flight,
            signal,
            connections: connections.clone(),
        };
        Ok(Self {
            addr,
            listener: Some(listener),
            release: Some(release),
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

    /// A new descriptor of the listening socket, for another process to
    /// accept on; `None` once the listener was released or drained.
    pub(super) fn listener(&self) -> Option<std::io::Result<std::net::TcpListener>> {
        use std::os::fd::AsFd as _;
        let listener = self.listener.as_ref()?;
        Some(listener.as_fd().try_clone_to_owned().map(std::net::TcpListener::from))
    }

    /// Stops accepting and closes this process's descriptor of the
    /// listening socket, leaving its accept queue to whoever else holds it
    /// (the process it was handed to). Connections already accepted are
    /// served on, and drained by [`drain`](Self::drain).
    pub(super) async fn release(&mut self) {
        self.listener = None;
        if let Some(release) = self.release.take() {
            let (done, released) = oneshot::channel();
            if release.send(done).is_ok() {
                let _ = released.await;
            }
        }
    }

    /// Closes the listener, waits up to `bound` for in-flight requests,
    /// then cuts off the rest. Draining again returns the first report.
    pub(super) async fn drain(&mut self, bound: Duration) -> DrainReport {
        self.listener = None;
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
    /// `None` once released: this process accepts no more.
    listener: Option<Arc<TcpListener>>,
    /// A release asked of the server, answered once the listener is closed.
    released: Option<oneshot::Receiver<oneshot::Sender<()>>>,
    service: S,
    builder: Arc<auto::Builder<TokioExecutor>>,
    /// For a connection whose first byte came after the listener closed:
    /// one HTTP/1 request served, then closed.
    last_call: Arc<auto::Builder<TokioExecutor>>,
    header_read_timeout: Duration,
    /// Every request's head is bounded by `header_read_timeout`, not only
    /// a new connection's first byte.
    header_timeout: bool,
    quiet_period: Duration,
    /// Sockets open at once, 0: no limit (see `gate.rs`).
    max_connections: usize,
    in_flight: InFlight,
    /// Requests the [`Shutdown`] every request carries.
    signal: watch::Sender<bool>,
    connections: Connections,
}

impl<S: Serves> Accept<S> {
    async fn run(mut self, mut stopped: oneshot::Receiver<Duration>) -> DrainReport {
        let graceful = GracefulShutdown::new();
        let (closing, closed) = watch::channel(false);
        let mut connections = JoinSet::new();
        let mut gate = Gate::new(self.max_connections);
        let bound = loop {
            let accepting = gate.is_open(self.connections.sockets());
            tokio::select! {
                bound = &mut stopped => break bound.unwrap_or_default(),
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                asked = released(self.released.as_mut()) => {
                    self.released = None;
                    if let Ok(done) = asked {
                        // The accept queue is the other process's now.
                        self.listener = None;
                        let _ = done.send(());
                    }
                }
                () = gate.reopened(&self.connections), if !accepting => {}
                accepted = accept(self.listener.as_deref()), if accepting => match accepted {
                    Ok((stream, _peer)) => {
                        gate.accepted();
                        self.spawn(&mut connections, stream, graceful.watcher(), &closed);
                    }
                    // Out of file descriptors and the like: paused, then on.
                    Err(err) => gate.failed(&err),
                },
            }
        };
        let _ = closing.send(true);
        // Connections the kernel completed before the close are served (their
        // first byte within the quiet period), not reset with the listener:
        // taken with accept(2) itself until none is left, as the runtime's
        // accept answers only once it has seen the socket readable.
        if let Some(listener) = self.listener.take() {
            for stream in backlog(&listener) {
                self.spawn(&mut connections, stream, graceful.watcher(), &closed);
            }
        }
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

    /// Spawns the task serving `stream` (counted open from now on) and,
    /// while the header timeout is on, the watchdog that closes it when idle.
    fn spawn(
        &self,
        connections: &mut JoinSet<()>,
        stream: TcpStream,
        watcher: Watcher,
        closed: &watch::Receiver<bool>,
    ) {
        let slot = self.connections.accepted();
        let (told, handle) = oneshot::channel();
        let connection = connections.spawn(self.serve(stream, slot, watcher, closed.clone(), handle));
        // The task watches itself once it spoke: it needs its handle.
        let _ = told.send(connection);
    }

    /// Serves one connection. A client that connects and sends nothing
    /// holds no connection past the header read timeout, nor past a quiet
    /// period after the server closes: a client that connected before the
    /// close and sends its request at once is answered, not dropped. Once
    /// it spoke, while the header timeout is on, a watchdog closes it when
    /// idle (`header_timeout.rs`); `handle` is its own task's, to abort.
    fn serve(
        &self,
        stream: TcpStream,
        slot: Slot,
        watcher: Watcher,
        mut closed: watch::Receiver<bool>,
        handle: oneshot::Receiver<AbortHandle>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let (builder, last_call) = (Arc::clone(&self.builder), Arc::clone(&self.last_call));
        let activity = self.header_timeout.then(Arc::<Activity>::default);
        let watched = activity.as_ref().map(Arc::downgrade);
        let service = TowerToHyperService::new(self.service.for_connection(activity));
        let (wait, grace) = (self.header_read_timeout, self.quiet_period);
        let traffic = self.in_flight.traffic().clone();
        let connections = self.connections.clone();
        async move {
            let spoke = {
                let mut first = [0_u8; 1];
                let first_byte = tokio::time::timeout(wait, stream.peek(&mut first));
                tokio::pin!(first_byte);
                let close = async {
                    let _ = closed.wait_for(|closed| *closed).await;
                };
                tokio::select! {
                    peeked = &mut first_byte => matches!(peeked, Ok(Ok(1..))),
                    () = close => {
                        matches!(tokio::time::timeout(grace, first_byte).await, Ok(Ok(Ok(1..))))
                    }
                }
            };
            if !spoke {
                return;
            }
            if let (Some(activity), Ok(handle)) = (watched, handle.await) {
                tokio::spawn(watch(activity, wait, handle));
            }
            let io = connections.open(stream, slot);
            let id = io.id();
            let served = if *closed.borrow() || traffic.is_winding_down() {
                // Winding down, each answer closes its connection anyway; and
                // a graceful shutdown could close it before reading the
                // request its client already sent: serve that one, then
                // close, unwatched (the drain waits for it within its bound).
                last_call
                    .serve_connection_with_upgrades(TokioIo::new(io), service)
                    .await
            } else {
                let connection = builder
                    .serve_connection_with_upgrades(TokioIo::new(io), service)
                    .into_owned();
                watcher.watch(connection).await
            };
            if let Err(err) = served {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            connections.served(id);
        }
    }
}

/// The next connection on `listener`; never, without one.
async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// The next release asked; never, once asked or without a server to ask.
async fn released(
    asked: Option<&mut oneshot::Receiver<oneshot::Sender<()>>>,
) -> Result<oneshot::Sender<()>, oneshot::error::RecvError> {
    match asked {
        Some(asked) => asked.await,
        None => std::future::pending().await,
    }
}

/// The connections waiting in `listener`'s accept queue now.
fn backlog(listener: &TcpListener) -> Vec<TcpStream> {
    use std::os::fd::AsFd as _;
    let Ok(fd) = listener.as_fd().try_clone_to_owned() else {
        return Vec::new();
    };
    let listener = std::net::TcpListener::from(fd);
    std::iter::from_fn(|| listener.accept().ok())
        .filter_map(|(stream, _)| {
            stream.set_nonblocking(true).ok()?;
            TcpStream::from_std(stream).ok()
        })
        .collect()
}
