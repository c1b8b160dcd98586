//! Stop signals meeting a stop under way, with real signals: each case runs
//! in a process of its own (this binary re-executed on an `#[ignore]`d
//! child test), since it installs the process's signal handlers.

mod logged;
mod reexec;

use micro::config::{MemoryBackend, PreloadedConfig};
use nix::sys::signal::{Signal, raise};
use reexec::{BOUND, Child, is_child, tell_parent};

#[test]
fn a_first_sigterm_while_the_actors_stop_after_a_handle_stop_keeps_exit_0() {
    let mut child = Child::start("child_raises_sigterm_while_its_actors_stop", true);
    let status = child.wait();
    let stdout = child.stdout();
    assert!(status.success(), "{status}\n{stdout}\n{}", child.stderr());
    assert!(stdout.contains("exit 0; killed: callback hang"), "{stdout}");
}

/// Raises SIGTERM once the http actor has stopped: the supervisor is then
/// stopping its other actors, one of them busy.
struct RaiseAfterHttpStopped;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RaiseAfterHttpStopped {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if logged::message(event).starts_with("stopped actor http in") {
            raise(Signal::SIGTERM).expect("raised");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child of a_first_sigterm_while_the_actors_stop_after_a_handle_stop_keeps_exit_0"]
async fn child_raises_sigterm_while_its_actors_stop() {
    if !is_child("child_raises_sigterm_while_its_actors_stop") {
        return;
    }
    let site = "logging: {level: debug}\nshutdown: {actor_stop_timeout: 1s}\n";
    let backend = MemoryBackend::new()
        .with_yaml("site", site)
        .and_then(|b| b.with_yaml("demo", "n: 1"))
        .expect("yaml");
    let (busy, started) = tokio::sync::oneshot::channel::<()>();
    let busy = std::sync::Mutex::new(Some(busy));
    let service = micro::Service::builder("stopper", "stopped from code, then signalled")
        .config(PreloadedConfig::new(["site", "demo"]).backend(backend.clone()))
        .log_layer(RaiseAfterHttpStopped)
        // Busy when the actors stop: its actor is killed at actor_stop_timeout.
        .on_reload_named("hang", move |_| {
            if let Some(busy) = busy.lock().expect("busy").take() {
                let _ = busy.send(());
            }
            std::future::pending()
        })
        .build();
    let handle = service.handle();
    let runner = service.clone();
    let run = tokio::spawn(async move { runner.debug("127.0.0.1", 0).await });
    handle.wait_running(BOUND).await.expect("serving");
    backend.set_yaml("demo", "n: 2").expect("yaml");
    handle.reload().await.expect("reloaded");
    tokio::time::timeout(BOUND, started)
        .await
        .expect("in time")
        .expect("the callback runs");

    handle.stop().expect("running");
    let exit = tokio::time::timeout(BOUND, run)
        .await
        .expect("in time")
        .expect("joined");
    tell_parent(&format!(
        "exit {}; killed: {}",
        exit.code(),
        exit.report.killed.join(", ")
    ));
    assert_eq!(exit.code(), 0, "{}", exit.reason);
}
