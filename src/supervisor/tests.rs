//! Supervision of the core actors: each is killed from inside the process
//! while the service runs, as a bug in it would end it.

use std::time::Duration;

use micro_actors::{ConfigMsg, HttpMsg, LoggerMsg};
use micro_config::{MemoryBackend, PreloadedConfig};
use ractor::{ActorCell, Message};

use crate::{Service, ServiceHandle};

/// One service runs at a time in a process: the tests of this file take turns.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const BOUND: Duration = Duration::from_secs(20);

const QUICK: &str = "supervision:\n  backoff_initial: 10ms\n  max_restarts: 1\n  restart_window: 10s\n";

async fn running(backend: MemoryBackend) -> (ServiceHandle, tokio::task::JoinHandle<crate::ExitStatus>) {
    let service = Service::builder("supervised", "core actors")
        .config(PreloadedConfig::new(["site", "demo"]).backend(backend))
        .build();
    let handle = service.handle();
    let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    handle.wait_running(BOUND).await.expect("serving");
    (handle, run)
}

/// The supervisor's child that takes messages of type `M`.
fn child<M: Message>(handle: &ServiceHandle) -> ActorCell {
    let supervisor = handle.supervisor().expect("running");
    supervisor
        .get_children()
        .into_iter()
        .find(|cell| cell.is_message_type_of::<M>() == Some(true))
        .expect("such a child")
}

async fn poll<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn backend() -> MemoryBackend {
    MemoryBackend::new()
        .with_yaml("site", QUICK)
        .and_then(|b| b.with_yaml("demo", "greeting: hi"))
        .expect("yaml")
}

#[tokio::test]
async fn a_dead_config_actor_is_restarted_and_reloads_work_again() {
    let _turn = TURN.lock().await;
    let backend = backend();
    let (handle, run) = running(backend.clone()).await;

    child::<ConfigMsg>(&handle).kill();
    poll("the config actor's restart", async || {
        handle.status().restarts.get("config").copied()
    })
    .await;

    backend.set_yaml("demo", "greeting: hey").expect("yaml");
    let report = poll("a reload through the new config actor", async || {
        handle.reload().await.ok()
    })
    .await;
    assert_eq!(report.changed, ["demo.greeting"]);

    handle.stop().expect("running");
    assert_eq!(run.await.expect("joined").code(), 0);
}

#[tokio::test]
async fn a_logger_that_dies_twice_within_the_window_stops_the_service_with_1() {
    let _turn = TURN.lock().await;
    let (handle, run) = running(backend()).await;

    child::<LoggerMsg>(&handle).kill();
    poll("the logger's restart", async || {
        handle.status().restarts.get("logger").copied()
    })
    .await;
    poll("the new logger", async || {
        handle.supervisor().and_then(|s| {
            s.get_children()
                .into_iter()
                .find(|c| c.is_message_type_of::<LoggerMsg>() == Some(true))
        })
    })
    .await
    .kill();

    let exit = tokio::time::timeout(BOUND, run)
        .await
        .expect("in time")
        .expect("joined");
    assert_eq!(exit.code(), 1, "{}", exit.reason);
    assert!(
        exit.reason.contains("logger stopped: killed, its restart 2 within 10s"),
        "{}",
        exit.reason
    );
}

#[tokio::test]
async fn a_dead_http_actor_stops_the_service_with_1() {
    let _turn = TURN.lock().await;
    let (handle, run) = running(backend()).await;

    child::<HttpMsg>(&handle).kill();

    let exit = tokio::time::timeout(BOUND, run)
        .await
        .expect("in time")
        .expect("joined");
    assert_eq!(exit.code(), 1, "{}", exit.reason);
    assert!(exit.reason.contains("actor http stopped: killed"), "{}", exit.reason);
}

mod edges;
