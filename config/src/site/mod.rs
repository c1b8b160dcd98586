//! [`SiteConfig`]: the typed schema of the site document, whose defaults are
//! compiled in from `config/defaults/site.yaml`. The checks beyond types
//! (unknown keys with a hint, bounds) are in `check.rs`.

use std::sync::LazyLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod bytes;
mod check;
mod level;
mod limits;
mod telemetry;

use crate::{Origin, Value, value, yaml};

pub use bytes::ByteSize;
pub(crate) use check::join_path;
pub use telemetry::{OtlpProtocol, SamplingRatio, TelemetryConfig};

/// The text of `config/defaults/site.yaml`, compiled into every binary.
///
/// ```
/// use micro_config::site::{DEFAULTS_ORIGIN, DEFAULTS_YAML};
/// let tree = micro_config::yaml::parse(DEFAULTS_YAML, &DEFAULTS_ORIGIN).unwrap();
/// assert_eq!(tree["http"]["port"], 8000);
/// ```
pub const DEFAULTS_YAML: &str = include_str!("../../defaults/site.yaml");

/// Where [`DEFAULTS_YAML`] came from, for messages.
///
/// ```
/// let origin = micro_config::site::DEFAULTS_ORIGIN;
/// assert_eq!(origin.to_string(), "config/defaults/site.yaml (embedded)");
/// ```
pub const DEFAULTS_ORIGIN: Origin = Origin::Embedded("config/defaults/site.yaml");

/// The longest any bound in the site config may be.
///
/// ```
/// assert_eq!(micro_config::site::MAX_BOUND.as_secs(), 24 * 60 * 60);
/// ```
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
    /// The admin endpoint.
    pub admin: AdminConfig,
    /// Upgrades: the binary started again on the same sockets.
    pub upgrade: UpgradeConfig,
    /// Registered readiness checks.
    pub health: HealthConfig,
    /// Restarts of failed workers.
    pub supervision: SupervisionConfig,
    /// Bounds on talking to actors.
    pub actors: ActorsConfig,
    /// Bounds on loading configuration at reload.
    pub config: LoadingConfig,
    /// OpenTelemetry traces (the cargo feature `otel`).
    pub telemetry: TelemetryConfig,
}

/// `site.config`: loading the configuration itself.
///
/// ```
/// let config = micro_config::SiteConfig::default().config;
/// assert_eq!(config.load_timeout, std::time::Duration::from_secs(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LoadingConfig {
    /// Bound on loading a reload's candidate from the backend (every
    /// document, validation included); past it the reload is rejected and
    /// the configuration in force stays. Shorter than `actors.call_timeout`.
    #[serde(with = "humantime_serde")]
    pub load_timeout: Duration,
}

/// `site.upgrade`: the binary started again on the same sockets.
///
/// ```
/// let upgrade = micro_config::SiteConfig::default().upgrade;
/// assert_eq!(upgrade.timeout, std::time::Duration::from_secs(75));
/// assert_eq!(upgrade.state_max.bytes(), 1024 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UpgradeConfig {
    /// How long the running process waits for the new one to be ready;
    /// past it the new one is stopped and the running one serves on.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The largest state a service may hand to its successor.
    pub state_max: ByteSize,
}

/// `site.admin`.
///
/// ```
/// let admin = micro_config::SiteConfig::default().admin;
/// assert!(!admin.enabled && admin.token.is_empty());
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AdminConfig {
    /// Whether `POST /admin/reload` exists.
    pub enabled: bool,
    /// The bearer token every admin call must carry.
    pub token: String,
    /// Where the admin routes listen: empty for the service's own listener,
    /// or an `address:port` of their own (e.g. `127.0.0.1:9000`), so they
    /// can stay off the port a load balancer exposes.
    pub listen: String,
}

impl AdminConfig {
    /// The address the admin routes listen on by themselves; `None` when
    /// they are off or share the service's listener (`listen` empty). A
    /// `listen` that is not an address is refused when the config loads.
    ///
    /// ```
    /// let mut admin = micro_config::SiteConfig::default().admin;
    /// assert_eq!(admin.own_listener(), None);
    /// admin.enabled = true;
    /// admin.listen = "127.0.0.1:9000".into();
    /// assert_eq!(admin.own_listener(), Some("127.0.0.1:9000".parse().unwrap()));
    /// ```
    #[must_use]
    pub fn own_listener(&self) -> Option<std::net::SocketAddr> {
        self.enabled.then(|| self.listen.parse().ok()).flatten()
    }
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("enabled", &self.enabled)
            .field("token", &crate::dump::REDACTED)
            .field("listen", &self.listen)
            .finish()
    }
}

/// `site.health`.
///
/// ```
/// let health = micro_config::SiteConfig::default().health;
/// assert!(health.timeout < health.interval);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HealthConfig {
    /// How often each check runs.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// How long one run may take before it counts as failed.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

/// `site.supervision`.
///
/// ```
/// let supervision = micro_config::SiteConfig::default().supervision;
/// assert_eq!(supervision.max_restarts, 3);
/// assert!(supervision.backoff_initial <= supervision.backoff_max);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SupervisionConfig {
    /// The first restart's delay; each further one in the window doubles it.
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// The longest delay before a restart.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Restarts of one worker allowed within `restart_window`.
    pub max_restarts: u32,
    /// The window restarts are counted in.
    #[serde(with = "humantime_serde")]
    pub restart_window: Duration,
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
    /// Completed connections the kernel queues until accepted.
    pub backlog: u32,
    /// Longest a request may take; then it is answered 503.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Largest request body accepted; larger ones are answered 413.
    pub body_limit: ByteSize,
    /// `x-request-id` kept when sane, generated otherwise, echoed.
    pub request_id: bool,
    /// A DEBUG span per request with method, path and request id.
    pub trace: bool,
    /// A panicking handler answers 500 and the process lives on.
    pub catch_panic: bool,
    /// Request counts and latency by method, route and status on `/metrics`.
    pub metrics: bool,
    /// Requests past `request_timeout` are answered 503.
    pub timeout: bool,
    /// Bodies over `body_limit` are answered 413.
    pub limit_body: bool,
    /// Every request's headers are bounded by `header_read_timeout`, not
    /// only a new connection's first byte.
    pub header_timeout: bool,
    /// Requests handled at once; past it a request is answered 503 at once
    /// (0: no limit). Probes and `/metrics` are always admitted.
    pub max_in_flight: u32,
    /// `Retry-After` on a request refused for `max_in_flight`.
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
    /// Connections open at once; at it, accepting pauses (0: no limit).
    pub max_connections: u32,
    /// Readiness turns 503 while at least this percent of the requests of
    /// the last `unready_shed_window` was refused (0: off).
    pub unready_shed_percent: u32,
    /// The window `unready_shed_percent` is measured over.
    #[serde(with = "humantime_serde")]
    pub unready_shed_window: Duration,
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
    /// Line format: `auto` (by mode), `pretty` or `json`.
    pub format: LogFormatSetting,
    /// Lines that may wait for stderr; past it they are dropped and counted.
    pub buffer_lines: usize,
}

/// `site.logging.format`.
///
/// ```
/// use micro_config::site::LogFormatSetting;
/// assert_eq!(micro_config::SiteConfig::default().logging.format, LogFormatSetting::Auto);
/// let json: LogFormatSetting = serde_json::from_value(serde_json::json!("json")).unwrap();
/// assert_eq!(json, LogFormatSetting::Json);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormatSetting {
    /// Pretty in debug mode, JSON in production.
    Auto,
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
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
    /// Bound on the whole shutdown, all phases together.
    #[serde(with = "humantime_serde")]
    pub total: Duration,
    /// The pre-drain ends once no request has come for this long.
    #[serde(with = "humantime_serde")]
    pub quiet_period: Duration,
    /// The pre-drain ends at this bound, whatever the traffic.
    #[serde(with = "humantime_serde")]
    pub pre_drain_max: Duration,
    /// The least time between readiness turning 503 and the listener
    /// closing, whatever the traffic.
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
    /// Bound on writing out the queued log lines.
    #[serde(with = "humantime_serde")]
    pub flush_timeout: Duration,
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
}
