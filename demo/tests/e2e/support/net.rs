//! Client sides of the network: a bounded HTTP client and a look at what
//! a connection's peer did.

use super::DEADLINE;

/// An HTTP client whose every call is bounded by [`DEADLINE`].
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(DEADLINE).build()
}

/// The status of a call, 4xx and 5xx included; panics on anything else
/// (a connection that closed, a timeout).
pub fn status(result: Result<ureq::Response, ureq::Error>) -> u16 {
    match result {
        Ok(response) => response.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(err) => panic!("no HTTP answer: {err}"),
    }
}

/// GET `url` with a bounded wait: the status and body.
pub fn get(url: &str) -> (u16, String) {
    match agent().get(url).call() {
        Ok(response) => (response.status(), response.into_string().expect("a text body")),
        Err(ureq::Error::Status(code, response)) => (code, response.into_string().unwrap_or_default()),
        Err(err) => panic!("GET {url}: {err}"),
    }
}

/// What a connection's peer did, seen without waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// Nothing to read and no end: the peer holds the connection open.
    Open,
    /// End of stream or a reset: the peer closed the connection.
    Closed,
    /// It sent bytes.
    Sent(Vec<u8>),
    /// Any other error.
    Failed(std::io::ErrorKind),
}

/// Whether the peer of `stream` closed it, held it open or sent something,
/// without blocking (the stream is left non-blocking). A timeout or any
/// error other than a reset is not a close.
pub fn peer(stream: &mut std::net::TcpStream) -> Peer {
    use std::io::{ErrorKind, Read as _};
    stream.set_nonblocking(true).expect("non-blocking");
    let mut buffer = [0_u8; 256];
    match stream.read(&mut buffer) {
        Ok(0) => Peer::Closed,
        Ok(n) => Peer::Sent(buffer[..n].to_vec()),
        Err(err) if err.kind() == ErrorKind::WouldBlock => Peer::Open,
        Err(err) if matches!(err.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => Peer::Closed,
        Err(err) => Peer::Failed(err.kind()),
    }
}
