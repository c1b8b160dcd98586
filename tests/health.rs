//! Registered readiness checks: run off the request path on an interval,
//! their results in `/health/ready`, a failing one turning it 503 without
//! stopping the service.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use micro::Service;
use micro::config::{MemoryBackend, PreloadedConfig};

/// One service runs at a time in a process: the tests of this file take turns.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const BOUND: Duration = Duration::from_secs(20);

async fn ready(url: &str) -> (u16, serde_json::Value) {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let (code, body) = match ureq::get(&url).call() {
            Ok(response) => (response.status(), response.into_string().expect("text")),
            Err(ureq::Error::Status(code, response)) => (code, response.into_string().expect("text")),
            Err(err) => panic!("{url}: {err}"),
        };
        (code, serde_json::from_str(&body).expect("JSON"))
    })
    .await
    .expect("joined")
}

async fn until(url: &str, code: u16) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let (got, body) = ready(url).await;
        if got == code {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/health/ready never answered {code}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_failing_check_turns_readiness_503_until_it_passes_again() {
    let _turn = TURN.lock().await;
    let healthy = Arc::new(AtomicBool::new(true));
    let probe = Arc::clone(&healthy);
    let site = MemoryBackend::new()
        .with_yaml("site", "health:\n  interval: 20ms\n  timeout: 1s\n")
        .expect("yaml");
    let service = Service::builder("checked", "has a database")
        .config(PreloadedConfig::new(["site"]).backend(site))
        .health_check("database", move || {
            let healthy = probe.load(Ordering::SeqCst);
            async move {
                if healthy {
                    Ok(())
                } else {
                    Err(std::io::Error::other("connection refused").into())
                }
            }
        })
        .build();
    let handle = service.handle();
    let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    let addr = handle.wait_running(BOUND).await.expect("serving");
    let url = format!("http://{addr}/health/ready");

    let body = until(&url, 200).await;
    assert_eq!(body["checks"]["database"]["ok"], true, "{body}");
    assert!(body["checks"]["database"]["at"].is_string(), "{body}");

    healthy.store(false, Ordering::SeqCst);
    let body = until(&url, 503).await;
    assert_eq!(
        body["checks"]["database"]["error"], "callback database failed: connection refused",
        "{body}"
    );
    assert_eq!(
        handle.status().phase,
        micro::Phase::Running,
        "a failing check does not stop the service"
    );

    healthy.store(true, Ordering::SeqCst);
    until(&url, 200).await;
    handle.stop().expect("running");
    assert_eq!(
        tokio::time::timeout(BOUND, run)
            .await
            .expect("in time")
            .expect("joined")
            .code(),
        0
    );
}
