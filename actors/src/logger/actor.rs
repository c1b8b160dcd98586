//! LoggerActor: the subscriber's install, level and flush, on request.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::{ExtraLayers, FlushError, LogError, LogSettings, flush, install, install_with, set_level};

/// What LoggerActor does on request.
///
/// ```
/// use micro_actors::{LogFormat, LogSettings, LoggerActor, LoggerMsg};
/// use ractor::{Actor, call};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let settings = LogSettings {
///     service: "doc".into(),
///     version: "0.1.0".into(),
///     format: LogFormat::Pretty,
///     level: "warn".into(),
///     buffer_lines: 1000,
///     output: Default::default(),
/// };
/// let (actor, handle) = Actor::spawn(None, LoggerActor, settings).await.unwrap();
/// call!(actor, LoggerMsg::Install).unwrap().unwrap();
/// call!(actor, |reply| LoggerMsg::SetLevel("error".into(), reply)).unwrap().unwrap();
/// call!(actor, |reply| LoggerMsg::Flush(std::time::Duration::from_secs(1), reply)).unwrap().unwrap();
/// actor.stop(None);
/// handle.await.unwrap();
/// # });
/// ```
#[derive(Debug)]
pub enum LoggerMsg {
    /// Install the subscriber.
    Install(RpcReplyPort<Result<(), LogError>>),
    /// Install the subscriber with the service's own layers under the filter.
    InstallWith(ExtraLayers, RpcReplyPort<Result<(), LogError>>),
    /// Apply a filter directive.
    SetLevel(String, RpcReplyPort<Result<(), LogError>>),
    /// Write out the queued lines, waiting at most the given bound.
    Flush(std::time::Duration, RpcReplyPort<Result<(), FlushError>>),
}

/// The actor. Its argument is the settings to install.
///
/// ```
/// use micro_actors::{LogFormat, LogSettings, LoggerActor, LoggerMsg, logger};
/// use ractor::{Actor, call};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let settings = LogSettings {
///     service: "doc".into(),
///     version: "0.1.0".into(),
///     format: LogFormat::Json,
///     level: "warn".into(),
///     buffer_lines: 1000,
///     output: Default::default(),
/// };
/// let (actor, handle) = Actor::spawn(None, LoggerActor, settings).await.unwrap();
/// assert!(!logger::is_installed()); // spawning alone installs nothing
/// call!(actor, LoggerMsg::Install).unwrap().unwrap();
/// assert!(logger::is_installed());
/// actor.stop(None);
/// handle.await.unwrap();
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct LoggerActor;

/// LoggerActor's state: the settings, whose level follows each accepted
/// `SetLevel`. A rejected level changes nothing and the actor carries on.
///
/// ```
/// use micro_actors::logger::LoggerState;
/// use micro_actors::{LogFormat, LogSettings, LoggerActor, LoggerMsg};
/// use ractor::{Actor, call};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let _: fn(LoggerState) -> <LoggerActor as Actor>::State = std::convert::identity;
/// let settings = LogSettings {
///     service: "doc".into(),
///     version: "0.1.0".into(),
///     format: LogFormat::Pretty,
///     level: "warn".into(),
///     buffer_lines: 1000,
///     output: Default::default(),
/// };
/// let (actor, handle) = Actor::spawn(None, LoggerActor, settings).await.unwrap();
/// call!(actor, LoggerMsg::Install).unwrap().unwrap();
/// let rejected = call!(actor, |reply| LoggerMsg::SetLevel("warn,=[".into(), reply)).unwrap();
/// assert!(rejected.is_err());
/// call!(actor, |reply| LoggerMsg::SetLevel("error".into(), reply)).unwrap().unwrap();
/// actor.stop(None);
/// handle.await.unwrap();
/// # });
/// ```
#[derive(Debug)]
pub struct LoggerState {
    settings: LogSettings,
}

impl Actor for LoggerActor {
    type Msg = LoggerMsg;
    type State = LoggerState;
    type Arguments = LogSettings;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        settings: LogSettings,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(LoggerState { settings })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            LoggerMsg::Install(reply) => {
                let _ = reply.send(install(&state.settings));
            }
            LoggerMsg::InstallWith(layers, reply) => {
                let _ = reply.send(install_with(&state.settings, layers));
            }
            LoggerMsg::SetLevel(level, reply) => {
                let outcome = set_level(&level);
                if outcome.is_ok() {
                    state.settings.level = level;
                }
                let _ = reply.send(outcome);
            }
            LoggerMsg::Flush(bound, reply) => {
                let _ = reply.send(flush(bound).await);
            }
        }
        Ok(())
    }
}
