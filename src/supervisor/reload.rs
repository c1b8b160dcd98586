//! Reloads, in tasks so the supervisor stays responsive: asking ConfigActor
//! for one (ConfigActor logs and records the outcome), and telling the
//! other actors about an accepted one — LoggerActor the level in force,
//! on-reload callbacks what changed.

use std::sync::Arc;

use micro_actors::{CallbackMsg, ConfigMsg, LoggerMsg, ReloadError, ReloadReport};
use micro_config::Snapshot;
use ractor::{ActorRef, RpcReplyPort};

use super::children::ask;
use crate::Service;

/// Asks ConfigActor for a reload and passes the outcome to `reply`.
pub(crate) async fn request(
    service: Service,
    config: ActorRef<ConfigMsg>,
    reply: Option<RpcReplyPort<Result<ReloadReport, ReloadError>>>,
) {
    let bound = service.config_site().actors.call_timeout;
    crate::systemd::reloading();
    let outcome = match ask(&config, ConfigMsg::Reload, bound).await {
        Ok(outcome) => outcome,
        Err(_) => {
            tracing::warn!(target: "micro", "config reload unanswered within {bound:?} (site.actors.call_timeout)");
            Err(ReloadError::Unanswered { waited: bound })
        }
    };
    // Accepted or rejected, the service serves on: ready again.
    crate::systemd::ready(&match &outcome {
        Ok(report) if report.is_unchanged() => format!("serving; config unchanged, generation {}", report.generation),
        Ok(report) => format!("serving; config generation {}", report.generation),
        Err(_) => "serving; last config reload rejected".to_owned(),
    });
    if let Some(reply) = reply {
        let _ = reply.send(outcome);
    }
}

/// Applies an accepted snapshot beyond the config itself: its log level,
/// then each on-reload callback in registration order with `changes`.
pub(crate) async fn apply(
    service: &Service,
    snapshot: &Snapshot,
    changes: Vec<String>,
    logger: Option<&ActorRef<LoggerMsg>>,
    hooks: &[(String, ActorRef<CallbackMsg>)],
    debug: bool,
) {
    let bound = snapshot.site().actors.call_timeout;
    if let Some(logger) = logger {
        // The level was validated with the snapshot; applying it cannot fail on its text.
        let level = service.log_settings_for(snapshot.site(), debug).level;
        match ask(logger, |reply| LoggerMsg::SetLevel(level, reply), bound).await {
            Ok(Err(err)) => tracing::warn!(target: "micro", "log level not applied: {err}"),
            Err(err) => tracing::warn!(target: "micro", "log level not applied: logger: {err}"),
            Ok(Ok(())) => {}
        }
    }
    let changes: micro_actors::Changes = changes.into();
    for (name, hook) in hooks {
        let changes = Arc::clone(&changes);
        match ask(hook, |reply| CallbackMsg::Reloaded { changes, bound, reply }, bound * 2).await {
            Ok(Ok(_)) => tracing::debug!(target: "micro", "on-reload callback {name} done"),
            Ok(Err(err)) => {
                tracing::warn!(target: "micro", "{err} (generation {} stays in force)", snapshot.generation());
            }
            Err(err) => tracing::warn!(target: "micro", "on-reload callback {name}: {err}"),
        }
    }
}
