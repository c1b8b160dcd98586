use std::io::{Read, Write};
use std::net::TcpStream;

use axum::routing::get;
use ractor::call;

use super::*;

fn sleepy_router() -> Router {
    Router::new().route("/", get(|| async { "ok" })).route(
        "/sleep/{ms}",
        get(|axum::extract::Path(ms): axum::extract::Path<u64>| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            "slept"
        }),
    )
}

/// Arguments for a loopback server on `port` (0: any free port).
fn args(router: Router, port: u16, header_read_timeout: Duration, in_flight: &InFlight) -> HttpArgs {
    let limits = HttpLimits {
        header_read_timeout,
        ..HttpLimits::default()
    };
    HttpArgs {
        router,
        listen: Listen::Bind {
            host: "127.0.0.1".into(),
            port,
        },
        limits,
        layers: HttpLayers::default(),
        readiness: Readiness::default(),
        in_flight: in_flight.clone(),
    }
}

async fn serving(router: Router) -> (ActorRef<HttpMsg>, SocketAddr, InFlight) {
    let in_flight = InFlight::default();
    let args = args(router, 0, Duration::from_secs(5), &in_flight);
    let (actor, _) = Actor::spawn(None, HttpActor, args).await.expect("spawn");
    let addr = call!(actor, HttpMsg::Serve).expect("call").expect("bind");
    (actor, addr, in_flight)
}

/// Drains the server within `bound`: what the drain did.
async fn drain(actor: &ActorRef<HttpMsg>, bound: Duration) -> DrainReport {
    call!(actor, |reply| HttpMsg::Drain { bound, reply }).expect("drained")
}

/// One HTTP/1.1 request on a blocking socket, answered in full.
fn get_blocking(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    write!(stream, "GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[tokio::test]
async fn a_request_in_flight_completes_during_the_drain() {
    let (actor, addr, in_flight) = serving(sleepy_router()).await;
    let request = tokio::task::spawn_blocking(move || get_blocking(addr, "/sleep/300"));
    wait_for_in_flight(&in_flight).await;
    let report = drain(&actor, Duration::from_secs(10)).await;
    let response = request.await.expect("joined").expect("answered");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("slept"), "{response}");
    assert_eq!(report.cut, 0, "{report}");
    assert!(
        TcpStream::connect(addr).is_err(),
        "the listener is closed after a drain"
    );
}

#[tokio::test]
async fn a_request_past_the_drain_bound_is_cut_and_counted() {
    let (actor, addr, in_flight) = serving(sleepy_router()).await;
    let request = tokio::task::spawn_blocking(move || get_blocking(addr, "/sleep/60000"));
    wait_for_in_flight(&in_flight).await;
    let report = drain(&actor, Duration::from_millis(100)).await;
    assert_eq!(report.cut, 1, "{report}");
    assert_eq!(report.cut_connections, 1, "{report}");
    let response = request.await.expect("joined").unwrap_or_default();
    assert!(!response.contains("slept"), "{response}");
}

#[tokio::test]
async fn a_port_in_use_is_a_bind_error_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let args = args(Router::new(), port, Duration::from_secs(5), &InFlight::default());
    let (actor, _) = Actor::spawn(None, HttpActor, args).await.expect("spawn");
    let err = call!(actor, HttpMsg::Serve).expect("call").expect_err("in use");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot listen on 127.0.0.1:{port}: ")),
        "{err}"
    );
}

/// Polls the in-flight count until a request is being handled.
async fn wait_for_in_flight(in_flight: &InFlight) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while in_flight.current() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no request in flight within 10s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_client_that_sends_nothing_is_disconnected_after_the_header_read_timeout() {
    let args = args(sleepy_router(), 0, Duration::from_millis(100), &InFlight::default());
    let (actor, _) = Actor::spawn(None, HttpActor, args).await.expect("spawn");
    let addr = call!(actor, HttpMsg::Serve).expect("call").expect("bind");
    let closed = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut buf = [0_u8; 16];
        stream.read(&mut buf)
    });
    let read = closed
        .await
        .expect("joined")
        .expect("the server closes, no read timeout");
    assert_eq!(read, 0, "the server closed the idle connection");
}

/// A server whose header read timeout is `timeout`.
async fn serving_with_header_timeout(router: Router, timeout: Duration) -> (ActorRef<HttpMsg>, SocketAddr) {
    let args = args(router, 0, timeout, &InFlight::default());
    let (actor, _) = Actor::spawn(None, HttpActor, args).await.expect("spawn");
    let addr = call!(actor, HttpMsg::Serve).expect("call").expect("bind");
    (actor, addr)
}

#[tokio::test]
async fn a_kept_alive_connection_asking_nothing_more_is_closed_after_the_header_read_timeout() {
    let timeout = Duration::from_millis(200);
    let (_actor, addr) = serving_with_header_timeout(sleepy_router(), timeout).await;
    let closed_after = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(stream, "GET / HTTP/1.1\r\nhost: test\r\n\r\n")?;
        let mut received = Vec::new();
        let mut buf = [0_u8; 1024];
        while !received.ends_with(b"ok") {
            let n = stream.read(&mut buf)?;
            assert!(
                n > 0,
                "closed before the answer: {:?}",
                String::from_utf8_lossy(&received)
            );
            received.extend_from_slice(&buf[..n]);
        }
        let answered = std::time::Instant::now();
        let n = stream.read(&mut buf)?;
        Ok::<_, std::io::Error>((n, answered.elapsed()))
    });
    let (read, after) = closed_after
        .await
        .expect("joined")
        .expect("the server closes, no read timeout");
    assert_eq!(read, 0, "the server closed the idle connection");
    assert!(
        after >= timeout,
        "closed {after:?} after the answer, before the timeout"
    );
}

#[tokio::test]
async fn a_slow_handler_and_a_slow_stream_are_not_cut_by_the_header_read_timeout() {
    let router = Router::new().route(
        "/drip",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let drops = futures::stream::unfold(0_u8, |n| async move {
                if n == 3 {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'a' + n])), n + 1))
            });
            axum::body::Body::from_stream(drops)
        }),
    );
    let (_actor, addr) = serving_with_header_timeout(router, Duration::from_millis(100)).await;
    let response = tokio::task::spawn_blocking(move || get_blocking(addr, "/drip"))
        .await
        .expect("joined")
        .expect("answered");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n"),
        "every chunk, 300ms apart: {response:?}"
    );
}

#[tokio::test]
async fn a_streaming_response_counts_as_in_flight_until_its_body_is_sent() {
    let router = Router::new().route(
        "/stream",
        get(|| async {
            let first = futures::stream::once(async { Ok::<_, std::io::Error>(axum::body::Bytes::from("first")) });
            let never = futures::stream::once(async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(axum::body::Bytes::from("never"))
            });
            axum::body::Body::from_stream(futures::StreamExt::chain(first, never))
        }),
    );
    let (actor, addr, in_flight) = serving(router).await;
    let (headers_seen, seen) = std::sync::mpsc::channel();
    let request = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr)?;
        write!(stream, "GET /stream HTTP/1.1\r\nhost: test\r\n\r\n")?;
        let mut received = Vec::new();
        let mut buf = [0_u8; 1024];
        while !String::from_utf8_lossy(&received).contains("first") {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buf[..n]);
        }
        let _ = headers_seen.send(());
        stream.read_to_end(&mut received)
    });
    tokio::task::spawn_blocking(move || seen.recv_timeout(Duration::from_secs(10)))
        .await
        .expect("joined")
        .expect("the first chunk arrived");
    assert_eq!(
        in_flight.current(),
        1,
        "the handler returned but its body is still streaming"
    );

    let report = drain(&actor, Duration::from_millis(100)).await;
    assert_eq!((report.in_flight, report.cut), (1, 1), "{report}");
    let _ = request.await.expect("joined");
}

#[tokio::test]
async fn draining_twice_returns_the_first_report_and_serving_after_a_drain_fails() {
    let (actor, _addr, _) = serving(sleepy_router()).await;
    let bound = Duration::from_secs(1);
    let first = call!(actor, |reply| HttpMsg::Drain { bound, reply }).expect("first drain");
    let second = call!(actor, |reply| HttpMsg::Drain { bound, reply }).expect("second drain answers, no panic");
    assert_eq!(first, second);
    let served = call!(actor, HttpMsg::Serve).expect("the actor is alive");
    assert!(served.is_err(), "a drained server cannot serve again");
}

mod handover;
mod upgrades;
