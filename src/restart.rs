//! Restart policies (Erlang/OTP terms) and the intensity that bounds them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use micro_config::site::SupervisionConfig;

/// When a supervised worker is restarted.
///
/// ```
/// assert!(micro::RestartPolicy::Permanent.restarts(false));
/// assert!(!micro::RestartPolicy::Transient.restarts(false));
/// assert!(micro::RestartPolicy::Transient.restarts(true));
/// assert!(!micro::RestartPolicy::Temporary.restarts(true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Always: whether it failed or finished (a worker meant to run for the
    /// service's whole life).
    Permanent,
    /// Only when it failed (errored or panicked); finishing is fine.
    Transient,
    /// Never.
    Temporary,
}

impl RestartPolicy {
    /// Whether a worker that ended (`failed` or not) is restarted.
    #[must_use]
    pub fn restarts(self, failed: bool) -> bool {
        match self {
            Self::Permanent => true,
            Self::Transient => failed,
            Self::Temporary => false,
        }
    }
}

/// One worker's restarts: those within the window decide the backoff and
/// whether to give up.
#[derive(Debug, Default)]
pub(crate) struct Restarts {
    recent: VecDeque<Instant>,
    pub(crate) total: u32,
}

impl Restarts {
    /// Records a restart at `now`: the delay before it, or `None` when this
    /// one would exceed `max_restarts` within `restart_window`.
    pub(crate) fn next(&mut self, now: Instant, bounds: &SupervisionConfig) -> Option<Duration> {
        while self
            .recent
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) > bounds.restart_window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= bounds.max_restarts as usize {
            return None;
        }
        let doublings = u32::try_from(self.recent.len()).unwrap_or(u32::MAX).min(16);
        self.recent.push_back(now);
        self.total += 1;
        Some(
            bounds
                .backoff_initial
                .saturating_mul(1 << doublings)
                .min(bounds.backoff_max),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> SupervisionConfig {
        micro_config::SiteConfig::default().supervision
    }

    #[test]
    fn backoff_doubles_within_the_window_up_to_its_maximum() {
        let (mut restarts, now, mut bounds) = (Restarts::default(), Instant::now(), bounds());
        bounds.max_restarts = 10;
        let delays: Vec<u128> = (0..8)
            .map(|_| restarts.next(now, &bounds).expect("within intensity").as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }

    #[test]
    fn more_than_max_restarts_within_the_window_gives_up() {
        let (mut restarts, now) = (Restarts::default(), Instant::now());
        for _ in 0..3 {
            assert!(restarts.next(now, &bounds()).is_some());
        }
        assert!(restarts.next(now, &bounds()).is_none(), "the fourth within 10s");
        assert_eq!(restarts.total, 3);
    }

    #[test]
    fn restarts_older_than_the_window_are_forgotten() {
        let (mut restarts, start) = (Restarts::default(), Instant::now());
        for _ in 0..3 {
            assert!(restarts.next(start, &bounds()).is_some());
        }
        let later = start + Duration::from_secs(11);
        assert_eq!(
            restarts.next(later, &bounds()),
            Some(Duration::from_millis(100)),
            "a fresh window"
        );
    }
}
