//! The Supervisor: spawns the actors in order, drives startup and shutdown,
//! and maps how things went onto an exit status.
//!
//! Startup is a chain of messages to itself: `StartNext` spawns a task for
//! the next step (config → logging → callbacks → http); the task records the
//! child it spawned in the shared [`Children`] list and reports the outcome
//! (`StepDone`), which triggers the next `StartNext`. Shutdown is a task that
//! reports each phase (`ShutdownPhase`) and then `ShutdownDone`; the
//! supervisor then stops itself and, in `post_stop`, stops its children in
//! reverse start order. So the mailbox is always free: a signal is handled
//! at once in any phase.
//!
//! Messages come from the signal task (`Signal`), the [`ServiceHandle`]
//! (`Stop`, `Reload`), the step and shutdown tasks, and ractor (supervision
//! events when a child dies).
//!
//! [`ServiceHandle`]: crate::ServiceHandle

mod children;
mod reload;
mod shutdown;
mod startup;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use micro_actors::{
    CallbackActor, ConfigActor, ConfigMsg, InFlight, LoggerActor, LoggerMsg, Readiness, ReloadError, ReloadReport,
    Worker, WorkerActor,
};
use micro_config::Snapshot;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::exit::humantime;
use crate::restart::Restarts;
use crate::service::Mode;
use crate::signals::{Force, Signal};
use crate::{ExitKind, ExitStatus, Phase, RestartPolicy, Service, ShutdownReport, StartError, StopCause};
use children::{CallbackKind, Child, Children, Respawn, ask};
use startup::{Step, StepContext};

/// What the supervisor acts on.
#[derive(Debug)]
pub(crate) enum SupervisorMsg {
    /// Start the next startup step (sent to itself).
    StartNext,
    /// A step finished (from a step task); `Some(addr)` once listening.
    StepDone {
        phase: &'static str,
        took: Duration,
        outcome: Result<Option<SocketAddr>, StartError>,
    },
    /// The startup bound may have passed (sent to itself).
    StartupTimedOut,
    /// A Unix signal (from the signal task).
    Signal(Signal),
    /// Stop gracefully (from the handle).
    Stop(StopCause),
    /// Reload the configuration (from SIGHUP, or the handle with a reply port).
    Reload(Option<RpcReplyPort<Result<ReloadReport, ReloadError>>>),
    /// A snapshot was stored (from the config subscription task).
    ConfigChanged(Arc<Snapshot>),
    /// Start a child again after its backoff (sent to itself).
    Restart(Restart),
    /// A shutdown phase began (from the shutdown task).
    ShutdownPhase(&'static str),
    /// The shutdown task is done (from the shutdown task).
    ShutdownDone(ShutdownReport),
}

/// What to start again.
#[derive(Debug, Clone)]
pub(crate) enum Restart {
    Worker { worker: Worker, policy: RestartPolicy },
    Actor(Respawn),
}

impl Restart {
    fn name(&self) -> String {
        match self {
            Self::Worker { worker, .. } => format!("worker {}", worker.name()),
            Self::Actor(respawn) => respawn.name(),
        }
    }
}

pub(crate) struct SupervisorArgs {
    pub(crate) service: Service,
    pub(crate) mode: Mode,
    pub(crate) force: Force,
    pub(crate) done: oneshot::Sender<ExitStatus>,
}

pub(crate) struct Supervisor;

pub(crate) struct SupervisorState {
    service: Service,
    mode: Mode,
    phase: Phase,
    steps: VecDeque<Step>,
    /// The running startup step: its phase and task.
    step: Option<(&'static str, JoinHandle<()>)>,
    children: Children,
    /// Startup phases and how long each took, in order.
    timings: Vec<(&'static str, Duration)>,
    started: Instant,
    startup_deadline: Instant,
    addr: Option<SocketAddr>,
    readiness: Readiness,
    in_flight: InFlight,
    /// Set by whatever decided how the run ends; `None` means a clean stop.
    exit: Option<(ExitKind, String)>,
    report: ShutdownReport,
    /// Stop signals received; the second one while stopping forces.
    stop_signals: usize,
    shutdown: Option<JoinHandle<()>>,
    shutdown_phase: Option<(&'static str, Instant)>,
    /// When `shutdown.total` runs out.
    shutdown_deadline: Option<Instant>,
    force: Force,
    done: Option<oneshot::Sender<ExitStatus>>,
    /// Forwards stored snapshots as `ConfigChanged`.
    updates: Option<JoinHandle<()>>,
    /// Restarts per worker, for the intensity and the status.
    restarts: HashMap<String, Restarts>,
    /// The snapshot the other actors were last told about.
    applied: Option<Arc<Snapshot>>,
    /// Tells the logger and the on-reload callbacks, one generation after
    /// the other, in a task of its own.
    applier: Option<(mpsc::UnboundedSender<Generation>, JoinHandle<()>)>,
    /// Pings systemd's watchdog while the service runs.
    watchdog: Option<JoinHandle<()>>,
    /// Run the registered readiness checks while the service runs.
    health_checks: Vec<JoinHandle<()>>,
}

/// A snapshot to apply, with every key path changed since the last applied.
type Generation = (Arc<Snapshot>, Vec<String>);

impl Drop for SupervisorState {
    fn drop(&mut self) {
        if let Some(task) = &self.updates {
            task.abort();
        }
        if let Some((_, task)) = &self.applier {
            task.abort();
        }
        if let Some(task) = &self.watchdog {
            task.abort();
        }
        for task in &self.health_checks {
            task.abort();
        }
        // A supervisor that fails skips post_stop: no task may outlive it.
        if let Some((_, task)) = &self.step {
            task.abort();
        }
        if let Some(task) = &self.shutdown {
            task.abort();
        }
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let inner = args.service.inner();
        let mut steps = VecDeque::from([Step::Config, Step::Logger, Step::Watch]);
        let callbacks = |list: &[micro_actors::Callback], kind| {
            list.iter()
                .map(move |c| Step::Callback {
                    callback: c.clone(),
                    kind,
                })
                .collect::<Vec<_>>()
        };
        // Releases are in place before any resource opens, so a startup
        // that fails after one opened still releases it.
        steps.extend(callbacks(&inner.release, CallbackKind::Release));
        steps.extend(callbacks(&inner.init, CallbackKind::Init));
        steps.extend(callbacks(&inner.finish, CallbackKind::Finish));
        steps.extend(callbacks(&inner.reload, CallbackKind::Reload));
        steps.extend(inner.workers.iter().map(|(worker, policy)| Step::Worker {
            worker: worker.clone(),
            policy: *policy,
        }));
        steps.push_back(Step::Http);
        // Until the site config is loaded, the bound is the one in force now.
        let bound = args.service.config_site().startup.timeout;
        myself.send_after(bound, || SupervisorMsg::StartupTimedOut);
        myself.cast(SupervisorMsg::StartNext)?;
        inner.handle.set_phase(Phase::Starting, None);
        let now = Instant::now();
        Ok(SupervisorState {
            service: args.service,
            mode: args.mode,
            phase: Phase::Starting,
            steps,
            step: None,
            children: Children::default(),
            timings: Vec::new(),
            started: now,
            startup_deadline: now + bound,
            addr: None,
            readiness: Readiness::default(),
            in_flight: InFlight::default(),
            exit: None,
            report: ShutdownReport::default(),
            stop_signals: 0,
            shutdown: None,
            shutdown_phase: None,
            shutdown_deadline: None,
            force: args.force,
            done: Some(args.done),
            updates: None,
            applied: None,
            applier: None,
            restarts: HashMap::new(),
            watchdog: None,
            health_checks: Vec::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::StartNext => state.start_next(&myself),
            SupervisorMsg::StepDone { phase, took, outcome } => state.step_done(&myself, phase, took, outcome),
            SupervisorMsg::StartupTimedOut => state.startup_timed_out(&myself),
            SupervisorMsg::Signal(Signal::Hangup) => state.reload(None),
            SupervisorMsg::Signal(signal) => state.stop_signal(&myself, signal),
            SupervisorMsg::Stop(cause) => state.begin_shutdown(&myself, cause),
            SupervisorMsg::Reload(reply) => state.reload(reply),
            SupervisorMsg::ConfigChanged(snapshot) => state.config_changed(snapshot),
            SupervisorMsg::ShutdownPhase(name) => state.enter_shutdown_phase(Some(name)),
            SupervisorMsg::ShutdownDone(partial) => state.shutdown_done(&myself, partial),
            SupervisorMsg::Restart(Restart::Worker { worker, policy }) => state.restart(&myself, worker, policy).await,
            SupervisorMsg::Restart(Restart::Actor(respawn)) => state.respawn(&myself, respawn).await,
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        // Overrides ractor's default, which stops the supervisor whenever a child exits.
        let (cell, why, failed) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, format!("failed: {err}"), true),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let reason = reason.unwrap_or_else(|| "no reason given".into());
                // A worker whose task returned Ok says so; anything else (killed) failed.
                let failed = !reason.ends_with(" finished");
                (cell, format!("stopped: {reason}"), failed)
            }
            _ => return Ok(()),
        };
        let Some(child) = state.children.remove(cell.get_id()) else {
            return Ok(());
        };
        let name = child.name();
        if let (Child::Worker { worker, policy, .. }, Phase::Starting | Phase::Running) = (&child, state.phase) {
            state.worker_ended(&myself, worker.clone(), *policy, failed, &why);
            return Ok(());
        }
        if let (Some(respawn), Phase::Running) = (child.respawn(), state.phase) {
            state.restart_later(&myself, &why, Restart::Actor(respawn));
            return Ok(());
        }
        match state.phase {
            Phase::Starting => state.fail_start(
                &myself,
                &StartError::Actor {
                    step: "startup".into(),
                    actor: name,
                    reason: why,
                },
            ),
            Phase::Running => {
                tracing::error!(target: "micro", "actor {name} {why}; stopping the service");
                state
                    .exit
                    .get_or_insert((ExitKind::Failure, format!("actor {name} {why}")));
                state.begin_shutdown(&myself, StopCause::ActorDied(name));
            }
            _ => {}
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let started = Instant::now();
        let bound = state.service.config_site().shutdown.actor_stop_timeout;
        let (stopped, killed) =
            shutdown::stop_children(state.children.take(), bound, state.shutdown_deadline, &state.force).await;
        state.report.stopped = stopped;
        state.report.killed = killed;
        state.report.phases.push(("stop", started.elapsed()));
        state.finish();
        Ok(())
    }
}

impl SupervisorState {
    fn context(&self, myself: &ActorRef<SupervisorMsg>) -> StepContext {
        StepContext {
            supervisor: myself.clone(),
            service: self.service.clone(),
            mode: self.mode.clone(),
            children: self.children.clone(),
            readiness: self.readiness.clone(),
            in_flight: self.in_flight.clone(),
            startup_bound: self.startup_deadline.saturating_duration_since(Instant::now()),
        }
    }

    fn start_next(&mut self, myself: &ActorRef<SupervisorMsg>) {
        if self.phase != Phase::Starting {
            return;
        }
        let Some(step) = self.steps.pop_front() else {
            return self.running();
        };
        let phase = step.phase();
        crate::systemd::status(&format!("starting: {phase}"));
        let task = tokio::spawn(startup::run(step, self.context(myself)));
        self.step = Some((phase, task));
    }

    fn step_done(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        phase: &'static str,
        took: Duration,
        outcome: Result<Option<SocketAddr>, StartError>,
    ) {
        if self.phase != Phase::Starting {
            return;
        }
        self.step = None;
        match self.timings.iter_mut().find(|(name, _)| *name == phase) {
            Some((_, total)) => *total += took,
            None => self.timings.push((phase, took)),
        }
        match outcome {
            Err(err) => return self.fail_start(myself, &err),
            Ok(Some(addr)) => {
                self.addr = Some(addr);
                tracing::info!(target: "micro", "listening on {addr}");
            }
            Ok(None) => {}
        }
        if phase == "config" {
            // Logging and callbacks start from this snapshot.
            self.applied = Some(self.service.config().snapshot());
            self.subscribe_to_config(myself);
            // From now on the configured bound applies.
            let bound = self.service.config_site().startup.timeout;
            self.startup_deadline = self.started + bound;
            myself.send_after(self.startup_deadline.saturating_duration_since(Instant::now()), || {
                SupervisorMsg::StartupTimedOut
            });
        }
        let _ = myself.cast(SupervisorMsg::StartNext);
    }

    fn running(&mut self) {
        self.phase = Phase::Running;
        self.service.inner().handle.set_phase(Phase::Running, self.addr);
        self.service.inner().handle.record_phases("startup", &self.timings);
        self.start_applier();
        let serving = self
            .addr
            .map_or_else(|| "serving".to_owned(), |addr| format!("serving on {addr}"));
        crate::systemd::ready(&serving);
        self.watchdog = crate::systemd::watchdog();
        let (inner, site) = (self.service.inner(), self.service.config_site());
        self.health_checks =
            crate::health::start(&inner.checks, &inner.health, site.health.interval, site.health.timeout);
        let phases: Vec<String> = self
            .timings
            .iter()
            .map(|(name, took)| format!("{name} {}", humantime(*took)))
            .collect();
        tracing::info!(
            target: "micro",
            "started {} {} in {} ({})",
            self.service.name(),
            self.service.get_version(true),
            humantime(self.started.elapsed()),
            phases.join(", ")
        );
    }

    fn startup_timed_out(&mut self, myself: &ActorRef<SupervisorMsg>) {
        if self.phase != Phase::Starting || Instant::now() < self.startup_deadline {
            return;
        }
        let step = self.step.as_ref().map_or("startup", |(phase, _)| phase).to_owned();
        let bound = self.startup_deadline.saturating_duration_since(self.started);
        self.fail_start(myself, &StartError::TimedOut { step, bound });
    }

    fn fail_start(&mut self, myself: &ActorRef<SupervisorMsg>, err: &StartError) {
        let kind = err.exit_kind();
        let reason = format!("cannot start {}: {err}", self.service.name());
        if micro_actors::logger::is_installed() {
            tracing::error!(target: "micro", "{reason}");
        } else {
            // Logging is not configured yet (config is what failed): the
            // operator still has to see why.
            eprintln!("{reason}");
        }
        self.exit.get_or_insert((kind, reason));
        self.begin_shutdown(myself, StopCause::StartFailed);
    }

    fn reload(&mut self, reply: Option<RpcReplyPort<Result<ReloadReport, ReloadError>>>) {
        let (Some(config), Phase::Running) = (self.children.config(), self.phase) else {
            tracing::warn!(target: "micro", "reload ignored: the service is not running ({:?})", self.phase);
            if let Some(reply) = reply {
                let _ = reply.send(Err(ReloadError::NotRunning));
            }
            return;
        };
        tokio::spawn(reload::request(self.service.clone(), config, reply));
    }

    /// Forwards every snapshot ConfigActor stores — after a reload, asked
    /// for or seen by the backend's watch — as `ConfigChanged`.
    fn subscribe_to_config(&mut self, myself: &ActorRef<SupervisorMsg>) {
        let mut updates = self.service.config().subscribe();
        let supervisor = myself.clone();
        self.updates = Some(tokio::spawn(async move {
            while updates.changed().await.is_ok() {
                let snapshot = Arc::clone(&updates.borrow_and_update());
                if supervisor.cast(SupervisorMsg::ConfigChanged(snapshot)).is_err() {
                    break;
                }
            }
        }));
    }

    /// A new generation is in force: tell the logger and the on-reload
    /// callbacks everything that changed since they were last told (the
    /// subscription may skip generations that came in quick succession).
    fn config_changed(&mut self, snapshot: Arc<Snapshot>) {
        let Some(applied) = &self.applied else { return };
        if self.phase != Phase::Running || snapshot.generation() <= applied.generation() {
            return;
        }
        let changes = applied.diff(&snapshot);
        self.applied = Some(Arc::clone(&snapshot));
        if let Some((applier, _)) = &self.applier {
            let _ = applier.send((snapshot, changes));
        }
    }

    /// Starts the task that applies new generations in order, then catches
    /// up with any accepted while the service was starting (a watched file).
    fn start_applier(&mut self) {
        let (applier, mut generations) = mpsc::unbounded_channel::<Generation>();
        let service = self.service.clone();
        let logger = self.children.logger();
        let hooks = self.children.reload_hooks();
        let debug = self.mode.is_debug();
        let task = tokio::spawn(async move {
            while let Some((snapshot, changes)) = generations.recv().await {
                reload::apply(&service, &snapshot, changes, logger.as_ref(), &hooks, debug).await;
            }
        });
        self.applier = Some((applier, task));
        self.config_changed(self.service.config().snapshot());
    }

    /// A worker ended while the service starts or runs: restart it after a
    /// backoff if its policy says so.
    fn worker_ended(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        worker: Worker,
        policy: RestartPolicy,
        failed: bool,
        why: &str,
    ) {
        if !policy.restarts(failed) {
            tracing::info!(target: "micro", "worker {} {why}; not restarted ({policy:?})", worker.name());
            return;
        }
        self.restart_later(myself, why, Restart::Worker { worker, policy });
    }

    /// Starts `what` again after a backoff, or stops the service when it
    /// restarted too often within the window.
    fn restart_later(&mut self, myself: &ActorRef<SupervisorMsg>, why: &str, what: Restart) {
        let name = what.name();
        let bounds = self.service.config_site().supervision.clone();
        let restarts = self.restarts.entry(name.clone()).or_default();
        match restarts.next(Instant::now(), &bounds) {
            Some(delay) => {
                tracing::warn!(
                    target: "micro",
                    "{name} {why}; restarting in {} (restart {})",
                    humantime(delay),
                    restarts.total
                );
                let key = name.strip_prefix("worker ").unwrap_or(&name);
                self.service.inner().handle.record_restart(key, restarts.total);
                myself.send_after(delay, move || SupervisorMsg::Restart(what));
            }
            None => {
                let reason = format!(
                    "{name} {why}, its restart {} within {} (site.supervision.max_restarts = {}): giving up",
                    bounds.max_restarts + 1,
                    humantime(bounds.restart_window),
                    bounds.max_restarts
                );
                tracing::error!(target: "micro", "{reason}; stopping the service");
                self.exit.get_or_insert((ExitKind::Failure, reason));
                self.begin_shutdown(myself, StopCause::ActorDied(name));
            }
        }
    }

    /// Starts a core actor again and brings it back to where it was: the
    /// config actor watching, the logger installed.
    async fn respawn(&mut self, myself: &ActorRef<SupervisorMsg>, respawn: Respawn) {
        if self.phase != Phase::Running {
            return;
        }
        let name = respawn.name();
        let bound = self.service.config_site().actors.call_timeout;
        let cell = myself.get_cell();
        let started = match respawn.clone() {
            Respawn::Config => Actor::spawn_linked(None, ConfigActor, self.service.config().clone(), cell)
                .await
                .map(|(actor, _)| {
                    tokio::spawn({
                        let actor = actor.clone();
                        async move {
                            if let Err(err) = ask(&actor, ConfigMsg::Watch, bound).await {
                                tracing::warn!(target: "micro", "config watch not restarted: {err}");
                            }
                        }
                    });
                    Child::Config(actor)
                }),
            Respawn::Logger => {
                let settings = self.service.log_settings(self.mode.is_debug());
                Actor::spawn_linked(None, LoggerActor, settings, cell)
                    .await
                    .map(|(actor, _)| {
                        tokio::spawn({
                            let actor = actor.clone();
                            async move {
                                let _ = ask(&actor, LoggerMsg::Install, bound).await;
                            }
                        });
                        Child::Logger(actor)
                    })
            }
            Respawn::Callback { callback, kind } => Actor::spawn_linked(None, CallbackActor, callback.clone(), cell)
                .await
                .map(|(actor, _)| Child::Callback {
                    name: callback.name().to_owned(),
                    kind,
                    callback,
                    actor,
                }),
        };
        match started {
            Ok(child) => {
                tracing::info!(target: "micro", "{name} restarted");
                self.children.push(child);
            }
            Err(err) => self.restart_later(myself, &format!("could not restart: {err}"), Restart::Actor(respawn)),
        }
    }

    async fn restart(&mut self, myself: &ActorRef<SupervisorMsg>, worker: Worker, policy: RestartPolicy) {
        if !matches!(self.phase, Phase::Starting | Phase::Running) {
            return;
        }
        let name = worker.name().to_owned();
        match Actor::spawn_linked(None, WorkerActor, worker.clone(), myself.get_cell()).await {
            Ok((actor, _)) => {
                tracing::info!(target: "micro", "worker {name} restarted");
                self.children.push(Child::Worker { worker, policy, actor });
            }
            Err(err) => self.restart_later(
                myself,
                &format!("could not restart: {err}"),
                Restart::Worker { worker, policy },
            ),
        }
    }
}

#[cfg(test)]
mod tests;
