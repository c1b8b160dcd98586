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

mod blueprint;
mod children;
mod force;
mod pre_drain;
mod reload;
mod shutdown;
mod startup;
mod upgrade;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use micro_actors::{ConfigMsg, InFlight, LoggerMsg, Readiness, ReloadError, ReloadReport, WorkerState};
use micro_config::Snapshot;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::exit::humantime;
use crate::restart::Restarts;
use crate::signals::{Signal, SignalStream};
use crate::{ExitKind, ExitStatus, Phase, ShutdownPhase, ShutdownReport, StartError, StartupPhase, StopCause};
pub(crate) use blueprint::{Blueprint, Callbacks, Mode, UpgradeState};
use children::{Child, ChildId, Children, Spawner, ask};
pub(crate) use force::Force;
use startup::{Step, StepContext};

/// What the supervisor acts on.
#[derive(Debug)]
pub(crate) enum SupervisorMsg {
    /// Start the next startup step (sent to itself).
    StartNext,
    /// A step finished (from a step task); `Some(addr)` once listening.
    StepDone {
        step: Step,
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
    /// A reload asked of ConfigActor ended (from the reload task).
    ReloadDone {
        outcome: Result<ReloadReport, ReloadError>,
        reply: Option<RpcReplyPort<Result<ReloadReport, ReloadError>>>,
    },
    /// Start a child again after its backoff (sent to itself).
    Restart(ChildId),
    /// A restart ended (from the restart task).
    Restarted { id: ChildId, outcome: Result<(), String> },
    /// Upgrade: start the binary again on the same sockets (from SIGUSR2,
    /// or the handle with a reply port).
    Upgrade(upgrade::UpgradeReply),
    /// An upgrade ended (from the upgrade task).
    UpgradeDone {
        outcome: Result<crate::upgrade::UpgradeReport, crate::upgrade::UpgradeError>,
        took: Duration,
        reply: upgrade::UpgradeReply,
    },
    /// The process this one succeeded handed the main process over (from
    /// the announce task of a process an upgrade started).
    Handed(Result<(), String>),
    /// A shutdown phase began (from the shutdown task).
    ShutdownPhase(ShutdownPhase),
    /// The shutdown task is done (from the shutdown task).
    ShutdownDone(ShutdownReport),
}

/// How a child ended, as the supervision event says.
enum Ended {
    /// A worker whose task returned `Ok`.
    Finished,
    /// Anything else: failed, panicked, stopped or killed.
    Failed(String),
}

pub(crate) struct SupervisorArgs {
    pub(crate) blueprint: Arc<Blueprint>,
    pub(crate) force: Force,
    /// How the run ended, and when `shutdown.total` runs out.
    pub(crate) done: oneshot::Sender<(ExitStatus, Option<Instant>)>,
}

pub(crate) struct Supervisor;

pub(crate) struct SupervisorState {
    blueprint: Arc<Blueprint>,
    spawner: Spawner,
    phase: Phase,
    steps: VecDeque<Step>,
    /// The running startup step and its task.
    step: Option<(Step, JoinHandle<()>)>,
    children: Children,
    /// Startup phases and how long each took, in order.
    timings: Vec<(StartupPhase, Duration)>,
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
    shutdown_phase: Option<(ShutdownPhase, Instant)>,
    /// When `shutdown.total` runs out.
    shutdown_deadline: Option<Instant>,
    force: Force,
    done: Option<oneshot::Sender<(ExitStatus, Option<Instant>)>>,
    /// Restarts per child, for the intensity and the status.
    restarts: HashMap<ChildId, Restarts>,
    /// Restarts under way.
    restarting: Vec<JoinHandle<()>>,
    /// The snapshot the other actors started from.
    started_from: Option<Arc<Snapshot>>,
    /// A SIGHUP came during startup: reload once running.
    reload_deferred: bool,
    /// Tells the logger and the on-reload callbacks about new generations.
    applier: Option<JoinHandle<()>>,
    /// Pings systemd's watchdog while the service runs.
    watchdog: Option<JoinHandle<()>>,
    /// Run the registered readiness checks while the service runs.
    health_checks: Vec<JoinHandle<()>>,
    /// The upgrade under way.
    upgrading: Option<upgrade::Upgrading>,
    /// Tells the process this one succeeded that it serves.
    announcing: Option<JoinHandle<()>>,
}

impl Drop for SupervisorState {
    fn drop(&mut self) {
        // A supervisor that fails skips post_stop: no task may outlive it.
        if let Some(upgrading) = &self.upgrading {
            upgrading.abort();
        }
        let tasks = [&self.applier, &self.watchdog, &self.shutdown, &self.announcing]
            .into_iter()
            .flatten()
            .chain(&self.health_checks)
            .chain(&self.restarting)
            .chain(self.step.as_ref().map(|(_, task)| task));
        for task in tasks {
            task.abort();
        }
    }
}

/// Runs the service described by `blueprint` under a supervisor until it
/// stopped, with `signals` forwarded to it; returns how it ended and when
/// `shutdown.total` runs out (what is left to do must fit).
pub(crate) async fn run(blueprint: Arc<Blueprint>, signals: Option<SignalStream>) -> (ExitStatus, Option<Instant>) {
    let (done, finished) = oneshot::channel();
    let force = Force::new();
    let handle = blueprint.handle.clone();
    let args = SupervisorArgs {
        blueprint,
        force: force.clone(),
        done,
    };
    let (supervisor, running) = match Actor::spawn(None, Supervisor, args).await {
        Ok(spawned) => spawned,
        Err(err) => {
            let reason = format!("cannot start the supervisor: {err}");
            return (ExitStatus::unreported(ExitKind::Software, reason), None);
        }
    };
    let forwarding = signals.map(|signals| tokio::spawn(force::forward(signals, supervisor.clone(), force.clone())));
    handle.attach(Some(supervisor));
    let _ = running.await;
    handle.attach(None);
    if let Some(task) = forwarding {
        // Dropping the stream gives the signals their default action back.
        task.abort();
        let _ = task.await;
    }
    finished.await.unwrap_or_else(|_| {
        // The supervisor ends in post_stop, which always reports; this is
        // only reached if the supervisor itself failed outside a handler.
        let reason = "the supervisor failed without reporting how".to_owned();
        (ExitStatus::unreported(ExitKind::Failure, reason), None)
    })
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
        let blueprint = args.blueprint;
        let steps = VecDeque::from(Step::all(&blueprint));
        // Until the site config is loaded, the bound is the one in force now.
        let bound = blueprint.site().startup.timeout;
        myself.send_after(bound, || SupervisorMsg::StartupTimedOut);
        myself.cast(SupervisorMsg::StartNext)?;
        blueprint.handle.set_phase(Phase::Starting, None);
        let children = Children::default();
        let spawner = Spawner {
            supervisor: myself.clone(),
            blueprint: Arc::clone(&blueprint),
            children: children.clone(),
        };
        let now = Instant::now();
        Ok(SupervisorState {
            blueprint,
            spawner,
            phase: Phase::Starting,
            steps,
            step: None,
            children,
            timings: Vec::new(),
            started: now,
            startup_deadline: now + bound,
            addr: None,
            readiness: Readiness::default(),
            in_flight: InFlight::not_counting(&pre_drain::NOT_TRAFFIC),
            exit: None,
            report: ShutdownReport::default(),
            stop_signals: 0,
            shutdown: None,
            shutdown_phase: None,
            shutdown_deadline: None,
            force: args.force,
            done: Some(args.done),
            restarts: HashMap::new(),
            restarting: Vec::new(),
            started_from: None,
            reload_deferred: false,
            applier: None,
            watchdog: None,
            health_checks: Vec::new(),
            upgrading: None,
            announcing: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let handled = AssertUnwindSafe(async {
            match msg {
                SupervisorMsg::StartNext => state.start_next(&myself),
                SupervisorMsg::StepDone { step, took, outcome } => state.step_done(&myself, step, took, outcome),
                SupervisorMsg::StartupTimedOut => state.startup_timed_out(),
                SupervisorMsg::Signal(Signal::Hangup) => state.reload(&myself, None),
                SupervisorMsg::Signal(Signal::User2) => state.upgrade(&myself, None),
                SupervisorMsg::Signal(signal) => state.stop_signal(&myself, signal),
                SupervisorMsg::Stop(cause) => state.begin_shutdown(cause),
                SupervisorMsg::Reload(reply) => state.reload(&myself, reply),
                SupervisorMsg::ReloadDone { outcome, reply } => state.reload_done(outcome, reply),
                SupervisorMsg::Upgrade(reply) => state.upgrade(&myself, reply),
                SupervisorMsg::UpgradeDone { outcome, took, reply } => state.upgrade_done(outcome, took, reply),
                SupervisorMsg::Handed(outcome) => state.handed(outcome),
                SupervisorMsg::ShutdownPhase(phase) => state.enter_shutdown_phase(Some(phase)),
                SupervisorMsg::ShutdownDone(partial) => state.shutdown_done(&myself, partial),
                SupervisorMsg::Restart(id) => state.restart(&myself, id),
                SupervisorMsg::Restarted { id, outcome } => state.restarted(&myself, id, outcome),
            }
        });
        if let Err(panic) = handled.catch_unwind().await {
            state.panicked(&myself, panic.as_ref());
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
        let (cell, ended) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, Ended::Failed(format!("failed: {err}"))),
            SupervisionEvent::ActorTerminated(cell, ended_state, reason) => {
                // A worker's state says how its task ended.
                let worker = ended_state.and_then(|mut boxed| boxed.take::<WorkerState>().ok());
                if worker.is_some_and(|worker| worker.finished()) {
                    (cell, Ended::Finished)
                } else {
                    let reason = reason.unwrap_or_else(|| "no reason given".into());
                    (cell, Ended::Failed(format!("stopped: {reason}")))
                }
            }
            _ => return Ok(()),
        };
        let handled = AssertUnwindSafe(async {
            if let Some(child) = state.children.remove(cell.get_id()) {
                state.child_ended(&myself, child.id(), ended);
            }
        });
        if let Err(panic) = handled.catch_unwind().await {
            state.panicked(&myself, panic.as_ref());
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let started = Instant::now();
        let bound = state.blueprint.site().shutdown.actor_stop_timeout;
        let children = state.children.take();
        let (stopped, killed) =
            shutdown::stop_children(&state.blueprint, children, bound, state.shutdown_deadline, &state.force).await;
        state.report.stopped = stopped;
        state.report.killed = killed;
        state.report.phases.push((ShutdownPhase::Stop, started.elapsed()));
        state.finish();
        Ok(())
    }
}

impl SupervisorState {
    fn context(&self) -> StepContext {
        StepContext {
            spawner: self.spawner.clone(),
            readiness: self.readiness.clone(),
            in_flight: self.in_flight.clone(),
            startup_bound: self.startup_deadline.saturating_duration_since(Instant::now()),
        }
    }

    /// The startup phase under way (or about to start).
    fn startup_phase(&self) -> StartupPhase {
        self.step
            .as_ref()
            .map(|(step, _)| *step)
            .or_else(|| self.steps.front().copied())
            .map_or(StartupPhase::Http, Step::phase)
    }

    fn start_next(&mut self, myself: &ActorRef<SupervisorMsg>) {
        if self.phase != Phase::Starting {
            return;
        }
        let Some(step) = self.steps.pop_front() else {
            return self.running(myself);
        };
        let phase = step.phase();
        if self.timings.last().is_none_or(|(last, _)| *last != phase) {
            crate::systemd::status(&format!("starting: {phase}"));
        }
        let task = tokio::spawn(startup::run(step, self.context()));
        self.step = Some((step, task));
    }

    fn step_done(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        step: Step,
        took: Duration,
        outcome: Result<Option<SocketAddr>, StartError>,
    ) {
        if self.phase != Phase::Starting {
            return;
        }
        self.step = None;
        let phase = step.phase();
        match self.timings.iter_mut().find(|(name, _)| *name == phase) {
            Some((_, total)) => *total += took,
            None => self.timings.push((phase, took)),
        }
        match outcome {
            Err(err) => return self.fail_start(&err),
            Ok(Some(addr)) => {
                self.addr = Some(addr);
                tracing::info!(target: "micro", "listening on {addr}");
            }
            Ok(None) => {}
        }
        if step == Step::Config {
            // Logging and callbacks start from this snapshot.
            self.started_from = Some(self.blueprint.config.snapshot());
            // From now on the configured bound applies.
            let bound = self.blueprint.site().startup.timeout;
            self.startup_deadline = self.started + bound;
            myself.send_after(self.startup_deadline.saturating_duration_since(Instant::now()), || {
                SupervisorMsg::StartupTimedOut
            });
        }
        let _ = myself.cast(SupervisorMsg::StartNext);
    }

    fn running(&mut self, myself: &ActorRef<SupervisorMsg>) {
        self.phase = Phase::Running;
        let handle = &self.blueprint.handle;
        handle.set_phase(Phase::Running, self.addr);
        handle.record_phases(&self.timings);
        let from = self
            .started_from
            .take()
            .unwrap_or_else(|| self.blueprint.config.snapshot());
        self.applier = Some(tokio::spawn(reload::applier(self.spawner.clone(), from)));
        // A process an upgrade started says READY once its predecessor
        // handed the main process over.
        if !self.announce(myself) {
            let serving = self
                .addr
                .map_or_else(|| "serving".to_owned(), |addr| format!("serving on {addr}"));
            crate::systemd::ready(&serving);
        }
        self.watchdog = crate::systemd::watchdog();
        let (blueprint, site) = (&self.blueprint, self.blueprint.site());
        self.health_checks = crate::health::start(
            &blueprint.checks,
            &blueprint.health,
            site.health.interval,
            site.health.timeout,
        );
        let phases: Vec<String> = self
            .timings
            .iter()
            .map(|(name, took)| format!("{name} {}", humantime(*took)))
            .collect();
        tracing::info!(
            target: "micro",
            "started {} {} in {} ({})",
            self.blueprint.name(),
            self.blueprint.short_version(),
            humantime(self.started.elapsed()),
            phases.join(", ")
        );
        if std::mem::take(&mut self.reload_deferred) {
            tracing::info!(target: "micro", "reloading the config for the SIGHUP received while starting");
            self.reload(myself, None);
        }
    }

    fn startup_timed_out(&mut self) {
        if self.phase != Phase::Starting || Instant::now() < self.startup_deadline {
            return;
        }
        let step = self.startup_phase();
        let bound = self.startup_deadline.saturating_duration_since(self.started);
        self.fail_start(&StartError::TimedOut { step, bound });
    }

    fn fail_start(&mut self, err: &StartError) {
        let kind = err.exit_kind();
        let reason = format!("cannot start {}: {err}", self.blueprint.name());
        if micro_actors::logger::is_installed() {
            tracing::error!(target: "micro", "{reason}");
        } else {
            // Logging is not configured yet (config is what failed): the
            // operator still has to see why.
            eprintln!("{reason}");
        }
        self.exit.get_or_insert((kind, reason));
        self.begin_shutdown(StopCause::StartFailed);
    }

    /// A handler panicked (a bug in micro: user code runs elsewhere): the
    /// service stops, with exit 1 and the panic as the reason.
    fn panicked(&mut self, myself: &ActorRef<SupervisorMsg>, panic: &(dyn std::any::Any + Send)) {
        let message = micro_actors::callback::panic_message(panic);
        let reason = format!("the supervisor panicked: {message}");
        tracing::error!(target: "micro", "{reason}; stopping the service");
        self.exit.get_or_insert((ExitKind::Failure, reason));
        if matches!(self.phase, Phase::Stopping | Phase::Stopped) {
            if self.shutdown.as_ref().is_none_or(JoinHandle::is_finished) {
                myself.stop(None);
            }
        } else {
            self.begin_shutdown(StopCause::ActorDied("supervisor".into()));
        }
    }

    fn reload(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        reply: Option<RpcReplyPort<Result<ReloadReport, ReloadError>>>,
    ) {
        match (self.phase, self.children.config(), reply) {
            (Phase::Running, Some(config), reply) => {
                crate::systemd::reloading();
                let bound = self.blueprint.site().actors.call_timeout;
                let supervisor = myself.clone();
                tokio::spawn(async move {
                    let outcome = reload::request(&config, bound).await;
                    let _ = supervisor.cast(SupervisorMsg::ReloadDone { outcome, reply });
                });
            }
            (Phase::Starting, _, None) => {
                tracing::info!(target: "micro", "SIGHUP while starting: the config is reloaded once the service runs");
                self.reload_deferred = true;
            }
            (phase, _, reply) => {
                tracing::warn!(target: "micro", "reload ignored: the service is not running ({phase:?})");
                if let Some(reply) = reply {
                    let _ = reply.send(Err(ReloadError::NotRunning));
                }
            }
        }
    }

    /// A reload ended: serving again, unless the service is stopping by now
    /// (nothing says READY after STOPPING).
    fn reload_done(
        &mut self,
        outcome: Result<ReloadReport, ReloadError>,
        reply: Option<RpcReplyPort<Result<ReloadReport, ReloadError>>>,
    ) {
        if self.phase == Phase::Running {
            crate::systemd::ready(&match &outcome {
                Ok(report) if report.is_unchanged() => {
                    format!("serving; config unchanged, generation {}", report.generation)
                }
                Ok(report) => format!("serving; config generation {}", report.generation),
                Err(_) => "serving; last config reload rejected".to_owned(),
            });
        }
        if let Some(reply) = reply {
            let _ = reply.send(outcome);
        }
    }

    /// A child ended while the service starts, runs or stops.
    fn child_ended(&mut self, myself: &ActorRef<SupervisorMsg>, id: ChildId, ended: Ended) {
        let name = self.blueprint.child_name(id);
        let (failed, why) = match ended {
            Ended::Finished => (false, "finished".to_owned()),
            Ended::Failed(why) => (true, why),
        };
        match (id, self.phase) {
            (ChildId::Worker(index), Phase::Starting | Phase::Running) => {
                let policy = self.blueprint.workers[index].1;
                if policy.restarts(failed) {
                    self.restart_later(myself, id, &why);
                } else {
                    tracing::info!(target: "micro", "{name} {why}; not restarted ({policy:?})");
                }
            }
            (id, Phase::Running) if id.is_core() => self.restart_later(myself, id, &why),
            (_, Phase::Starting) => self.fail_start(&StartError::Actor {
                step: self.startup_phase(),
                actor: name,
                reason: why,
            }),
            (_, Phase::Running) => {
                tracing::error!(target: "micro", "actor {name} {why}; stopping the service");
                self.exit
                    .get_or_insert((ExitKind::Failure, format!("actor {name} {why}")));
                self.begin_shutdown(StopCause::ActorDied(name));
            }
            _ => {}
        }
    }

    /// Starts `id` again after a backoff, or stops the service when it
    /// restarted too often within the window.
    fn restart_later(&mut self, myself: &ActorRef<SupervisorMsg>, id: ChildId, why: &str) {
        let name = self.blueprint.child_name(id);
        let bounds = self.blueprint.site().supervision.clone();
        let restarts = self.restarts.entry(id).or_default();
        match restarts.next(Instant::now(), &bounds) {
            Some(delay) => {
                tracing::warn!(
                    target: "micro",
                    "{name} {why}; restarting in {} (restart {})",
                    humantime(delay),
                    restarts.total
                );
                // The status names a worker by its own name.
                let key = match id {
                    ChildId::Worker(index) => self.blueprint.workers[index].0.name().to_owned(),
                    _ => name,
                };
                self.blueprint.handle.record_restart(&key, restarts.total);
                myself.send_after(delay, move || SupervisorMsg::Restart(id));
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
                self.begin_shutdown(StopCause::ActorDied(name));
            }
        }
    }

    /// Starts `id` again in a task of its own (spawning runs user code:
    /// the `log_configuration` hook) and brings it back to where it was:
    /// the config actor watching, the logger installed.
    fn restart(&mut self, myself: &ActorRef<SupervisorMsg>, id: ChildId) {
        let allowed = match id {
            ChildId::Worker(_) => matches!(self.phase, Phase::Starting | Phase::Running),
            _ => self.phase == Phase::Running,
        };
        if !allowed {
            return;
        }
        let spawner = self.spawner.clone();
        let bound = self.blueprint.site().actors.call_timeout;
        let supervisor = myself.clone();
        self.restarting.retain(|task| !task.is_finished());
        self.restarting.push(tokio::spawn(async move {
            let outcome = match spawner.spawn_caught(id).await {
                Ok(Child::Config(actor)) => match ask(&actor, ConfigMsg::Watch, bound).await {
                    Ok(Err(err)) => Err(format!("its watch did not restart: {err}")),
                    Err(err) => Err(format!("its watch did not restart: {err}")),
                    Ok(Ok(_)) => Ok(()),
                },
                Ok(Child::Logger(actor)) => match ask(&actor, LoggerMsg::Install, bound).await {
                    Ok(Err(err)) => Err(format!("not installed: {err}")),
                    Err(err) => Err(format!("not installed: {err}")),
                    Ok(Ok(())) => Ok(()),
                },
                Ok(_) => Ok(()),
                Err(err) => Err(format!("could not restart: {err}")),
            };
            let _ = supervisor.cast(SupervisorMsg::Restarted { id, outcome });
        }));
    }

    fn restarted(&mut self, myself: &ActorRef<SupervisorMsg>, id: ChildId, outcome: Result<(), String>) {
        let name = self.blueprint.child_name(id);
        match outcome {
            Ok(()) => tracing::info!(target: "micro", "{name} restarted"),
            Err(why) if matches!(self.phase, Phase::Starting | Phase::Running) => {
                self.restart_later(myself, id, &why);
            }
            Err(why) => tracing::warn!(target: "micro", "{name} {why}"),
        }
    }
}

#[cfg(test)]
mod tests;
