//! Unix signals as values: [`listen`] installs the handlers for SIGTERM,
//! SIGINT, SIGHUP and SIGUSR2 and yields each signal received as a [`Signal`] until
//! the [`SignalStream`] is dropped. This module knows nothing of what the
//! signals do.
//!
//! signal-hook keeps its handler installed once a signal has been
//! registered, and without an action it would ignore the signal. So the
//! first listen also registers, for each of the four, an action that
//! emulates the default one (terminate the process) while no stream is
//! listening: once the stream is dropped the process reacts as before.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use futures::StreamExt as _;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR2};
use signal_hook_tokio::{Handle, Signals};

/// The signals a run handles.
const HANDLED: [i32; 4] = [SIGTERM, SIGINT, SIGHUP, SIGUSR2];

/// Whether the handled signals take their default action: true whenever no
/// stream listens (runs are one at a time in a process).
static DEFAULT_ACTION: AtomicBool = AtomicBool::new(true);

/// A signal a run acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Terminate,
    Interrupt,
    Hangup,
    /// SIGUSR2: upgrade.
    User2,
}

impl Signal {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Terminate => "SIGTERM",
            Self::Interrupt => "SIGINT",
            Self::Hangup => "SIGHUP",
            Self::User2 => "SIGUSR2",
        }
    }

    /// SIGTERM or SIGINT.
    pub(crate) fn is_stop(self) -> bool {
        matches!(self, Self::Terminate | Self::Interrupt)
    }
}

/// The signals received since [`listen`], in order; dropping it gives the
/// signals their default action back.
pub(crate) struct SignalStream {
    signals: Signals,
    handle: Handle,
}

impl SignalStream {
    /// The next signal received.
    pub(crate) async fn next(&mut self) -> Option<Signal> {
        let number = self.signals.next().await?;
        Some(match number {
            SIGTERM => Signal::Terminate,
            SIGINT => Signal::Interrupt,
            SIGUSR2 => Signal::User2,
            _ => Signal::Hangup,
        })
    }
}

impl Drop for SignalStream {
    fn drop(&mut self) {
        self.handle.close();
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

/// Installs the handlers; from now until the stream is dropped the signals
/// are received there instead of taking their default action. Must run
/// inside the tokio runtime.
pub(crate) fn listen() -> std::io::Result<SignalStream> {
    DEFAULT_ACTION.store(false, Ordering::SeqCst);
    let signals = register_default_actions().and_then(|()| Signals::new(HANDLED));
    match signals {
        Ok(signals) => Ok(SignalStream {
            handle: signals.handle(),
            signals,
        }),
        Err(err) => {
            DEFAULT_ACTION.store(true, Ordering::SeqCst);
            Err(err)
        }
    }
}
