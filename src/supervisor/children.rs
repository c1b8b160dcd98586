//! The supervisor's children, in the one type that lets it stop any of them.

use micro_actors::{CallbackMsg, ConfigMsg, HttpMsg, LoggerMsg};
use ractor::rpc::CallResult;
use ractor::{ActorCell, ActorRef, RpcReplyPort};
use std::time::Duration;

use crate::exit::humantime;

/// A started child, with the typed reference the supervisor talks to it by.
#[derive(Debug, Clone)]
pub(crate) enum Child {
    Config(ActorRef<ConfigMsg>),
    Logger(ActorRef<LoggerMsg>),
    Callback {
        name: String,
        finish: bool,
        actor: ActorRef<CallbackMsg>,
    },
    Http(ActorRef<HttpMsg>),
}

impl Child {
    /// The name used in logs and reports.
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Config(_) => "config".into(),
            Self::Logger(_) => "logger".into(),
            Self::Callback { name, .. } => format!("callback {name}"),
            Self::Http(_) => "http".into(),
        }
    }

    pub(crate) fn cell(&self) -> ActorCell {
        match self {
            Self::Config(a) => a.get_cell(),
            Self::Logger(a) => a.get_cell(),
            Self::Callback { actor, .. } => actor.get_cell(),
            Self::Http(a) => a.get_cell(),
        }
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
