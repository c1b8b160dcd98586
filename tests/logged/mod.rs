//! The log lines of this test binary's services, kept in memory: every
//! service of the binary plugs [`layer`] with `.log_layer(..)`, so that
//! whichever runs first installs it (the subscriber is installed once per
//! process), and a test waits for a line with [`wait_for`] instead of
//! guessing how long a thing takes.

#![allow(dead_code, unreachable_pub)] // each test binary uses what it needs

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

/// Every event's message so far, as `LEVEL message`.
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The layer that keeps the lines.
pub struct Kept;

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// The message of `event`, as its `message` field formats.
pub fn message(event: &tracing::Event<'_>) -> String {
    let mut message = Message(String::new());
    event.record(&mut message);
    message.0
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Kept {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let line = format!("{} {}", event.metadata().level(), message(event));
        LINES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(line);
    }
}

/// The layer to plug into every service of the test binary.
pub fn layer() -> Kept {
    Kept
}

/// The lines kept so far that contain every one of `needles`.
pub fn lines_with(needles: &[&str]) -> Vec<String> {
    LINES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|line| needles.iter().all(|needle| line.contains(needle)))
        .cloned()
        .collect()
}

/// Waits, at most `bound`, for a kept line containing every one of
/// `needles`, and returns the first.
pub async fn wait_for(needles: &[&str], bound: Duration) -> String {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(line) = lines_with(needles).into_iter().next() {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no log line containing {needles:?} within {bound:?}; lines so far:\n{}",
            LINES
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
