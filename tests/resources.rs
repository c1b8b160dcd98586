//! Paired resources, in process through the real supervisor on real
//! sockets: what an init step opens reaches the handlers as state, and is
//! released at shutdown — also when a later startup step fails.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use micro::axum::{Router, extract::State, routing::get};
use micro::{ExitStatus, Service};

const BOUND: Duration = Duration::from_secs(20);

type Journal = Arc<Mutex<Vec<String>>>;

fn note(journal: &Journal, entry: impl Into<String>) {
    journal.lock().expect("journal").push(entry.into());
}

fn entries(journal: &Journal) -> Vec<String> {
    journal.lock().expect("journal").clone()
}

/// One service runs at a time in a process: the tests of this file take turns.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A pool as a service would open it: cheap to clone, shared by handlers.
#[derive(Clone)]
struct Pool {
    url: Arc<str>,
}

/// A second resource, of a type of its own.
#[derive(Clone)]
struct Cache;

/// An open step that notes `entry` and opens `value`.
fn opens<T: Clone + Send + Sync + 'static>(
    journal: &Journal,
    entry: &'static str,
    value: T,
) -> impl Fn() -> std::future::Ready<Result<T, micro::BoxError>> + Send + Sync + 'static {
    let journal = Arc::clone(journal);
    move || {
        note(&journal, entry);
        std::future::ready(Ok(value.clone()))
    }
}

/// A release step that notes `entry`, followed by what `describe` says of the value.
fn releases<T: Send + 'static>(
    journal: &Journal,
    entry: &'static str,
    describe: fn(&T) -> String,
) -> impl Fn(T) -> std::future::Ready<Result<(), micro::BoxError>> + Send + Sync + 'static {
    let journal = Arc::clone(journal);
    move |value| {
        note(&journal, format!("{entry}{}", describe(&value)));
        std::future::ready(Ok(()))
    }
}

fn pool() -> Pool {
    Pool {
        url: "postgres://db/orders".into(),
    }
}

/// `orders` with a pool and a cache that note when they open and close.
fn orders(journal: &Journal) -> micro::ServiceBuilder {
    Service::builder("orders", "takes orders")
        .resource(
            "pool",
            opens(journal, "open pool", pool()),
            releases(journal, "release pool ", |pool: &Pool| pool.url.to_string()),
        )
        .resource(
            "cache",
            opens(journal, "open cache", Cache),
            releases(journal, "release cache", |_: &Cache| String::new()),
        )
        .app_with(|resources| {
            Router::new()
                .route(
                    "/db",
                    get(|State(pool): State<Pool>| async move { pool.url.to_string() }),
                )
                .with_state(resources.get::<Pool>())
        })
}

async fn finished(run: tokio::task::JoinHandle<ExitStatus>) -> ExitStatus {
    tokio::time::timeout(BOUND, run)
        .await
        .expect("the run ended in time")
        .expect("the run did not panic")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_get_what_init_opened_and_it_is_released_last_opened_first() {
    let _turn = TURN.lock().await;
    let journal = Journal::default();
    let service = orders(&journal)
        .finish_callback({
            let journal = Arc::clone(&journal);
            move || {
                let journal = Arc::clone(&journal);
                async move {
                    note(&journal, "finish");
                    Ok(())
                }
            }
        })
        .build();
    let handle = service.handle();
    let run = tokio::spawn(async move { service.debug("127.0.0.1", 0).await });
    handle.wait_running(BOUND).await.expect("running");
    let addr = handle.status().addr.expect("listening");
    let body = tokio::task::spawn_blocking(move || {
        ureq::get(&format!("http://{addr}/db"))
            .call()
            .expect("answered")
            .into_string()
            .expect("text")
    })
    .await
    .expect("request");
    assert_eq!(body, "postgres://db/orders");
    handle.stop().expect("running");
    let status = finished(run).await;
    assert_eq!(status.code(), 0, "{status:?}");
    assert_eq!(
        entries(&journal),
        [
            "open pool",
            "open cache",
            "finish",
            "release cache",
            "release pool postgres://db/orders"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_after_init_releases_what_init_opened_and_exits_69() {
    let _turn = TURN.lock().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port to hold");
    let port = taken.local_addr().expect("its address").port();
    let journal = Journal::default();
    let service = orders(&journal).build();
    let status = finished(tokio::spawn(async move { service.debug("127.0.0.1", port).await })).await;
    assert_eq!(status.code(), 69, "{status:?}");
    assert_eq!(
        entries(&journal),
        [
            "open pool",
            "open cache",
            "release cache",
            "release pool postgres://db/orders"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_failing_after_a_resource_opened_releases_it_and_only_it() {
    let _turn = TURN.lock().await;
    let journal = Journal::default();
    let service = Service::builder("orders", "takes orders")
        .resource(
            "pool",
            opens(&journal, "open pool", pool()),
            releases(&journal, "release pool", |_: &Pool| String::new()),
        )
        .init_callback_named("migrate", || async {
            Err("the schema is newer than this build".into())
        })
        .resource(
            "cache",
            opens(&journal, "open cache (never run)", Cache),
            releases(&journal, "release cache (never opened)", |_: &Cache| String::new()),
        )
        .build();
    let status = finished(tokio::spawn(async move { service.debug("127.0.0.1", 0).await })).await;
    assert_eq!(status.code(), 70, "{status:?}");
    assert!(status.reason.contains("migrate"), "{status:?}");
    assert_eq!(entries(&journal), ["open pool", "release pool"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_asking_for_a_resource_never_registered_fail_startup_naming_its_type() {
    let _turn = TURN.lock().await;
    let service = Service::builder("orders", "takes orders")
        .app_with(|resources| Router::new().with_state(resources.get::<Pool>()))
        .build();
    let status = finished(tokio::spawn(async move { service.debug("127.0.0.1", 0).await })).await;
    assert_eq!(status.code(), 70, "{status:?}");
    assert!(
        status
            .reason
            .contains("the service's routes could not be made: no resource of type"),
        "{status:?}"
    );
    assert!(status.reason.contains("Pool"), "{status:?}");
}
