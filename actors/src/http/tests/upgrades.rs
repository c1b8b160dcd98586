//! Upgraded connections (what a WebSocket is, at the socket): the drain
//! waits for them, shuts down the ones still open at its bound, and counts
//! both; every request carries the shutdown signal.

use super::*;

use axum::body::Body;
use axum::http::{StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt as _;

use crate::worker::Shutdown;

/// `GET /up` switches to a protocol of its own: the server writes `hi`,
/// waits for the shutdown signal when `heed`, else forever, writes `bye`.
fn upgrading(heed: bool) -> Router {
    Router::new().route(
        "/up",
        get(
            move |shutdown: Shutdown, mut request: axum::extract::Request| async move {
                let upgrade = hyper::upgrade::on(&mut request);
                tokio::spawn(async move {
                    let Ok(upgraded) = upgrade.await else { return };
                    let mut io = TokioIo::new(upgraded);
                    let _ = io.write_all(b"hi").await;
                    if heed {
                        shutdown.requested().await;
                    } else {
                        std::future::pending::<()>().await;
                    }
                    let _ = io.write_all(b"bye").await;
                });
                axum::http::Response::builder()
                    .status(StatusCode::SWITCHING_PROTOCOLS)
                    .header(header::CONNECTION, "upgrade")
                    .header(header::UPGRADE, "test")
                    .body(Body::empty())
                    .expect("a response")
            },
        ),
    )
}

/// Opens `/up` and reads up to its `hi`: the connection is upgraded.
fn upgraded(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(
        stream,
        "GET /up HTTP/1.1\r\nhost: test\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n"
    )
    .expect("write");
    let mut received = Vec::new();
    let mut buf = [0_u8; 256];
    while !received.ends_with(b"hi") {
        let n = stream.read(&mut buf).expect("the server answers");
        assert!(n > 0, "closed before hi: {}", String::from_utf8_lossy(&received));
        received.extend_from_slice(&buf[..n]);
    }
    assert!(
        received.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&received)
    );
    stream
}

/// What the server sent next, to its end (a read error fails the test).
fn rest(mut stream: TcpStream) -> String {
    let mut rest = String::new();
    stream.read_to_string(&mut rest).expect("a clean end");
    rest
}

/// Serves [`upgrading`], upgrades a connection, drains within `bound`:
/// what the drain did and what the client received after `hi`.
async fn upgraded_then_drained(heed: bool, bound: Duration) -> (DrainReport, String) {
    let (actor, addr, _) = serving(upgrading(heed)).await;
    let stream = tokio::task::spawn_blocking(move || upgraded(addr))
        .await
        .expect("joined");
    let report = drain(&actor, bound).await;
    assert_eq!(
        (report.in_flight, report.cut, report.cut_connections),
        (0, 0, 0),
        "an upgraded connection is no request: {report}"
    );
    let rest = tokio::task::spawn_blocking(move || rest(stream)).await.expect("joined");
    (report, rest)
}

#[tokio::test]
async fn an_upgraded_connection_that_ends_on_the_signal_is_waited_for_and_counted() {
    let (report, rest) = upgraded_then_drained(true, Duration::from_secs(10)).await;
    assert_eq!((report.upgraded, report.cut_upgraded), (1, 0), "{report}");
    assert!(report.took < Duration::from_secs(5), "{report} in {:?}", report.took);
    assert_eq!(rest, "bye", "the handler saw the signal and finished");
}

#[tokio::test]
async fn an_upgraded_connection_that_ignores_the_signal_is_shut_down_at_the_bound_and_counted() {
    let bound = Duration::from_millis(200);
    let (report, rest) = upgraded_then_drained(false, bound).await;
    assert_eq!((report.upgraded, report.cut_upgraded), (1, 1), "{report}");
    assert!(report.took >= bound, "{report} in {:?}", report.took);
    // Its handler never touches the socket again: it is shut down from outside.
    assert_eq!(rest, "", "closed at the bound, nothing more sent");
}

#[tokio::test]
async fn idle_connections_close_and_count_as_nothing_while_a_busy_one_is_cut() {
    let (actor, addr, in_flight) = serving(sleepy_router()).await;
    let idle: Vec<TcpStream> = tokio::task::spawn_blocking(move || {
        (0..3)
            .map(|_| {
                let mut stream = TcpStream::connect(addr).expect("connect");
                stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
                write!(stream, "GET / HTTP/1.1\r\nhost: test\r\n\r\n").expect("write");
                let mut buf = [0_u8; 512];
                assert!(stream.read(&mut buf).expect("answered") > 0);
                stream
            })
            .collect()
    })
    .await
    .expect("joined");
    let busy = tokio::task::spawn_blocking(move || get_blocking(addr, "/sleep/60000"));
    wait_for_in_flight(&in_flight).await;
    let report = drain(&actor, Duration::from_millis(300)).await;
    assert_eq!(
        (report.in_flight, report.completed, report.cut, report.cut_connections),
        (1, 0, 1, 1),
        "{report}"
    );
    assert_eq!((report.upgraded, report.cut_upgraded), (0, 0), "{report}");
    let _ = busy.await.expect("joined");
    for stream in idle {
        assert_eq!(rest(stream), "", "an idle connection is closed by the drain");
    }
}

#[tokio::test]
async fn every_request_carries_the_shutdown_signal_requested_when_the_drain_begins() {
    let router = Router::new().route(
        "/wait",
        get(|shutdown: Shutdown| async move {
            let before = shutdown.is_requested();
            shutdown.requested().await;
            format!("requested before: {before}")
        }),
    );
    let (actor, addr, in_flight) = serving(router).await;
    let request = tokio::task::spawn_blocking(move || get_blocking(addr, "/wait"));
    wait_for_in_flight(&in_flight).await;
    let report = drain(&actor, Duration::from_secs(10)).await;
    assert_eq!((report.in_flight, report.completed, report.cut), (1, 1, 0), "{report}");
    let response = request.await.expect("joined").expect("answered");
    assert!(response.ends_with("requested before: false"), "{response}");
}
