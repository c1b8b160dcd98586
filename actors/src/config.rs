//! ConfigActor: owns the configuration backend and the current snapshot.
//!
//! Messages (sent by the supervisor):
//! - [`ConfigMsg::Preload`]: load every preload and the site document into
//!   generation 1; replies with the snapshot or the [`LoadError`] that
//!   names the broken source.
//! - [`ConfigMsg::Reload`]: load every document in use into a candidate,
//!   validate it, and either swap it in (generation + 1) or reject it and
//!   keep the old one; replies with a [`ReloadReport`] or a [`ReloadError`].
//!
//! Reloads are serialized by the mailbox: two can never interleave. Readers
//! never come here: they read the snapshot through [`PreloadedConfig`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use micro_config::{LoadError, PreloadedConfig, Snapshot};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

/// What ConfigActor does on request.
///
/// ```
/// use micro_actors::{ConfigActor, ConfigMsg};
/// use micro_config::{MemoryBackend, PreloadedConfig};
/// use ractor::{Actor, call};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let backend = MemoryBackend::new().with_yaml("demo", "greeting: hi").unwrap();
/// let config = PreloadedConfig::new(["demo"]).backend(backend.clone());
/// let (actor, handle) = Actor::spawn(None, ConfigActor, config.clone()).await.unwrap();
/// call!(actor, ConfigMsg::Preload).unwrap().unwrap();
/// backend.set_yaml("demo", "greeting: hey").unwrap();
/// let report = call!(actor, ConfigMsg::Reload).unwrap().unwrap();
/// assert_eq!((report.generation, report.changed), (2, vec!["demo.greeting".to_owned()]));
/// assert_eq!(config.get_path::<String>("demo.greeting").unwrap(), "hey");
/// actor.stop(None);
/// handle.await.unwrap();
/// # });
/// ```
#[derive(Debug)]
pub enum ConfigMsg {
    /// Load the preloads into the first snapshot.
    Preload(RpcReplyPort<Result<Arc<Snapshot>, LoadError>>),
    /// Load, validate and swap in a new snapshot, or keep the old one.
    Reload(RpcReplyPort<Result<ReloadReport, ReloadError>>),
}

/// An accepted reload.
///
/// ```
/// let report = micro_actors::ReloadReport {
///     generation: 2,
///     changed: vec!["demo.greeting".into()],
///     took: std::time::Duration::from_millis(1),
/// };
/// assert_eq!(report.to_string(), "generation 2, changed: demo.greeting");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// The generation now in force.
    pub generation: u64,
    /// Dotted key paths whose values changed (values are never listed).
    pub changed: Vec<String>,
    /// How long loading and validating took.
    pub took: Duration,
}

impl std::fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.changed.is_empty() {
            write!(f, "generation {}, nothing changed", self.generation)
        } else {
            write!(
                f,
                "generation {}, changed: {}",
                self.generation,
                self.changed.join(", ")
            )
        }
    }
}

/// A reload that did not happen; the configuration in force is unchanged.
///
/// ```
/// let err = micro_actors::ReloadError::NotRunning;
/// assert_eq!(err.to_string(), "reload refused: the service is not running");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The candidate configuration is invalid.
    #[error("reload rejected, generation {kept} stays in force: {source}")]
    Rejected {
        /// The generation still in force.
        kept: u64,
        /// What is wrong with the candidate.
        source: LoadError,
    },
    /// Nothing to reload: the service has not started or has stopped.
    #[error("reload refused: the service is not running")]
    NotRunning,
    /// The caller stopped waiting before the candidate was ready; nothing changed.
    #[error("reload abandoned: its caller stopped waiting; the configuration in force is unchanged")]
    Abandoned,
    /// ConfigActor did not answer within the bound.
    #[error("reload unanswered after {waited:?} (bound: site.actors.call_timeout)")]
    Unanswered {
        /// How long the caller waited.
        waited: Duration,
    },
}

/// The actor. Its argument is the accessor whose snapshot it replaces.
///
/// A reload before the first load is refused:
///
/// ```
/// use micro_actors::{ConfigActor, ConfigMsg, ReloadError};
/// use micro_config::PreloadedConfig;
/// use ractor::{Actor, call};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (actor, handle) = Actor::spawn(None, ConfigActor, PreloadedConfig::new(["demo"])).await.unwrap();
/// let err = call!(actor, ConfigMsg::Reload).unwrap().unwrap_err();
/// assert!(matches!(err, ReloadError::NotRunning), "{err}");
/// actor.stop(None);
/// handle.await.unwrap();
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfigActor;

/// ConfigActor's state: the accessor it was given, so every snapshot it
/// stores is seen through the caller's clones, and a failed load leaves the
/// actor ready for the next message.
///
/// ```
/// use micro_actors::{ConfigActor, ConfigMsg, ConfigState};
/// use micro_config::{MemoryBackend, PreloadedConfig};
/// use ractor::{Actor, call};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let _: fn(ConfigState) -> <ConfigActor as Actor>::State = std::convert::identity;
/// let backend = MemoryBackend::new();
/// let config = PreloadedConfig::new(["demo"]).backend(backend.clone());
/// let (actor, handle) = Actor::spawn(None, ConfigActor, config.clone()).await.unwrap();
/// assert!(call!(actor, ConfigMsg::Preload).unwrap().is_err()); // `demo` is missing
/// backend.set_yaml("demo", "greeting: hi").unwrap();
/// call!(actor, ConfigMsg::Preload).unwrap().unwrap();
/// assert_eq!(config.generation(), 1);
/// actor.stop(None);
/// handle.await.unwrap();
/// # });
/// ```
#[derive(Debug)]
pub struct ConfigState {
    config: PreloadedConfig,
}

impl Actor for ConfigActor {
    type Msg = ConfigMsg;
    type State = ConfigState;
    type Arguments = PreloadedConfig;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        config: PreloadedConfig,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(ConfigState { config })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ConfigMsg::Preload(reply) => {
                let _ = reply.send(state.preload().await);
            }
            ConfigMsg::Reload(reply) => {
                // A caller that gave up (its bound passed) was told the reload
                // failed: it must not then happen behind its back.
                if reply.is_closed() {
                    tracing::warn!(target: "micro", "reload skipped: its caller stopped waiting");
                    return Ok(());
                }
                let outcome = state.reload(|| reply.is_closed()).await;
                let _ = reply.send(outcome);
            }
        }
        Ok(())
    }
}

impl ConfigState {
    async fn preload(&mut self) -> Result<Arc<Snapshot>, LoadError> {
        let snapshot = self.config.load_candidate(1, &[]).await?;
        self.config.store(snapshot);
        Ok(self.config.snapshot())
    }

    /// Loads and validates a candidate; swaps it in unless `abandoned()`
    /// says the caller is gone by then.
    async fn reload(&mut self, abandoned: impl Fn() -> bool) -> Result<ReloadReport, ReloadError> {
        let started = Instant::now();
        let current = self.config.snapshot();
        if current.generation() == 0 {
            return Err(ReloadError::NotRunning);
        }
        let in_use: Vec<String> = current.names().map(str::to_owned).collect();
        let candidate = self
            .config
            .load_candidate(current.generation() + 1, &in_use)
            .await
            .map_err(|source| ReloadError::Rejected {
                kept: current.generation(),
                source,
            })?;
        if abandoned() {
            return Err(ReloadError::Abandoned);
        }
        let changed = current.diff(&candidate);
        let generation = candidate.generation();
        self.config.store(candidate);
        Ok(ReloadReport {
            generation,
            changed,
            took: started.elapsed(),
        })
    }
}

#[cfg(test)]
mod tests {
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
}
