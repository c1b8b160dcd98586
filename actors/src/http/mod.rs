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

mod admission;
mod bounds;
mod conn;
mod durations;
mod gate;
mod header_timeout;
mod layers;
pub mod metrics;
mod request_id;
mod server;
mod server_span;
mod signal;
mod state;
mod track;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::net::TcpListener;

pub use layers::{HttpLayers, with_layers};
pub use server::DrainReport;
pub(crate) use server_span::TARGET as SERVER_SPAN;
pub use server_span::{grpc_answered, grpc_called};
pub use state::{InFlight, InFlightGuard, Readiness, Traffic};

use server::Server;

/// Where to listen.
///
/// ```
/// use micro_actors::Listen;
/// assert_eq!(Listen::Bind { host: "127.0.0.1".into(), port: 8000 }.to_string(), "127.0.0.1:8000");
/// assert_eq!(Listen::Bind { host: "::1".into(), port: 8000 }.to_string(), "[::1]:8000");
/// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// assert_eq!(Listen::Listener(listener).to_string(), format!("{addr} (handed over)"));
/// ```
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
///
/// ```
/// use std::time::Duration;
/// use micro_actors::{HttpActor, HttpArgs, HttpMsg, InFlight, Listen, Readiness};
/// use ractor::{Actor, call};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let args = HttpArgs {
///     router: axum::Router::new(),
///     listen: Listen::Listener(listener),
///     limits: micro_actors::HttpLimits::default(),
///     layers: micro_actors::HttpLayers::default(),
///     readiness: Readiness::default(),
///     in_flight: InFlight::default(),
/// };
/// let (actor, handle) = Actor::spawn(None, HttpActor, args).await.unwrap();
/// assert_eq!(call!(actor, HttpMsg::Serve).unwrap().unwrap(), addr);
/// actor.stop(None);
/// handle.await.unwrap();
/// # });
/// ```
#[derive(Debug)]
pub struct HttpArgs {
    /// The complete router: the service's app with the built-in routes.
    pub router: Router,
    /// Where to listen.
    pub listen: Listen,
    /// Bounds on clients and requests.
    pub limits: HttpLimits,
    /// Which optional layers run.
    pub layers: HttpLayers,
    /// Readiness, shared with the routes that report it.
    pub readiness: Readiness,
    /// The in-flight request count, shared with whoever reports it.
    pub in_flight: InFlight,
}

/// Bounds on clients and requests, from `site.http`.
///
/// ```
/// let limits = micro_actors::HttpLimits::default();
/// assert_eq!(limits.body_limit, 2 * 1024 * 1024);
/// assert_eq!(limits.request_timeout, std::time::Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest a client may take to send its request headers (and, on a
    /// new connection, its first byte).
    pub header_read_timeout: Duration,
    /// Longest a request may take; then it is answered 503.
    pub request_timeout: Duration,
    /// Largest request body accepted, in bytes; larger ones are answered 413.
    pub body_limit: usize,
    /// Completed connections the kernel queues until accepted (capped by
    /// `net.core.somaxconn`); past it new clients wait for a SYN retry.
    pub backlog: u32,
    /// A connection accepted before the listener closed, whose first byte
    /// had not come yet, is still served if the byte comes within this long
    /// of the close (its client sent a request it will not see refused).
    pub quiet_period: Duration,
    /// Requests handled at once; past it a request (not a probe) is
    /// answered 503 with `Retry-After` at once. 0: no limit.
    pub max_in_flight: usize,
    /// What `Retry-After` says on such a refusal (whole seconds).
    pub retry_after: Duration,
    /// Connections open at once; at it, accepting pauses. 0: no limit.
    pub max_connections: usize,
    /// Readiness turns off while at least this percent of the requests of
    /// the last `unready_shed_window` was refused. 0: never.
    pub unready_shed_percent: u32,
    /// The window of `unready_shed_percent`.
    pub unready_shed_window: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            body_limit: 2 * 1024 * 1024,
            backlog: 1024,
            quiet_period: Duration::from_secs(1),
            max_in_flight: 512,
            retry_after: Duration::from_secs(1),
            max_connections: 16_384,
            unready_shed_percent: 0,
            unready_shed_window: Duration::from_secs(10),
        }
    }
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
///
/// ```
/// use std::time::Duration;
/// use micro_actors::{HttpActor, HttpArgs, HttpMsg, InFlight, Listen, Readiness};
/// use ractor::{Actor, call};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let readiness = Readiness::default();
/// let args = HttpArgs {
///     router: axum::Router::new(),
///     listen: Listen::Bind { host: "127.0.0.1".into(), port: 0 },
///     limits: micro_actors::HttpLimits::default(),
///     layers: micro_actors::HttpLayers::default(),
///     readiness: readiness.clone(),
///     in_flight: InFlight::default(),
/// };
/// let (actor, handle) = Actor::spawn(None, HttpActor, args).await.unwrap();
/// let addr = call!(actor, HttpMsg::Serve).unwrap().unwrap();
/// actor.cast(HttpMsg::SetReady(true)).unwrap();
/// // The mailbox is in order: a second Serve answers after SetReady was applied.
/// assert_eq!(call!(actor, HttpMsg::Serve).unwrap().unwrap(), addr);
/// assert!(readiness.get());
/// let report = call!(actor, |reply| HttpMsg::Drain { bound: Duration::from_secs(1), reply }).unwrap();
/// assert_eq!((report.in_flight, report.cut), (0, 0));
/// assert!(!readiness.get()); // a drain turns readiness off first
/// actor.stop(None);
/// handle.await.unwrap();
/// # });
/// ```
#[derive(Debug)]
pub enum HttpMsg {
    /// Start accepting.
    Serve(RpcReplyPort<Result<SocketAddr, BindError>>),
    /// Mark the service ready or not.
    SetReady(bool),
    /// A new descriptor of the listening socket, for a process that takes
    /// over; `None` while not listening (not served yet, released or
    /// drained).
    Listener(RpcReplyPort<Option<std::io::Result<std::net::TcpListener>>>),
    /// Stop accepting and close this process's descriptor of the listening
    /// socket, leaving its accept queue to the process it was handed to;
    /// connections already accepted are served on until `Drain`.
    Release(RpcReplyPort<()>),
    /// Stop accepting and drain within `bound`.
    Drain {
        /// Longest to wait for in-flight requests.
        bound: Duration,
        /// What the drain did.
        reply: RpcReplyPort<DrainReport>,
    },
}

/// The actor.
///
/// ```
/// use std::time::Duration;
/// use micro_actors::{HttpActor, HttpArgs, HttpMsg, InFlight, Listen, Readiness};
/// use ractor::{Actor, call};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let router = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
/// let args = HttpArgs {
///     router,
///     listen: Listen::Bind { host: "127.0.0.1".into(), port: 0 },
///     limits: micro_actors::HttpLimits::default(),
///     layers: micro_actors::HttpLayers::default(),
///     readiness: Readiness::default(),
///     in_flight: InFlight::default(),
/// };
/// let (actor, handle) = Actor::spawn(None, HttpActor, args).await.unwrap();
/// let addr = call!(actor, HttpMsg::Serve).unwrap().unwrap();
/// let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
/// stream.write_all(b"GET / HTTP/1.1\r\nhost: doc\r\nconnection: close\r\n\r\n").await.unwrap();
/// let mut response = String::new();
/// stream.read_to_string(&mut response).await.unwrap();
/// assert!(response.starts_with("HTTP/1.1 200") && response.ends_with("hello"), "{response}");
/// actor.stop(None);
/// handle.await.unwrap();
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpActor;

/// HttpActor's state. It remembers a drain: a drained server cannot serve
/// again.
///
/// ```
/// use std::time::Duration;
/// use micro_actors::http::HttpState;
/// use micro_actors::{HttpActor, HttpArgs, HttpMsg, InFlight, Listen, Readiness};
/// use ractor::{Actor, call};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let _: fn(HttpState) -> <HttpActor as Actor>::State = std::convert::identity;
/// let args = HttpArgs {
///     router: axum::Router::new(),
///     listen: Listen::Bind { host: "127.0.0.1".into(), port: 0 },
///     limits: micro_actors::HttpLimits::default(),
///     layers: micro_actors::HttpLayers::default(),
///     readiness: Readiness::default(),
///     in_flight: InFlight::default(),
/// };
/// let (actor, handle) = Actor::spawn(None, HttpActor, args).await.unwrap();
/// call!(actor, HttpMsg::Serve).unwrap().unwrap();
/// call!(actor, |reply| HttpMsg::Drain { bound: Duration::from_secs(1), reply }).unwrap();
/// let err = call!(actor, HttpMsg::Serve).unwrap().unwrap_err();
/// assert!(err.to_string().contains("drained and cannot serve again"), "{err}");
/// actor.stop(None);
/// handle.await.unwrap();
/// # });
/// ```
pub struct HttpState {
    args: Option<HttpArgs>,
    in_flight: InFlight,
    readiness: Readiness,
    server: Option<Server>,
    /// Turns readiness off while shedding (`unready_shed_percent`).
    shedding: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for HttpState {
    fn drop(&mut self) {
        // An actor that fails skips post_stop: no task may outlive it.
        if let Some(task) = &self.shedding {
            task.abort();
        }
    }
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
            shedding: None,
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
            HttpMsg::Listener(reply) => {
                let _ = reply.send(state.server.as_ref().and_then(Server::listener));
            }
            HttpMsg::Release(reply) => {
                if let Some(server) = &mut state.server {
                    server.release().await;
                }
                let _ = reply.send(());
            }
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
            Listen::Bind { host, port } => bind(&host, port, args.limits.backlog).await.map_err(bind_error)?,
            Listen::Listener(listener) => {
                // Inherited sockets come blocking; tokio needs non-blocking.
                listener.set_nonblocking(true).map_err(bind_error)?;
                TcpListener::from_std(listener).map_err(bind_error)?
            }
        };
        let (limits, switches, in_flight) = (args.limits, args.layers, self.in_flight.clone());
        let header_timeout = switches.header_timeout;
        // One stack type per server, chosen here, not a toggle per request.
        let server = if layers::tells_extractors(limits, switches) {
            let service = layers::widened(args.router, limits, switches, in_flight.clone());
            Server::start(listener, service, limits, in_flight, header_timeout)
        } else {
            let service = layers::tracked(args.router, limits, switches, in_flight.clone());
            Server::start(listener, service, limits, in_flight, header_timeout)
        }
        .map_err(bind_error)?;
        let bound = server.addr;
        self.server = Some(server);
        if limits.unready_shed_percent > 0 && limits.max_in_flight > 0 {
            let (traffic, readiness) = (self.in_flight.traffic().clone(), self.readiness.clone());
            let (percent, window) = (limits.unready_shed_percent, limits.unready_shed_window);
            self.shedding = Some(tokio::spawn(admission::watch_shedding(
                traffic, readiness, percent, window,
            )));
        }
        Ok(bound)
    }

    async fn drain(&mut self, bound: Duration) -> DrainReport {
        self.readiness.set(false);
        if let Some(task) = self.shedding.take() {
            task.abort();
        }
        match &mut self.server {
            Some(server) => server.drain(bound).await,
            None => DrainReport::default(),
        }
    }
}

/// Listens on the first address `host:port` resolves to that binds, with
/// `backlog` (tokio's `bind` takes no backlog).
async fn bind(host: &str, port: u16, backlog: u32) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }?;
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(backlog)) {
            Ok(listener) => return Ok(listener),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to listen on")))
}

#[cfg(test)]
mod tests;
