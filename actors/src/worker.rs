//! WorkerActor: runs one long-lived background task of the service (a
//! queue consumer, a cache refresher) and reports how it ended.
//!
//! The task runs in its own tokio task, so the actor stays responsive:
//! - [`WorkerMsg::Stop`] (supervisor, in the shutdown's finish phase): ask
//!   the task to stop through its [`Shutdown`], wait up to a bound, then
//!   abort it; replies with how it ended.
//! - [`WorkerMsg::Exited`] (the task itself): the task ended on its own.
//!   A clean end stops the actor normally; an error or a panic fails it, so
//!   the supervisor sees `ActorFailed` with the reason and applies its
//!   restart policy.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::callback::{BoxError, panic_message};

type BoxFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// Tells a worker's task that the service is stopping. HTTP handlers get
/// one too: every request carries the server's, requested when its drain
/// begins (an axum extractor; a request extension for other services).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (stop, shutdown) = micro_actors::worker::Shutdown::pair();
/// assert!(!shutdown.is_requested());
/// stop.send_replace(true);
/// shutdown.requested().await;
/// assert!(shutdown.is_requested());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A sender that requests the stop, and the `Shutdown` it reaches.
    #[must_use]
    pub fn pair() -> (watch::Sender<bool>, Self) {
        let (stop, requested) = watch::channel(false);
        (stop, Self(requested))
    }

    /// Resolves once the stop is requested (or its sender is gone).
    pub async fn requested(&self) {
        let mut requested = self.0.clone();
        let _ = requested.wait_for(|stop| *stop).await;
    }

    /// Whether the stop is requested.
    #[must_use]
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }
}

/// A background task with the name it is logged and supervised under.
///
/// ```
/// let worker = micro_actors::Worker::new("refresher", |shutdown| async move {
///     shutdown.requested().await;
///     Ok(())
/// });
/// assert_eq!(worker.name(), "refresher");
/// ```
#[derive(Clone)]
pub struct Worker {
    name: Arc<str>,
    run: Arc<dyn Fn(Shutdown) -> BoxFuture + Send + Sync>,
}

impl Worker {
    /// Wraps an async closure that runs until `shutdown` is requested (or
    /// until it is done, or fails).
    pub fn new<F, Fut>(name: &str, f: F) -> Self
    where
        F: Fn(Shutdown) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        Self {
            name: name.into(),
            run: Arc::new(move |shutdown| Box::pin(f(shutdown))),
        }
    }

    /// The name the worker is logged and supervised under.
    ///
    /// ```
    /// let worker = micro_actors::Worker::new("consumer", |_| async { Ok(()) });
    /// assert_eq!(worker.name(), "consumer");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Worker").field(&self.name).finish()
    }
}

/// How a worker's task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerEnd {
    /// It returned `Ok`.
    Done,
    /// It returned an error (the text).
    Failed(String),
    /// It panicked (the message).
    Panicked(String),
    /// It ran past the stop bound and was aborted.
    Aborted,
}

impl std::fmt::Display for WorkerEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Done => f.write_str("finished"),
            Self::Failed(err) => write!(f, "failed: {err}"),
            Self::Panicked(message) => write!(f, "panicked: {message}"),
            Self::Aborted => f.write_str("did not stop within its bound and was aborted"),
        }
    }
}

/// What WorkerActor does on request.
///
/// ```
/// use std::time::Duration;
/// use micro_actors::{Worker, WorkerActor, WorkerEnd, WorkerMsg};
/// use ractor::{Actor, call};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let worker = Worker::new("waiter", |shutdown| async move {
///     shutdown.requested().await;
///     Ok(())
/// });
/// let (actor, handle) = Actor::spawn(None, WorkerActor, worker).await.unwrap();
/// let end = call!(actor, |reply| WorkerMsg::Stop { bound: Duration::from_secs(5), reply }).unwrap();
/// assert_eq!(end, WorkerEnd::Done);
/// handle.await.unwrap();
/// # });
/// ```
#[derive(Debug)]
pub enum WorkerMsg {
    /// Ask the task to stop, wait up to `bound`, then abort it.
    Stop {
        /// Longest to wait for the task.
        bound: Duration,
        /// How it ended.
        reply: RpcReplyPort<WorkerEnd>,
    },
    /// The task ended on its own (sent by the task).
    Exited(WorkerEnd),
}

/// The actor. Its argument is the worker it runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerActor;

/// WorkerActor's state: the running task and the sender that asks it to stop.
pub struct WorkerState {
    name: Arc<str>,
    /// How the task ended, once it did.
    end: Option<WorkerEnd>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<WorkerEnd>>,
}

impl std::fmt::Debug for WorkerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerState")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Drop for WorkerState {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Actor for WorkerActor {
    type Msg = WorkerMsg;
    type State = WorkerState;
    type Arguments = Worker;

    async fn pre_start(&self, myself: ActorRef<WorkerMsg>, worker: Worker) -> Result<WorkerState, ActorProcessingErr> {
        let (stop, shutdown) = Shutdown::pair();
        let future = AssertUnwindSafe((worker.run)(shutdown)).catch_unwind();
        let task = tokio::spawn(async move {
            let end = match future.await {
                Ok(Ok(())) => WorkerEnd::Done,
                Ok(Err(err)) => WorkerEnd::Failed(err.to_string()),
                Err(panic) => WorkerEnd::Panicked(panic_message(panic.as_ref())),
            };
            let _ = myself.cast(WorkerMsg::Exited(end.clone()));
            end
        });
        Ok(WorkerState {
            name: worker.name,
            end: None,
            stop,
            task: Some(task),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<WorkerMsg>,
        msg: WorkerMsg,
        state: &mut WorkerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WorkerMsg::Stop { bound, reply } => {
                let end = state.stop(bound).await;
                let _ = reply.send(end);
                myself.stop(Some("stopped by the service".into()));
            }
            WorkerMsg::Exited(end) => {
                // Asked to stop, the task's end was reported by Stop already.
                if state.task.take().is_none() {
                    return Ok(());
                }
                match end {
                    WorkerEnd::Done => {
                        state.end = Some(WorkerEnd::Done);
                        myself.stop(Some(format!("worker {} finished", state.name)));
                    }
                    other => return Err(other.to_string().into()),
                }
            }
        }
        Ok(())
    }
}

impl WorkerState {
    /// Whether the worker's task ended on its own with `Ok`: a supervisor
    /// reads it from the state its `ActorTerminated` event carries.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use micro_actors::{Worker, WorkerActor, WorkerState};
    /// use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
    ///
    /// struct Parent(tokio::sync::mpsc::UnboundedSender<bool>);
    /// impl Actor for Parent {
    ///     type Msg = ();
    ///     type State = ();
    ///     type Arguments = ();
    ///     async fn pre_start(&self, _: ActorRef<()>, (): ()) -> Result<(), ActorProcessingErr> { Ok(()) }
    ///     async fn handle_supervisor_evt(&self, _: ActorRef<()>, event: SupervisionEvent, _: &mut ()) -> Result<(), ActorProcessingErr> {
    ///         if let SupervisionEvent::ActorTerminated(_, Some(mut state), _) = event {
    ///             let _ = self.0.send(state.take::<WorkerState>().is_ok_and(|s| s.finished()));
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// let (told, mut finished) = tokio::sync::mpsc::unbounded_channel();
    /// let (parent, _) = Actor::spawn(None, Parent(told), ()).await.unwrap();
    /// let worker = Worker::new("once", |_| async { Ok(()) });
    /// Actor::spawn_linked(None, WorkerActor, worker, parent.get_cell()).await.unwrap();
    /// assert_eq!(finished.recv().await, Some(true));
    /// # }
    /// ```
    #[must_use]
    pub fn finished(&self) -> bool {
        self.end == Some(WorkerEnd::Done)
    }

    async fn stop(&mut self, bound: Duration) -> WorkerEnd {
        self.stop.send_replace(true);
        let Some(mut task) = self.task.take() else {
            return WorkerEnd::Done;
        };
        match tokio::time::timeout(bound, &mut task).await {
            Ok(Ok(end)) => end,
            Ok(Err(joined)) => WorkerEnd::Panicked(joined.to_string()),
            Err(_) => {
                task.abort();
                WorkerEnd::Aborted
            }
        }
    }
}
