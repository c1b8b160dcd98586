//! When the accept loop accepts: not while `max_connections` sockets are
//! open (the kernel's backlog holds new connections until one closes), and
//! not for a while after accept failed (out of file descriptors: the
//! listener stays readable, so retrying at once would spin), backing off
//! from 10 ms to 1 s. Each pause is counted
//! (`micro_accept_pauses_total{reason}`) and logged at most once a second.

use std::time::{Duration, Instant};

use super::conn::Connections;

const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const LONGEST_BACKOFF: Duration = Duration::from_secs(1);
const LOG_EVERY: Duration = Duration::from_secs(1);

/// Why accepting paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pause {
    /// `max_connections` sockets open.
    MaxConnections,
    /// Out of file descriptors (`EMFILE`, `ENFILE`).
    FileLimit,
    /// Any other accept error.
    Error,
}

impl Pause {
    fn as_str(self) -> &'static str {
        match self {
            Self::MaxConnections => "max_connections",
            Self::FileLimit => "file_limit",
            Self::Error => "error",
        }
    }

    fn count(self) {
        metrics::counter!("micro_accept_pauses_total", "reason" => self.as_str()).increment(1);
    }
}

/// See the module docs.
#[derive(Debug)]
pub(super) struct Gate {
    max: usize,
    full: bool,
    /// Accept failed: not before this.
    resume: Option<Instant>,
    backoff: Duration,
    failing: bool,
    last_line: Option<Instant>,
    /// Pauses not logged since the last line.
    unsaid: u64,
}

impl Gate {
    /// `max` sockets open at once; 0: no limit.
    pub(super) fn new(max: usize) -> Self {
        Self {
            max,
            full: false,
            resume: None,
            backoff: FIRST_BACKOFF,
            failing: false,
            last_line: None,
            unsaid: 0,
        }
    }

    /// Whether to accept now, with `open` sockets open.
    pub(super) fn is_open(&mut self, open: usize) -> bool {
        let full = self.max > 0 && open >= self.max;
        if full && !self.full {
            Pause::MaxConnections.count();
            let max = self.max;
            self.say(|| {
                format!("accepting paused: {open} connections open (site.http.max_connections = {max}); new ones wait in the kernel's backlog")
            });
        } else if !full && self.full {
            tracing::debug!(target: "micro", "accepting again: {open} connections open");
        }
        self.full = full;
        !full && self.resume.is_none_or(|at| Instant::now() >= at)
    }

    /// A connection was accepted: any backoff is over.
    pub(super) fn accepted(&mut self) {
        self.resume = None;
        self.backoff = FIRST_BACKOFF;
        self.failing = false;
    }

    /// Accept failed: no accept for a while, longer each time in a row.
    pub(super) fn failed(&mut self, err: &std::io::Error) {
        let pause = match err.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE) => Pause::FileLimit,
            _ => Pause::Error,
        };
        if !self.failing {
            pause.count();
            self.failing = true;
        }
        let backoff = self.backoff;
        self.resume = Some(Instant::now() + backoff);
        self.backoff = (backoff * 2).min(LONGEST_BACKOFF);
        self.say(|| {
            let hint = if pause == Pause::FileLimit {
                " (out of file descriptors: raise LimitNOFILE, or lower site.http.max_connections)"
            } else {
                ""
            };
            format!(
                "accept failed: {err}{hint}; accepting again in {}",
                humantime::format_duration(backoff)
            )
        });
    }

    /// Resolves when accepting may be open again: a socket closed, or the
    /// backoff is over.
    pub(super) async fn reopened(&self, connections: &Connections) {
        match self.resume {
            Some(at) if !self.full => tokio::time::sleep_until(at.into()).await,
            _ => connections.closed().await,
        }
    }

    /// Logs at most once a second, saying how many went unsaid.
    fn say(&mut self, line: impl FnOnce() -> String) {
        let now = Instant::now();
        if self.last_line.is_some_and(|last| now < last + LOG_EVERY) {
            self.unsaid += 1;
            return;
        }
        let unsaid = std::mem::take(&mut self.unsaid);
        let more = if unsaid > 0 {
            format!(" ({unsaid} more since the last line)")
        } else {
            String::new()
        };
        tracing::warn!(target: "micro", "{}{more}", line());
        self.last_line = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_limit_the_gate_closes_and_opens_again_below_it() {
        let mut gate = Gate::new(2);
        assert!(gate.is_open(1));
        assert!(!gate.is_open(2));
        assert!(gate.is_open(1));
        assert!(Gate::new(0).is_open(1_000_000), "0: no limit");
    }

    #[test]
    fn failures_in_a_row_back_off_longer_each_time_up_to_a_second() {
        let mut gate = Gate::new(0);
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        let mut backoffs = Vec::new();
        for _ in 0..10 {
            backoffs.push(gate.backoff);
            gate.failed(&emfile);
            assert!(!gate.is_open(0), "not at once after a failure");
        }
        assert_eq!(backoffs[..3], [FIRST_BACKOFF, FIRST_BACKOFF * 2, FIRST_BACKOFF * 4]);
        assert_eq!(gate.backoff, LONGEST_BACKOFF);
        gate.accepted();
        assert!(gate.is_open(0));
        assert_eq!(gate.backoff, FIRST_BACKOFF);
    }
}
