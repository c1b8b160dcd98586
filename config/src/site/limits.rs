//! The allowed range of every number in the site document, in one table:
//! durations, counts and sizes alike. A value outside its range is a
//! config error naming the key path and the range, so a number that would
//! make the process abort (a log queue of 10^11 lines) or overflow is
//! refused when the config loads, at reload and by `--check-config`.

use std::fmt;
use std::time::Duration;

use super::{ByteSize, SiteConfig};

/// An amount read from the site config, of one of the three kinds of number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Amount {
    /// A duration such as `5s`.
    Time(Duration),
    /// A plain count (lines, connections, restarts, a port).
    Count(u64),
    /// A size in bytes.
    Size(ByteSize),
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Time(time) => write!(f, "{}", humantime_serde::re::humantime::format_duration(*time)),
            Self::Count(count) => write!(f, "{count}"),
            Self::Size(size) => write!(f, "{size}"),
        }
    }
}

/// One number of the site document and its allowed range (both ends included).
pub(crate) struct Limit {
    /// The key path under the site document, dotted.
    pub(crate) path: &'static str,
    /// Reads the value from a typed site config.
    pub(crate) get: fn(&SiteConfig) -> Amount,
    /// The least value allowed.
    pub(crate) min: Amount,
    /// The greatest value allowed.
    pub(crate) max: Amount,
}

impl Limit {
    /// `None` when `value` is in range, else what is wrong with it.
    pub(crate) fn check(&self, site: &SiteConfig) -> Option<String> {
        let value = (self.get)(site);
        (value < self.min || value > self.max).then(|| format!("{value} is out of range ({})", self.allowed()))
    }

    /// The range in words: `allowed: 1 to 1000000`.
    pub(crate) fn allowed(&self) -> String {
        format!("allowed: {} to {}", self.min, self.max)
    }
}

const fn ms(millis: u64) -> Amount {
    Amount::Time(Duration::from_millis(millis))
}

const fn secs(secs: u64) -> Amount {
    Amount::Time(Duration::from_secs(secs))
}

const ZERO: Amount = ms(0);
const ONE_MS: Amount = ms(1);
const DAY: Amount = secs(24 * 60 * 60);

/// Every number in the site document. A test checks that none is missing.
pub(crate) const LIMITS: &[Limit] = &[
    Limit {
        path: "http.port",
        get: |s| Amount::Count(u64::from(s.http.port)),
        min: Amount::Count(0),
        max: Amount::Count(65_535),
    },
    Limit {
        path: "http.header_read_timeout",
        get: |s| Amount::Time(s.http.header_read_timeout),
        min: ONE_MS,
        max: DAY,
    },
    Limit {
        // listen(2) takes an int; the kernel caps it at net.core.somaxconn.
        path: "http.backlog",
        get: |s| Amount::Count(u64::from(s.http.backlog)),
        min: Amount::Count(1),
        max: Amount::Count(65_535),
    },
    Limit {
        path: "http.max_in_flight",
        get: |s| Amount::Count(u64::from(s.http.max_in_flight)),
        min: Amount::Count(0),
        max: Amount::Count(1_000_000),
    },
    Limit {
        // Retry-After is whole seconds.
        path: "http.retry_after",
        get: |s| Amount::Time(s.http.retry_after),
        min: secs(1),
        max: secs(60 * 60),
    },
    Limit {
        path: "http.max_connections",
        get: |s| Amount::Count(u64::from(s.http.max_connections)),
        min: Amount::Count(0),
        max: Amount::Count(1_000_000),
    },
    Limit {
        path: "http.unready_shed_percent",
        get: |s| Amount::Count(u64::from(s.http.unready_shed_percent)),
        min: Amount::Count(0),
        max: Amount::Count(100),
    },
    Limit {
        path: "http.unready_shed_window",
        get: |s| Amount::Time(s.http.unready_shed_window),
        min: ms(100),
        max: DAY,
    },
    Limit {
        path: "http.request_timeout",
        get: |s| Amount::Time(s.http.request_timeout),
        min: ONE_MS,
        max: DAY,
    },
    Limit {
        // Larger uploads are streamed with limit_body off.
        path: "http.body_limit",
        get: |s| Amount::Size(s.http.body_limit),
        min: Amount::Size(ByteSize(1)),
        max: Amount::Size(ByteSize(1 << 30)),
    },
    Limit {
        // Each line waiting takes a slot preallocated at startup (32 bytes).
        path: "logging.buffer_lines",
        get: |s| Amount::Count(s.logging.buffer_lines as u64),
        min: Amount::Count(1),
        max: Amount::Count(1_000_000),
    },
    Limit {
        path: "startup.timeout",
        get: |s| Amount::Time(s.startup.timeout),
        min: ONE_MS,
        max: DAY,
    },
    Limit {
        path: "startup.init_timeout",
        get: |s| Amount::Time(s.startup.init_timeout),
        min: ONE_MS,
        max: DAY,
    },
    Limit {
        path: "shutdown.total",
        get: |s| Amount::Time(s.shutdown.total),
        min: ONE_MS,
        max: DAY,
    },
    Limit {
        path: "shutdown.quiet_period",
        get: |s| Amount::Time(s.shutdown.quiet_period),
        min: ms(10),
        max: secs(10 * 60),
    },
    Limit {
        path: "shutdown.pre_drain_max",
        get: |s| Amount::Time(s.shutdown.pre_drain_max),
        min: ZERO,
        max: DAY,
    },
    Limit {
        path: "shutdown.pre_drain_delay",
        get: |s| Amount::Time(s.shutdown.pre_drain_delay),
        min: ZERO,
        max: DAY,
    },
    Limit {
        path: "shutdown.drain_timeout",
        get: |s| Amount::Time(s.shutdown.drain_timeout),
        min: ZERO,
        max: DAY,
    },
    Limit {
        path: "shutdown.finish_timeout",
        get: |s| Amount::Time(s.shutdown.finish_timeout),
        min: ONE_MS,
        max: DAY,
    },
    Limit {
        path: "shutdown.actor_stop_timeout",
        get: |s| Amount::Time(s.shutdown.actor_stop_timeout),
        min: ONE_MS,
        max: DAY,
    },
    Limit {
        path: "shutdown.flush_timeout",
        get: |s| Amount::Time(s.shutdown.flush_timeout),
        min: ONE_MS,
        max: DAY,
    },
    Limit {
        path: "config.load_timeout",
        get: |s| Amount::Time(s.config.load_timeout),
        min: ms(10),
        max: secs(10 * 60),
    },
    Limit {
        path: "telemetry.export_timeout",
        get: |s| Amount::Time(s.telemetry.export_timeout),
        min: ms(10),
        max: secs(60),
    },
    Limit {
        path: "telemetry.queue_size",
        get: |s| Amount::Count(s.telemetry.queue_size),
        min: Amount::Count(1),
        max: Amount::Count(1_000_000),
    },
    Limit {
        path: "telemetry.batch_delay",
        get: |s| Amount::Time(s.telemetry.batch_delay),
        min: ms(1),
        max: secs(60),
    },
    Limit {
        // The new process's own startup.timeout applies inside.
        path: "upgrade.timeout",
        get: |s| Amount::Time(s.upgrade.timeout),
        min: ms(10),
        max: DAY,
    },
    Limit {
        // Held in memory by both processes while it is handed over.
        path: "upgrade.state_max",
        get: |s| Amount::Size(s.upgrade.state_max),
        min: Amount::Size(ByteSize(0)),
        max: Amount::Size(ByteSize(64 << 20)),
    },
    Limit {
        path: "health.interval",
        get: |s| Amount::Time(s.health.interval),
        min: ONE_MS,
        max: DAY,
    },
    Limit {
        path: "health.timeout",
        get: |s| Amount::Time(s.health.timeout),
        min: ONE_MS,
        max: DAY,
    },
    Limit {
        path: "supervision.backoff_initial",
        get: |s| Amount::Time(s.supervision.backoff_initial),
        min: ONE_MS,
        max: DAY,
    },
    Limit {
        path: "supervision.backoff_max",
        get: |s| Amount::Time(s.supervision.backoff_max),
        min: ONE_MS,
        max: DAY,
    },
    Limit {
        path: "supervision.max_restarts",
        get: |s| Amount::Count(u64::from(s.supervision.max_restarts)),
        min: Amount::Count(0),
        max: Amount::Count(10_000),
    },
    Limit {
        path: "supervision.restart_window",
        get: |s| Amount::Time(s.supervision.restart_window),
        min: ONE_MS,
        max: DAY,
    },
    Limit {
        path: "actors.call_timeout",
        get: |s| Amount::Time(s.actors.call_timeout),
        min: ONE_MS,
        max: DAY,
    },
];

/// The limit of the key path `path` (under the site document), if it is a number.
pub(crate) fn limit_of(path: &str) -> Option<&'static Limit> {
    LIMITS.iter().find(|limit| limit.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    /// Every scalar of the defaults that is a number, a duration or a size.
    fn numeric_paths(tree: &Value, at: &str, found: &mut Vec<String>) {
        match tree {
            Value::Object(map) => {
                for (key, value) in map {
                    let path = if at.is_empty() {
                        key.clone()
                    } else {
                        format!("{at}.{key}")
                    };
                    numeric_paths(value, &path, found);
                }
            }
            Value::Number(_) => found.push(at.to_owned()),
            Value::String(text) if text.starts_with(|c: char| c.is_ascii_digit()) => found.push(at.to_owned()),
            _ => {}
        }
    }

    #[test]
    fn every_number_of_the_site_document_has_a_limit() {
        let mut paths = Vec::new();
        numeric_paths(&SiteConfig::defaults_value(), "", &mut paths);
        let host = paths
            .iter()
            .position(|p| p == "http.host")
            .expect("the host starts with a digit");
        paths.remove(host);
        let mut limited: Vec<&str> = LIMITS.iter().map(|limit| limit.path).collect();
        paths.sort_unstable();
        limited.sort_unstable();
        assert_eq!(paths, limited);
    }

    #[test]
    fn every_default_is_within_its_limit() {
        let site = SiteConfig::default();
        for limit in LIMITS {
            assert_eq!(limit.check(&site), None, "{}", limit.path);
            assert!(limit.min <= limit.max, "{}", limit.path);
        }
    }

    #[test]
    fn a_limit_says_its_range_in_the_units_of_its_kind() {
        let limit = limit_of("config.load_timeout").expect("limited");
        assert_eq!(limit.allowed(), "allowed: 10ms to 10m");
        let limit = limit_of("http.body_limit").expect("limited");
        assert_eq!(limit.allowed(), "allowed: 1B to 1GiB");
    }
}
