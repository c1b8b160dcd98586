//! Unix signals → supervisor messages.
//!
//! SIGTERM and SIGINT ask for a graceful stop (a second one while stopping
//! cuts it short); SIGHUP asks for a config reload. The forwarding task
//! lives until the run ends, so a signal is never left unhandled while the
//! service stops.
//!
//! signal-hook keeps its handler installed once a signal has been
//! registered, and without an action it would ignore the signal. So the
//! first run also registers, for each of the three, an action that emulates
//! the default one (terminate the process) while no run forwards signals:
//! after the run the process reacts as before it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use futures::StreamExt as _;
use ractor::ActorRef;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_tokio::{Handle, Signals};
use tokio::sync::watch;

/// The signals a run handles.
const HANDLED: [i32; 3] = [SIGTERM, SIGINT, SIGHUP];

/// Whether the handled signals take their default action: true whenever no
/// run forwards them (runs are one at a time in a process).
static DEFAULT_ACTION: AtomicBool = AtomicBool::new(true);

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

/// Signals forwarded to a run's supervisor until it is closed or dropped
/// (a run whose future is dropped gives the defaults back too).
pub(crate) struct Forwarding(Handle);

impl Forwarding {
    /// Stops forwarding: from now on the signals take their default action.
    pub(crate) fn close(self) {
        drop(self);
    }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        self.0.close();
        DEFAULT_ACTION.store(true, Ordering::SeqCst);
    }
}

/// Registers, once per process, the actions that emulate the default one
/// while [`DEFAULT_ACTION`] is set.
fn register_default_actions() -> std::io::Result<()> {
    static REGISTERED: Mutex<bool> = Mutex::new(false);
    let mut registered = REGISTERED.lock().unwrap_or_else(PoisonError::into_inner);
    if !*registered {
        for signal in HANDLED {
            signal_hook::flag::register_conditional_default(signal, &DEFAULT_ACTION)?;
        }
        *registered = true;
    }
    Ok(())
}

/// Installs the handlers and forwards each signal to `supervisor`; a stop
/// signal the supervisor can no longer take (it is stopping its actors)
/// sets `force`. Must run inside the tokio runtime.
pub(crate) fn forward(supervisor: ActorRef<SupervisorMsg>, force: Force) -> std::io::Result<Forwarding> {
    DEFAULT_ACTION.store(false, Ordering::SeqCst);
    let signals = register_default_actions().and_then(|()| Signals::new(HANDLED));
    let mut signals = match signals {
        Ok(signals) => signals,
        Err(err) => {
            DEFAULT_ACTION.store(true, Ordering::SeqCst);
            return Err(err);
        }
    };
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
    Ok(Forwarding(handle))
}
