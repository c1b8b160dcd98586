//! Signals into the supervisor: [`forward`] turns each signal into a
//! message, and [`Force`] carries the second stop signal to the part of a
//! shutdown that no longer reads messages (stopping the actors).

use ractor::ActorRef;
use tokio::sync::watch;

use super::SupervisorMsg;
use crate::signals::{Signal, SignalStream};

/// Set by the second stop signal: whatever is still stopping is cut short
/// (actors are killed instead of stopped). Shared by the signal task, which
/// sets it when the supervisor no longer takes messages, and the supervisor.
#[derive(Debug, Clone)]
pub(crate) struct Force(watch::Sender<Option<Signal>>);

impl Force {
    pub(crate) fn new() -> Self {
        Self(watch::Sender::new(None))
    }

    /// Records the forcing signal; only the first one counts.
    pub(crate) fn set(&self, signal: Signal) {
        self.0
            .send_if_modified(|forced| forced.is_none() && forced.replace(signal).is_none());
    }

    pub(crate) fn get(&self) -> Option<Signal> {
        *self.0.borrow()
    }

    /// Resolves once forced.
    pub(crate) async fn wait(&self) {
        let mut forced = self.0.subscribe();
        let _ = forced.wait_for(Option::is_some).await;
    }
}

/// Forwards each signal of `signals` to `supervisor` until the stream ends
/// or the task is aborted. Once the supervisor no longer takes messages (it
/// is stopping its actors), the second stop signal of the run sets `force`;
/// a first one is only logged.
pub(crate) async fn forward(mut signals: SignalStream, supervisor: ActorRef<SupervisorMsg>, force: Force) {
    let mut stop_signals = 0_usize;
    while let Some(signal) = signals.next().await {
        if signal.is_stop() {
            stop_signals += 1;
        }
        if supervisor.cast(SupervisorMsg::Signal(signal)).is_ok() || !signal.is_stop() {
            continue;
        }
        if stop_signals >= 2 {
            tracing::warn!(target: "micro", "second stop signal ({}) while stopping actors: killing the rest", signal.name());
            force.set(signal);
        } else {
            tracing::info!(target: "micro", "{} while stopping actors: a second one kills the rest", signal.name());
        }
    }
}
