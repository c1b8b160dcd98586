//! The lifecycle's edges: a restart meeting a reload or a stop, a panic in
//! the service's own hook, reloads faster than on-reload callbacks, and a
//! run right after the last.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use micro_actors::{CallbackMsg, LoggerMsg};
use micro_config::{MemoryBackend, PreloadedConfig};
use tokio::sync::Notify;

use super::{BOUND, TURN, backend, child, poll};
use crate::{ExitKind, Phase, Service, ServiceBuilder, ServiceHandle, StartupPhase};

type Told = Arc<Mutex<Vec<Vec<String>>>>;

fn builder(backend: &MemoryBackend) -> ServiceBuilder {
    Service::builder("edges", "lifecycle edges").config(PreloadedConfig::new(["site", "demo"]).backend(backend.clone()))
}

/// An on-reload callback that records the keys it is told about.
fn recording(builder: ServiceBuilder, told: &Told) -> ServiceBuilder {
    let told = Arc::clone(told);
    builder.on_reload(move |changes| {
        told.lock().expect("told").push(changes.to_vec());
        async { Ok(()) }
    })
}

async fn start(service: Service) -> (ServiceHandle, tokio::task::JoinHandle<crate::ExitStatus>) {
    let handle = service.handle();
    let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    handle.wait_running(BOUND).await.expect("serving");
    (handle, run)
}

async fn joined(run: tokio::task::JoinHandle<crate::ExitStatus>) -> crate::ExitStatus {
    tokio::time::timeout(BOUND, run)
        .await
        .expect("in time")
        .expect("joined")
}

#[tokio::test]
async fn on_reload_callbacks_are_told_again_once_their_actor_was_restarted() {
    let _turn = TURN.lock().await;
    let (backend, told) = (backend(), Told::default());
    let (handle, run) = start(recording(builder(&backend), &told).build()).await;

    child::<CallbackMsg>(&handle).kill();
    poll("the on-reload callback's restart", async || {
        handle.status().restarts.get("callback reload[0]").copied()
    })
    .await;
    poll("the restarted on-reload callback", async || {
        let children = handle.supervisor()?.get_children();
        children
            .iter()
            .any(|cell| cell.is_message_type_of::<CallbackMsg>() == Some(true))
            .then_some(())
    })
    .await;
    backend.set_yaml("demo", "greeting: hey").expect("yaml");
    handle.reload().await.expect("reloaded");

    poll("the restarted callback told about the reload", async || {
        told.lock()
            .expect("told")
            .contains(&vec!["demo.greeting".to_owned()])
            .then_some(())
    })
    .await;
    handle.stop().expect("running");
    assert_eq!(joined(run).await.code(), 0);
}

#[tokio::test]
async fn a_new_log_level_applies_through_a_restarted_logger() {
    let _turn = TURN.lock().await;
    let backend = backend();
    let (handle, run) = start(builder(&backend).build()).await;
    assert!(
        !tracing::enabled!(target: "edges", tracing::Level::DEBUG),
        "info to begin with"
    );

    child::<LoggerMsg>(&handle).kill();
    poll("the logger's restart", async || {
        handle.status().restarts.get("logger").copied()
    })
    .await;
    let site = format!("{}logging:\n  level: debug\n", super::QUICK);
    backend.set_yaml("site", &site).expect("yaml");
    poll("the logger restarted and installed", async || {
        handle.reload().await.ok()?;
        tracing::enabled!(target: "edges", tracing::Level::DEBUG).then_some(())
    })
    .await;

    backend.set_yaml("site", super::QUICK).expect("yaml");
    handle.reload().await.expect("reloaded");
    poll("back to info", async || {
        (!tracing::enabled!(target: "edges", tracing::Level::DEBUG)).then_some(())
    })
    .await;
    handle.stop().expect("running");
    assert_eq!(joined(run).await.code(), 0);
}

#[tokio::test]
async fn a_panicking_log_configuration_hook_on_a_logger_restart_stops_the_service_with_1_and_a_reason() {
    let _turn = TURN.lock().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let service = builder(&backend())
        .log_configuration(move |_| {
            // The first call installs the logger at startup; the next come
            // with restarts.
            assert!(counted.fetch_add(1, Ordering::SeqCst) == 0, "hook exploded");
        })
        .build();
    let (handle, run) = start(service).await;

    child::<LoggerMsg>(&handle).kill();

    let exit = joined(run).await;
    assert_eq!(exit.kind, ExitKind::Failure, "{}", exit.reason);
    assert!(
        exit.reason
            .contains("the log_configuration hook panicked: hook exploded"),
        "{}",
        exit.reason
    );
    handle.wait_stopped(BOUND).await.expect("told Stopped");
    assert_eq!(handle.status().phase, Phase::Stopped);
    assert!(calls.load(Ordering::SeqCst) >= 2, "the hook ran again on the restart");
}

#[tokio::test]
async fn a_panicking_log_configuration_hook_at_a_reload_leaves_the_reload_and_later_ones_applied() {
    let _turn = TURN.lock().await;
    let (backend, told) = (backend(), Told::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let service = recording(builder(&backend), &told)
        .log_configuration(move |_| {
            // Startup is the first call, the first reload the second.
            assert!(counted.fetch_add(1, Ordering::SeqCst) != 1, "hook exploded");
        })
        .build();
    let (handle, run) = start(service).await;

    backend.set_yaml("demo", "greeting: hey").expect("yaml");
    assert_eq!(handle.reload().await.expect("reloaded").generation, 2);
    backend.set_yaml("demo", "greeting: ho").expect("yaml");
    assert_eq!(handle.reload().await.expect("reloaded").generation, 3);

    poll("both reloads told to the on-reload callback", async || {
        (told.lock().expect("told").len() == 2).then_some(())
    })
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(handle.status().phase, Phase::Running);
    handle.stop().expect("running");
    assert_eq!(joined(run).await.code(), 0);
}

#[tokio::test]
async fn a_slow_on_reload_callback_is_next_told_the_newest_generation_with_every_key_changed_since() {
    let _turn = TURN.lock().await;
    let (backend, told) = (backend(), Told::default());
    let gate = Arc::new(Notify::new());
    let entered = Arc::new(Notify::new());
    let (wait, say) = (Arc::clone(&gate), Arc::clone(&entered));
    let record = Arc::clone(&told);
    let service = builder(&backend)
        .on_reload(move |changes| {
            record.lock().expect("told").push(changes.to_vec());
            let (wait, say) = (Arc::clone(&wait), Arc::clone(&say));
            async move {
                say.notify_one();
                wait.notified().await;
                Ok(())
            }
        })
        .build();
    let (handle, run) = start(service).await;

    backend.set_yaml("demo", "greeting: one").expect("yaml");
    handle.reload().await.expect("reloaded");
    tokio::time::timeout(BOUND, entered.notified())
        .await
        .expect("the callback runs");
    // While it runs, three more generations, each changing another key.
    for (n, yaml) in [
        "greeting: one\na: 1",
        "greeting: one\na: 1\nb: 2",
        "greeting: two\na: 1\nb: 2",
    ]
    .into_iter()
    .enumerate()
    {
        backend.set_yaml("demo", yaml).expect("yaml");
        assert_eq!(handle.reload().await.expect("reloaded").generation, n as u64 + 3);
    }
    gate.notify_one();
    tokio::time::timeout(BOUND, entered.notified())
        .await
        .expect("told again");
    gate.notify_one();

    let told = told.lock().expect("told").clone();
    assert_eq!(
        told.len(),
        2,
        "one call for the generations that came meanwhile: {told:?}"
    );
    let mut merged = told[1].clone();
    merged.sort();
    assert_eq!(merged, ["demo.a", "demo.b", "demo.greeting"]);
    handle.stop().expect("running");
    assert_eq!(joined(run).await.code(), 0);
}

/// Two finish callbacks recording their names in the order they ran.
fn finishing(backend: &MemoryBackend, ran: &Arc<Mutex<Vec<&'static str>>>) -> Service {
    let (first, second) = (Arc::clone(ran), Arc::clone(ran));
    builder(backend)
        .finish_callback_named("first", move || {
            first.lock().expect("ran").push("first");
            async { Ok(()) }
        })
        .finish_callback_named("second", move || {
            second.lock().expect("ran").push("second");
            async { Ok(()) }
        })
        .build()
}

/// The CallbackActor of the finish callback registered first.
fn first_finish_actor(handle: &ServiceHandle) -> ractor::ActorCell {
    let supervisor = handle.supervisor().expect("running");
    let mut callbacks: Vec<_> = supervisor
        .get_children()
        .into_iter()
        .filter(|cell| cell.is_message_type_of::<CallbackMsg>() == Some(true))
        .collect();
    // Spawned in registration order: ids grow.
    callbacks.sort_by_key(ractor::ActorCell::get_id);
    callbacks.remove(0)
}

#[tokio::test]
async fn a_restarted_finish_callback_still_runs_in_registration_order() {
    let _turn = TURN.lock().await;
    let ran = Arc::default();
    let (handle, run) = start(finishing(&backend(), &ran)).await;

    first_finish_actor(&handle).kill();
    poll("the first finish callback's restart", async || {
        handle.status().restarts.get("callback first").copied()
    })
    .await;
    // The restart happens after a 10ms backoff, in a task: wait for it.
    poll("the restarted actor", async || {
        (handle.supervisor()?.get_children().len() >= 5).then_some(())
    })
    .await;
    handle.stop().expect("running");

    let exit = joined(run).await;
    assert_eq!(exit.code(), 0, "{}", exit.reason);
    assert_eq!(*ran.lock().expect("ran"), ["first", "second"]);
}

#[tokio::test]
async fn a_finish_callback_whose_restart_is_pending_when_the_stop_comes_still_runs() {
    let _turn = TURN.lock().await;
    let ran = Arc::default();
    let slow = "supervision:\n  backoff_initial: 60s\n  backoff_max: 60s\n  max_restarts: 1\n  restart_window: 10s\n";
    let backend = MemoryBackend::new()
        .with_yaml("site", slow)
        .and_then(|b| b.with_yaml("demo", "greeting: hi"))
        .expect("yaml");
    let (handle, run) = start(finishing(&backend, &ran)).await;

    first_finish_actor(&handle).kill();
    poll("the restart scheduled", async || {
        handle.status().restarts.get("callback first").copied()
    })
    .await;
    handle.stop().expect("running");

    let exit = joined(run).await;
    assert_eq!(exit.code(), 0, "{}", exit.reason);
    assert!(
        exit.report.callbacks_failed.is_empty(),
        "{:?}",
        exit.report.callbacks_failed
    );
    assert_eq!(*ran.lock().expect("ran"), ["first", "second"]);
}

#[tokio::test]
async fn each_startup_phase_is_recorded_once_and_in_order() {
    let _turn = TURN.lock().await;
    let (handle, run) = start(builder(&backend()).init_callback(|| async { Ok(()) }).build()).await;

    let phases: Vec<_> = handle.history().iter().map(|record| record.phase).collect();
    let expected = [
        StartupPhase::Config,
        StartupPhase::Logging,
        StartupPhase::Watch,
        StartupPhase::Init,
        StartupPhase::Http,
    ];
    assert_eq!(phases, expected.map(crate::LifecyclePhase::from));
    handle.stop().expect("running");
    assert_eq!(joined(run).await.code(), 0);
}

#[tokio::test]
async fn a_service_runs_again_as_soon_as_its_last_run_is_seen_stopped() {
    let _turn = TURN.lock().await;
    let service = builder(&backend()).build();
    let handle = service.handle();
    for round in 0..5 {
        let again = service.clone();
        let run = tokio::spawn(async move { again.debug("127.0.0.1", 0).await });
        handle.wait_running(BOUND).await.expect("serving");
        handle.stop().expect("running");
        handle.wait_stopped(BOUND).await.expect("stopped");
        let exit = handle.wait(BOUND).await.expect("an exit");
        assert_eq!(exit.code(), 0, "round {round}: {}", exit.reason);
        assert_eq!(joined(run).await.code(), 0, "round {round}");
    }
}

#[tokio::test]
async fn a_rerun_is_not_ready_on_the_last_runs_health_checks() {
    let _turn = TURN.lock().await;
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let check = Arc::clone(&healthy);
    let site = format!("{}health:\n  interval: 1h\n", super::QUICK);
    let backend = MemoryBackend::new()
        .with_yaml("site", &site)
        .and_then(|b| b.with_yaml("demo", "greeting: hi"))
        .expect("yaml");
    let service = builder(&backend)
        .health_check("database", move || {
            let healthy = check.load(Ordering::SeqCst);
            async move {
                if healthy {
                    Ok(())
                } else {
                    // Never answers within this test.
                    std::future::pending::<()>().await;
                    Ok(())
                }
            }
        })
        .build();
    let ready = |addr: std::net::SocketAddr| status_of(format!("http://{addr}/health/ready"));

    let (handle, run) = start(service.clone()).await;
    let addr = handle.status().addr.expect("listening");
    poll("ready on the first run", async || {
        (ready(addr).await == 200).then_some(())
    })
    .await;
    handle.stop().expect("running");
    assert_eq!(joined(run).await.code(), 0);

    healthy.store(false, Ordering::SeqCst);
    let (handle, run) = start(service).await;
    let addr = handle.status().addr.expect("listening");
    assert_eq!(ready(addr).await, 503, "the check has not passed in this run");
    handle.stop().expect("running");
    assert_eq!(joined(run).await.code(), 0);
}

/// The status code of a GET, with a blocking client off the runtime.
async fn status_of(url: String) -> u16 {
    tokio::task::spawn_blocking(move || match ureq::get(&url).call() {
        Ok(response) => response.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(err) => panic!("GET {url}: {err}"),
    })
    .await
    .expect("joined")
}
