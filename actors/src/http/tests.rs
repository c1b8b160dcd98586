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

async fn serving(router: Router) -> (ActorRef<HttpMsg>, SocketAddr, InFlight) {
    let in_flight = InFlight::default();
    let args = HttpArgs {
        router,
        listen: Listen::Bind {
            host: "127.0.0.1".into(),
            port: 0,
        },
        header_read_timeout: Duration::from_secs(5),
        readiness: Readiness::default(),
        in_flight: in_flight.clone(),
    };
    let (actor, _) = Actor::spawn(None, HttpActor, args).await.expect("spawn");
    let addr = call!(actor, HttpMsg::Serve).expect("call").expect("bind");
    (actor, addr, in_flight)
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
    let report = call!(actor, |reply| HttpMsg::Drain {
        bound: Duration::from_secs(10),
        reply
    })
    .expect("drained");
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
    let report = call!(actor, |reply| HttpMsg::Drain {
        bound: Duration::from_millis(100),
        reply
    })
    .expect("drained");
    assert_eq!(report.cut, 1, "{report}");
    assert_eq!(report.cut_connections, 1, "{report}");
    let response = request.await.expect("joined").unwrap_or_default();
    assert!(!response.contains("slept"), "{response}");
}

#[tokio::test]
async fn a_port_in_use_is_a_bind_error_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let args = HttpArgs {
        router: Router::new(),
        listen: Listen::Bind {
            host: "127.0.0.1".into(),
            port,
        },
        header_read_timeout: Duration::from_secs(5),
        readiness: Readiness::default(),
        in_flight: InFlight::default(),
    };
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
