//! Long-lived responses at shutdown, with real clients: a WebSocket on
//! `/ws` is closed with 1001 (going away) and a server-sent events stream on
//! `/events` ends with a last event, both as soon as the drain begins, and
//! both are counted in the shutdown report; when their handlers ignore the
//! signal, the drain's bound cuts them and counts them cut.

use crate::support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{DEADLINE, Demo, Running, config_dir};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// The drain's bound when the streams heed the signal: they must end long
/// before it.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The demo with [`DRAIN_TIMEOUT`], its streams heeding the signal.
fn heeding() -> Running {
    let timeout = format!("{}s", DRAIN_TIMEOUT.as_secs());
    Demo::new()
        .env("MICRO__SITE__SHUTDOWN__DRAIN_TIMEOUT", &timeout)
        .start()
}

/// A WebSocket on `/ws` that echoed once.
fn websocket(demo: &Running) -> WebSocket<TcpStream> {
    let addr = demo.addr.expect("the demo listens");
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("read timeout");
    let (mut socket, _) = tungstenite::client(format!("ws://{addr}/ws"), stream).expect("the upgrade");
    socket.send(Message::text("hello")).expect("send");
    assert_eq!(socket.read().expect("the echo"), Message::text("hello"));
    socket
}

/// An `/events` stream (HTTP/1.1, raw) that sent its first tick.
fn events(demo: &Running) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(demo.addr.expect("the demo listens")).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("read timeout");
    write!(stream, "GET /events?every=50 HTTP/1.1\r\nhost: test\r\n\r\n").expect("write");
    let mut received = Vec::new();
    let mut buf = [0_u8; 1024];
    while !String::from_utf8_lossy(&received).contains("event: tick") {
        let n = stream.read(&mut buf).expect("the stream answers");
        assert!(n > 0, "closed before a tick: {}", String::from_utf8_lossy(&received));
        received.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&received).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    (stream, head)
}

/// The rest of `stream` to its end: the bytes and how it ended (`Ok`: EOF).
fn rest(mut stream: TcpStream) -> (String, std::io::Result<usize>) {
    let mut rest = Vec::new();
    let end = stream.read_to_end(&mut rest);
    (String::from_utf8_lossy(&rest).into_owned(), end)
}

/// The drain part of the "stopped micro-demo" line.
fn drain_report(demo: &Running) -> String {
    let line = demo.wait_for_line("stopped micro-demo");
    let drain = line
        .split("; drain: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no drain in {line}"));
    drain.split("; ").next().unwrap_or_default().to_owned()
}

#[test]
fn a_websocket_is_closed_going_away_when_the_drain_begins_and_the_report_counts_it() {
    let mut demo = heeding();
    let mut socket = websocket(&demo);

    let signalled = Instant::now();
    demo.signal(Signal::SIGTERM);
    let close = loop {
        match socket.read().expect("a close frame, not a broken connection") {
            Message::Close(close) => break close.expect("a close code"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("only a close after the signal, not {other:?}"),
        }
    };
    let closed = signalled.elapsed();
    assert_eq!(close.code, CloseCode::Away, "{close:?}");
    assert_eq!(close.reason.as_str(), "going away");
    assert_eq!(demo.wait_exit().code(), Some(0), "{}", demo.stderr());
    let exited = signalled.elapsed();
    assert!(
        exited < DRAIN_TIMEOUT / 4,
        "closed in {closed:?}, exited in {exited:?}: the drain waited on the WebSocket"
    );
    assert_eq!(
        drain_report(&demo),
        "0 requests in flight, 0 completed, 0 cut off (0 connections), 1 upgraded connections (0 cut off)"
    );
}

#[test]
fn an_event_stream_ends_with_a_shutdown_event_when_the_drain_begins_and_the_report_counts_it() {
    let mut demo = heeding();
    let (stream, _) = events(&demo);

    let signalled = Instant::now();
    demo.signal(Signal::SIGTERM);
    let (rest, end) = rest(stream);
    assert!(end.is_ok(), "a clean end (EOF), not {end:?}; received {rest:?}");
    assert!(
        rest.ends_with("event: shutdown\ndata: going away\n\n\r\n0\r\n\r\n"),
        "the last event, then the end of the chunked body: {rest:?}"
    );
    assert_eq!(demo.wait_exit().code(), Some(0), "{}", demo.stderr());
    let exited = signalled.elapsed();
    assert!(exited < DRAIN_TIMEOUT / 4, "exited in {exited:?}");
    assert_eq!(
        drain_report(&demo),
        "1 requests in flight, 1 completed, 0 cut off (0 connections), 0 upgraded connections (0 cut off)"
    );
}

#[test]
fn streams_that_ignore_the_signal_are_cut_at_the_drain_bound_and_counted_cut() {
    let bound = Duration::from_millis(500);
    let dir = config_dir(&[("site.yaml", "shutdown:\n  drain_timeout: 500ms\n")]);
    let mut demo = Demo::new()
        .config(dir.path())
        .args(["--streams-ignore-shutdown"])
        .start();
    let mut socket = websocket(&demo);
    let (stream, _) = events(&demo);

    let signalled = Instant::now();
    demo.signal(Signal::SIGTERM);
    let (rest, _) = rest(stream);
    let events_ended = signalled.elapsed();
    assert!(!rest.contains("event: shutdown"), "{rest:?}");
    assert!(!rest.ends_with("0\r\n\r\n"), "cut, not ended: {rest:?}");
    let websocket_end = loop {
        match socket.read() {
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            other => break other,
        }
    };
    let websocket_ended = signalled.elapsed();
    assert!(
        !matches!(websocket_end, Ok(Message::Close(_))),
        "no close frame from a handler that ignores the signal: {websocket_end:?}"
    );
    assert!(
        events_ended >= bound && websocket_ended >= bound,
        "cut at the bound ({bound:?}), not before: events at {events_ended:?}, WebSocket at {websocket_ended:?}"
    );
    assert_eq!(demo.wait_exit().code(), Some(0), "{}", demo.stderr());
    assert_eq!(
        drain_report(&demo),
        "1 requests in flight, 0 completed, 1 cut off (1 connections), 1 upgraded connections (1 cut off)"
    );
}
