//! Init and finish callbacks, run in process through the real supervisor
//! and actors, on a real socket.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use micro::config::{MemoryBackend, PreloadedConfig};
use micro::{ExitStatus, Service, ServiceBuilder};

/// One service runs at a time in a process: the tests of this file take turns.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const BOUND: Duration = Duration::from_secs(20);

type Journal = Arc<Mutex<Vec<String>>>;

fn note(journal: &Journal, entry: &str) {
    journal.lock().expect("journal").push(entry.to_owned());
}

/// A callback that does not finish by itself.
async fn never_finishes() -> Result<(), micro::BoxError> {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    Ok(())
}

/// A config whose site document is `yaml` over the defaults.
fn site(yaml: &str) -> PreloadedConfig {
    PreloadedConfig::new(["site"]).backend(MemoryBackend::new().with_yaml("site", yaml).expect("yaml"))
}

/// Registers init and finish callbacks named `names` that note their name.
fn with_callbacks(mut builder: ServiceBuilder, journal: &Journal, names: &[&str]) -> ServiceBuilder {
    for name in names {
        let (journal, entry) = (Arc::clone(journal), (*name).to_owned());
        let finish = name.starts_with("finish");
        let f = move || {
            let (journal, entry) = (Arc::clone(&journal), entry.clone());
            async move {
                note(&journal, &entry);
                Ok(())
            }
        };
        builder = if finish {
            builder.finish_callback(f)
        } else {
            builder.init_callback(f)
        };
    }
    builder
}

/// Runs `service` until it is serving, stops it through its handle, and
/// returns how it ended.
async fn run_and_stop(service: Service) -> ExitStatus {
    let handle = service.handle();
    let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    handle.wait_running(BOUND).await.expect("serving");
    handle.stop().expect("running");
    tokio::time::timeout(BOUND, run)
        .await
        .expect("stopped in time")
        .expect("joined")
}

/// Runs `service` expecting startup to fail, and returns how it ended.
async fn run_failing(service: Service) -> ExitStatus {
    tokio::time::timeout(BOUND, service.debug("127.0.0.1", 0))
        .await
        .expect("ended in time")
}

#[tokio::test]
async fn init_and_finish_callbacks_run_in_registration_order() {
    let _turn = TURN.lock().await;
    let journal = Journal::default();
    let builder = Service::builder("order", "callback order");
    let service = with_callbacks(
        builder,
        &journal,
        &["init a", "finish a", "init b", "finish b", "init c"],
    )
    .build();

    let exit = run_and_stop(service).await;

    assert_eq!(exit.code(), 0, "{}", exit.reason);
    assert_eq!(
        *journal.lock().expect("journal"),
        ["init a", "init b", "init c", "finish a", "finish b"]
    );
}

#[tokio::test]
async fn actors_stop_in_reverse_start_order() {
    let _turn = TURN.lock().await;
    let journal = Journal::default();
    let service = with_callbacks(
        Service::builder("reverse", "stop order"),
        &journal,
        &["init a", "finish a"],
    )
    .build();

    let exit = run_and_stop(service).await;

    assert_eq!(
        exit.report.stopped,
        ["http", "callback finish[0]", "callback init[0]", "logger", "config"]
    );
    assert!(exit.report.killed.is_empty(), "{:?}", exit.report.killed);
    let phases: Vec<&str> = exit.report.phases.iter().map(|(phase, _)| phase.as_str()).collect();
    assert_eq!(phases, ["unready", "drain", "finish", "flush", "stop"]);
}

#[tokio::test]
async fn a_failing_init_callback_stops_the_started_actors_in_reverse_and_exits_70() {
    let _turn = TURN.lock().await;
    let journal = Journal::default();
    let builder = with_callbacks(Service::builder("failing", "init fails"), &journal, &["init a"])
        .init_callback(|| async { Err(std::io::Error::other("no database").into()) });
    let service = with_callbacks(builder, &journal, &["init c", "finish a"]).build();

    let exit = run_failing(service).await;

    assert_eq!(exit.code(), 70, "{}", exit.reason);
    assert!(
        exit.reason.contains("callback init[1] failed: no database"),
        "{}",
        exit.reason
    );
    assert_eq!(
        exit.report.stopped,
        ["callback init[1]", "callback init[0]", "logger", "config"]
    );
    // Later init callbacks never run; finish callbacks run only for a service that ran.
    assert_eq!(*journal.lock().expect("journal"), ["init a"]);
}

#[tokio::test]
async fn a_panicking_init_callback_exits_70_with_the_panic_message() {
    let _turn = TURN.lock().await;
    let service = Service::builder("panicking", "init panics")
        .init_callback(|| async {
            if true {
                panic!("migrations are broken");
            }
            Ok(())
        })
        .build();

    let exit = run_failing(service).await;

    assert_eq!(exit.code(), 70, "{}", exit.reason);
    assert!(
        exit.reason.contains("panicked: migrations are broken"),
        "{}",
        exit.reason
    );
}

#[tokio::test]
async fn an_init_callback_past_its_bound_exits_70_naming_the_bound() {
    let _turn = TURN.lock().await;
    let service = Service::builder("slow", "init hangs")
        .config(site("startup:\n  init_timeout: 50ms\n"))
        .init_callback(never_finishes)
        .build();

    let exit = run_failing(service).await;

    assert_eq!(exit.code(), 70, "{}", exit.reason);
    assert!(
        exit.reason.contains("callback init[0] did not finish within 50ms"),
        "{}",
        exit.reason
    );
}

#[tokio::test]
async fn a_failing_finish_callback_does_not_stop_the_others() {
    let _turn = TURN.lock().await;
    let journal = Journal::default();
    let builder = Service::builder("finishing", "finish fails")
        .finish_callback(|| async { Err(std::io::Error::other("flush failed").into()) });
    let service = with_callbacks(builder, &journal, &["finish b"]).build();

    let exit = run_and_stop(service).await;

    assert_eq!(*journal.lock().expect("journal"), ["finish b"]);
    assert_eq!(
        exit.report.callbacks_failed,
        ["callback finish[0] failed: flush failed"]
    );
}

#[tokio::test]
async fn reload_through_the_handle_reports_changes_and_rejections() {
    let _turn = TURN.lock().await;
    let backend = MemoryBackend::new().with_yaml("demo", "greeting: hi").expect("yaml");
    let service = Service::builder("reloading", "reloads")
        .config(PreloadedConfig::new(["demo"]).backend(backend.clone()))
        .build();
    let handle = service.handle();
    let config = service.config().clone();
    let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    handle.wait_running(BOUND).await.expect("serving");

    backend.set_yaml("demo", "greeting: hey").expect("yaml");
    let report = handle.reload().await.expect("valid");
    assert_eq!(
        (report.generation, report.changed.as_slice()),
        (2, ["demo.greeting".to_owned()].as_slice())
    );
    assert_eq!(config.get_path::<String>("demo.greeting").expect("read"), "hey");

    backend.set_yaml("site", "logging:\n  level: 5\n").expect("yaml");
    let err = handle.reload().await.expect_err("invalid");
    assert!(err.to_string().contains("site.logging.level"), "{err}");
    assert_eq!(config.generation(), 2);

    backend
        .set_yaml("site", "logging:\n  level: \"info,=[\"\n")
        .expect("yaml");
    let err = handle.reload().await.expect_err("not a filter");
    assert!(
        err.to_string()
            .contains("site.logging.level: \"info,=[\" is not a log filter"),
        "{err}"
    );
    assert_eq!(config.generation(), 2);

    handle.stop().expect("running");
    let exit = tokio::time::timeout(BOUND, run)
        .await
        .expect("in time")
        .expect("joined");
    assert_eq!(exit.code(), 0);
    assert!(handle.reload().await.is_err(), "no reload after the stop");
}

#[tokio::test]
async fn a_service_runs_once_at_a_time() {
    let _turn = TURN.lock().await;
    let service = Service::builder("once", "runs once").build();
    let handle = service.handle();
    let first = tokio::spawn({
        let service = service.clone();
        async move { service.debug("127.0.0.1", 0).await }
    });
    handle.wait_running(BOUND).await.expect("serving");

    let second = service.debug("127.0.0.1", 0).await;
    assert_eq!(second.code(), 70, "{}", second.reason);
    assert!(second.reason.contains("already running"), "{}", second.reason);

    handle.stop().expect("the first run is still running");
    let first = tokio::time::timeout(BOUND, first)
        .await
        .expect("in time")
        .expect("joined");
    assert_eq!(first.code(), 0, "{}", first.reason);
}

#[tokio::test]
async fn readiness_turns_503_for_the_pre_drain_delay_while_requests_are_still_served() {
    let _turn = TURN.lock().await;
    let service = Service::builder("delayed", "drains late")
        // Long enough for two requests after readiness turned, however loaded the machine.
        .config(site("shutdown:\n  pre_drain_delay: 3s\n"))
        .build();
    let handle = service.handle();
    let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    let addr = handle.wait_running(BOUND).await.expect("serving");
    let ready = format!("http://{addr}/health/ready");
    let live = format!("http://{addr}/health/live");
    let status = |url: String| async move {
        tokio::task::spawn_blocking(move || match ureq::get(&url).call() {
            Ok(response) => response.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(err) => panic!("{url}: {err}"),
        })
        .await
        .expect("joined")
    };
    assert_eq!(status(ready.clone()).await, 200);

    handle.stop().expect("running");
    // Within the delay the listener stays open: readiness turns 503 while
    // liveness (and every other route) is still served.
    let deadline = tokio::time::Instant::now() + BOUND;
    while status(ready.clone()).await != 503 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "readiness still 200 {BOUND:?} after stop()"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(status(live).await, 200);
    assert_eq!(
        handle.status().phase,
        micro::Phase::Stopping,
        "served while stopping, not before"
    );

    let exit = tokio::time::timeout(BOUND, run)
        .await
        .expect("in time")
        .expect("joined");
    let unready = exit
        .report
        .phases
        .iter()
        .find(|(phase, _)| *phase == micro::ShutdownPhase::Unready)
        .expect("phase");
    assert!(unready.1 >= Duration::from_secs(3), "{:?}", exit.report.phases);
}

#[tokio::test]
async fn a_stop_during_a_slow_init_callback_stops_what_started_and_exits_0() {
    let _turn = TURN.lock().await;
    let entered = Arc::new(tokio::sync::Notify::new());
    let signal = Arc::clone(&entered);
    // The default bound (2s): the actors that are idle (logger, config) stop
    // well within it on a loaded machine; only the busy one reaches it.
    let service = Service::builder("slow-start", "init blocks")
        .config(site("shutdown:\n  actor_stop_timeout: 2s\n"))
        .init_callback(move || {
            let entered = Arc::clone(&signal);
            async move {
                entered.notify_one();
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            }
        })
        .build();
    let handle = service.handle();
    let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    tokio::time::timeout(BOUND, entered.notified())
        .await
        .expect("init started");

    handle.stop().expect("starting counts as running for stop");
    let exit = tokio::time::timeout(BOUND, run)
        .await
        .expect("in time")
        .expect("joined");

    assert_eq!(exit.code(), 0, "{}", exit.reason);
    assert_eq!(exit.report.stopped, ["callback init[0]", "logger", "config"]);
    // Busy in its callback, the actor could not stop between messages: it
    // was killed at site.shutdown.actor_stop_timeout.
    let stop = exit
        .report
        .phases
        .iter()
        .find(|(phase, _)| *phase == micro::ShutdownPhase::Stop)
        .expect("the stop phase");
    assert!(
        stop.1 >= Duration::from_secs(2),
        "killed at its bound: {:?}",
        exit.report.phases
    );
    assert_eq!(exit.report.killed, ["callback init[0]"]);
    assert!(
        handle.history().iter().all(|step| step.phase.stage() == "shutdown"),
        "startup never completed"
    );
}

#[tokio::test]
async fn a_finish_callback_past_its_bound_is_cut_and_the_next_still_runs() {
    let _turn = TURN.lock().await;
    let journal = Journal::default();
    // The bound applies to each finish callback: wide enough for the one
    // that returns at once to do so on a loaded machine.
    let builder = Service::builder("hanging", "finish hangs")
        .config(site("shutdown:\n  finish_timeout: 1s\n"))
        .finish_callback(never_finishes);
    let service = with_callbacks(builder, &journal, &["finish b"]).build();

    let exit = run_and_stop(service).await;

    assert_eq!(exit.code(), 0, "{}", exit.reason);
    assert_eq!(
        exit.report.callbacks_failed,
        ["callback finish[0] did not finish within 1s"]
    );
    assert_eq!(*journal.lock().expect("journal"), ["finish b"]);
}

#[tokio::test]
async fn startup_past_its_total_bound_stops_naming_the_step_it_was_stuck_in() {
    let _turn = TURN.lock().await;
    let service = Service::builder("stuck", "startup too slow")
        // Config and logging, before the init step, are done well within it
        // on a loaded machine.
        .config(site("startup:\n  timeout: 2s\n"))
        .init_callback(never_finishes)
        .build();

    let exit = run_failing(service).await;

    assert_eq!(exit.code(), 70, "{}", exit.reason);
    assert!(
        exit.reason
            .contains("startup did not finish within 2s (stuck in: init; bound: site.startup.timeout)"),
        "{}",
        exit.reason
    );
}

#[tokio::test]
async fn a_shutdown_past_its_total_bound_is_cut_and_the_actors_still_stop() {
    let _turn = TURN.lock().await;
    let site = MemoryBackend::new()
        .with_yaml(
            "site",
            // unready and drain (nothing in flight) are done well within
            // the total on a loaded machine: the finish phase is what it cuts.
            "shutdown:\n  total: 2s\n  finish_timeout: 1h\n  drain_timeout: 100ms\n",
        )
        .expect("yaml");
    let service = Service::builder("overtime", "finish takes forever")
        .config(PreloadedConfig::new(["site"]).backend(site))
        .finish_callback(never_finishes)
        .build();

    let exit = run_and_stop(service).await;

    assert_eq!(exit.code(), 0, "{}", exit.reason);
    let phases: Vec<&str> = exit.report.phases.iter().map(|(phase, _)| phase.as_str()).collect();
    assert_eq!(
        phases,
        ["unready", "drain", "finish", "stop"],
        "finish was cut, flush never began"
    );
    assert_eq!(exit.report.stopped.last().map(String::as_str), Some("config"));
}
