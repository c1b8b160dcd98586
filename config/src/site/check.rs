//! Typing a site tree, and the checks types alone cannot make: unknown keys
//! (with a "did you mean" hint) and bounds.

use std::time::Duration;

use super::{DEFAULTS_ORIGIN, MAX_BOUND, SiteConfig};
use crate::snapshot::segment_key;
use crate::{LoadError, Origin, Source, Value};

/// Finds where a key path (relative to the site tree) was set.
pub(crate) type Locate<'a> = &'a dyn Fn(&[&str]) -> Source;

impl SiteConfig {
    /// Types a site tree; errors name `origin` and the key path under `prefix`.
    ///
    /// ```
    /// use micro_config::{Origin, SiteConfig};
    /// let tree = SiteConfig::merged(Some(&serde_json::json!({"http": {"port": "eighty"}})));
    /// let err = SiteConfig::from_value(&tree, "site", &Origin::File("site.yaml".into())).unwrap_err();
    /// assert!(err.to_string().starts_with("site.yaml: site.http.port: invalid type"), "{err}");
    /// ```
    pub fn from_value(tree: &Value, prefix: &str, origin: &Origin) -> Result<Self, LoadError> {
        Self::from_tree(tree, prefix, &|_| Source::from(origin.clone()))
    }

    /// Types a site tree; `locate` says where each key path was set.
    pub(crate) fn from_tree(tree: &Value, prefix: &str, locate: Locate<'_>) -> Result<Self, LoadError> {
        let invalid = |keys: &[&str], message: String| LoadError::Invalid {
            at: locate(keys),
            path: join_path(prefix, &keys.join(".")),
            message,
        };
        check_known_keys(tree, &Self::defaults_value(), &mut Vec::new(), &invalid)?;
        let site: Self = serde_path_to_error::deserialize(tree).map_err(|err| {
            let keys: Vec<String> = err.path().iter().filter_map(segment_key).collect();
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            invalid(&keys, err.into_inner().to_string())
        })?;
        for (path, bound) in site.bounds() {
            let may_be_zero = matches!(path, "shutdown.pre_drain_delay" | "shutdown.drain_timeout");
            if bound.is_zero() && !may_be_zero {
                let keys: Vec<&str> = path.split('.').collect();
                return Err(invalid(
                    &keys,
                    "must be longer than 0s: nothing could finish within it".into(),
                ));
            }
            if bound > MAX_BOUND {
                let keys: Vec<&str> = path.split('.').collect();
                let bound = humantime_serde::re::humantime::format_duration(bound);
                return Err(invalid(
                    &keys,
                    format!("{bound} is longer than the longest bound allowed, 1 day"),
                ));
            }
        }
        if site.logging.buffer_lines == 0 {
            return Err(invalid(
                &["logging", "buffer_lines"],
                "must be at least 1: no line could be written".into(),
            ));
        }
        if site.admin.enabled && site.admin.token.len() < 16 {
            return Err(invalid(
                &["admin", "token"],
                "must be at least 16 characters when admin.enabled is true".into(),
            ));
        }
        if !site.admin.listen.is_empty() && site.admin.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                &["admin", "listen"],
                format!(
                    "`{}` is not an address:port such as 127.0.0.1:9000 (empty: the service's own listener)",
                    site.admin.listen
                ),
            ));
        }
        if site.http.body_limit.bytes() == 0 {
            return Err(invalid(&["http", "body_limit"], "must be more than 0 bytes".into()));
        }
        if site.shutdown.total < site.shutdown.pre_drain_delay {
            return Err(invalid(
                &["shutdown", "total"],
                "is shorter than shutdown.pre_drain_delay: the drain could never start".into(),
            ));
        }
        Ok(site)
    }

    /// Every bound, with its key path under the site document.
    fn bounds(&self) -> [(&'static str, Duration); 16] {
        [
            ("http.header_read_timeout", self.http.header_read_timeout),
            ("http.request_timeout", self.http.request_timeout),
            ("startup.timeout", self.startup.timeout),
            ("startup.init_timeout", self.startup.init_timeout),
            ("shutdown.total", self.shutdown.total),
            ("shutdown.pre_drain_delay", self.shutdown.pre_drain_delay),
            ("shutdown.drain_timeout", self.shutdown.drain_timeout),
            ("shutdown.finish_timeout", self.shutdown.finish_timeout),
            ("shutdown.actor_stop_timeout", self.shutdown.actor_stop_timeout),
            ("shutdown.flush_timeout", self.shutdown.flush_timeout),
            ("actors.call_timeout", self.actors.call_timeout),
            ("health.interval", self.health.interval),
            ("health.timeout", self.health.timeout),
            ("supervision.backoff_initial", self.supervision.backoff_initial),
            ("supervision.backoff_max", self.supervision.backoff_max),
            ("supervision.restart_window", self.supervision.restart_window),
        ]
    }
}

/// Every map key in `tree` must exist in `known` (the defaults, which name
/// every key); an unknown one is reported with the closest known sibling.
fn check_known_keys<'t>(
    tree: &'t Value,
    known: &Value,
    at: &mut Vec<&'t str>,
    invalid: &dyn Fn(&[&str], String) -> LoadError,
) -> Result<(), LoadError> {
    let (Value::Object(map), Value::Object(known)) = (tree, known) else {
        return Ok(());
    };
    for (key, value) in map {
        at.push(key);
        match known.get(key) {
            Some(known_value) => check_known_keys(value, known_value, at, invalid)?,
            None => {
                let hint = closest(key, known.keys().map(String::as_str))
                    .map(|k| format!("; did you mean `{k}`?"))
                    .unwrap_or_default();
                let mut names: Vec<&str> = known.keys().map(String::as_str).collect();
                names.sort_unstable();
                let message = format!("unknown key `{key}`{hint} (known here: {})", names.join(", "));
                return Err(invalid(at, message));
            }
        }
        at.pop();
    }
    Ok(())
}

/// The known name most like `key`, if any is close enough to be a typo.
fn closest<'k>(key: &str, known: impl Iterator<Item = &'k str>) -> Option<&'k str> {
    known
        .map(|k| (strsim::jaro_winkler(key, k), k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// Joins a document prefix and a dotted path (empty or `.` means the root).
pub(crate) fn join_path(prefix: &str, path: &str) -> String {
    if path.is_empty() || path == "." {
        prefix.to_owned()
    } else {
        format!("{prefix}.{path}")
    }
}

impl Default for SiteConfig {
    fn default() -> Self {
        Self::from_value(&Self::defaults_value(), "site", &DEFAULTS_ORIGIN)
            .unwrap_or_else(|err| panic!("embedded site defaults are invalid: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::DEFAULTS_YAML;
    use super::*;
    use crate::yaml;

    fn type_site(overrides: &Value) -> Result<SiteConfig, LoadError> {
        let tree = SiteConfig::merged(Some(overrides));
        SiteConfig::from_value(&tree, "site", &Origin::Memory("t".into()))
    }

    #[test]
    fn embedded_defaults_parse_and_type() {
        yaml::parse(DEFAULTS_YAML, &DEFAULTS_ORIGIN).expect("defaults parse");
        let site = SiteConfig::default();
        assert!(site.startup.init_timeout <= site.startup.timeout);
        assert!(site.shutdown.drain_timeout + site.shutdown.finish_timeout <= site.shutdown.total);
    }

    #[test]
    fn an_unknown_key_names_its_path_and_the_key_it_resembles() {
        let err = type_site(&serde_json::json!({"http": {"prot": 1}})).expect_err("unknown");
        let text = err.to_string();
        assert!(
            text.starts_with("t (in memory): site.http.prot: unknown key `prot`; did you mean `port`?"),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_key_unlike_any_known_one_gets_no_hint() {
        let err = type_site(&serde_json::json!({"zzzzzz": 1})).expect_err("unknown");
        assert!(!err.to_string().contains("did you mean"), "{err}");
        assert!(
            err.to_string()
                .contains("known here: actors, admin, health, http, logging, shutdown, startup, supervision"),
            "{err}"
        );
    }

    #[test]
    fn a_bound_longer_than_a_day_is_rejected_before_it_can_overflow() {
        let err = type_site(&serde_json::json!({"startup": {"timeout": "500000000000y"}})).expect_err("too long");
        let text = err.to_string();
        assert!(text.starts_with("t (in memory): site.startup.timeout: "), "{text}");
        assert!(text.contains("longer than the longest bound allowed, 1 day"), "{text}");
    }

    #[test]
    fn durations_are_humantime_strings_and_sizes_take_units() {
        let site =
            type_site(&serde_json::json!({"shutdown": {"drain_timeout": "250ms"}, "http": {"body_limit": "1 MiB"}}))
                .expect("valid");
        assert_eq!(site.shutdown.drain_timeout, Duration::from_millis(250));
        assert_eq!(site.http.body_limit.bytes(), 1 << 20);
    }

    #[test]
    fn a_bad_size_says_what_a_size_looks_like() {
        let err = type_site(&serde_json::json!({"http": {"body_limit": "lots"}})).expect_err("bad size");
        assert!(
            err.to_string().contains("site.http.body_limit: `lots` is not a size"),
            "{err}"
        );
    }
}
