//! Configuration while a service runs, in process through the real
//! supervisor and ConfigActor: subscribers, on-reload callbacks, coalesced
//! reloads, documents loaded on first use, the last reload's outcome, a
//! backend that hangs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use micro::config::{ConfigBackend, Document, LoadError, MemoryBackend, PreloadedConfig};
use micro::{Service, ServiceHandle};

/// One service runs at a time in a process: the tests of this file take turns.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const BOUND: Duration = Duration::from_secs(20);

async fn running(service: Service) -> (ServiceHandle, tokio::task::JoinHandle<micro::ExitStatus>) {
    let handle = service.handle();
    let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    handle.wait_running(BOUND).await.expect("serving");
    (handle, run)
}

async fn stop(handle: &ServiceHandle, run: tokio::task::JoinHandle<micro::ExitStatus>) -> micro::ExitStatus {
    handle.stop().expect("running");
    tokio::time::timeout(BOUND, run)
        .await
        .expect("in time")
        .expect("joined")
}

#[tokio::test]
async fn subscribers_see_each_accepted_reload_with_what_changed() {
    let _turn = TURN.lock().await;
    let backend = MemoryBackend::new().with_yaml("demo", "greeting: hi").expect("yaml");
    let service = Service::builder("subscribed", "subscribers")
        .config(PreloadedConfig::new(["demo"]).backend(backend.clone()))
        .build();
    let mut updates = service.subscribe();
    let (handle, run) = running(service).await;

    backend.set_yaml("demo", "greeting: hey").expect("yaml");
    handle.reload().await.expect("valid");
    let snapshot = tokio::time::timeout(BOUND, updates.wait_for(|s| s.generation() == 2))
        .await
        .expect("in time")
        .expect("sender alive")
        .clone();
    assert_eq!(snapshot.changed(), ["demo.greeting"]);
    assert_eq!(snapshot.get_path::<String>("demo.greeting").expect("read"), "hey");
    stop(&handle, run).await;
}

#[tokio::test]
async fn on_reload_callbacks_hear_the_changed_paths_in_order() {
    let _turn = TURN.lock().await;
    let heard: Arc<Mutex<Vec<String>>> = Arc::default();
    let backend = MemoryBackend::new()
        .with_yaml("demo", "greeting: hi\nother: 1")
        .expect("yaml");
    let (first, second) = (Arc::clone(&heard), Arc::clone(&heard));
    let service = Service::builder("hooked", "on reload")
        .config(PreloadedConfig::new(["demo"]).backend(backend.clone()))
        .on_reload(move |changed| {
            let heard = Arc::clone(&first);
            async move {
                heard.lock().expect("lock").push(format!("first {}", changed.join(",")));
                Ok(())
            }
        })
        .on_reload(move |changed| {
            let heard = Arc::clone(&second);
            async move {
                heard
                    .lock()
                    .expect("lock")
                    .push(format!("second {}", changed.join(",")));
                Ok(())
            }
        })
        .build();
    let (handle, run) = running(service).await;

    backend.set_yaml("demo", "greeting: hey\nother: 1").expect("yaml");
    handle.reload().await.expect("valid");
    let deadline = tokio::time::Instant::now() + BOUND;
    while heard.lock().expect("lock").len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "hooks not run: {:?}",
            heard.lock()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        *heard.lock().expect("lock"),
        ["first demo.greeting", "second demo.greeting"]
    );

    // A rejected reload tells no one.
    backend.set_yaml("site", "http: {port: x}").expect("yaml");
    assert!(handle.reload().await.is_err());
    stop(&handle, run).await;
    assert_eq!(heard.lock().expect("lock").len(), 2);
}

#[tokio::test]
async fn many_concurrent_reloads_all_get_an_answer() {
    let _turn = TURN.lock().await;
    let backend = MemoryBackend::new().with_yaml("demo", "greeting: hi").expect("yaml");
    let service = Service::builder("concurrent", "reloads at once")
        .config(PreloadedConfig::new(["demo"]).backend(backend))
        .build();
    let (handle, run) = running(service).await;
    let reloads: Vec<_> = (0..32)
        .map(|_| {
            let handle = handle.clone();
            tokio::spawn(async move { handle.reload().await })
        })
        .collect();
    let mut answers = Vec::new();
    for reload in reloads {
        answers.push(reload.await.expect("joined").map(|report| report.generation));
    }
    // Nothing changed in the backend: each of the 32 is answered, and says
    // generation 1 stays in force.
    assert_eq!(answers.len(), 32);
    assert!(answers.iter().all(|answer| matches!(answer, Ok(1))), "{answers:?}");
    assert_eq!(handle.status().phase, micro::Phase::Running);
    stop(&handle, run).await;
}

#[tokio::test]
async fn a_document_outside_the_preloads_loads_on_first_use_and_joins_reloads() {
    let _turn = TURN.lock().await;
    let backend = MemoryBackend::new().with_yaml("db", "pool: 4").expect("yaml");
    let service = Service::builder("lazy", "loads lazily")
        .config(PreloadedConfig::new(["site"]).backend(backend.clone()))
        .build();
    let config = service.config().clone();
    let (handle, run) = running(service).await;

    assert!(
        config.get_path::<u32>("db.pool").is_err(),
        "not loaded before first use"
    );
    assert_eq!(
        config.fetch::<serde_json::Value>("db").await.expect("loaded")["pool"],
        4
    );
    assert_eq!(config.get_path::<u32>("db.pool").expect("kept"), 4);

    backend.set_yaml("db", "pool: 8").expect("yaml");
    let report = handle.reload().await.expect("valid");
    assert_eq!(report.changed, ["db.pool"]);
    assert_eq!(config.get_path::<u32>("db.pool").expect("reloaded"), 8);
    stop(&handle, run).await;
}

#[tokio::test]
async fn the_last_reload_outcome_is_kept_for_status_routes() {
    let _turn = TURN.lock().await;
    let backend = MemoryBackend::new().with_yaml("demo", "greeting: hi").expect("yaml");
    let service = Service::builder("outcome", "remembers")
        .config(PreloadedConfig::new(["demo"]).backend(backend.clone()))
        .build();
    let config = service.config().clone();
    let (handle, run) = running(service).await;
    assert!(config.last_reload().is_none());

    backend.set_yaml("site", "http: {prot: 1}").expect("yaml");
    let err = handle.reload().await.expect_err("invalid");
    let last = config.last_reload().expect("recorded");
    assert_eq!(last.generation, 1);
    assert_eq!(last.error.as_deref(), Some(err.to_string().as_str()));
    assert!(err.to_string().contains("did you mean `port`?"), "{err}");
    stop(&handle, run).await;
}

#[tokio::test]
async fn a_panicking_validator_rejects_the_reload_and_the_next_one_still_runs() {
    let _turn = TURN.lock().await;
    let backend = MemoryBackend::new().with_yaml("demo", "greeting: hi").expect("yaml");
    let service = Service::builder("panicky", "validator panics")
        .config(PreloadedConfig::new(["demo"]).backend(backend.clone()))
        .validate(|snapshot| {
            if snapshot.get_path::<String>("demo.greeting").is_ok_and(|g| g == "boom") {
                panic!("validator exploded");
            }
            Ok(())
        })
        .build();
    let (handle, run) = running(service).await;

    backend.set_yaml("demo", "greeting: boom").expect("yaml");
    let err = handle.reload().await.expect_err("rejected");
    assert!(
        err.to_string().contains("panicked") && err.to_string().contains("validator exploded"),
        "{err}"
    );

    backend.set_yaml("demo", "greeting: fine").expect("yaml");
    assert_eq!(handle.reload().await.expect("the next reload runs").generation, 2);
    stop(&handle, run).await;
}

#[tokio::test]
async fn secrets_do_not_leak_through_read_errors_or_diffs() {
    let _turn = TURN.lock().await;
    let backend = MemoryBackend::new()
        .with_yaml("db", "password: 123456\ntokens:\n  sk-live-1: billing\n")
        .expect("yaml");
    let service = Service::builder("secretive", "keeps secrets")
        .config(PreloadedConfig::new(["db"]).backend(backend.clone()))
        .build();
    let config = service.config().clone();
    let (handle, run) = running(service).await;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Db {
        password: String,
    }
    let err = config.typed::<Db>("db").expect_err("a number is not a string");
    assert!(!err.to_string().contains("123456"), "{err}");

    backend
        .set_yaml("db", "password: 123456\ntokens:\n  sk-live-2: billing\n")
        .expect("yaml");
    let report = handle.reload().await.expect("valid");
    assert_eq!(report.changed, ["db.tokens"], "the token names stay out of the diff");
    assert!(!format!("{:?}", config.snapshot()).contains("123456"));
    stop(&handle, run).await;
}

/// A backend whose loads of document `demo` never finish while `hang` is
/// set: a remote store that stopped answering.
#[derive(Clone)]
struct Hanging {
    inner: MemoryBackend,
    hang: Arc<AtomicBool>,
}

#[micro::config::async_trait]
impl ConfigBackend for Hanging {
    fn describe(&self) -> String {
        "a backend that may hang".into()
    }

    async fn load(&self, name: &str) -> Result<Option<Document>, LoadError> {
        if name == "demo" && self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.inner.load(name).await
    }
}

#[tokio::test]
async fn a_reload_whose_backend_hangs_is_rejected_within_the_load_timeout_and_the_service_serves_on() {
    let _turn = TURN.lock().await;
    let backend = Hanging {
        inner: MemoryBackend::new().with_yaml("demo", "greeting: hi").expect("yaml"),
        hang: Arc::default(),
    };
    let service = Service::builder("hanging", "its backend hangs")
        .config(PreloadedConfig::new(["demo"]).backend(backend.clone()))
        .build();
    let config = service.config().clone();
    let (handle, run) = running(service).await;
    let bound = config.site().config.load_timeout;
    assert!(bound < config.site().actors.call_timeout);

    backend.hang.store(true, Ordering::SeqCst);
    backend.inner.set_yaml("demo", "greeting: hey").expect("yaml");
    let started = Instant::now();
    // Three at once: the first starts the load, the others queue behind it
    // and get its answer.
    let (first, second, third) = tokio::join!(handle.reload(), handle.reload(), handle.reload());
    let took = started.elapsed();
    for answer in [first, second, third] {
        let err = answer.expect_err("rejected").to_string();
        assert_eq!(
            err,
            "reload rejected, generation 1 stays in force: \
             config load did not finish within 3s (site.config.load_timeout)"
        );
    }
    assert!(
        took >= bound && took < config.site().actors.call_timeout,
        "answered after {took:?}"
    );
    assert_eq!(config.generation(), 1);
    assert_eq!(config.get_path::<String>("demo.greeting").expect("kept"), "hi");

    // Still serving.
    let addr = handle.status().addr.expect("listening");
    let status = tokio::task::spawn_blocking(move || {
        ureq::get(&format!("http://{addr}/healthcheck"))
            .call()
            .map(|response| response.status())
            .map_err(|err| err.to_string())
    })
    .await
    .expect("joined");
    assert_eq!(status, Ok(200));
    assert_eq!(handle.status().phase, micro::Phase::Running);

    // Once the backend answers, reloads go through.
    backend.hang.store(false, Ordering::SeqCst);
    let report = handle.reload().await.expect("valid");
    assert_eq!(
        (report.generation, report.changed.as_slice()),
        (2, ["demo.greeting".to_owned()].as_slice())
    );
    assert_eq!(config.get_path::<String>("demo.greeting").expect("reloaded"), "hey");
    stop(&handle, run).await;
}
