//! [`SiteConfig`]: the typed schema of the site document, whose defaults are
//! compiled in from `config/defaults/site.yaml`.

use std::sync::LazyLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{LoadError, Origin, Value, value, yaml};

/// The text of `config/defaults/site.yaml`, compiled into every binary.
///
/// ```
/// use micro_config::site::{DEFAULTS_ORIGIN, DEFAULTS_YAML};
/// let tree = micro_config::yaml::parse(DEFAULTS_YAML, &DEFAULTS_ORIGIN).unwrap();
/// assert_eq!(tree["http"]["port"], 8000);
/// ```
pub const DEFAULTS_YAML: &str = include_str!("../defaults/site.yaml");

/// Where [`DEFAULTS_YAML`] came from, for messages.
///
/// ```
/// let origin = micro_config::site::DEFAULTS_ORIGIN;
/// assert_eq!(origin.to_string(), "config/defaults/site.yaml (embedded)");
/// ```
pub const DEFAULTS_ORIGIN: Origin = Origin::Embedded("config/defaults/site.yaml");

/// The longest any bound in the site config may be.
pub const MAX_BOUND: Duration = Duration::from_secs(24 * 60 * 60);

/// The site document, typed: what micro itself reads from configuration.
///
/// A service's own site document is merged over [`DEFAULTS_YAML`], so every
/// field has a value; unknown keys are rejected so a typo cannot pass for a
/// setting.
///
/// ```
/// let site = micro_config::SiteConfig::default();
/// assert_eq!(site.http.port, 8000);
/// assert_eq!(site.shutdown.drain_timeout, std::time::Duration::from_secs(20));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SiteConfig {
    /// The HTTP listener.
    pub http: HttpConfig,
    /// Log filtering.
    pub logging: LoggingConfig,
    /// Bounds on startup.
    pub startup: StartupConfig,
    /// Bounds on each shutdown phase.
    pub shutdown: ShutdownConfig,
    /// Bounds on talking to actors.
    pub actors: ActorsConfig,
}

/// `site.http`.
///
/// ```
/// assert_eq!(micro_config::SiteConfig::default().http.host, "127.0.0.1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Host `production(None)` listens on.
    pub host: String,
    /// Port `production()` binds when `PORT` is unset.
    pub port: u16,
    /// Longest a client may take to send its request headers.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
}

/// `site.logging`.
///
/// ```
/// assert_eq!(micro_config::SiteConfig::default().logging.level, "info");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LoggingConfig {
    /// A tracing `EnvFilter` directive such as `info` or `info,hyper=warn`.
    pub level: String,
}

/// `site.startup`.
///
/// ```
/// let startup = micro_config::SiteConfig::default().startup;
/// assert!(startup.init_timeout <= startup.timeout);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StartupConfig {
    /// Bound on the whole startup.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Bound on each init callback.
    #[serde(with = "humantime_serde")]
    pub init_timeout: Duration,
}

/// `site.shutdown`.
///
/// ```
/// let shutdown = micro_config::SiteConfig::default().shutdown;
/// assert_eq!(shutdown.finish_timeout, std::time::Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ShutdownConfig {
    /// Time between readiness turning 503 and the listener closing.
    #[serde(with = "humantime_serde")]
    pub pre_drain_delay: Duration,
    /// Bound on waiting for in-flight requests after the listener closed.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// Bound on each finish callback.
    #[serde(with = "humantime_serde")]
    pub finish_timeout: Duration,
    /// Bound on stopping each actor.
    #[serde(with = "humantime_serde")]
    pub actor_stop_timeout: Duration,
}

/// `site.actors`.
///
/// ```
/// assert_eq!(
///     micro_config::SiteConfig::default().actors.call_timeout,
///     std::time::Duration::from_secs(5)
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ActorsConfig {
    /// Bound on a message call to an actor when no other bound applies.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
}

impl SiteConfig {
    /// The defaults as a tree, parsed once per process.
    ///
    /// ```
    /// let tree = micro_config::SiteConfig::defaults_value();
    /// assert_eq!(tree["logging"]["level"], "info");
    /// assert_eq!(tree["shutdown"]["drain_timeout"], "20s");
    /// ```
    #[must_use]
    pub fn defaults_value() -> Value {
        // The embedded text is checked by this crate's tests.
        static DEFAULTS: LazyLock<Value> =
            LazyLock::new(|| yaml::parse(DEFAULTS_YAML, &DEFAULTS_ORIGIN).unwrap_or_default());
        DEFAULTS.clone()
    }

    /// The effective site tree: `overrides` merged over the defaults.
    ///
    /// ```
    /// use micro_config::SiteConfig;
    /// let tree = SiteConfig::merged(Some(&serde_json::json!({"http": {"port": 9000}})));
    /// assert_eq!(tree["http"]["port"], 9000);
    /// assert_eq!(tree["http"]["host"], "127.0.0.1");
    /// assert_eq!(SiteConfig::merged(None), SiteConfig::defaults_value());
    /// ```
    #[must_use]
    pub fn merged(overrides: Option<&Value>) -> Value {
        let mut tree = Self::defaults_value();
        if let Some(overrides) = overrides {
            value::merge(&mut tree, overrides.clone());
        }
        tree
    }

    /// Types a site tree; errors name `origin` and the key path under `prefix`.
    ///
    /// ```
    /// use micro_config::{Origin, SiteConfig};
    /// let tree = SiteConfig::merged(Some(&serde_json::json!({"http": {"port": "eighty"}})));
    /// let err = SiteConfig::from_value(&tree, "site", &Origin::File("site.yaml".into())).unwrap_err();
    /// assert!(err.to_string().starts_with("site.yaml: site.http.port: invalid type"), "{err}");
    /// ```
    pub fn from_value(tree: &Value, prefix: &str, origin: &Origin) -> Result<Self, LoadError> {
        let site: Self = serde_path_to_error::deserialize(tree).map_err(|err| LoadError::Invalid {
            origin: origin.clone(),
            path: join_path(prefix, &err.path().to_string()),
            message: err.into_inner().to_string(),
        })?;
        site.check_bounds(prefix, origin)?;
        Ok(site)
    }

    /// Every bound, with its key path under the site document.
    fn bounds(&self) -> [(&'static str, Duration); 8] {
        [
            ("http.header_read_timeout", self.http.header_read_timeout),
            ("startup.timeout", self.startup.timeout),
            ("startup.init_timeout", self.startup.init_timeout),
            ("shutdown.pre_drain_delay", self.shutdown.pre_drain_delay),
            ("shutdown.drain_timeout", self.shutdown.drain_timeout),
            ("shutdown.finish_timeout", self.shutdown.finish_timeout),
            ("shutdown.actor_stop_timeout", self.shutdown.actor_stop_timeout),
            ("actors.call_timeout", self.actors.call_timeout),
        ]
    }

    /// A bound over a day is a typo, not a setting; refusing it also keeps
    /// every sum of bounds far from overflowing.
    fn check_bounds(&self, prefix: &str, origin: &Origin) -> Result<(), LoadError> {
        for (path, bound) in self.bounds() {
            if bound > MAX_BOUND {
                return Err(LoadError::Invalid {
                    origin: origin.clone(),
                    path: join_path(prefix, path),
                    message: format!(
                        "{} is longer than the longest bound allowed, 1 day",
                        humantime_serde::re::humantime::format_duration(bound)
                    ),
                });
            }
        }
        Ok(())
    }
}

impl Default for SiteConfig {
    fn default() -> Self {
        Self::from_value(&Self::defaults_value(), "site", &DEFAULTS_ORIGIN)
            .unwrap_or_else(|err| panic!("embedded site defaults are invalid: {err}"))
    }
}

/// Joins a document prefix and a serde path (`.` means the root).
pub(crate) fn join_path(prefix: &str, path: &str) -> String {
    if path.is_empty() || path == "." {
        prefix.to_owned()
    } else {
        format!("{prefix}.{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_parse_and_type() {
        yaml::parse(DEFAULTS_YAML, &DEFAULTS_ORIGIN).expect("defaults parse");
        let site = SiteConfig::default();
        assert!(site.startup.init_timeout <= site.startup.timeout);
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_path() {
        let tree = SiteConfig::merged(Some(&serde_json::json!({"http": {"prot": 1}})));
        let err = SiteConfig::from_value(&tree, "site", &Origin::Memory("t".into())).expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("site.http"), "{text}");
        assert!(text.contains("unknown field `prot`"), "{text}");
    }

    #[test]
    fn a_bound_longer_than_a_day_is_rejected_before_it_can_overflow() {
        let tree = SiteConfig::merged(Some(&serde_json::json!({"startup": {"timeout": "500000000000y"}})));
        let err = SiteConfig::from_value(&tree, "site", &Origin::Memory("t".into())).expect_err("too long");
        let text = err.to_string();
        assert!(text.starts_with("t (in memory): site.startup.timeout: "), "{text}");
        assert!(text.contains("longer than the longest bound allowed, 1 day"), "{text}");
    }

    #[test]
    fn durations_are_humantime_strings() {
        let tree = SiteConfig::merged(Some(&serde_json::json!({"shutdown": {"drain_timeout": "250ms"}})));
        let site = SiteConfig::from_value(&tree, "site", &Origin::Memory("t".into())).expect("valid");
        assert_eq!(site.shutdown.drain_timeout, Duration::from_millis(250));
    }
}
