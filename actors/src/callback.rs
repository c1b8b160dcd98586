//! CallbackActor: runs one user callback (init, finish or on-reload) on request.
//!
//! Messages (sent by the supervisor): [`CallbackMsg::Run`] with a bound, and
//! [`CallbackMsg::Reloaded`] with the key paths a reload changed; the
//! reply says how long the callback took, or how it failed: an error it
//! returned, a panic (caught here, at the actor boundary — the process and
//! the actor live on), or the bound being hit (the callback's future is
//! dropped then).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tracing::Instrument as _;

/// The error type user callbacks may return.
///
/// ```
/// use micro_actors::BoxError;
/// let from_text: BoxError = "no database".into();
/// let from_io: BoxError = std::io::Error::other("disk full").into();
/// assert_eq!(from_text.to_string(), "no database");
/// assert_eq!(from_io.to_string(), "disk full");
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type BoxFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// A user callback with the name it is logged under.
///
/// ```
/// let callback = micro_actors::Callback::new("init[0]", || async { Ok(()) });
/// assert_eq!(callback.name(), "init[0]");
/// ```
#[derive(Clone)]
pub struct Callback {
    name: Arc<str>,
    run: Arc<dyn Fn(Changes) -> BoxFuture + Send + Sync>,
}

/// The dotted key paths a reload changed, as handed to on-reload callbacks.
pub type Changes = Arc<[String]>;

impl Callback {
    /// Wraps an async closure returning `Result<(), BoxError>`: `Ok(())`
    /// needs no annotation, and `?` turns any error into a [`BoxError`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use micro_actors::Callback;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let callback = Callback::new("init[1]", || async { Err(std::io::Error::other("no database").into()) });
    /// let err = callback.run(Duration::from_secs(5)).await.unwrap_err();
    /// assert_eq!(err.to_string(), "callback init[1] failed: no database");
    /// # });
    /// ```
    pub fn new<F, Fut>(name: &str, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        Self {
            name: name.into(),
            run: Arc::new(move |_| Box::pin(f())),
        }
    }

    /// Wraps an async closure that takes the key paths a reload changed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use micro_actors::{BoxError, Callback};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let hook = Callback::on_reload("reload[0]", |changed| async move {
    ///     if changed.iter().any(|path| path.starts_with("db.")) {
    ///         return Err("reconnect failed".into());
    ///     }
    ///     Ok(())
    /// });
    /// assert!(hook.run_with(Duration::from_secs(5), vec!["demo.greeting".into()].into()).await.is_ok());
    /// assert!(hook.run_with(Duration::from_secs(5), vec!["db.url".into()].into()).await.is_err());
    /// # });
    /// ```
    pub fn on_reload<F, Fut>(name: &str, f: F) -> Self
    where
        F: Fn(Changes) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        Self {
            name: name.into(),
            run: Arc::new(move |changes| Box::pin(f(changes))),
        }
    }

    /// The name the callback is logged under.
    ///
    /// ```
    /// use micro_actors::{BoxError, Callback};
    /// let callback = Callback::new("finish[2]", || async { Ok(()) });
    /// assert_eq!(callback.clone().name(), "finish[2]");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the callback once within `bound`, catching a panic.
    ///
    /// ```
    /// use std::time::Duration;
    /// use micro_actors::{BoxError, Callback, CallbackError};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let slow = Callback::new("slow", || async {
    ///     tokio::time::sleep(Duration::from_secs(60)).await;
    ///     Ok(())
    /// });
    /// let outcome = slow.run(Duration::from_millis(10)).await;
    /// assert!(matches!(outcome, Err(CallbackError::TimedOut { .. })), "{outcome:?}");
    /// let quick = Callback::new("quick", || async { Ok(()) });
    /// assert!(quick.run(Duration::from_secs(5)).await.unwrap() < Duration::from_secs(5));
    /// # });
    /// ```
    pub async fn run(&self, bound: Duration) -> Result<Duration, CallbackError> {
        self.run_with(bound, Arc::new([])).await
    }

    /// Runs the callback once within `bound` with the paths a reload changed
    /// (callbacks made with [`Callback::new`] ignore them).
    ///
    /// ```
    /// use std::time::Duration;
    /// use micro_actors::{BoxError, Callback};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let hook = Callback::on_reload("reload[0]", |changed| async move {
    ///     assert_eq!(&*changed, ["site.logging.level"]);
    ///     Ok(())
    /// });
    /// hook.run_with(Duration::from_secs(5), vec!["site.logging.level".into()].into()).await.unwrap();
    /// # });
    /// ```
    pub async fn run_with(&self, bound: Duration, changes: Changes) -> Result<Duration, CallbackError> {
        let started = Instant::now();
        // The callback logs under its own name, not inside the actor that
        // runs it (no parent: the actor's span is the runtime's business).
        let span = tracing::info_span!(target: "micro", parent: None, "callback", name = %self.name);
        let future = AssertUnwindSafe((self.run)(changes).instrument(span)).catch_unwind();
        let name = self.name.to_string();
        match tokio::time::timeout(bound, future).await {
            Ok(Ok(Ok(()))) => Ok(started.elapsed()),
            Ok(Ok(Err(source))) => Err(CallbackError::Failed { name, source }),
            Ok(Err(panic)) => Err(CallbackError::Panicked {
                name,
                message: panic_message(panic.as_ref()),
            }),
            Err(_) => Err(CallbackError::TimedOut { name, bound }),
        }
    }
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Callback").field(&self.name).finish()
    }
}

/// The text of a panic payload.
///
/// ```
/// use micro_actors::callback::panic_message;
/// let payload = std::panic::catch_unwind(|| panic!("code {}", 7)).unwrap_err();
/// assert_eq!(panic_message(payload.as_ref()), "code 7");
/// let payload: Box<dyn std::any::Any + Send> = Box::new(7_u8);
/// assert_eq!(panic_message(payload.as_ref()), "a panic with a non-text payload");
/// ```
#[must_use]
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-text payload".into())
}

/// A callback run that did not succeed.
///
/// ```
/// let err = micro_actors::CallbackError::TimedOut {
///     name: "finish[0]".into(),
///     bound: std::time::Duration::from_secs(5),
/// };
/// assert_eq!(err.to_string(), "callback finish[0] did not finish within 5s");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// The callback returned an error.
    #[error("callback {name} failed: {source}")]
    Failed {
        /// The callback.
        name: String,
        /// Its error.
        source: BoxError,
    },
    /// The callback panicked.
    #[error("callback {name} panicked: {message}")]
    Panicked {
        /// The callback.
        name: String,
        /// The panic message.
        message: String,
    },
    /// The callback ran past its bound and was dropped.
    #[error("callback {name} did not finish within {}", humantime(*.bound))]
    TimedOut {
        /// The callback.
        name: String,
        /// The bound it hit.
        bound: Duration,
    },
    /// CallbackActor did not answer (it is gone, or stuck past the bound).
    #[error("callback {name}: no answer from its actor: {reason}")]
    Unanswered {
        /// The callback.
        name: String,
        /// What the messaging layer said.
        reason: String,
    },
}

fn humantime(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{d:?}")
    }
}

/// What CallbackActor does on request.
///
/// ```
/// use std::time::Duration;
/// use micro_actors::{BoxError, Callback, CallbackActor, CallbackMsg};
/// use ractor::{Actor, call};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let callback = Callback::new("init[0]", || async { Ok(()) });
/// let (actor, handle) = Actor::spawn(None, CallbackActor, callback).await.unwrap();
/// let took = call!(actor, |reply| CallbackMsg::Run { bound: Duration::from_secs(5), reply }).unwrap();
/// assert!(took.unwrap() < Duration::from_secs(5));
/// actor.stop(None);
/// handle.await.unwrap();
/// # });
/// ```
#[derive(Debug)]
pub enum CallbackMsg {
    /// Run the callback within `bound`.
    Run {
        /// Longest the callback may take.
        bound: Duration,
        /// How long it took, or how it failed.
        reply: RpcReplyPort<Result<Duration, CallbackError>>,
    },
    /// Run the callback within `bound`, telling it what a reload changed.
    Reloaded {
        /// Dotted key paths the reload changed.
        changes: Changes,
        /// Longest the callback may take.
        bound: Duration,
        /// How long it took, or how it failed.
        reply: RpcReplyPort<Result<Duration, CallbackError>>,
    },
}

/// The actor. Its argument is the callback it runs.
///
/// A panicking callback is reported and the actor lives on:
///
/// ```
/// use std::time::Duration;
/// use micro_actors::{BoxError, Callback, CallbackActor, CallbackMsg};
/// use ractor::{Actor, call};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let callback = Callback::new("init[0]", || async {
///     if true {
///         panic!("database exploded");
///     }
///     Ok(())
/// });
/// let (actor, handle) = Actor::spawn(None, CallbackActor, callback).await.unwrap();
/// let bound = Duration::from_secs(5);
/// for _ in 0..2 {
///     let err = call!(actor, |reply| CallbackMsg::Run { bound, reply }).unwrap().unwrap_err();
///     assert_eq!(err.to_string(), "callback init[0] panicked: database exploded");
/// }
/// actor.stop(None);
/// handle.await.unwrap();
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CallbackActor;

impl Actor for CallbackActor {
    type Msg = CallbackMsg;
    type State = Callback;
    type Arguments = Callback;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        callback: Callback,
    ) -> Result<Callback, ActorProcessingErr> {
        Ok(callback)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        callback: &mut Callback,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CallbackMsg::Run { bound, reply } => {
                let _ = reply.send(callback.run(bound).await);
            }
            CallbackMsg::Reloaded { changes, bound, reply } => {
                let _ = reply.send(callback.run_with(bound, changes).await);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ractor::call;

    use super::*;

    async fn run(callback: Callback, bound: Duration) -> (Result<Duration, CallbackError>, ActorRef<CallbackMsg>) {
        let (actor, _) = Actor::spawn(None, CallbackActor, callback).await.expect("spawn");
        let outcome = call!(actor, |reply| CallbackMsg::Run { bound, reply }).expect("answered");
        (outcome, actor)
    }

    #[tokio::test]
    async fn a_panicking_callback_is_reported_and_the_actor_lives_on() {
        let callback = Callback::new("init[0]", || async {
            if true {
                panic!("database exploded");
            }
            Ok(())
        });
        let (outcome, actor) = run(callback, Duration::from_secs(5)).await;
        let err = outcome.expect_err("panicked");
        assert_eq!(err.to_string(), "callback init[0] panicked: database exploded");
        assert!(
            call!(actor, |reply| CallbackMsg::Run {
                bound: Duration::from_secs(5),
                reply
            })
            .is_ok()
        );
    }

    #[tokio::test]
    async fn a_failing_callback_reports_its_error() {
        let callback = Callback::new("init[1]", || async { Err(std::io::Error::other("no database").into()) });
        let (outcome, _) = run(callback, Duration::from_secs(5)).await;
        assert_eq!(
            outcome.expect_err("failed").to_string(),
            "callback init[1] failed: no database"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_callback_past_its_bound_is_dropped_and_reported() {
        let callback = Callback::new("finish[0]", || async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        });
        let (outcome, _) = run(callback, Duration::from_secs(5)).await;
        assert!(matches!(outcome, Err(CallbackError::TimedOut { .. })), "{outcome:?}");
    }
}
