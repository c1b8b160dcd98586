//! Where log lines go: stderr, through a worker thread (tracing-appender's
//! non-blocking writer), so no task ever waits on a slow or blocked stderr
//! (a full pipe, a stopped terminal). When the queue holds
//! `site.logging.buffer_lines` lines, further lines are dropped and counted
//! instead of blocking; [`flush`] waits, bounded, until every line queued
//! so far is written.
//!
//! Bytes are counted on both sides of the queue: queued (by the writer
//! every event uses) and written (by the worker's writer around stderr).
//! The log is flushed when the second catches up with the first.

use std::io::{self, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::fmt::MakeWriter;

struct Output {
    writer: NonBlocking,
    dropped: ErrorCounter,
    queued: AtomicU64,
    written: AtomicU64,
    /// Told after each write while a flush waits.
    wrote: tokio::sync::Notify,
    waiting: AtomicBool,
    /// Set when a flush ran out of time; cleared when one catches up.
    behind: AtomicBool,
    // Dropping it would stop the worker: the output lives as long as the process.
    _worker: WorkerGuard,
}

static OUTPUT: OnceLock<Output> = OnceLock::new();

/// The process's log output, started on first call with a queue of
/// `buffer_lines` lines; later calls share it (the queue keeps its size).
pub(super) fn writer(buffer_lines: usize) -> Queued {
    let output = OUTPUT.get_or_init(|| {
        let (writer, worker) = NonBlockingBuilder::default()
            .lossy(true)
            .buffered_lines_limit(buffer_lines.max(1))
            .thread_name("micro-log")
            .finish(Counted(io::stderr()));
        Output {
            dropped: writer.error_counter(),
            writer,
            queued: AtomicU64::new(0),
            written: AtomicU64::new(0),
            wrote: tokio::sync::Notify::new(),
            waiting: AtomicBool::new(false),
            behind: AtomicBool::new(false),
            _worker: worker,
        }
    });
    Queued {
        writer: output.writer.clone(),
        output,
    }
}

/// Lines dropped because the queue was full, since the process started.
///
/// ```
/// assert_eq!(micro_actors::logger::dropped_lines(), 0);
/// ```
#[must_use]
pub fn dropped_lines() -> u64 {
    OUTPUT.get().map_or(0, |output| output.dropped.dropped_lines() as u64)
}

/// The log could not be flushed within its bound.
///
/// ```
/// let err = micro_actors::logger::FlushError { pending_bytes: 512, bound: std::time::Duration::from_secs(2) };
/// assert_eq!(err.to_string(), "512 bytes of log still unwritten after 2s (stderr blocked?; bound: site.shutdown.flush_timeout)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{pending_bytes} bytes of log still unwritten after {bound:?} (stderr blocked?; bound: site.shutdown.flush_timeout)"
)]
pub struct FlushError {
    /// Queued bytes not yet written to stderr.
    pub pending_bytes: u64,
    /// How long the flush waited.
    pub bound: Duration,
}

/// Waits until every line queued so far is written to stderr, at most
/// `bound`. Once a flush ran out of time (stderr blocked), the next ones
/// do not wait again until the output has caught up: a shutdown waits for
/// a blocked stderr once, not at every flush.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// micro_actors::logger::flush(std::time::Duration::from_secs(1)).await.unwrap();
/// # });
/// ```
pub async fn flush(bound: Duration) -> Result<(), FlushError> {
    let Some(output) = OUTPUT.get() else {
        return Ok(());
    };
    let target = output.queued.load(Ordering::Acquire);
    let bound = if output.behind.load(Ordering::Acquire) {
        Duration::ZERO
    } else {
        bound
    };
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        // Registered before the check, so a write in between still wakes us.
        let wrote = output.wrote.notified();
        tokio::pin!(wrote);
        wrote.as_mut().enable();
        output.waiting.store(true, Ordering::Release);
        let written = output.written.load(Ordering::Acquire);
        if written >= target {
            output.waiting.store(false, Ordering::Release);
            output.behind.store(false, Ordering::Release);
            return Ok(());
        }
        if tokio::time::timeout_at(deadline, wrote).await.is_err() {
            output.waiting.store(false, Ordering::Release);
            output.behind.store(true, Ordering::Release);
            return Err(FlushError {
                pending_bytes: target - output.written.load(Ordering::Acquire).min(target),
                bound,
            });
        }
    }
}

/// The writer every event uses: queues the line, counting its bytes when
/// the queue took it.
#[derive(Clone)]
pub(super) struct Queued {
    writer: NonBlocking,
    output: &'static Output,
}

impl Write for Queued {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let dropped = self.output.dropped.dropped_lines();
        let n = self.writer.write(buf)?;
        if self.output.dropped.dropped_lines() == dropped {
            self.output.queued.fetch_add(buf.len() as u64, Ordering::AcqRel);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Queued {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

/// stderr, counting the bytes written (on the worker thread).
struct Counted(io::Stderr);

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.0.write(buf)?;
        if let Some(output) = OUTPUT.get() {
            output.written.fetch_add(n as u64, Ordering::AcqRel);
            if output.waiting.load(Ordering::Acquire) {
                output.wrote.notify_waiters();
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
