//! The accept loop and the bounded drain.
//!
//! axum's own `serve(..).with_graceful_shutdown` waits without limit and
//! cannot cut connections, so connections are served here with hyper-util:
//! each is watched by a `GracefulShutdown` and owned by a `JoinSet`, so a
//! drain can wait for them up to a bound and then abort the rest, counting
//! what it cut.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use super::InFlight;

/// What a drain did.
///
/// ```
/// let report = micro_actors::DrainReport::default();
/// assert_eq!(report.to_string(), "0 requests in flight, 0 completed, 0 cut off (0 connections)");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Requests being handled when the listener closed.
    pub in_flight: usize,
    /// Of those, how many completed within the bound.
    pub completed: usize,
    /// Requests still running at the bound, cut off.
    pub cut: usize,
    /// Connections aborted at the bound.
    pub cut_connections: usize,
    /// How long the drain took.
    pub took: Duration,
}

impl std::fmt::Display for DrainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests in flight, {} completed, {} cut off ({} connections)",
            self.in_flight, self.completed, self.cut, self.cut_connections
        )
    }
}

/// A running accept loop.
pub(super) struct Server {
    pub(super) addr: SocketAddr,
    stop: Option<oneshot::Sender<Duration>>,
    task: JoinHandle<DrainReport>,
}

impl Server {
    pub(super) fn start(
        listener: TcpListener,
        router: Router,
        header_read_timeout: Duration,
        in_flight: InFlight,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout);
        let task = tokio::spawn(accept_loop(listener, router, builder, stopped, in_flight));
        Ok(Self {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// Closes the listener, waits up to `bound` for in-flight requests,
    /// then cuts off the rest.
    pub(super) async fn drain(&mut self, bound: Duration) -> DrainReport {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(bound);
        }
        (&mut self.task).await.unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // An actor that fails skips post_stop: never leave connections behind.
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    builder: auto::Builder<TokioExecutor>,
    mut stopped: oneshot::Receiver<Duration>,
    in_flight: InFlight,
) -> DrainReport {
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let bound = loop {
        tokio::select! {
            bound = &mut stopped => break bound.unwrap_or_default(),
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let service = TowerToHyperService::new(router.clone());
                    let connection = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    let connection = graceful.watch(connection);
                    connections.spawn(async move {
                        if let Err(err) = connection.await {
                            tracing::debug!(error = %err, "connection ended with an error");
                        }
                    });
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
    drop(listener);

    let started = Instant::now();
    let at_close = in_flight.current();
    let finished = tokio::time::timeout(bound, async {
        graceful.shutdown().await;
        while connections.join_next().await.is_some() {}
    })
    .await
    .is_ok();
    let cut = if finished { 0 } else { in_flight.current() };
    let cut_connections = connections.len();
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    DrainReport {
        in_flight: at_close,
        completed: at_close.saturating_sub(cut),
        cut,
        cut_connections,
        took: started.elapsed(),
    }
}
