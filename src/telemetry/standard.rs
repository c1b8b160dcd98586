//! What `site.telemetry` leaves unset, taken from the standard `OTEL_*`
//! variables as the OpenTelemetry specification defines them; a value
//! that cannot be read is an error naming its variable, never ignored.
//!
//! The exporter itself reads `OTEL_EXPORTER_OTLP_HEADERS` (and its
//! `TRACES_` form), and the resource `OTEL_RESOURCE_ATTRIBUTES`.

use micro_config::site::{OtlpProtocol, SamplingRatio, TelemetryConfig};

/// A variable whose value cannot be used.
///
/// ```
/// let bad = micro::telemetry::BadVariable {
///     name: "OTEL_EXPORTER_OTLP_PROTOCOL",
///     value: "http/json".into(),
///     expected: "`grpc` or `http/protobuf`",
/// };
/// assert_eq!(
///     bad.to_string(),
///     "telemetry: OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\" is not `grpc` or `http/protobuf`"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("telemetry: {name}={value:?} is not {expected}")]
pub struct BadVariable {
    /// The variable.
    pub name: &'static str,
    /// Its value.
    pub value: String,
    /// What it may be.
    pub expected: &'static str,
}

/// Where spans go and how, as the site and the variables say together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) endpoint: String,
    pub(crate) protocol: OtlpProtocol,
    /// The ratio the variables give, for when the site sets none (also
    /// after a reload: the variables do not change while running).
    pub(crate) ratio: SamplingRatio,
}

impl Resolved {
    /// The ratio in force: the site's, else the variables'.
    pub(crate) fn ratio(&self, site: &TelemetryConfig) -> SamplingRatio {
        site.sampling_ratio.unwrap_or(self.ratio)
    }
}

/// What `site` and the variables (looked up by `var`) say; `None`: nothing
/// is exported (no endpoint, or `OTEL_SDK_DISABLED=true`).
pub(crate) fn resolve(
    site: &TelemetryConfig,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<Resolved>, BadVariable> {
    let var = |name: &str| var(name).filter(|value| !value.trim().is_empty());
    if var("OTEL_SDK_DISABLED").is_some_and(|value| value.trim().eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    let protocol = match site.protocol {
        Some(protocol) => protocol,
        None => protocol(var)?,
    };
    let endpoint = if site.endpoint.is_empty() {
        if let Some(whole) = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            whole
        } else if let Some(base) = var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            match protocol {
                OtlpProtocol::Grpc => base,
                _ => format!("{}/v1/traces", base.trim_end_matches('/')),
            }
        } else {
            return Ok(None);
        }
    } else {
        site.endpoint.clone()
    };
    let ratio = sampler(var)?;
    Ok(Some(Resolved {
        endpoint,
        protocol,
        ratio,
    }))
}

/// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`,
/// else gRPC.
fn protocol(var: impl Fn(&str) -> Option<String>) -> Result<OtlpProtocol, BadVariable> {
    for name in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
        if let Some(value) = var(name) {
            return match value.trim() {
                "grpc" => Ok(OtlpProtocol::Grpc),
                "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
                _ => Err(BadVariable {
                    name,
                    value,
                    expected: "`grpc` or `http/protobuf`",
                }),
            };
        }
    }
    Ok(OtlpProtocol::Grpc)
}

/// The ratio `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` give.
/// Sampling here is always parent-based: a caller's decision is kept,
/// whichever sampler is named.
fn sampler(var: impl Fn(&str) -> Option<String>) -> Result<SamplingRatio, BadVariable> {
    const NAME: &str = "OTEL_TRACES_SAMPLER";
    let all = SamplingRatio::from_ppm(SamplingRatio::ONE_PPM);
    let named = var(NAME);
    match named.as_deref().map(str::trim) {
        Some("always_on" | "parentbased_always_on") => Ok(all),
        Some("always_off" | "parentbased_always_off") => Ok(SamplingRatio::from_ppm(0)),
        Some("traceidratio" | "parentbased_traceidratio") | None => match var("OTEL_TRACES_SAMPLER_ARG") {
            None => Ok(all),
            Some(value) => serde_json::from_str::<SamplingRatio>(value.trim()).map_err(|_| BadVariable {
                name: "OTEL_TRACES_SAMPLER_ARG",
                value,
                expected: "a ratio from 0 to 1",
            }),
        },
        Some(_) => Err(BadVariable {
            name: NAME,
            value: named.clone().unwrap_or_default(),
            expected: "one of always_on, always_off, traceidratio and their parentbased_ forms",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    fn resolved(site: &TelemetryConfig, vars: &[(&str, &str)]) -> Result<Option<Resolved>, BadVariable> {
        resolve(site, env(vars))
    }

    #[test]
    fn without_an_endpoint_anywhere_nothing_is_exported() {
        let site = micro_config::SiteConfig::default().telemetry;
        assert_eq!(resolved(&site, &[]), Ok(None));
        assert_eq!(resolved(&site, &[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]), Ok(None));
    }

    #[test]
    fn the_base_endpoint_gets_the_traces_path_over_http_and_the_whole_one_is_kept() {
        let site = micro_config::SiteConfig::default().telemetry;
        let base = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ];
        let http = resolved(&site, &base).expect("valid").expect("on");
        assert_eq!(http.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(http.protocol, OtlpProtocol::HttpProtobuf);

        let grpc = resolved(&site, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")]).expect("valid");
        assert_eq!(
            grpc.map(|on| (on.endpoint, on.protocol)),
            Some(("http://collector:4317".into(), OtlpProtocol::Grpc))
        );

        let whole = [
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/custom"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ];
        let whole = resolved(&site, &whole).expect("valid").expect("on");
        assert_eq!(
            (whole.endpoint.as_str(), whole.protocol),
            ("http://traces:4318/custom", OtlpProtocol::HttpProtobuf)
        );
    }

    #[test]
    fn what_the_site_sets_wins_over_the_variables() {
        let mut site = micro_config::SiteConfig::default().telemetry;
        site.endpoint = "http://site:4317".into();
        site.protocol = Some(OtlpProtocol::Grpc);
        site.sampling_ratio = Some(SamplingRatio::from_ppm(250_000));
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
        ];
        let on = resolved(&site, &vars).expect("valid").expect("on");
        assert_eq!(
            (on.endpoint.as_str(), on.protocol),
            ("http://site:4317", OtlpProtocol::Grpc)
        );
        assert_eq!(on.ratio(&site), SamplingRatio::from_ppm(250_000));
        site.sampling_ratio = None;
        assert_eq!(
            on.ratio(&site),
            SamplingRatio::from_ppm(500_000),
            "the variable's, once the site's is unset"
        );
    }

    #[test]
    fn the_sampler_variables_give_the_ratio_and_sdk_disabled_turns_export_off() {
        let mut site = micro_config::SiteConfig::default().telemetry;
        site.endpoint = "http://site:4317".into();
        let ratio = |vars: &[(&str, &str)]| resolved(&site, vars).map(|on| on.expect("on").ratio.ppm());
        assert_eq!(ratio(&[]), Ok(1_000_000));
        assert_eq!(ratio(&[("OTEL_TRACES_SAMPLER", "parentbased_always_off")]), Ok(0));
        assert_eq!(
            ratio(&[("OTEL_TRACES_SAMPLER", "always_on"), ("OTEL_TRACES_SAMPLER_ARG", "0.1")]),
            Ok(1_000_000)
        );
        assert_eq!(
            ratio(&[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.1")
            ]),
            Ok(100_000)
        );
        assert_eq!(ratio(&[("OTEL_TRACES_SAMPLER_ARG", "0.25")]), Ok(250_000));
        assert_eq!(resolved(&site, &[("OTEL_SDK_DISABLED", "TRUE")]), Ok(None));
        assert!(
            resolved(&site, &[("OTEL_SDK_DISABLED", "false")])
                .expect("valid")
                .is_some()
        );
    }

    #[test]
    fn a_variable_that_cannot_be_read_is_an_error_naming_it() {
        let mut site = micro_config::SiteConfig::default().telemetry;
        site.endpoint = "http://site:4317".into();
        let err = resolved(&site, &[("OTEL_TRACES_SAMPLER_ARG", "2")]).expect_err("out of range");
        assert_eq!(
            err.to_string(),
            "telemetry: OTEL_TRACES_SAMPLER_ARG=\"2\" is not a ratio from 0 to 1"
        );
        let err = resolved(&site, &[("OTEL_TRACES_SAMPLER", "jaeger_remote")]).expect_err("unknown");
        assert_eq!(err.name, "OTEL_TRACES_SAMPLER");
        let err = resolved(&site, &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).expect_err("unsupported");
        assert_eq!(
            err.to_string(),
            "telemetry: OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\" is not `grpc` or `http/protobuf`"
        );
    }
}
