//! The sockets a server has open, counted until each is dropped, wherever
//! it lives: hyper's connection task for an ordinary connection, the
//! handler's task once a connection is upgraded (a WebSocket). So the drain
//! sees upgraded connections too, waits for them, and shuts their sockets
//! down at its bound.
//!
//! The drain shuts a socket down from outside (`shutdown(2)` on its
//! descriptor, which wakes its reader and writer) even when the task holding
//! it never polls it again. Reads and writes take no lock: only the close
//! and the shutdown do, so a shutdown never reaches a descriptor number
//! already closed (and perhaps reused).

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd as _, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};

/// One open socket, as the drain sees it.
#[derive(Debug)]
struct Socket {
    fd: RawFd,
    /// Whether `fd` is still the socket's: set false before it is closed.
    open: Mutex<bool>,
    /// Its connection was handed to an upgrade (it outlived hyper's task).
    upgraded: AtomicBool,
}

impl Socket {
    fn open(&self) -> MutexGuard<'_, bool> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The open sockets of one server; clones share them.
#[derive(Debug, Clone, Default)]
pub(super) struct Connections(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    open: watch::Sender<HashMap<u64, Arc<Socket>>>,
    next: AtomicU64,
    /// Connections upgraded so far.
    upgrades: AtomicUsize,
    /// Sockets accepted and not dropped, whether they spoke yet or not.
    sockets: AtomicUsize,
    /// A socket was dropped.
    closed: Notify,
}

impl Connections {
    /// A socket just accepted: counted in [`sockets`](Self::sockets) and
    /// `http_connections_open` until the slot is dropped, with the socket.
    pub(super) fn accepted(&self) -> Slot {
        self.0.sockets.fetch_add(1, Ordering::AcqRel);
        metrics::gauge!("http_connections_open").increment(1.0);
        Slot(self.clone())
    }

    /// Sockets accepted and not dropped.
    pub(super) fn sockets(&self) -> usize {
        self.0.sockets.load(Ordering::Acquire)
    }

    /// Resolves after a socket is dropped (or at once, if one was since
    /// the last time nobody waited).
    pub(super) async fn closed(&self) {
        self.0.closed.notified().await;
    }

    /// Counts `stream` open until the returned IO is dropped; it holds the
    /// socket's `slot`.
    pub(super) fn open(&self, stream: TcpStream, slot: Slot) -> Counted {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed);
        let socket = Arc::new(Socket {
            fd: stream.as_raw_fd(),
            open: Mutex::new(true),
            upgraded: AtomicBool::new(false),
        });
        self.0.open.send_modify(|open| {
            open.insert(id, Arc::clone(&socket));
        });
        Counted {
            stream,
            socket,
            id,
            connections: self.clone(),
            _slot: slot,
        }
    }

    /// Called when hyper is done with connection `id`: if its socket is
    /// still open, the connection was upgraded and lives on in the handler.
    pub(super) fn served(&self, id: u64) {
        if let Some(socket) = self.0.open.borrow().get(&id) {
            self.mark_upgraded(socket);
        }
    }

    fn mark_upgraded(&self, socket: &Socket) {
        if !socket.upgraded.swap(true, Ordering::Relaxed) {
            self.0.upgrades.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Upgraded connections open now.
    pub(super) fn upgraded_now(&self) -> usize {
        let open = self.0.open.borrow();
        open.values().filter(|s| s.upgraded.load(Ordering::Relaxed)).count()
    }

    /// Connections upgraded so far.
    pub(super) fn upgrades(&self) -> usize {
        self.0.upgrades.load(Ordering::Relaxed)
    }

    /// Resolves once no socket is open.
    pub(super) async fn all_closed(&self) {
        let mut open = self.0.open.subscribe();
        let _ = open.wait_for(HashMap::is_empty).await;
    }

    /// Shuts down every socket still open (their reads end, their writes
    /// fail, the peer sees the connection closed) and returns how many.
    /// Any still open here outlived hyper's task: they count as upgraded.
    pub(super) fn cut(&self) -> usize {
        let open: Vec<Arc<Socket>> = self.0.open.borrow().values().cloned().collect();
        for socket in &open {
            self.mark_upgraded(socket);
            let open = socket.open();
            if *open && let Err(err) = nix::sys::socket::shutdown(socket.fd, nix::sys::socket::Shutdown::Both) {
                tracing::debug!(error = %err, "cannot shut down a connection's socket");
            }
        }
        open.len()
    }
}

/// A server's socket: reads and writes as the `TcpStream` it wraps, and
/// counts as open until dropped.
#[derive(Debug)]
pub(super) struct Counted {
    // Dropped after `Drop::drop` marked the socket closed.
    stream: TcpStream,
    socket: Arc<Socket>,
    id: u64,
    connections: Connections,
    /// Counted in `sockets` as long as the socket lives.
    _slot: Slot,
}

/// One socket in [`Connections::sockets`], from its accept until dropped
/// (held by the task serving it, then by its [`Counted`] stream).
#[derive(Debug)]
pub(super) struct Slot(Connections);

impl Drop for Slot {
    fn drop(&mut self) {
        let shared = &(self.0).0;
        shared.sockets.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!("http_connections_open").decrement(1.0);
        shared.closed.notify_one();
    }
}

impl Counted {
    /// Its key among the open sockets.
    pub(super) fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        // The stream (its descriptor) is closed after this, as a field.
        *self.socket.open() = false;
        self.connections.0.open.send_modify(|open| {
            open.remove(&self.id);
        });
    }
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
