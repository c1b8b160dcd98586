//! Upgrades. In the running process: a request starts the binary again in
//! a task ([`run`]) that hands it the listening sockets and the state,
//! waits until it is ready, hands systemd's main process over, and stops
//! accepting; the supervisor then shuts this process down. In the process
//! an upgrade started: once running, it tells its predecessor and says
//! `READY=1` only after the predecessor handed the main process over.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use micro_actors::HttpMsg;
use ractor::{ActorRef, RpcReplyPort};
use tokio::task::JoinHandle;

use super::blueprint::Blueprint;
use super::children::{ChildId, Children, ask};
use super::{SupervisorMsg, SupervisorState};
use crate::exit::humantime;
use crate::upgrade::{LastUpgrade, UpgradeError, UpgradeReport};
use crate::{Phase, StopCause};

/// Who asked for an upgrade and waits for its outcome (none for SIGUSR2).
pub(super) type UpgradeReply = Option<RpcReplyPort<Result<UpgradeReport, UpgradeError>>>;

/// An upgrade under way.
pub(super) struct Upgrading {
    task: JoinHandle<()>,
    /// The new process, once started (0 before).
    pid: Arc<AtomicU32>,
}

impl Upgrading {
    pub(super) fn abort(&self) {
        self.task.abort();
    }
}

impl SupervisorState {
    /// SIGUSR2, the handle or `POST /admin/upgrade`: one upgrade at a
    /// time, only while running.
    pub(super) fn upgrade(&mut self, myself: &ActorRef<SupervisorMsg>, reply: UpgradeReply) {
        let refused = match (&self.upgrading, self.phase) {
            _ if !self.blueprint.own_process => Some(UpgradeError::Unsupported),
            (Some(under_way), _) => Some(UpgradeError::InProgress {
                pid: Some(under_way.pid.load(Ordering::SeqCst)).filter(|pid| *pid != 0),
            }),
            (None, Phase::Running) => None,
            (None, _) => Some(UpgradeError::NotRunning),
        };
        if let Some(err) = refused {
            tracing::warn!(target: "micro", "upgrade refused: {err}");
            crate::metrics::upgraded(err.outcome());
            if let Some(reply) = reply {
                let _ = reply.send(Err(err));
            }
            return;
        }
        tracing::info!(target: "micro", "upgrading: starting the binary again on the same sockets");
        crate::systemd::upgrading();
        let pid = Arc::new(AtomicU32::new(0));
        let (blueprint, children, supervisor) = (Arc::clone(&self.blueprint), self.children.clone(), myself.clone());
        let started = Instant::now();
        let new_pid = Arc::clone(&pid);
        let task = tokio::spawn(async move {
            let outcome = run(&blueprint, &children, &new_pid, started).await;
            let took = started.elapsed();
            let _ = supervisor.cast(SupervisorMsg::UpgradeDone { outcome, took, reply });
        });
        self.upgrading = Some(Upgrading { task, pid });
    }

    /// An upgrade ended: this process drains and exits, or serves on.
    pub(super) fn upgrade_done(
        &mut self,
        outcome: Result<UpgradeReport, UpgradeError>,
        took: Duration,
        reply: UpgradeReply,
    ) {
        self.upgrading = None;
        let last = LastUpgrade::of(&outcome, took);
        crate::metrics::upgraded(last.outcome);
        self.blueprint.handle.record_upgrade(last);
        match &outcome {
            Ok(report) => {
                tracing::info!(
                    target: "micro",
                    "upgraded: process {} serves, ready {} after the request; draining this one",
                    report.pid,
                    humantime(report.took)
                );
                self.begin_shutdown(StopCause::Upgraded { pid: report.pid });
            }
            Err(err) => {
                tracing::error!(target: "micro", "upgrade failed: {err}; serving on");
                if self.phase == Phase::Running {
                    crate::systemd::ready("serving; the last upgrade failed");
                }
            }
        }
        if let Some(reply) = reply {
            let _ = reply.send(outcome);
        }
    }

    /// Running, in a process an upgrade started: tells the predecessor,
    /// which hands systemd's main process over, then says READY
    /// ([`handed`](Self::handed)).
    pub(super) fn announce(&mut self, myself: &ActorRef<SupervisorMsg>) -> bool {
        let Some(channel) = self.blueprint.inherited().channel() else {
            return false;
        };
        let supervisor = myself.clone();
        self.announcing = Some(tokio::spawn(async move {
            let outcome = crate::upgrade::announce(channel).await;
            let _ = supervisor.cast(SupervisorMsg::Handed(outcome));
        }));
        true
    }

    /// The predecessor handed the main process over (or could not say so
    /// in time: this process serves either way).
    pub(super) fn handed(&mut self, outcome: Result<(), String>) {
        self.announcing = None;
        match outcome {
            Ok(()) => tracing::info!(target: "micro", "took over from the process upgraded"),
            Err(why) => tracing::warn!(target: "micro", "{why}; serving"),
        }
        // Nothing says READY after STOPPING.
        if self.phase == Phase::Running {
            let serving = self
                .addr
                .map_or_else(|| "serving".to_owned(), |addr| format!("serving on {addr}"));
            crate::systemd::ready_as_main(&serving);
        }
    }
}

/// The upgrade itself, in a task: returns once the new process serves and
/// this one accepts no more, or why not (the new process then stopped).
async fn run(
    blueprint: &Blueprint,
    children: &Children,
    new_pid: &AtomicU32,
    started: Instant,
) -> Result<UpgradeReport, UpgradeError> {
    let site = blueprint.site();
    let (bound, call) = (site.upgrade.timeout, site.actors.call_timeout);
    let deadline = started + bound;
    let program = crate::upgrade::Program::capture().map_err(|why| UpgradeError::Prepare(why.to_owned()))?;
    let http = listener(children, ChildId::Http, call)
        .await?
        .ok_or_else(|| UpgradeError::Prepare("the service is not listening".into()))?;
    let admin = listener(children, ChildId::Admin, call).await?;
    let state = state(blueprint, site.upgrade.state_max.bytes()).await?;
    let handover = crate::upgrade::Handover {
        http,
        admin,
        state,
        bound,
    };
    let mut successor = crate::upgrade::start(program, handover).await?;
    let pid = successor.pid();
    new_pid.store(pid, Ordering::SeqCst);
    tracing::info!(target: "micro", "upgrading: process {pid} started; waiting for it to serve");
    if let Err(err) = successor.ready(deadline, bound).await {
        // Stopped in the background: this process serves on meanwhile.
        tokio::spawn(successor.stop(site.shutdown.total));
        return Err(err);
    }
    let took = started.elapsed();
    crate::systemd::hand_over(pid);
    successor.confirm(call).await;
    // The new process accepts every connection from now on; the ones
    // accepted here are served on and drained.
    for id in [ChildId::Http, ChildId::Admin] {
        if let Some(actor) = children.http(id) {
            let _ = ask(&actor, HttpMsg::Release, call).await;
        }
    }
    Ok(UpgradeReport { pid, took })
}

/// A new descriptor of `id`'s listening socket; `None` without that listener.
async fn listener(
    children: &Children,
    id: ChildId,
    bound: Duration,
) -> Result<Option<std::net::TcpListener>, UpgradeError> {
    let Some(actor) = children.http(id) else {
        return Ok(None);
    };
    match ask(&actor, HttpMsg::Listener, bound).await {
        Ok(Some(Ok(listener))) => Ok(Some(listener)),
        Ok(None) => Ok(None),
        Ok(Some(Err(err))) => Err(UpgradeError::Prepare(format!("cannot hand the listener over: {err}"))),
        Err(err) => Err(UpgradeError::Prepare(format!("the listener did not answer: {err}"))),
    }
}

/// The service's state for the new process (user code: run on the
/// blocking pool, its panic caught), at most `max` bytes.
async fn state(blueprint: &Blueprint, max: u64) -> Result<Vec<u8>, UpgradeError> {
    let Some(make) = blueprint.upgrade_state.clone() else {
        return Ok(Vec::new());
    };
    let made = tokio::task::spawn_blocking(move || std::panic::catch_unwind(AssertUnwindSafe(|| make())))
        .await
        .map_err(|err| UpgradeError::Prepare(format!("the upgrade state was not made: {err}")))?;
    let state = match made {
        Ok(Ok(state)) => state,
        Ok(Err(err)) => return Err(UpgradeError::Prepare(format!("the upgrade state failed: {err}"))),
        Err(panic) => {
            let message = micro_actors::callback::panic_message(panic.as_ref());
            return Err(UpgradeError::Prepare(format!("the upgrade state panicked: {message}")));
        }
    };
    if state.len() as u64 > max {
        return Err(UpgradeError::Prepare(format!(
            "the upgrade state is {} bytes, over site.upgrade.state_max ({max} bytes)",
            state.len()
        )));
    }
    Ok(state)
}
