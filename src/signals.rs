//! Unix signals → supervisor messages.
//!
//! SIGTERM and SIGINT ask for a graceful stop (a second one while stopping
//! cuts it short); SIGHUP asks for a config reload. The forwarding task
//! lives until the run ends, so a signal is never left unhandled while the
//! service stops.

use futures::StreamExt as _;
use ractor::ActorRef;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_tokio::{Handle, Signals};
use tokio::sync::watch;

use crate::supervisor::SupervisorMsg;

/// A signal the supervisor acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Terminate,
    Interrupt,
    Hangup,
}

impl Signal {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Terminate => "SIGTERM",
            Self::Interrupt => "SIGINT",
            Self::Hangup => "SIGHUP",
        }
    }
}

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

/// Installs the handlers and forwards each signal to `supervisor`; a stop
/// signal the supervisor can no longer take (it is stopping its actors)
/// sets `force`. Must run inside the tokio runtime.
pub(crate) fn forward(supervisor: ActorRef<SupervisorMsg>, force: Force) -> std::io::Result<Handle> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    let handle = signals.handle();
    tokio::spawn(async move {
        while let Some(number) = signals.next().await {
            let signal = match number {
                SIGTERM => Signal::Terminate,
                SIGINT => Signal::Interrupt,
                _ => Signal::Hangup,
            };
            if supervisor.cast(SupervisorMsg::Signal(signal)).is_err() && signal != Signal::Hangup {
                tracing::warn!(target: "micro", "{} while stopping actors: killing the rest", signal.name());
                force.set(signal);
            }
        }
    });
    Ok(handle)
}
