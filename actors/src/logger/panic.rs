//! The process's panic hook: a panic is logged through tracing, then handed
//! to the hook that was there before.
//!
//! A panic caught by micro (a handler answered 500, a callback or worker
//! reported it) is one event with the message and where it happened, so it
//! reaches the log like every other line. The hook installed before micro's
//! runs next: the embedding program's own (a crash reporter, a test's
//! counter), or the standard one, which prints the panic to stderr, and
//! which libtest captures to report a failing test with its message.

use std::sync::Once;

/// Installs micro's hook over the current one, once per process; later
/// calls do nothing.
pub(super) fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = crate::callback::panic_message(info.payload());
            let location = info.location().map(ToString::to_string).unwrap_or_default();
            tracing::error!(target: "micro", location = %location, "panicked: {message}");
            previous(info);
        }));
    });
}
