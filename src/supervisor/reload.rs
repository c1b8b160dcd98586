//! A reload, run in a task so the supervisor stays responsive: ask
//! ConfigActor for a new snapshot, then tell LoggerActor the level in force.

use micro_actors::{ConfigMsg, LoggerMsg, ReloadError, ReloadReport};
use ractor::{ActorRef, RpcReplyPort};

use super::children::ask;
use crate::Service;

pub(crate) async fn run(
    service: Service,
    config: ActorRef<ConfigMsg>,
    logger: Option<ActorRef<LoggerMsg>>,
    reply: Option<RpcReplyPort<Result<ReloadReport, ReloadError>>>,
) {
    let bound = service.config_site().actors.call_timeout;
    let outcome = match ask(&config, ConfigMsg::Reload, bound).await {
        Ok(outcome) => outcome,
        Err(_) => Err(ReloadError::Unanswered { waited: bound }),
    };
    match &outcome {
        Ok(report) => {
            tracing::info!(target: "micro", "config reloaded: {report}");
            if let Some(logger) = logger {
                // The level was validated with the candidate; applying it cannot fail on its text.
                let level = service.log_settings(true).level;
                match ask(&logger, |reply| LoggerMsg::SetLevel(level, reply), bound).await {
                    Ok(Err(err)) => tracing::warn!(target: "micro", "log level not applied: {err}"),
                    Err(err) => tracing::warn!(target: "micro", "log level not applied: logger: {err}"),
                    Ok(Ok(())) => {}
                }
            }
        }
        Err(err) => tracing::warn!(target: "micro", "config {err}"),
    }
    if let Some(reply) = reply {
        let _ = reply.send(outcome);
    }
}
