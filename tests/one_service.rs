//! One service runs at a time in a process; `get_service()` and
//! `get_config()` refer to it while it runs and to nothing once it ended,
//! and a dropped service leaves nothing behind. In process, on real
//! sockets.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use micro::config::{ConfigBackend, Document, LoadError, MemoryBackend, PreloadedConfig, ReadError};
use micro::{ExitStatus, Phase, Service, ServiceHandle};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

const BOUND: Duration = Duration::from_secs(20);

/// The tests of this binary run in parallel, services one at a time.
static TURN: Mutex<()> = Mutex::const_new(());

fn greeter(name: &str, backend: impl ConfigBackend) -> Service {
    Service::builder(name, "greets")
        .config(PreloadedConfig::new(["site", "demo"]).backend(backend))
        .build()
}

fn greeting(text: &str) -> MemoryBackend {
    MemoryBackend::new()
        .with_yaml("demo", &format!("greeting: {text}"))
        .expect("yaml")
}

async fn running(service: Service) -> (ServiceHandle, JoinHandle<ExitStatus>) {
    let handle = service.handle();
    let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    handle.wait_running(BOUND).await.expect("serving");
    (handle, run)
}

async fn stop(handle: &ServiceHandle, run: JoinHandle<ExitStatus>) -> ExitStatus {
    handle.stop().expect("running");
    tokio::time::timeout(BOUND, run)
        .await
        .expect("stopped in time")
        .expect("joined")
}

fn not_loaded() -> bool {
    matches!(
        micro::get_config().get_path::<String>("demo.greeting"),
        Err(ReadError::NotLoaded { .. })
    )
}

#[tokio::test]
async fn get_service_and_get_config_refer_to_the_running_service_and_to_none_once_it_ended() {
    let _turn = TURN.lock().await;
    let service = greeter("greeter", greeting("hi"));
    assert!(micro::get_service().is_none(), "built is not running");
    assert!(not_loaded(), "no service runs: reads fail with NotLoaded");

    let (handle, run) = running(service).await;
    assert_eq!(micro::get_service().expect("running").name(), "greeter");
    assert_eq!(
        micro::get_config().get_path::<String>("demo.greeting").expect("loaded"),
        "hi"
    );

    assert_eq!(stop(&handle, run).await.code(), 0);
    assert!(micro::get_service().is_none(), "the run has ended");
    assert!(not_loaded(), "the run has ended");
}

#[tokio::test]
async fn a_second_service_run_while_one_runs_returns_70_at_once_naming_the_running_one() {
    let _turn = TURN.lock().await;
    let (handle, run) = running(greeter("inventory", greeting("hi"))).await;

    let orders = greeter("orders", greeting("hey"));
    assert_eq!(
        micro::get_config().get_path::<String>("demo.greeting").expect("loaded"),
        "hi",
        "building another service does not re-point get_config()"
    );
    let refused = tokio::time::timeout(BOUND, orders.debug("127.0.0.1", 0))
        .await
        .expect("returned at once");
    assert_eq!(refused.code(), 70);
    assert_eq!(
        refused.reason,
        "cannot run orders: service inventory is already running in this process (one service runs at a time)"
    );
    assert_eq!(orders.handle().status().phase, Phase::Stopped);
    let told = orders.handle().wait(BOUND).await.expect("its exit is told");
    assert_eq!(told.reason, refused.reason);

    assert_eq!(handle.status().phase, Phase::Running, "the first one runs on");
    assert_eq!(micro::get_service().expect("running").name(), "inventory");
    assert_eq!(
        micro::get_config().get_path::<String>("demo.greeting").expect("loaded"),
        "hi",
        "nor does a refused run"
    );
    assert_eq!(stop(&handle, run).await.code(), 0);
}

#[tokio::test]
async fn two_services_run_one_after_another_in_one_process() {
    let _turn = TURN.lock().await;
    for (name, text) in [("first", "one"), ("second", "two")] {
        let (handle, run) = running(greeter(name, greeting(text))).await;
        assert_eq!(micro::get_service().expect("running").name(), name);
        assert_eq!(
            micro::get_config().get_path::<String>("demo.greeting").expect("loaded"),
            text
        );
        let exit = stop(&handle, run).await;
        assert_eq!(exit.code(), 0, "{name}: {}", exit.reason);
    }
}

/// A backend whose owners can be counted: the test holds one `Arc`, the
/// backend the other.
struct Tracked {
    inner: MemoryBackend,
    _alive: Arc<()>,
}

type Load<'a> = Pin<Box<dyn Future<Output = Result<Option<Document>, LoadError>> + Send + 'a>>;

impl ConfigBackend for Tracked {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    // What `#[async_trait]` would write.
    fn load<'s, 'n, 'f>(&'s self, name: &'n str) -> Load<'f>
    where
        's: 'f,
        'n: 'f,
        Self: 'f,
    {
        self.inner.load(name)
    }
}

#[tokio::test]
async fn a_service_dropped_after_its_run_releases_its_config_backend() {
    let _turn = TURN.lock().await;
    let alive = Arc::new(());
    let backend = Tracked {
        inner: greeting("hi"),
        _alive: Arc::clone(&alive),
    };
    let (handle, run) = running(greeter("tracked", backend)).await;
    assert_eq!(stop(&handle, run).await.code(), 0);
    drop(handle);

    let deadline = tokio::time::Instant::now() + BOUND;
    while Arc::strong_count(&alive) > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the backend is still held {BOUND:?} after the service was dropped"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
