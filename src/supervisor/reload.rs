//! Reloads, in tasks so the supervisor stays responsive: asking ConfigActor
//! for one (ConfigActor logs and records the outcome), and the applier,
//! which tells the other actors about accepted ones — LoggerActor the level
//! in force, on-reload callbacks what changed.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use micro_actors::{CallbackMsg, ConfigMsg, LoggerMsg, ReloadError, ReloadReport};
use micro_config::Snapshot;
use ractor::ActorRef;

use super::children::{CallbackKind, Spawner, ask};

/// Asks ConfigActor for a reload, at most `bound`.
pub(crate) async fn request(config: &ActorRef<ConfigMsg>, bound: Duration) -> Result<ReloadReport, ReloadError> {
    ask(config, ConfigMsg::Reload, bound).await.unwrap_or_else(|_| {
        tracing::warn!(target: "micro", "config reload unanswered within {bound:?} (site.actors.call_timeout)");
        Err(ReloadError::Unanswered { waited: bound })
    })
}

/// Applies each generation stored after `applied`, until aborted. A slow
/// on-reload callback never makes it fall behind: it always applies the
/// newest generation, with every key changed since the one it applied
/// last. The actors are looked up for each generation, so one restarted
/// meanwhile is told too.
pub(crate) async fn applier(spawner: Spawner, mut applied: Arc<Snapshot>) {
    let mut updates = spawner.blueprint.config.subscribe();
    loop {
        let latest = Arc::clone(&updates.borrow_and_update());
        if latest.generation() > applied.generation() {
            let changes = applied.diff(&latest);
            apply(&spawner, &latest, changes).await;
            applied = latest;
            continue;
        }
        if updates.changed().await.is_err() {
            return;
        }
    }
}

/// Applies an accepted snapshot beyond the config itself: its log level,
/// then each on-reload callback in registration order with `changes`.
async fn apply(spawner: &Spawner, snapshot: &Snapshot, changes: Vec<String>) {
    let (blueprint, children) = (&spawner.blueprint, &spawner.children);
    let generation = snapshot.generation();
    let bound = snapshot.site().actors.call_timeout;
    // The log_configuration hook is the service's code: a panic is reported.
    let settings = std::panic::catch_unwind(AssertUnwindSafe(|| (blueprint.log_settings)(snapshot.site())));
    match (children.logger(), settings) {
        (_, Err(panic)) => {
            let message = micro_actors::callback::panic_message(panic.as_ref());
            tracing::error!(target: "micro", "log level of generation {generation} not applied: the log_configuration hook panicked: {message}");
        }
        (None, Ok(_)) => {
            tracing::warn!(target: "micro", "log level of generation {generation} not applied: the logger is restarting");
        }
        // The level was validated with the snapshot; applying it cannot fail on its text.
        (Some(logger), Ok(settings)) => {
            match ask(&logger, |reply| LoggerMsg::SetLevel(settings.level, reply), bound).await {
                Ok(Err(err)) => tracing::warn!(target: "micro", "log level not applied: {err}"),
                Err(err) => tracing::warn!(target: "micro", "log level not applied: logger: {err}"),
                Ok(Ok(())) => {}
            }
        }
    }
    #[cfg(feature = "otel")]
    if let Some(telemetry) = blueprint.telemetry() {
        telemetry.set_ratio(&snapshot.site().telemetry);
    }
    let changes: micro_actors::Changes = changes.into();
    for (index, callback) in blueprint.callbacks(CallbackKind::Reload).iter().enumerate() {
        let name = callback.name();
        let Some(hook) = children.callback(CallbackKind::Reload, index) else {
            tracing::warn!(target: "micro", "on-reload callback {name} is restarting: not told about generation {generation}");
            continue;
        };
        let changes = Arc::clone(&changes);
        let told = ask(
            &hook,
            |reply| CallbackMsg::Reloaded { changes, bound, reply },
            bound * 2,
        )
        .await;
        match told {
            Ok(Ok(_)) => tracing::debug!(target: "micro", "on-reload callback {name} done"),
            Ok(Err(err)) => tracing::warn!(target: "micro", "{err} (generation {generation} stays in force)"),
            Err(err) => tracing::warn!(target: "micro", "on-reload callback {name}: {err}"),
        }
    }
}
