//! The supervisor's children: which one ([`ChildId`]), the typed reference
//! it is talked to by ([`Child`]), the list of those started
//! ([`Children`]), and the one path that spawns and records a child
//! ([`spawn`]), shared by startup, restarts and shutdown.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::FutureExt as _;
use micro_actors::{
    Callback, CallbackActor, CallbackMsg, ConfigActor, ConfigMsg, HttpMsg, LoggerActor, LoggerMsg, Worker, WorkerActor,
    WorkerMsg,
};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorCell, ActorId, ActorRef, RpcReplyPort};

use super::SupervisorMsg;
use super::blueprint::Blueprint;
use crate::exit::humantime;

/// When a callback runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CallbackKind {
    Init,
    Finish,
    Reload,
    /// Releases what a resource's init step opened.
    Release,
}

/// Which child: what it was registered as, with its index in registration
/// order among those of its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ChildId {
    Config,
    Logger,
    Callback(CallbackKind, usize),
    Worker(usize),
    Http,
    /// The admin routes' own listener (`site.admin.listen`).
    Admin,
}

impl ChildId {
    /// Whether the child is started again when it dies while the service
    /// runs: not http (its listener and connections die with it), and not
    /// workers, which follow their own restart policy.
    pub(crate) fn is_core(self) -> bool {
        matches!(self, Self::Config | Self::Logger | Self::Callback(..))
    }
}

/// A started child, with the typed reference the supervisor talks to it by.
#[derive(Debug, Clone)]
pub(crate) enum Child {
    Config(ActorRef<ConfigMsg>),
    Logger(ActorRef<LoggerMsg>),
    Callback(CallbackKind, usize, ActorRef<CallbackMsg>),
    Worker(usize, ActorRef<WorkerMsg>),
    Http(ActorRef<HttpMsg>),
    Admin(ActorRef<HttpMsg>),
}

impl Child {
    pub(crate) fn id(&self) -> ChildId {
        match self {
            Self::Config(_) => ChildId::Config,
            Self::Logger(_) => ChildId::Logger,
            Self::Callback(kind, index, _) => ChildId::Callback(*kind, *index),
            Self::Worker(index, _) => ChildId::Worker(*index),
            Self::Http(_) => ChildId::Http,
            Self::Admin(_) => ChildId::Admin,
        }
    }

    pub(crate) fn cell(&self) -> ActorCell {
        match self {
            Self::Config(a) => a.get_cell(),
            Self::Logger(a) => a.get_cell(),
            Self::Callback(_, _, a) => a.get_cell(),
            Self::Worker(_, a) => a.get_cell(),
            Self::Http(a) | Self::Admin(a) => a.get_cell(),
        }
    }
}

/// The started children in start order, shared between the supervisor and
/// its tasks: a task records its child right after spawning it, with no
/// await in between, so a stop that aborts the task still finds the child.
#[derive(Debug, Clone, Default)]
pub(crate) struct Children(Arc<Mutex<Vec<Child>>>);

impl Children {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Child>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn push(&self, child: Child) {
        self.lock().push(child);
    }

    /// Forgets the child with `id` (it died) and returns it.
    pub(crate) fn remove(&self, id: ActorId) -> Option<Child> {
        let mut children = self.lock();
        let position = children.iter().position(|c| c.cell().get_id() == id)?;
        Some(children.remove(position))
    }

    /// Takes every child out, in start order.
    pub(crate) fn take(&self) -> Vec<Child> {
        std::mem::take(&mut *self.lock())
    }

    /// The child registered as `id`, if it is started now.
    pub(crate) fn get(&self, id: ChildId) -> Option<Child> {
        self.lock().iter().find(|c| c.id() == id).cloned()
    }

    pub(crate) fn config(&self) -> Option<ActorRef<ConfigMsg>> {
        match self.get(ChildId::Config)? {
            Child::Config(actor) => Some(actor),
            _ => None,
        }
    }

    pub(crate) fn logger(&self) -> Option<ActorRef<LoggerMsg>> {
        match self.get(ChildId::Logger)? {
            Child::Logger(actor) => Some(actor),
            _ => None,
        }
    }

    pub(crate) fn http(&self, id: ChildId) -> Option<ActorRef<HttpMsg>> {
        match self.get(id)? {
            Child::Http(actor) | Child::Admin(actor) => Some(actor),
            _ => None,
        }
    }

    pub(crate) fn callback(&self, kind: CallbackKind, index: usize) -> Option<ActorRef<CallbackMsg>> {
        match self.get(ChildId::Callback(kind, index))? {
            Child::Callback(_, _, actor) => Some(actor),
            _ => None,
        }
    }

    pub(crate) fn worker(&self, index: usize) -> Option<ActorRef<WorkerMsg>> {
        match self.get(ChildId::Worker(index))? {
            Child::Worker(_, actor) => Some(actor),
            _ => None,
        }
    }
}

/// What spawning a child needs.
#[derive(Clone)]
pub(crate) struct Spawner {
    pub(crate) supervisor: ActorRef<SupervisorMsg>,
    pub(crate) blueprint: Arc<Blueprint>,
    pub(crate) children: Children,
}

impl Spawner {
    /// Spawns the config, logger, callback or worker actor registered as
    /// `id`, linked to the supervisor, and records it the moment it is
    /// spawned. User code it runs to do so (the `log_configuration` hook)
    /// runs under `catch_unwind`: a panic is an error here.
    pub(crate) async fn spawn(&self, id: ChildId) -> Result<Child, String> {
        let cell = self.supervisor.get_cell();
        let blueprint = &self.blueprint;
        let child = match id {
            ChildId::Config => Actor::spawn_linked(None, ConfigActor, blueprint.config.clone(), cell)
                .await
                .map(|(actor, _)| Child::Config(actor)),
            ChildId::Logger => {
                let settings =
                    std::panic::catch_unwind(AssertUnwindSafe(|| blueprint.log_settings())).map_err(|panic| {
                        let message = micro_actors::callback::panic_message(panic.as_ref());
                        format!("the log_configuration hook panicked: {message}")
                    })?;
                Actor::spawn_linked(None, LoggerActor, settings, cell)
                    .await
                    .map(|(actor, _)| Child::Logger(actor))
            }
            ChildId::Callback(kind, index) => {
                let callback: Callback = blueprint.callback(kind, index).clone();
                Actor::spawn_linked(None, CallbackActor, callback, cell)
                    .await
                    .map(|(actor, _)| Child::Callback(kind, index, actor))
            }
            ChildId::Worker(index) => {
                let worker: Worker = blueprint.workers[index].0.clone();
                Actor::spawn_linked(None, WorkerActor, worker, cell)
                    .await
                    .map(|(actor, _)| Child::Worker(index, actor))
            }
            ChildId::Http | ChildId::Admin => return Err("listeners are started by the http step".into()),
        }
        .map_err(|err| err.to_string())?;
        self.children.push(child.clone());
        Ok(child)
    }

    /// [`spawn`](Self::spawn), with a panic anywhere in it turned into an error.
    pub(crate) async fn spawn_caught(&self, id: ChildId) -> Result<Child, String> {
        AssertUnwindSafe(self.spawn(id))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Err(micro_actors::callback::panic_message(panic.as_ref())))
    }
}

/// A call that did not produce an answer.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum Unanswered {
    #[error("no answer within {}", humantime(*.0))]
    TimedOut(Duration),
    #[error("the actor stopped before answering")]
    Gone,
}

/// Sends a request and waits for the reply, at most `bound`.
pub(crate) async fn ask<M, T>(
    actor: &ActorRef<M>,
    request: impl FnOnce(RpcReplyPort<T>) -> M,
    bound: Duration,
) -> Result<T, Unanswered>
where
    M: ractor::Message,
    T: Send + 'static,
{
    match actor.call(request, Some(bound)).await {
        Ok(CallResult::Success(answer)) => Ok(answer),
        Ok(CallResult::Timeout) => Err(Unanswered::TimedOut(bound)),
        Ok(CallResult::SenderError) | Err(_) => Err(Unanswered::Gone),
    }
}

/// Awaits `work`; when it runs past half of `bound`, logs what it is
/// waiting for (`what()` is asked then, so it can count what is left).
/// The bound itself is enforced by `work`.
pub(crate) async fn watched<T>(
    work: impl std::future::Future<Output = T>,
    bound: Duration,
    what: impl Fn() -> String,
) -> T {
    tokio::pin!(work);
    let half = bound / 2;
    tokio::select! {
        done = &mut work => return done,
        () = tokio::time::sleep(half) => {}
    }
    let line = format!(
        "still waiting after {} of {}: {}",
        humantime(half),
        humantime(bound),
        what()
    );
    if micro_actors::logger::is_installed() {
        tracing::warn!(target: "micro", "{line}");
    } else {
        // Logging is not installed yet (the preloads come first): the
        // operator still has to see what startup waits for.
        eprintln!("{line}");
    }
    work.await
}
