//! Shutdown. The phases that talk to children — unready, (pre-drain delay,)
//! drain, finish, flush — run in a task that reports each phase to the
//! supervisor, so a second signal is still handled while a phase waits. The
//! last phase, stopping the actors in reverse start order, runs in the
//! supervisor's `post_stop` ([`stop_children`]).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use micro_actors::{CallbackMsg, HttpMsg, InFlight, LoggerMsg, WorkerEnd, WorkerMsg};
use micro_config::SiteConfig;
use ractor::ActorRef;

use super::children::{CallbackKind, Child, ask, watched};
use super::{SupervisorMsg, SupervisorState};
use crate::exit::humantime;
use crate::signals::{Force, Signal};
use crate::{ExitKind, ExitStatus, Phase, ShutdownReport, StopCause};

impl SupervisorState {
    /// SIGTERM or SIGINT: the first starts a graceful stop (or joins the one
    /// under way); the second cuts it short.
    pub(super) fn stop_signal(&mut self, myself: &ActorRef<SupervisorMsg>, signal: Signal) {
        self.stop_signals += 1;
        if self.phase != Phase::Stopping {
            return self.begin_shutdown(myself, StopCause::Signal(signal.name()));
        }
        if self.stop_signals == 1 {
            tracing::info!(target: "micro", "{} while already stopping: a second one cuts the stop short", signal.name());
            return;
        }
        let cut = self.shutdown_phase.map_or("stop", |(name, _)| name);
        tracing::warn!(target: "micro", "second {} while stopping: cutting the {cut} phase short", signal.name());
        if self.exit.is_none() {
            let kind = if signal == Signal::Interrupt {
                ExitKind::Interrupted
            } else {
                ExitKind::Terminated
            };
            let reason = format!("forced by a second {} during the {cut} phase", signal.name());
            self.exit = Some((kind, reason));
        }
        self.force.set(signal);
        if let Some(task) = self.shutdown.take() {
            task.abort();
        }
        self.enter_shutdown_phase(None);
        myself.stop(None);
    }

    pub(super) fn begin_shutdown(&mut self, myself: &ActorRef<SupervisorMsg>, cause: StopCause) {
        if matches!(self.phase, Phase::Stopping | Phase::Stopped) {
            return;
        }
        let was_running = self.phase == Phase::Running;
        self.phase = Phase::Stopping;
        self.service.inner().handle.set_phase(Phase::Stopping, self.addr);
        if let Some((_, task)) = self.step.take() {
            // Safe at any await point: a step records its child before awaiting.
            task.abort();
        }
        tracing::info!(target: "micro", "stopping {} ({cause})", self.service.name());
        crate::systemd::stopping(&format!("stopping ({cause})"));
        if let Some(watchdog) = self.watchdog.take() {
            // systemd stops expecting pings once it is told STOPPING.
            watchdog.abort();
        }
        self.report.cause = Some(cause);
        self.shutdown_deadline = Some(Instant::now() + self.service.config_site().shutdown.total);
        let mut plan = Plan {
            supervisor: myself.clone(),
            http: None,
            in_flight: self.in_flight.clone(),
            workers: Vec::new(),
            finish: Vec::new(),
            release: Vec::new(),
            logger: None,
            site: self.service.config_site(),
        };
        for child in self.children.all() {
            match child {
                Child::Http(http) => plan.http = Some(http),
                Child::Logger(logger) => plan.logger = Some(logger),
                // Stopped last started first.
                Child::Worker { worker, actor, .. } => plan.workers.insert(0, (worker.name().to_owned(), actor)),
                // Finish callbacks run only for a service that got to run.
                Child::Callback {
                    name,
                    kind: CallbackKind::Finish,
                    actor,
                    ..
                } if was_running => plan.finish.push((name, actor)),
                // Released last opened first, whether or not the service got to run.
                Child::Callback {
                    name,
                    kind: CallbackKind::Release,
                    actor,
                    ..
                } if self.service.inner().resources.is_open(&name) => plan.release.insert(0, (name, actor)),
                _ => {}
            }
        }
        self.shutdown = Some(tokio::spawn(run(plan)));
    }

    pub(super) fn enter_shutdown_phase(&mut self, next: Option<&'static str>) {
        if let Some((name, since)) = self.shutdown_phase.take() {
            self.report.phases.push((name, since.elapsed()));
        }
        self.shutdown_phase = next.map(|name| (name, Instant::now()));
    }

    pub(super) fn shutdown_done(&mut self, myself: &ActorRef<SupervisorMsg>, partial: ShutdownReport) {
        self.enter_shutdown_phase(None);
        self.report.drain = partial.drain;
        self.report.callbacks_failed = partial.callbacks_failed;
        myself.stop(None);
    }

    /// Logs the report and hands the exit status to the run.
    pub(super) fn finish(&mut self) {
        if let (Some(signal), None) = (self.force.get(), &self.exit) {
            let kind = if signal == Signal::Interrupt {
                ExitKind::Interrupted
            } else {
                ExitKind::Terminated
            };
            self.exit = Some((
                kind,
                format!("forced by a second {} while stopping actors", signal.name()),
            ));
        }
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
        self.service.inner().handle.record_phases("shutdown", &report.phases);
        tracing::info!(target: "micro", "stopped {} {report}; exit {}", self.service.name(), kind.code());
        self.service.inner().handle.set_phase(Phase::Stopped, None);
        if let Some(done) = self.done.take() {
            let _ = done.send(ExitStatus { kind, reason, report });
        }
    }
}

/// Who the shutdown talks to, and the bounds from `site.shutdown`.
pub(super) struct Plan {
    supervisor: ActorRef<SupervisorMsg>,
    http: Option<ActorRef<HttpMsg>>,
    in_flight: InFlight,
    workers: Vec<(String, ActorRef<WorkerMsg>)>,
    finish: Vec<(String, ActorRef<CallbackMsg>)>,
    /// Resources to release, in that order.
    release: Vec<(String, ActorRef<CallbackMsg>)>,
    logger: Option<ActorRef<LoggerMsg>>,
    site: Arc<SiteConfig>,
}

/// Runs the phases and always casts `ShutdownDone`, even if a phase panicked.
/// Runs the phases within `shutdown.total` and always casts `ShutdownDone`,
/// even if a phase panicked or the total ran out.
async fn run(plan: Plan) {
    let mut report = ShutdownReport::default();
    let total = plan.site.shutdown.total;
    let phases = AssertUnwindSafe(phases(&plan, &mut report)).catch_unwind();
    match tokio::time::timeout(total, phases).await {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => {
            let message = micro_actors::callback::panic_message(panic.as_ref());
            tracing::error!(target: "micro", "shutdown phases panicked: {message}; stopping the actors");
        }
        Err(_) => tracing::warn!(
            target: "micro",
            "shutdown ran past its total bound of {} (site.shutdown.total): stopping the actors",
            humantime(total)
        ),
    }
    let _ = plan.supervisor.cast(SupervisorMsg::ShutdownDone(report));
}

async fn phases(plan: &Plan, report: &mut ShutdownReport) {
    let phase = |name| {
        crate::systemd::status(&format!("stopping: {name}"));
        let _ = plan.supervisor.cast(SupervisorMsg::ShutdownPhase(name));
    };
    let margin = plan.site.actors.call_timeout;

    phase("unready");
    if let Some(http) = &plan.http {
        let _ = http.cast(HttpMsg::SetReady(false));
        let delay = plan.site.shutdown.pre_drain_delay;
        if !delay.is_zero() {
            // Load balancers see the 503 and stop sending before the listener closes.
            tracing::info!(target: "micro", "not ready; draining in {} (site.shutdown.pre_drain_delay)", humantime(delay));
            tokio::time::sleep(delay).await;
        }
    }

    phase("drain");
    if let Some(http) = &plan.http {
        let bound = plan.site.shutdown.drain_timeout;
        let drain = ask(http, |reply| HttpMsg::Drain { bound, reply }, bound + margin);
        let in_flight = plan.in_flight.clone();
        let what = || format!("the drain: {} requests in flight", in_flight.current());
        match watched(drain, bound, what).await {
            Ok(drain) if drain.cut > 0 || drain.cut_connections > 0 => {
                tracing::warn!(target: "micro", "drain hit its bound of {} (site.shutdown.drain_timeout): {drain}", humantime(bound));
                report.drain = Some(drain);
            }
            Ok(drain) => {
                tracing::info!(target: "micro", "drained in {}: {drain}", humantime(drain.took));
                report.drain = Some(drain);
            }
            Err(err) => tracing::error!(target: "micro", "drain: http actor: {err}"),
        }
    }

    phase("finish");
    let bound = plan.site.shutdown.finish_timeout;
    for (name, actor) in &plan.workers {
        let stop = ask(actor, |reply| WorkerMsg::Stop { bound, reply }, bound + margin);
        match watched(stop, bound, || format!("worker {name} to stop")).await {
            Ok(WorkerEnd::Done) => tracing::info!(target: "micro", "worker {name} stopped"),
            Ok(end) => {
                tracing::error!(target: "micro", "worker {name} {end} (bound: site.shutdown.finish_timeout)");
                report.callbacks_failed.push(format!("worker {name} {end}"));
            }
            // It ended on its own meanwhile: nothing left to stop.
            Err(_) => {}
        }
    }
    let finish = plan.finish.iter().map(|(name, actor)| ("finish callback", name, actor));
    let release = plan
        .release
        .iter()
        .map(|(name, actor)| ("release of resource", name, actor));
    for (what, name, actor) in finish.chain(release) {
        let run = ask(actor, |reply| CallbackMsg::Run { bound, reply }, bound + margin);
        match watched(run, bound, || format!("{what} {name}")).await {
            Ok(Ok(took)) => tracing::info!(target: "micro", "{what} {name} done in {}", humantime(took)),
            Ok(Err(err)) => {
                tracing::error!(target: "micro", "{what} {name}: {err}");
                report.callbacks_failed.push(err.to_string());
            }
            Err(err) => {
                tracing::error!(target: "micro", "{what} {name}: {err}");
                report.callbacks_failed.push(format!("{name}: {err}"));
            }
        }
    }

    phase("flush");
    if let Some(logger) = &plan.logger {
        let bound = plan.site.shutdown.flush_timeout;
        match ask(logger, |reply| LoggerMsg::Flush(bound, reply), bound + margin).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(target: "micro", "flush: {err}"),
            Err(err) => tracing::warn!(target: "micro", "flush: logger: {err}"),
        }
    }
}

/// How long a killed actor may take to go.
const KILL_BOUND: Duration = Duration::from_millis(500);

/// Stops `children` one by one in reverse start order, each within `bound`
/// (killed when it does not stop in time). Once `force` is set, the child
/// being stopped and all after it are killed at once. Returns the names
/// stopped and the names killed, in order.
pub(super) async fn stop_children(
    children: Vec<Child>,
    bound: Duration,
    deadline: Option<Instant>,
    force: &Force,
) -> (Vec<String>, Vec<String>) {
    let mut stopped = Vec::with_capacity(children.len());
    let mut killed = Vec::new();
    for child in children.into_iter().rev() {
        let cell = child.cell();
        let name = child.name();
        let started = Instant::now();
        // Past shutdown.total, what is left is killed.
        let bound = deadline.map_or(bound, |d| bound.min(d.saturating_duration_since(started)));
        let clean = force.get().is_none()
            && !bound.is_zero()
            && tokio::select! {
                outcome = watched(
                    cell.stop_and_wait(Some("service stopping".into()), Some(bound)),
                    bound,
                    || format!("actor {name} to stop"),
                ) => outcome.is_ok(),
                () = force.wait() => false,
            };
        if !clean {
            if force.get().is_some() {
                // The forcing signal was logged already.
            } else if bound.is_zero() {
                tracing::warn!(target: "micro", "site.shutdown.total ran out: killing actor {name}");
            } else {
                tracing::warn!(target: "micro", "actor {name} did not stop within {} (site.shutdown.actor_stop_timeout): killed", humantime(bound));
            }
            let _ = cell.kill_and_wait(Some(KILL_BOUND)).await;
            killed.push(name.clone());
        }
        tracing::debug!(target: "micro", "stopped actor {name} in {}", humantime(started.elapsed()));
        stopped.push(name);
    }
    (stopped, killed)
}
