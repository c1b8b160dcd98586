//! Typing a site tree, and the checks types alone cannot make: unknown keys
//! (with a "did you mean" hint), the range of every number (`limits.rs`),
//! log levels (`level.rs`) and the values that must agree with each other.

use super::limits::{LIMITS, limit_of};
use super::{DEFAULTS_ORIGIN, SiteConfig, level};
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
            // A number too large for its type is out of range as well.
            let range = limit_of(&keys.join("."))
                .map(|limit| format!(" ({})", limit.allowed()))
                .unwrap_or_default();
            invalid(&keys, format!("{}{range}", err.into_inner()))
        })?;
        for limit in LIMITS {
            if let Some(message) = limit.check(&site) {
                let keys: Vec<&str> = limit.path.split('.').collect();
                return Err(invalid(&keys, message));
            }
        }
        level::check(&site.logging.level).map_err(|message| invalid(&["logging", "level"], message))?;
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
        if site.shutdown.total < site.shutdown.pre_drain_delay {
            return Err(invalid(
                &["shutdown", "total"],
                "is shorter than shutdown.pre_drain_delay: the drain could never start".into(),
            ));
        }
        if site.config.load_timeout >= site.actors.call_timeout {
            return Err(invalid(
                &["config", "load_timeout"],
                "must be shorter than actors.call_timeout: a reload's caller waits that long for its answer".into(),
            ));
        }
        Ok(site)
    }
}

/// Every map key in `tree` must exist in `known` (the defaults, which name
/// every key), unless the default is an empty map; an unknown one is
/// reported with the closest known sibling.
fn check_known_keys<'t>(
    tree: &'t Value,
    known: &Value,
    at: &mut Vec<&'t str>,
    invalid: &dyn Fn(&[&str], String) -> LoadError,
) -> Result<(), LoadError> {
    let (Value::Object(map), Value::Object(known)) = (tree, known) else {
        return Ok(());
    };
    // A map whose default is empty (telemetry headers, resource
    // attributes) takes the service's own keys.
    if known.is_empty() {
        return Ok(());
    }
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
                .contains("known here: actors, admin, config, health, http, logging, shutdown, startup, supervision"),
            "{err}"
        );
    }

    #[test]
    fn a_bound_longer_than_a_day_is_rejected_before_it_can_overflow() {
        let err = type_site(&serde_json::json!({"startup": {"timeout": "500000000000y"}})).expect_err("too long");
        let text = err.to_string();
        assert!(text.starts_with("t (in memory): site.startup.timeout: "), "{text}");
        assert!(text.contains("out of range (allowed: 1ms to 1day)"), "{text}");
    }

    #[test]
    fn a_number_out_of_range_names_its_key_and_the_range() {
        for (overrides, path, range) in [
            (
                serde_json::json!({"logging": {"buffer_lines": 100_000_000_000_u64}}),
                "site.logging.buffer_lines",
                "allowed: 1 to 1000000",
            ),
            (
                serde_json::json!({"logging": {"buffer_lines": u64::MAX}}),
                "site.logging.buffer_lines",
                "allowed: 1 to 1000000",
            ),
            (
                serde_json::json!({"logging": {"buffer_lines": 0}}),
                "site.logging.buffer_lines",
                "allowed: 1 to 1000000",
            ),
            (
                serde_json::json!({"http": {"backlog": 4_000_000_000_u32}}),
                "site.http.backlog",
                "allowed: 1 to 65535",
            ),
            (
                serde_json::json!({"http": {"body_limit": "2GiB"}}),
                "site.http.body_limit",
                "allowed: 1B to 1GiB",
            ),
            (
                serde_json::json!({"http": {"request_timeout": "0s"}}),
                "site.http.request_timeout",
                "allowed: 1ms to 1day",
            ),
            (
                serde_json::json!({"supervision": {"max_restarts": 1_000_000}}),
                "site.supervision.max_restarts",
                "allowed: 0 to 10000",
            ),
            (
                serde_json::json!({"config": {"load_timeout": "1h"}}),
                "site.config.load_timeout",
                "allowed: 10ms to 10m",
            ),
        ] {
            let text = type_site(&overrides).expect_err("out of range").to_string();
            assert!(text.starts_with(&format!("t (in memory): {path}: ")), "{text}");
            assert!(text.contains(&format!("is out of range ({range})")), "{text}");
        }
    }

    #[test]
    fn a_number_too_large_for_its_type_names_the_range_too() {
        let text = type_site(&serde_json::json!({"http": {"port": 70000}}))
            .expect_err("too large")
            .to_string();
        assert!(text.starts_with("t (in memory): site.http.port: "), "{text}");
        assert!(text.ends_with("(allowed: 0 to 65535)"), "{text}");
    }

    #[test]
    fn a_load_timeout_not_shorter_than_the_call_timeout_is_refused() {
        let overrides = serde_json::json!({"config": {"load_timeout": "5s"}, "actors": {"call_timeout": "5s"}});
        let text = type_site(&overrides).expect_err("too long").to_string();
        assert!(
            text.starts_with("t (in memory): site.config.load_timeout: must be shorter than actors.call_timeout"),
            "{text}"
        );
    }

    #[test]
    fn a_log_level_that_is_a_bare_word_but_no_level_is_refused() {
        let text = type_site(&serde_json::json!({"logging": {"level": "loudest"}}))
            .expect_err("no level")
            .to_string();
        assert!(
            text.starts_with("t (in memory): site.logging.level: `loudest` is not a level; did you mean `"),
            "{text}"
        );
        type_site(&serde_json::json!({"logging": {"level": "INFO,loudest=debug"}})).expect("a target with a level");
    }

    #[test]
    fn durations_are_humantime_strings_and_sizes_take_units() {
        let site =
            type_site(&serde_json::json!({"shutdown": {"drain_timeout": "250ms"}, "http": {"body_limit": "1 MiB"}}))
                .expect("valid");
        assert_eq!(site.shutdown.drain_timeout, std::time::Duration::from_millis(250));
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
