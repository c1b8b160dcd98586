//! Shutdown. The phases that talk to children — unready, (pre-drain delay,)
//! drain, finish, flush — run in a task that reports each phase to the
//! supervisor, so a second signal is still handled while a phase waits. The
//! last phase, stopping the actors in reverse start order, runs in the
//! supervisor's `post_stop` ([`stop_children`]).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use micro_actors::{CallbackMsg, HttpMsg, InFlight, WorkerEnd, WorkerMsg};
use micro_config::SiteConfig;
use ractor::ActorRef;

use super::blueprint::Blueprint;
use super::children::{CallbackKind, Child, ChildId, Spawner, ask, watched};
use super::force::Force;
use super::{SupervisorMsg, SupervisorState};
use crate::exit::humantime;
use crate::signals::Signal;
use crate::{ExitKind, ExitStatus, Phase, ShutdownPhase, ShutdownReport, StopCause};

impl SupervisorState {
    /// SIGTERM or SIGINT: the first starts a graceful stop (or joins the one
    /// under way); the second cuts it short.
    pub(super) fn stop_signal(&mut self, myself: &ActorRef<SupervisorMsg>, signal: Signal) {
        self.stop_signals += 1;
        if self.phase != Phase::Stopping {
            return self.begin_shutdown(StopCause::Signal(signal.name()));
        }
        if self.stop_signals == 1 {
            tracing::info!(target: "micro", "{} while already stopping: a second one cuts the stop short", signal.name());
            return;
        }
        let cut = self.shutdown_phase.map_or(ShutdownPhase::Stop, |(phase, _)| phase);
        tracing::warn!(target: "micro", "second {} while stopping: cutting the {cut} phase short", signal.name());
        if self.exit.is_none() {
            let reason = format!("forced by a second {} during the {cut} phase", signal.name());
            self.exit = Some((forced_kind(signal), reason));
        }
        self.force.set(signal);
        if let Some(task) = self.shutdown.take() {
            task.abort();
        }
        self.enter_shutdown_phase(None);
        myself.stop(None);
    }

    pub(super) fn begin_shutdown(&mut self, cause: StopCause) {
        if matches!(self.phase, Phase::Stopping | Phase::Stopped) {
            return;
        }
        let was_running = self.phase == Phase::Running;
        self.phase = Phase::Stopping;
        self.blueprint.handle.set_phase(Phase::Stopping, self.addr);
        if let Some((_, task)) = self.step.take() {
            // Safe at any await point: a step records its child before awaiting.
            task.abort();
        }
        for task in self.restarting.drain(..) {
            task.abort();
        }
        if let Some(applier) = self.applier.take() {
            applier.abort();
        }
        // An upgrade midway stops its new process; one that succeeded
        // already ended.
        if let Some(upgrading) = self.upgrading.take() {
            upgrading.abort();
        }
        if let Some(announcing) = self.announcing.take() {
            announcing.abort();
        }
        tracing::info!(target: "micro", "stopping {} ({cause})", self.blueprint.name());
        crate::systemd::stopping(&format!("stopping ({cause})"));
        if let Some(watchdog) = self.watchdog.take() {
            // systemd stops expecting pings once it is told STOPPING.
            watchdog.abort();
        }
        self.report.cause = Some(cause);
        let site = self.blueprint.site();
        self.shutdown_deadline = Some(Instant::now() + site.shutdown.total);
        let plan = Plan {
            spawner: self.spawner.clone(),
            in_flight: self.in_flight.clone(),
            // Finish callbacks run only for a service that got to run.
            finish: was_running,
            site,
        };
        self.shutdown = Some(tokio::spawn(run(plan)));
    }

    pub(super) fn enter_shutdown_phase(&mut self, next: Option<ShutdownPhase>) {
        if let Some((phase, since)) = self.shutdown_phase.take() {
            self.report.phases.push((phase, since.elapsed()));
        }
        self.shutdown_phase = next.map(|phase| (phase, Instant::now()));
    }

    pub(super) fn shutdown_done(&mut self, myself: &ActorRef<SupervisorMsg>, partial: ShutdownReport) {
        self.enter_shutdown_phase(None);
        self.report.pre_drain = partial.pre_drain;
        self.report.drain = partial.drain;
        self.report.callbacks_failed = partial.callbacks_failed;
        myself.stop(None);
    }

    /// Logs the report and hands the exit status to the run.
    pub(super) fn finish(&mut self) {
        if let (Some(signal), None) = (self.force.get(), &self.exit) {
            let reason = format!("forced by a second {} while stopping actors", signal.name());
            self.exit = Some((forced_kind(signal), reason));
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
        self.blueprint.handle.record_phases(&report.phases);
        tracing::info!(target: "micro", "stopped {} {report}; exit {}", self.blueprint.name(), kind.code());
        if let Some(done) = self.done.take() {
            let _ = done.send((ExitStatus { kind, reason, report }, self.shutdown_deadline));
        }
    }
}

fn forced_kind(signal: Signal) -> ExitKind {
    if signal == Signal::Interrupt {
        ExitKind::Interrupted
    } else {
        ExitKind::Terminated
    }
}

/// What the shutdown needs: the children are looked up as each phase
/// begins, so a child restarted meanwhile is the one talked to.
pub(super) struct Plan {
    spawner: Spawner,
    in_flight: InFlight,
    /// Whether finish callbacks run (the service got to run).
    finish: bool,
    site: Arc<SiteConfig>,
}

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
    let _ = plan.spawner.supervisor.cast(SupervisorMsg::ShutdownDone(report));
}

async fn phases(plan: &Plan, report: &mut ShutdownReport) {
    let phase = |phase: ShutdownPhase| {
        crate::systemd::status(&format!("stopping: {phase}"));
        let _ = plan.spawner.supervisor.cast(SupervisorMsg::ShutdownPhase(phase));
    };
    let children = &plan.spawner.children;
    let listeners: Vec<_> = [ChildId::Http, ChildId::Admin]
        .into_iter()
        .filter_map(|id| Some((id, children.http(id)?)))
        .collect();

    phase(ShutdownPhase::Unready);
    for (_, http) in &listeners {
        let _ = http.cast(HttpMsg::SetReady(false));
    }
    if children.http(ChildId::Http).is_some() {
        // Balancers see the 503 and take the instance out; what they still
        // send meanwhile is served, each HTTP/1 answer closing its connection.
        let pre_drain = super::pre_drain::wait(plan.in_flight.traffic(), &plan.site).await;
        tracing::info!(target: "micro", "pre-drain: {pre_drain}");
        report.pre_drain = Some(pre_drain);
    }

    phase(ShutdownPhase::Drain);
    // Both listeners drain at once, each within the drain bound.
    let drains = listeners.iter().map(|(id, http)| drain(plan, *id, http));
    for (id, drained) in futures::future::join_all(drains).await {
        if id == ChildId::Http {
            report.drain = drained;
        }
    }

    phase(ShutdownPhase::Finish);
    finish(plan, report).await;

    phase(ShutdownPhase::Flush);
    #[cfg(feature = "otel")]
    flush_telemetry(plan).await;
    if let Some(logger) = children.logger() {
        let bound = plan.site.shutdown.flush_timeout;
        let margin = plan.site.actors.call_timeout;
        let flush = ask(
            &logger,
            |reply| micro_actors::LoggerMsg::Flush(bound, reply),
            bound + margin,
        );
        match watched(flush, bound, || "the log flush".to_owned()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(target: "micro", "flush: {err}"),
            Err(err) => tracing::warn!(target: "micro", "flush: logger: {err}"),
        }
    }
}

/// Exports the spans still queued within `site.shutdown.flush_timeout`:
/// a collector that is down or hangs costs the stop that bound at most.
#[cfg(feature = "otel")]
async fn flush_telemetry(plan: &Plan) {
    if let Some(telemetry) = plan.spawner.blueprint.telemetry() {
        let bound = plan.site.shutdown.flush_timeout;
        if let Err(err) = telemetry.flush(bound).await {
            tracing::warn!(target: "micro", "flush: spans: {err} (site.shutdown.flush_timeout)");
        }
    }
}

/// Drains one listener within `site.shutdown.drain_timeout`.
async fn drain(plan: &Plan, id: ChildId, http: &ActorRef<HttpMsg>) -> (ChildId, Option<micro_actors::DrainReport>) {
    let bound = plan.site.shutdown.drain_timeout;
    let margin = plan.site.actors.call_timeout;
    let which = if id == ChildId::Admin { "admin listener " } else { "" };
    let drain = ask(http, |reply| HttpMsg::Drain { bound, reply }, bound + margin);
    let in_flight = plan.in_flight.clone();
    let what = || match id {
        ChildId::Admin => "the admin listener's drain".to_owned(),
        _ => format!("the drain: {} requests in flight", in_flight.current()),
    };
    match watched(drain, bound, what).await {
        Ok(drain) if drain.cut > 0 || drain.cut_connections > 0 => {
            tracing::warn!(target: "micro", "{which}drain hit its bound of {} (site.shutdown.drain_timeout): {drain}", humantime(bound));
            (id, Some(drain))
        }
        Ok(drain) => {
            tracing::info!(target: "micro", "{which}drained in {}: {drain}", humantime(drain.took));
            (id, Some(drain))
        }
        Err(err) => {
            tracing::error!(target: "micro", "{which}drain: http actor: {err}");
            (id, None)
        }
    }
}

/// Stops the workers (last started first), then runs each finish callback
/// in registration order and releases each open resource, last opened
/// first. Every registered callback has its slot: one whose actor is being
/// restarted is started again here, and one that cannot be is reported.
async fn finish(plan: &Plan, report: &mut ShutdownReport) {
    let (blueprint, children) = (&plan.spawner.blueprint, &plan.spawner.children);
    let bound = plan.site.shutdown.finish_timeout;
    let margin = plan.site.actors.call_timeout;
    for index in (0..blueprint.workers.len()).rev() {
        let Some(actor) = children.worker(index) else { continue };
        let name = blueprint.workers[index].0.name();
        let stop = ask(&actor, |reply| WorkerMsg::Stop { bound, reply }, bound + margin);
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
    let finish = (0..blueprint.callbacks(CallbackKind::Finish).len())
        .filter(|_| plan.finish)
        .map(|index| (CallbackKind::Finish, index));
    let resources = &blueprint.resources;
    let release = (0..blueprint.callbacks(CallbackKind::Release).len())
        .rev()
        .filter(|index| resources.is_open(blueprint.callback(CallbackKind::Release, *index).name()))
        .map(|index| (CallbackKind::Release, index));
    for (kind, index) in finish.chain(release) {
        let name = blueprint.callback(kind, index).name();
        let what = match kind {
            CallbackKind::Release => "release of resource",
            _ => "finish callback",
        };
        let actor = match slot(&plan.spawner, kind, index).await {
            Ok(actor) => actor,
            Err(err) => {
                tracing::error!(target: "micro", "{what} {name}: not run: {err}");
                report.callbacks_failed.push(format!("{name}: not run: {err}"));
                continue;
            }
        };
        let run = ask(&actor, |reply| CallbackMsg::Run { bound, reply }, bound + margin);
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
}

/// The actor of callback `index` of `kind`: the one running, or — when it
/// died and its restart was cut short by the stop — a new one.
async fn slot(spawner: &Spawner, kind: CallbackKind, index: usize) -> Result<ActorRef<CallbackMsg>, String> {
    if let Some(actor) = spawner.children.callback(kind, index) {
        return Ok(actor);
    }
    match spawner.spawn_caught(ChildId::Callback(kind, index)).await? {
        Child::Callback(_, _, actor) => Ok(actor),
        _ => Err("not a callback actor".into()),
    }
}

/// How long a killed actor may take to go.
const KILL_BOUND: Duration = Duration::from_millis(500);

/// Stops `children` one by one in reverse start order, each within `bound`
/// (killed when it does not stop in time), all within `deadline`: past it,
/// what is left is killed without waiting. Once `force` is set, the child
/// being stopped and all after it are killed at once. Returns the names
/// stopped and the names killed, in order.
pub(super) async fn stop_children(
    blueprint: &Blueprint,
    children: Vec<Child>,
    bound: Duration,
    deadline: Option<Instant>,
    force: &Force,
) -> (Vec<String>, Vec<String>) {
    let mut stopped = Vec::with_capacity(children.len());
    let mut killed = Vec::new();
    let left = || deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
    for child in children.into_iter().rev() {
        let cell = child.cell();
        let name = blueprint.child_name(child.id());
        let started = Instant::now();
        let bound = bound.min(left());
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
            let wait = KILL_BOUND.min(left());
            if wait.is_zero() {
                cell.kill();
            } else {
                let _ = cell.kill_and_wait(Some(wait)).await;
            }
            killed.push(name.clone());
        }
        tracing::debug!(target: "micro", "stopped actor {name} in {}", humantime(started.elapsed()));
        stopped.push(name);
    }
    (stopped, killed)
}
