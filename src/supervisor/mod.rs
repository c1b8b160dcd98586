//! The Supervisor: spawns the actors in order, drives startup and shutdown,
//! and maps how things went onto an exit status.
//!
//! Startup is a chain of messages to itself: `StartNext` spawns a task for
//! the next step (config → logging → callbacks → http); the task reports the
//! child it spawned (`Spawned`) and then the outcome (`StepDone`), which
//! triggers the next `StartNext`. Shutdown is a task that reports each phase
//! (`ShutdownPhase`) and then `ShutdownDone`; the supervisor then stops
//! itself and, in `post_stop`, stops its children in reverse start order.
//! So the mailbox is always free: a signal is handled at once in any phase.
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

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use micro_actors::{InFlight, Readiness, ReloadError, ReloadReport};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::exit::humantime;
use crate::service::Mode;
use crate::signals::Signal;
use crate::{ExitKind, ExitStatus, Phase, Service, ShutdownReport, StartError, StopCause};
use children::Child;
use startup::{Step, StepContext};

/// What the supervisor acts on.
#[derive(Debug)]
pub(crate) enum SupervisorMsg {
    /// Start the next startup step (sent to itself).
    StartNext,
    /// A step spawned a child (from a step task).
    Spawned(Child),
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
    /// A shutdown phase began (from the shutdown task).
    ShutdownPhase(&'static str),
    /// The shutdown task is done (from the shutdown task).
    ShutdownDone(ShutdownReport),
}

pub(crate) struct SupervisorArgs {
    pub(crate) service: Service,
    pub(crate) mode: Mode,
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
    /// Children in start order.
    children: Vec<Child>,
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
    shutdown: Option<JoinHandle<()>>,
    shutdown_phase: Option<(&'static str, Instant)>,
    forced: bool,
    done: Option<oneshot::Sender<ExitStatus>>,
}

impl Drop for SupervisorState {
    fn drop(&mut self) {
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
        let mut steps = VecDeque::from([Step::Config, Step::Logger]);
        steps.extend(inner.init.iter().map(|c| Step::Callback {
            callback: c.clone(),
            finish: false,
        }));
        steps.extend(inner.finish.iter().map(|c| Step::Callback {
            callback: c.clone(),
            finish: true,
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
            children: Vec::new(),
            timings: Vec::new(),
            started: now,
            startup_deadline: now + bound,
            addr: None,
            readiness: Readiness::default(),
            in_flight: InFlight::default(),
            exit: None,
            report: ShutdownReport::default(),
            shutdown: None,
            shutdown_phase: None,
            forced: false,
            done: Some(args.done),
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
            SupervisorMsg::Spawned(child) => state.children.push(child),
            SupervisorMsg::StepDone { phase, took, outcome } => state.step_done(&myself, phase, took, outcome),
            SupervisorMsg::StartupTimedOut => state.startup_timed_out(&myself),
            SupervisorMsg::Signal(Signal::Hangup) => state.reload(None),
            SupervisorMsg::Signal(signal) => state.stop_signal(&myself, signal),
            SupervisorMsg::Stop(cause) => state.begin_shutdown(&myself, cause),
            SupervisorMsg::Reload(reply) => state.reload(reply),
            SupervisorMsg::ShutdownPhase(name) => state.enter_shutdown_phase(Some(name)),
            SupervisorMsg::ShutdownDone(partial) => {
                state.enter_shutdown_phase(None);
                state.report.drain = partial.drain;
                state.report.callbacks_failed = partial.callbacks_failed;
                myself.stop(None);
            }
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
        let (cell, why) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, format!("failed: {err}")),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell,
                format!("stopped: {}", reason.unwrap_or_else(|| "no reason given".into())),
            ),
            _ => return Ok(()),
        };
        let Some(position) = state.children.iter().position(|c| c.cell().get_id() == cell.get_id()) else {
            return Ok(());
        };
        let name = state.children.remove(position).name();
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
        let (stopped, killed) = shutdown::stop_children(std::mem::take(&mut state.children), bound, state.forced).await;
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
        match self.timings.last_mut() {
            Some((last, total)) if *last == phase => *total += took,
            _ => self.timings.push((phase, took)),
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

    fn stop_signal(&mut self, myself: &ActorRef<SupervisorMsg>, signal: Signal) {
        if self.phase != Phase::Stopping {
            return self.begin_shutdown(myself, StopCause::Signal(signal.name()));
        }
        let cut = self.shutdown_phase.map_or("stop", |(name, _)| name);
        tracing::warn!(target: "micro", "second {} while stopping: cutting the {cut} phase short", signal.name());
        let kind = if signal == Signal::Interrupt {
            ExitKind::Interrupted
        } else {
            ExitKind::Terminated
        };
        self.exit = Some((
            kind,
            format!("forced by a second {} during the {cut} phase", signal.name()),
        ));
        self.forced = true;
        if let Some(task) = self.shutdown.take() {
            task.abort();
        }
        self.enter_shutdown_phase(None);
        myself.stop(None);
    }

    fn begin_shutdown(&mut self, myself: &ActorRef<SupervisorMsg>, cause: StopCause) {
        if matches!(self.phase, Phase::Stopping | Phase::Stopped) {
            return;
        }
        let was_running = self.phase == Phase::Running;
        self.phase = Phase::Stopping;
        self.service.inner().handle.set_phase(Phase::Stopping, self.addr);
        if let Some((_, task)) = self.step.take() {
            task.abort();
        }
        tracing::info!(target: "micro", "stopping {} ({cause})", self.service.name());
        self.report.cause = Some(cause);
        let mut plan = shutdown::Plan {
            supervisor: myself.clone(),
            http: None,
            finish: Vec::new(),
            logger: None,
            site: self.service.config_site(),
        };
        for child in &self.children {
            match child {
                Child::Http(http) => plan.http = Some(http.clone()),
                Child::Logger(logger) => plan.logger = Some(logger.clone()),
                // Finish callbacks run only for a service that got to run.
                Child::Callback {
                    name,
                    finish: true,
                    actor,
                } if was_running => plan.finish.push((name.clone(), actor.clone())),
                _ => {}
            }
        }
        self.shutdown = Some(tokio::spawn(shutdown::run(plan)));
    }

    fn enter_shutdown_phase(&mut self, next: Option<&'static str>) {
        if let Some((name, since)) = self.shutdown_phase.take() {
            self.report.phases.push((name, since.elapsed()));
        }
        self.shutdown_phase = next.map(|name| (name, Instant::now()));
    }

    fn reload(&mut self, reply: Option<RpcReplyPort<Result<ReloadReport, ReloadError>>>) {
        let config = self.children.iter().find_map(|c| match c {
            Child::Config(actor) => Some(actor.clone()),
            _ => None,
        });
        let logger = self.children.iter().find_map(|c| match c {
            Child::Logger(actor) => Some(actor.clone()),
            _ => None,
        });
        let (Some(config), Phase::Running) = (config, self.phase) else {
            tracing::warn!(target: "micro", "reload ignored: the service is not running ({:?})", self.phase);
            if let Some(reply) = reply {
                let _ = reply.send(Err(ReloadError::NotRunning));
            }
            return;
        };
        tokio::spawn(reload::run(self.service.clone(), config, logger, reply));
    }

    fn finish(&mut self) {
        let (kind, reason) = self.exit.take().unwrap_or_else(|| {
            let cause = self
                .report
                .cause
                .as_ref()
                .map_or_else(|| "stop".to_owned(), ToString::to_string);
            (ExitKind::Clean, format!("stopped by {cause}"))
        });
        self.phase = Phase::Stopped;
        let report = std::mem::take(&mut self.report);
        tracing::info!(target: "micro", "stopped {} {report}; exit {}", self.service.name(), kind.code());
        self.service.inner().handle.set_phase(Phase::Stopped, None);
        if let Some(done) = self.done.take() {
            let _ = done.send(ExitStatus { kind, reason, report });
        }
    }
}
