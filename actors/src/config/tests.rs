use micro_config::MemoryBackend;
use ractor::call;

use super::*;

async fn started(backend: MemoryBackend) -> (ActorRef<ConfigMsg>, PreloadedConfig) {
    let config = PreloadedConfig::new(["demo"]).backend(backend);
    let (actor, _) = Actor::spawn(None, ConfigActor, config.clone()).await.expect("spawn");
    call!(actor, ConfigMsg::Preload).expect("call").expect("preload");
    (actor, config)
}

#[tokio::test]
async fn a_valid_reload_advances_the_generation_and_lists_what_changed() {
    let backend = MemoryBackend::new().with_yaml("demo", "greeting: hi").expect("yaml");
    let (actor, config) = started(backend.clone()).await;
    backend.set_yaml("demo", "greeting: hey").expect("yaml");

    let report = call!(actor, ConfigMsg::Reload).expect("call").expect("valid");
    assert_eq!(report.generation, 2);
    assert_eq!(report.changed, ["demo.greeting"]);
    assert_eq!(config.get_path::<String>("demo.greeting").expect("read"), "hey");
}

#[tokio::test]
async fn an_invalid_reload_keeps_the_old_config() {
    let backend = MemoryBackend::new().with_yaml("demo", "greeting: hi").expect("yaml");
    let (actor, config) = started(backend.clone()).await;
    backend.set_yaml("site", "http: {port: high}").expect("yaml");

    let err = call!(actor, ConfigMsg::Reload).expect("call").expect_err("invalid");
    assert!(matches!(err, ReloadError::Rejected { kept: 1, .. }), "{err}");
    assert!(err.to_string().contains("site.http.port"), "{err}");
    assert_eq!(config.generation(), 1);
    assert_eq!(config.get_path::<String>("demo.greeting").expect("read"), "hi");
}

/// A backend whose loads of document `demo` wait for a permit, so a test
/// decides when a load finishes; it counts those loads.
#[derive(Clone)]
struct Gated {
    inner: MemoryBackend,
    gate: Arc<tokio::sync::Semaphore>,
    loads: Arc<std::sync::atomic::AtomicUsize>,
}

#[micro_config::async_trait]
impl micro_config::ConfigBackend for Gated {
    fn describe(&self) -> String {
        "gated memory".into()
    }

    async fn load(&self, name: &str) -> Result<Option<micro_config::Document>, LoadError> {
        if name == "demo" {
            self.loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.gate.acquire().await.expect("open").forget();
        }
        self.inner.load(name).await
    }
}

#[tokio::test]
async fn reloads_asked_for_during_a_load_share_the_next_one() {
    use std::sync::atomic::Ordering::SeqCst;
    let gated = Gated {
        inner: MemoryBackend::new().with_yaml("demo", "greeting: hi").expect("yaml"),
        gate: Arc::new(tokio::sync::Semaphore::new(1)),
        loads: Arc::default(),
    };
    let config = PreloadedConfig::new(["demo"]).backend(gated.clone());
    let (actor, _) = Actor::spawn(None, ConfigActor, config.clone()).await.expect("spawn");
    call!(actor, ConfigMsg::Preload).expect("call").expect("preload");

    // The first reload, of a changed document, starts a load that waits at
    // the (now closed) gate.
    gated.inner.set_yaml("demo", "greeting: hey").expect("yaml");
    let (first, first_answer) = ractor::concurrency::oneshot();
    actor.cast(ConfigMsg::Reload(first.into())).expect("sent");
    // Eight more are in the mailbox before the gate opens, so before the
    // first load can report back: they queue, and share one load.
    let answers: Vec<_> = (0..8)
        .map(|_| {
            let (reply, answer) = ractor::concurrency::oneshot();
            actor.cast(ConfigMsg::Reload(reply.into())).expect("sent");
            answer
        })
        .collect();
    gated.gate.add_permits(2);

    let first = first_answer.await.expect("answered").expect("valid");
    assert_eq!(first.generation, 2);
    for answer in answers {
        let report = answer.await.expect("answered").expect("valid");
        assert!(report.is_unchanged(), "nothing changed since the first: {report}");
        assert_eq!(report.generation, 2);
    }
    assert_eq!(
        gated.loads.load(SeqCst),
        3,
        "preload, the first reload, one for the eight"
    );
    assert_eq!(config.generation(), 2);
}

#[tokio::test]
async fn a_reload_nobody_waits_for_any_more_is_not_applied() {
    let backend = MemoryBackend::new().with_yaml("demo", "greeting: hi").expect("yaml");
    let (actor, config) = started(backend.clone()).await;
    backend.set_yaml("demo", "greeting: hey").expect("yaml");
    let (reply, answer) = ractor::concurrency::oneshot();
    drop(answer); // the caller gave up before the actor got to it
    actor.cast(ConfigMsg::Reload(reply.into())).expect("sent");
    // A later reload is answered after the abandoned one was handled.
    let report = call!(actor, ConfigMsg::Reload).expect("call").expect("valid");
    assert_eq!(report.generation, 2, "the abandoned reload did not take generation 2");
    assert_eq!(config.get_path::<String>("demo.greeting").expect("read"), "hey");
}

#[tokio::test]
async fn a_reload_whose_typed_document_does_not_fit_is_rejected_naming_the_key() {
    type Orders = std::collections::BTreeMap<String, u32>;
    let backend = MemoryBackend::labelled("test")
        .with_yaml("orders", "max_items: 20")
        .expect("yaml");
    let config = PreloadedConfig::new(Vec::<String>::new())
        .backend(backend.clone())
        .document::<Orders>("orders");
    let (actor, _) = Actor::spawn(None, ConfigActor, config.clone()).await.expect("spawn");
    call!(actor, ConfigMsg::Preload).expect("call").expect("preload");

    backend.set_yaml("orders", "max_items: lots").expect("yaml");
    let err = call!(actor, ConfigMsg::Reload).expect("call").expect_err("rejected");
    assert_eq!(
        err.to_string(),
        "reload rejected, generation 1 stays in force: \
         test (in memory):1:1: orders.max_items: invalid type: string \"lots\", expected u32"
    );
    assert_eq!(config.generation(), 1);
}

#[tokio::test]
async fn a_reload_that_changes_nothing_keeps_the_generation_and_tells_no_subscriber() {
    let backend = MemoryBackend::new().with_yaml("demo", "greeting: hi").expect("yaml");
    let (actor, config) = started(backend.clone()).await;
    let before = config.snapshot();
    let mut updates = config.subscribe();
    updates.borrow_and_update();
    // Rewritten with the same values: a different text is no change.
    backend.set_yaml("demo", "# edited\ngreeting: 'hi'\n").expect("yaml");

    let report = call!(actor, ConfigMsg::Reload).expect("call").expect("valid");
    assert!(report.is_unchanged(), "{report}");
    assert_eq!((report.generation, report.changed.len()), (1, 0));
    assert_eq!(report.to_string(), "nothing changed, generation 1 stays in force");
    assert_eq!(config.generation(), 1);
    assert!(Arc::ptr_eq(&before, &config.snapshot()), "the snapshot in force stays");
    assert!(!updates.has_changed().expect("open"), "no subscriber told");
    let last = config.last_reload().expect("recorded");
    assert_eq!((last.generation, last.error.as_deref()), (1, None));

    // The next change is generation 2, not 3.
    backend.set_yaml("demo", "greeting: hey").expect("yaml");
    let report = call!(actor, ConfigMsg::Reload).expect("call").expect("valid");
    assert_eq!(
        (report.generation, report.changed.as_slice()),
        (2, ["demo.greeting".to_owned()].as_slice())
    );
    assert!(updates.has_changed().expect("open"));
}

#[tokio::test]
async fn a_reload_after_a_document_loaded_on_first_use_changes_nothing() {
    let backend = MemoryBackend::new()
        .with_yaml("demo", "greeting: hi")
        .expect("yaml")
        .with_yaml("db", "port: 5432")
        .expect("yaml");
    let (actor, config) = started(backend).await;
    let port: serde_json::Value = config.fetch("db").await.expect("loaded on first use");
    assert_eq!(port["port"], 5432);
    assert_eq!(config.generation(), 1, "a first use is not a reload");

    let report = call!(actor, ConfigMsg::Reload).expect("call").expect("valid");
    assert!(report.is_unchanged(), "{report}");
    assert_eq!(config.generation(), 1);
    assert_eq!(config.get_path::<u16>("db.port").expect("kept"), 5432);
}

/// A config whose `demo` loads wait at a gate with one permit (the
/// preload's), and whose loads are bounded by `load_timeout`.
async fn gated(load_timeout: &str) -> (ActorRef<ConfigMsg>, PreloadedConfig, Gated) {
    let inner = MemoryBackend::labelled("test")
        .with_yaml("demo", "greeting: hi")
        .expect("yaml")
        .with_yaml("site", &format!("config: {{load_timeout: {load_timeout}}}"))
        .expect("yaml");
    let gated = Gated {
        inner,
        gate: Arc::new(tokio::sync::Semaphore::new(1)),
        loads: Arc::default(),
    };
    let config = PreloadedConfig::new(["demo"]).backend(gated.clone());
    let (actor, _) = Actor::spawn(None, ConfigActor, config.clone()).await.expect("spawn");
    call!(actor, ConfigMsg::Preload).expect("call").expect("preload");
    (actor, config, gated)
}

fn ask_reload(actor: &ActorRef<ConfigMsg>) -> ractor::concurrency::OneshotReceiver<Result<ReloadReport, ReloadError>> {
    let (reply, answer) = ractor::concurrency::oneshot();
    actor.cast(ConfigMsg::Reload(reply.into())).expect("sent");
    answer
}

#[tokio::test]
async fn a_load_that_hangs_is_rejected_at_its_bound_and_so_are_the_reloads_queued_behind_it() {
    let (actor, config, gated) = gated("200ms").await;
    gated.inner.set_yaml("demo", "greeting: hey").expect("yaml");
    let started = Instant::now();
    let answers: Vec<_> = (0..4).map(|_| ask_reload(&actor)).collect();
    for answer in answers {
        let err = answer.await.expect("answered").expect_err("rejected");
        assert!(matches!(err, ReloadError::Rejected { kept: 1, .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "reload rejected, generation 1 stays in force: \
             config load did not finish within 200ms (site.config.load_timeout)"
        );
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    assert_eq!(
        gated.loads.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the preload and one reload"
    );
    assert_eq!(config.generation(), 1);
    let last = config.last_reload().expect("recorded");
    assert!(
        last.error.as_deref().is_some_and(|e| e.contains("load_timeout")),
        "{last:?}"
    );

    // Once the backend answers, the next reload goes through.
    gated.gate.add_permits(1);
    let report = call!(actor, ConfigMsg::Reload).expect("call").expect("valid");
    assert_eq!(
        (report.generation, report.changed.as_slice()),
        (2, ["demo.greeting".to_owned()].as_slice())
    );
}

#[tokio::test]
async fn reloads_beyond_the_queue_bound_are_refused_at_once_and_the_queued_ones_share_a_load() {
    let (actor, config, gated) = gated("4s").await;
    gated.inner.set_yaml("demo", "greeting: hey").expect("yaml");
    let first = ask_reload(&actor);
    let queued: Vec<_> = (0..MAX_QUEUED).map(|_| ask_reload(&actor)).collect();
    // The load under way still hangs: one more is refused without waiting for it.
    let refused = ask_reload(&actor).await.expect("answered").expect_err("refused");
    assert!(
        matches!(refused, ReloadError::Busy { waiting: MAX_QUEUED }),
        "{refused}"
    );
    assert_eq!(
        refused.to_string(),
        "reload refused: 64 reloads already wait for the load under way; the configuration in force is unchanged"
    );
    assert_eq!(config.generation(), 1);

    gated.gate.add_permits(2);
    assert_eq!(first.await.expect("answered").expect("valid").generation, 2);
    for answer in queued {
        assert_eq!(answer.await.expect("answered").expect("valid").generation, 2);
    }
    assert_eq!(
        gated.loads.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "preload, the first reload, one for the 64 queued"
    );
}
