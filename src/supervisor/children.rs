//! The supervisor's children, in the one type that lets it stop any of them.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use micro_actors::{Callback, CallbackMsg, ConfigMsg, HttpMsg, LoggerMsg, Worker, WorkerMsg};

use crate::RestartPolicy;
use ractor::rpc::CallResult;
use ractor::{ActorCell, ActorId, ActorRef, RpcReplyPort};

use crate::exit::humantime;

/// When a callback runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallbackKind {
    Init,
    Finish,
    Reload,
    /// Releases what a resource's init step opened.
    Release,
}

/// What a child is started from, to start it again.
#[derive(Debug, Clone)]
pub(crate) enum Respawn {
    Config,
    Logger,
    Callback { callback: Callback, kind: CallbackKind },
}

impl Respawn {
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Config => "config".into(),
            Self::Logger => "logger".into(),
            Self::Callback { callback, .. } => format!("callback {}", callback.name()),
        }
    }
}

/// A started child, with the typed reference the supervisor talks to it by.
#[derive(Debug, Clone)]
pub(crate) enum Child {
    Config(ActorRef<ConfigMsg>),
    Logger(ActorRef<LoggerMsg>),
    Callback {
        name: String,
        kind: CallbackKind,
        callback: Callback,
        actor: ActorRef<CallbackMsg>,
    },
    Http(ActorRef<HttpMsg>),
    /// The admin routes' own listener (`site.admin.listen`).
    Admin(ActorRef<HttpMsg>),
    Worker {
        worker: Worker,
        policy: RestartPolicy,
        actor: ActorRef<WorkerMsg>,
    },
}

impl Child {
    /// The name used in logs and reports.
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Config(_) => "config".into(),
            Self::Logger(_) => "logger".into(),
            Self::Callback { name, .. } => format!("callback {name}"),
            Self::Http(_) => "http".into(),
            Self::Admin(_) => "admin http".into(),
            Self::Worker { worker, .. } => format!("worker {}", worker.name()),
        }
    }

    /// How to start this child again, for the children that are restarted
    /// when they die while the service runs (not http: its listener and
    /// connections die with it; not workers: they have their own policy).
    pub(crate) fn respawn(&self) -> Option<Respawn> {
        match self {
            Self::Config(_) => Some(Respawn::Config),
            Self::Logger(_) => Some(Respawn::Logger),
            Self::Callback { callback, kind, .. } => Some(Respawn::Callback {
                callback: callback.clone(),
                kind: *kind,
            }),
            Self::Http(_) | Self::Admin(_) | Self::Worker { .. } => None,
        }
    }

    pub(crate) fn cell(&self) -> ActorCell {
        match self {
            Self::Config(a) => a.get_cell(),
            Self::Logger(a) => a.get_cell(),
            Self::Callback { actor, .. } => actor.get_cell(),
            Self::Http(a) | Self::Admin(a) => a.get_cell(),
            Self::Worker { actor, .. } => actor.get_cell(),
        }
    }
}

/// The started children in start order, shared between the supervisor and
/// its step tasks: a step records its child right after spawning it, with no
/// await in between, so a stop that aborts the step still finds the child.
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

    /// The children now, in start order.
    pub(crate) fn all(&self) -> Vec<Child> {
        self.lock().clone()
    }

    /// Takes every child out, in start order.
    pub(crate) fn take(&self) -> Vec<Child> {
        std::mem::take(&mut *self.lock())
    }

    pub(crate) fn config(&self) -> Option<ActorRef<ConfigMsg>> {
        self.lock().iter().find_map(|c| match c {
            Child::Config(actor) => Some(actor.clone()),
            _ => None,
        })
    }

    /// The on-reload callbacks, in registration order.
    pub(crate) fn reload_hooks(&self) -> Vec<(String, ActorRef<CallbackMsg>)> {
        self.lock()
            .iter()
            .filter_map(|c| match c {
                Child::Callback {
                    name,
                    kind: CallbackKind::Reload,
                    actor,
                    ..
                } => Some((name.clone(), actor.clone())),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn logger(&self) -> Option<ActorRef<LoggerMsg>> {
        self.lock().iter().find_map(|c| match c {
            Child::Logger(actor) => Some(actor.clone()),
            _ => None,
        })
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
    tracing::warn!(target: "micro", "still waiting after {} of {}: {}", humantime(half), humantime(bound), what());
    work.await
}
