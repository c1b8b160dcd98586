//! Unix signals → supervisor messages.
//!
//! SIGTERM and SIGINT ask for a graceful stop (a second one while stopping
//! cuts it short); SIGHUP asks for a config reload. The forwarding task
//! ends when the supervisor stops taking messages.

use futures::StreamExt as _;
use ractor::ActorRef;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_tokio::{Handle, Signals};

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

/// Installs the handlers and forwards each signal to `supervisor`.
/// Must run inside the tokio runtime.
pub(crate) fn forward(supervisor: ActorRef<SupervisorMsg>) -> std::io::Result<Handle> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    let handle = signals.handle();
    tokio::spawn(async move {
        while let Some(number) = signals.next().await {
            let signal = match number {
                SIGTERM => Signal::Terminate,
                SIGINT => Signal::Interrupt,
                _ => Signal::Hangup,
            };
            if supervisor.cast(SupervisorMsg::Signal(signal)).is_err() {
                break;
            }
        }
    });
    Ok(handle)
}
