//! ConfigActor: owns the configuration backend and the current snapshot.
//!
//! Messages:
//! - [`ConfigMsg::Preload`] (supervisor): load every preload and the site
//!   document into generation 1; replies with the snapshot or the
//!   [`LoadError`] that names the broken source.
//! - [`ConfigMsg::Watch`] (supervisor, once logging is up): start the
//!   backend's watch, if it has one; replies with what is watched.
//! - [`ConfigMsg::Reload`] (supervisor, on SIGHUP or `ServiceHandle::reload`):
//!   load every document in use into a candidate, validate it, and either
//!   swap it in (generation + 1), keep the snapshot in force when the
//!   candidate holds the same values (nothing changed: same generation,
//!   subscribers not told), or reject it and keep the old one; replies with
//!   a [`ReloadReport`] or a [`ReloadError`].
//! - [`ConfigMsg::Changed`] (the backend's watch): reload, with no one to reply to.
//! - [`ConfigMsg::Loaded`] (its own load task): a candidate is ready.
//!
//! One load runs at a time, in a task, so the actor keeps answering. Each
//! reload's load is bounded by `site.config.load_timeout`: past it the
//! reload is rejected ([`LoadError::TimedOut`]) and the snapshot in force
//! stays. Reload requests that arrive during a load are queued and
//! coalesced: they share the next load, which starts after theirs arrived
//! and so sees every change made before they asked. At most
//! [`MAX_QUEUED`] callers queue (more are refused at once with
//! [`ReloadError::Busy`]), and watch changes coalesce into one. When a load
//! times out, the callers queued behind it get its answer instead of
//! waiting for another load of the same backend; a queued change still
//! starts a new load. Each outcome is logged and recorded
//! ([`PreloadedConfig::last_reload`]); accepted snapshots reach subscribers
//! ([`PreloadedConfig::subscribe`]). Readers never come here.

mod report;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use futures::FutureExt as _;

use micro_config::{Change, ChangeSender, LastReload, LoadError, PreloadedConfig, Snapshot, Swap, WatchGuard};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinHandle;

pub use report::{ReloadError, ReloadReport};

type Reply = RpcReplyPort<Result<ReloadReport, ReloadError>>;

/// How many reload callers may wait behind the load under way; they all
/// share the next load. Further callers are refused with [`ReloadError::Busy`].
///
/// ```
/// assert_eq!(micro_actors::config::MAX_QUEUED, 64);
/// ```
pub const MAX_QUEUED: usize = 64;

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
    /// Start the backend's watch; replies with what is watched (`None`:
    /// the backend does not watch).
    Watch(RpcReplyPort<Result<Option<String>, LoadError>>),
    /// Load, validate and swap in a new snapshot, or keep the old one
    /// (rejected, or nothing changed).
    Reload(Reply),
    /// The backend saw a change: reload (sent by the watch).
    Changed(Change),
    /// A candidate is loaded (sent by the actor's own load task).
    Loaded {
        /// The candidate, or why there is none.
        candidate: Result<Snapshot, LoadError>,
        /// When the load started.
        started: Instant,
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
    /// The load under way, and who waits for it.
    loading: Option<Load>,
    /// Who asked since the load under way started; they share the next one.
    queued: Vec<Reply>,
    /// A change arrived since the load under way started.
    change_queued: Option<Change>,
    /// Keeps the backend watching; the forwarding task ends with it.
    watch: Option<(WatchGuard, JoinHandle<()>)>,
}

#[derive(Debug)]
struct Load {
    waiting: Vec<Reply>,
    /// A change triggered it: it must complete even with no one waiting.
    by_change: bool,
    task: JoinHandle<()>,
}

impl Drop for ConfigState {
    fn drop(&mut self) {
        if let Some(load) = &self.loading {
            load.task.abort();
        }
        if let Some((_, forward)) = &self.watch {
            forward.abort();
        }
    }
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
        Ok(ConfigState {
            config,
            loading: None,
            queued: Vec::new(),
            change_queued: None,
            watch: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ConfigMsg::Preload(reply) => {
                let _ = reply.send(state.preload().await);
            }
            ConfigMsg::Watch(reply) => {
                let _ = reply.send(state.watch(&myself));
            }
            ConfigMsg::Reload(reply) => state.request(&myself, Some(reply), None),
            ConfigMsg::Changed(change) => state.request(&myself, None, Some(change)),
            ConfigMsg::Loaded { candidate, started } => state.loaded(&myself, candidate, started),
        }
        Ok(())
    }
}

impl ConfigState {
    async fn preload(&mut self) -> Result<Arc<Snapshot>, LoadError> {
        let load = AssertUnwindSafe(self.config.load_candidate(1, &[])).catch_unwind();
        let snapshot = load.await.unwrap_or_else(|panic| {
            Err(LoadError::Panicked {
                message: crate::callback::panic_message(panic.as_ref()),
            })
        })?;
        self.config.store(snapshot);
        Ok(self.config.snapshot())
    }

    fn watch(&mut self, myself: &ActorRef<ConfigMsg>) -> Result<Option<String>, LoadError> {
        if self.watch.is_none() {
            let (sender, mut changes) = ChangeSender::channel();
            let Some(guard) = self.config.watch(&sender)? else {
                return Ok(None);
            };
            let actor = myself.clone();
            let forward = tokio::spawn(async move {
                while let Some(change) = changes.recv().await {
                    if actor.cast(ConfigMsg::Changed(change)).is_err() {
                        break;
                    }
                }
            });
            self.watch = Some((guard, forward));
        }
        Ok(Some(self.config.describe_backend()))
    }

    /// A reload was asked for: start a load, or queue behind the one under way.
    fn request(&mut self, myself: &ActorRef<ConfigMsg>, reply: Option<Reply>, change: Option<Change>) {
        if let Some(change) = &change {
            tracing::info!(target: "micro", "{change}: reloading");
        }
        if self.config.generation() == 0 {
            if let Some(reply) = reply {
                let _ = reply.send(Err(ReloadError::NotRunning));
            }
            return;
        }
        if self.loading.is_some() {
            if let Some(reply) = reply {
                self.queued.retain(|waiting| !waiting.is_closed());
                if self.queued.len() >= MAX_QUEUED {
                    let _ = reply.send(Err(ReloadError::Busy { waiting: MAX_QUEUED }));
                } else {
                    self.queued.push(reply);
                }
            }
            self.change_queued = change.or(self.change_queued.take());
            return;
        }
        self.start(myself, reply.into_iter().collect(), change.is_some());
    }

    fn start(&mut self, myself: &ActorRef<ConfigMsg>, waiting: Vec<Reply>, by_change: bool) {
        let config = self.config.clone();
        let actor = myself.clone();
        let bound = config.site().config.load_timeout;
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let current = config.snapshot();
            let in_use: Vec<String> = current.names().map(str::to_owned).collect();
            let load = config.load_candidate(current.generation() + 1, &in_use);
            // A panicking or hanging backend or validator must still end the
            // load, or every later reload would wait behind it.
            let candidate = match tokio::time::timeout(bound, AssertUnwindSafe(load).catch_unwind()).await {
                Ok(Ok(candidate)) => candidate,
                Ok(Err(panic)) => Err(LoadError::Panicked {
                    message: crate::callback::panic_message(panic.as_ref()),
                }),
                Err(_) => Err(LoadError::TimedOut {
                    bound,
                    key: format!("{}.config.load_timeout", config.site_path_keys().join(".")),
                }),
            };
            let _ = actor.cast(ConfigMsg::Loaded { candidate, started });
        });
        self.loading = Some(Load {
            waiting,
            by_change,
            task,
        });
    }

    /// A candidate is ready: swap it in or reject it, answer everyone who
    /// waited for it, then start the next load if anyone asked meanwhile.
    fn loaded(&mut self, myself: &ActorRef<ConfigMsg>, candidate: Result<Snapshot, LoadError>, started: Instant) {
        let Some(load) = self.loading.take() else {
            return;
        };
        let mut waiting = load.waiting;
        if matches!(candidate, Err(LoadError::TimedOut { .. })) {
            // Those queued behind a load that hung would wait as long again
            // on the same backend: they get this load's answer now.
            waiting.append(&mut self.queued);
        }
        waiting.retain(|reply| !reply.is_closed());
        let outcome = if waiting.is_empty() && !load.by_change {
            // Everyone who asked stopped waiting and was told it failed:
            // it must not happen behind their backs.
            tracing::warn!(target: "micro", "reload abandoned: its callers stopped waiting");
            Err(ReloadError::Abandoned)
        } else {
            self.apply(candidate, started)
        };
        for reply in waiting.drain(..) {
            let _ = reply.send(outcome.clone());
        }
        if !self.queued.is_empty() || self.change_queued.is_some() {
            let queued = std::mem::take(&mut self.queued);
            let by_change = self.change_queued.take().is_some();
            self.start(myself, queued, by_change);
        }
    }

    /// Swaps a valid candidate in — or, when it holds the values in force,
    /// keeps the snapshot in force (no new generation, no subscriber told)
    /// — and reports, counts, logs and records the outcome.
    fn apply(&mut self, candidate: Result<Snapshot, LoadError>, started: Instant) -> Result<ReloadReport, ReloadError> {
        let outcome = match candidate {
            Ok(candidate) => {
                let (in_force, changed) = match self.config.swap_in(candidate) {
                    Swap::Stored(snapshot) => {
                        let changed = snapshot.changed().to_vec();
                        (snapshot, changed)
                    }
                    Swap::Unchanged(snapshot) => (snapshot, Vec::new()),
                };
                Ok(ReloadReport {
                    generation: in_force.generation(),
                    changed,
                    took: started.elapsed(),
                })
            }
            Err(source) => Err(ReloadError::Rejected {
                kept: self.config.generation(),
                source: Arc::new(source),
            }),
        };
        let counted = match &outcome {
            Ok(report) if report.is_unchanged() => "unchanged",
            Ok(_) => "ok",
            Err(_) => "rejected",
        };
        metrics::counter!("micro_config_reloads_total", "outcome" => counted).increment(1);
        match &outcome {
            Ok(report) if report.is_unchanged() => tracing::info!(target: "micro", "config reload: {report}"),
            Ok(report) => tracing::info!(target: "micro", "config reloaded: {report}"),
            Err(err) => tracing::warn!(target: "micro", "config {err}"),
        }
        self.config.record_reload(LastReload::new(
            SystemTime::now(),
            self.config.generation(),
            outcome.as_ref().err().map(ToString::to_string),
        ));
        outcome
    }
}

#[cfg(test)]
mod tests;
