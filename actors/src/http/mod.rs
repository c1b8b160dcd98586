//! HttpActor: owns the listener and the server serving the service's router.
//!
//! Messages (sent by the supervisor):
//! - [`HttpMsg::Serve`]: bind (or take the listener handed over) and start
//!   accepting; replies with the bound address or a [`BindError`].
//! - [`HttpMsg::SetReady`]: flip readiness (what `/health/ready` reports).
//! - [`HttpMsg::Drain`]: stop accepting, wait for in-flight requests up to a
//!   bound, cut off the rest; replies with a [`DrainReport`].
//!
//! Requests never pass through this actor: they are served by tasks of their
//! own; the actor only starts and stops the accept loop.

mod server;
mod state;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::net::TcpListener;

pub use server::DrainReport;
pub use state::{InFlight, InFlightGuard, Readiness};

use server::Server;

/// Where to listen.
#[derive(Debug)]
pub enum Listen {
    /// Bind this host and port (port 0: any free port).
    Bind {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// Serve on a listener bound elsewhere (inherited from systemd, or bound
    /// by a test).
    Listener(std::net::TcpListener),
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bind { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Self::Bind { host, port } => write!(f, "{host}:{port}"),
            Self::Listener(listener) => match listener.local_addr() {
                Ok(addr) => write!(f, "{addr} (handed over)"),
                Err(_) => f.write_str("a handed-over listener"),
            },
        }
    }
}

/// HttpActor's arguments.
#[derive(Debug)]
pub struct HttpArgs {
    /// The complete router: the service's app with the built-in routes.
    pub router: Router,
    /// Where to listen.
    pub listen: Listen,
    /// Longest a client may take to send its request headers.
    pub header_read_timeout: Duration,
    /// Readiness, shared with the routes that report it.
    pub readiness: Readiness,
    /// The in-flight request count, shared with whoever reports it.
    pub in_flight: InFlight,
}

/// Listening failed.
///
/// ```
/// let err = micro_actors::BindError {
///     addr: "127.0.0.1:7000".into(),
///     source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
/// };
/// assert!(err.to_string().starts_with("cannot listen on 127.0.0.1:7000: "));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    /// The address asked for.
    pub addr: String,
    /// What the operating system said.
    pub source: std::io::Error,
}

/// What HttpActor does on request.
#[derive(Debug)]
pub enum HttpMsg {
    /// Start accepting.
    Serve(RpcReplyPort<Result<SocketAddr, BindError>>),
    /// Mark the service ready or not.
    SetReady(bool),
    /// Stop accepting and drain within `bound`.
    Drain {
        /// Longest to wait for in-flight requests.
        bound: Duration,
        /// What the drain did.
        reply: RpcReplyPort<DrainReport>,
    },
}

/// The actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpActor;

/// HttpActor's state.
pub struct HttpState {
    args: Option<HttpArgs>,
    in_flight: InFlight,
    readiness: Readiness,
    server: Option<Server>,
}

impl std::fmt::Debug for HttpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpState")
            .field("addr", &self.server.as_ref().map(|s| s.addr))
            .field("in_flight", &self.in_flight.current())
            .field("ready", &self.readiness.get())
            .finish_non_exhaustive()
    }
}

impl Actor for HttpActor {
    type Msg = HttpMsg;
    type State = HttpState;
    type Arguments = HttpArgs;

    async fn pre_start(&self, _myself: ActorRef<Self::Msg>, args: HttpArgs) -> Result<HttpState, ActorProcessingErr> {
        Ok(HttpState {
            readiness: args.readiness.clone(),
            in_flight: args.in_flight.clone(),
            args: Some(args),
            server: None,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut HttpState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            HttpMsg::Serve(reply) => {
                let _ = reply.send(state.serve().await);
            }
            HttpMsg::SetReady(ready) => state.readiness.set(ready),
            HttpMsg::Drain { bound, reply } => {
                let _ = reply.send(state.drain(bound).await);
            }
        }
        Ok(())
    }
}

impl HttpState {
    async fn serve(&mut self) -> Result<SocketAddr, BindError> {
        match &self.server {
            Some(server) if server.is_drained() => {
                return Err(BindError {
                    addr: server.addr.to_string(),
                    source: std::io::Error::other("the server was drained and cannot serve again"),
                });
            }
            Some(server) => return Ok(server.addr),
            None => {}
        }
        let Some(args) = self.args.take() else {
            return Err(BindError {
                addr: "(none)".into(),
                source: std::io::Error::other("no listener to serve on"),
            });
        };
        let addr = args.listen.to_string();
        let bind_error = |source| BindError {
            addr: addr.clone(),
            source,
        };
        let listener = match args.listen {
            Listen::Bind { host, port } => TcpListener::bind((host.as_str(), port)).await.map_err(bind_error)?,
            Listen::Listener(listener) => {
                // Inherited sockets come blocking; tokio needs non-blocking.
                listener.set_nonblocking(true).map_err(bind_error)?;
                TcpListener::from_std(listener).map_err(bind_error)?
            }
        };
        let in_flight = self.in_flight.clone();
        let router = args.router.layer(axum::middleware::from_fn(move |request, next| {
            in_flight.clone().track(request, next)
        }));
        let server =
            Server::start(listener, router, args.header_read_timeout, self.in_flight.clone()).map_err(bind_error)?;
        let bound = server.addr;
        self.server = Some(server);
        Ok(bound)
    }

    async fn drain(&mut self, bound: Duration) -> DrainReport {
        self.readiness.set(false);
        match &mut self.server {
            Some(server) => server.drain(bound).await,
            None => DrainReport::default(),
        }
    }
}

#[cfg(test)]
mod tests;
