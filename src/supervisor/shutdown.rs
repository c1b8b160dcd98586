//! The shutdown phases that talk to children — unready, drain, finish,
//! flush — run in a task that reports each phase to the supervisor, so a
//! second signal is still handled while a phase waits. The last phase,
//! stopping the actors in reverse start order, runs in the supervisor's
//! `post_stop` (see `stop_children`).

use std::time::{Duration, Instant};

use micro_actors::{CallbackMsg, HttpMsg, LoggerMsg};
use micro_config::SiteConfig;
use ractor::ActorRef;

use super::SupervisorMsg;
use super::children::{Child, ask};
use crate::ShutdownReport;
use crate::exit::humantime;

/// Who the shutdown talks to, and the bounds from `site.shutdown`.
pub(crate) struct Plan {
    pub(crate) supervisor: ActorRef<SupervisorMsg>,
    pub(crate) http: Option<ActorRef<HttpMsg>>,
    pub(crate) finish: Vec<(String, ActorRef<CallbackMsg>)>,
    pub(crate) logger: Option<ActorRef<LoggerMsg>>,
    pub(crate) site: std::sync::Arc<SiteConfig>,
}

/// Runs unready → drain → finish → flush and casts `ShutdownDone`.
pub(crate) async fn run(plan: Plan) {
    let phase = |name| {
        let _ = plan.supervisor.cast(SupervisorMsg::ShutdownPhase(name));
    };
    let margin = plan.site.actors.call_timeout;
    let mut report = ShutdownReport::default();

    phase("unready");
    if let Some(http) = &plan.http {
        let _ = http.cast(HttpMsg::SetReady(false));
    }

    phase("drain");
    if let Some(http) = &plan.http {
        let bound = plan.site.shutdown.drain_timeout;
        match ask(http, |reply| HttpMsg::Drain { bound, reply }, bound + margin).await {
            Ok(drain) if drain.cut > 0 => {
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
    for (name, actor) in &plan.finish {
        match ask(actor, |reply| CallbackMsg::Run { bound, reply }, bound + margin).await {
            Ok(Ok(took)) => tracing::info!(target: "micro", "finish callback {name} done in {}", humantime(took)),
            Ok(Err(err)) => {
                tracing::error!(target: "micro", "{err}");
                report.callbacks_failed.push(err.to_string());
            }
            Err(err) => {
                tracing::error!(target: "micro", "finish callback {name}: {err}");
                report.callbacks_failed.push(format!("{name}: {err}"));
            }
        }
    }

    phase("flush");
    if let Some(logger) = &plan.logger {
        if let Err(err) = ask(logger, LoggerMsg::Flush, margin).await {
            tracing::warn!(target: "micro", "flush: logger: {err}");
        }
    }

    let _ = plan.supervisor.cast(SupervisorMsg::ShutdownDone(report));
}

/// Stops `children` one by one in reverse start order, each within `bound`
/// (killed when it does not stop in time); `kill` skips straight to killing.
/// Returns the names stopped and the names killed, in order.
pub(crate) async fn stop_children(children: Vec<Child>, bound: Duration, kill: bool) -> (Vec<String>, Vec<String>) {
    let mut stopped = Vec::with_capacity(children.len());
    let mut killed = Vec::new();
    for child in children.into_iter().rev() {
        let cell = child.cell();
        let name = child.name();
        let started = Instant::now();
        let clean = !kill
            && cell
                .stop_and_wait(Some("service stopping".into()), Some(bound))
                .await
                .is_ok();
        if !clean {
            if !kill {
                tracing::warn!(target: "micro", "actor {name} did not stop within {} (site.shutdown.actor_stop_timeout): killed", humantime(bound));
            }
            let _ = cell.kill_and_wait(Some(bound)).await;
            killed.push(name.clone());
        }
        tracing::debug!(target: "micro", "stopped actor {name} in {}", humantime(started.elapsed()));
        stopped.push(name);
    }
    (stopped, killed)
}
