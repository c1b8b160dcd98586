//! `site.telemetry`: OpenTelemetry traces exported over OTLP (the cargo
//! feature `otel` of micro). What is left empty here is taken from the
//! standard `OTEL_*` variables, as the OpenTelemetry SDK reads them.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `site.telemetry`.
///
/// ```
/// use micro_config::site::{OtlpProtocol, SamplingRatio};
/// let telemetry = micro_config::SiteConfig::default().telemetry;
/// assert!(telemetry.endpoint.is_empty());
/// assert_eq!(telemetry.protocol, None);
/// assert_eq!(telemetry.sampling_ratio, None);
/// assert_eq!(SamplingRatio::from_ppm(250_000).to_string(), "0.25");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TelemetryConfig {
    /// Where spans are sent: `http://collector:4317` over gRPC, or
    /// `http://collector:4318/v1/traces` over HTTP (the whole URL). Empty:
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the whole URL), else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (the collector's base URL, to which
    /// HTTP adds `/v1/traces`); with neither, nothing is exported.
    pub endpoint: String,
    /// `grpc` or `http/protobuf`. Unset (`~`):
    /// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`, else `grpc`.
    pub protocol: Option<OtlpProtocol>,
    /// The share of the traces that start here which are recorded, 0 to 1;
    /// a request whose caller recorded its trace is recorded whatever this
    /// says (parent-based). Unset (`~`): what `OTEL_TRACES_SAMPLER` and
    /// `OTEL_TRACES_SAMPLER_ARG` say, else 1.
    /// A reload may change it.
    pub sampling_ratio: Option<SamplingRatio>,
    /// Headers sent with every export (an API key), besides
    /// `OTEL_EXPORTER_OTLP_HEADERS`.
    pub headers: BTreeMap<String, String>,
    /// Resource attributes besides `service.name` and `service.version`
    /// (which are the service's), and `OTEL_RESOURCE_ATTRIBUTES`.
    pub resource: BTreeMap<String, String>,
    /// Bound on one export; past it the batch is dropped and counted.
    #[serde(with = "humantime_serde")]
    pub export_timeout: Duration,
    /// Spans held for export; when full, new spans are dropped and counted
    /// (the request path never waits for the collector).
    pub queue_size: u64,
    /// How long finished spans wait to be exported together.
    #[serde(with = "humantime_serde")]
    pub batch_delay: Duration,
}

/// How spans travel to the collector.
///
/// ```
/// use micro_config::site::OtlpProtocol;
/// assert_eq!(OtlpProtocol::HttpProtobuf.to_string(), "http/protobuf");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// OTLP over gRPC (port 4317 by convention).
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP over HTTP with protobuf bodies (port 4318, path `/v1/traces`).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

impl fmt::Display for OtlpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        })
    }
}

/// A sampling ratio between 0 and 1, kept in parts per million so that
/// configurations compare exactly. Written as a number: `0.25`.
///
/// ```
/// use micro_config::site::SamplingRatio;
/// let ratio = SamplingRatio::from_ppm(1_000);
/// assert_eq!(ratio.get(), 0.001);
/// assert_eq!(ratio.to_string(), "0.001");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SamplingRatio(u32);

impl SamplingRatio {
    /// Parts per million in one.
    pub const ONE_PPM: u32 = 1_000_000;

    /// `ppm` parts per million, at most one.
    ///
    /// ```
    /// assert_eq!(micro_config::site::SamplingRatio::from_ppm(5_000_000).get(), 1.0);
    /// ```
    #[must_use]
    pub fn from_ppm(ppm: u32) -> Self {
        Self(ppm.min(Self::ONE_PPM))
    }

    /// The ratio as the OpenTelemetry sampler takes it.
    ///
    /// ```
    /// assert_eq!(micro_config::site::SamplingRatio::from_ppm(500_000).get(), 0.5);
    /// ```
    #[must_use]
    pub fn get(self) -> f64 {
        f64::from(self.0) / f64::from(Self::ONE_PPM)
    }

    /// Parts per million.
    ///
    /// ```
    /// assert_eq!(micro_config::site::SamplingRatio::from_ppm(42).ppm(), 42);
    /// ```
    #[must_use]
    pub fn ppm(self) -> u32 {
        self.0
    }
}

impl fmt::Display for SamplingRatio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.get())
    }
}

impl Serialize for SamplingRatio {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.get())
    }
}

impl<'de> Deserialize<'de> for SamplingRatio {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let ratio = f64::deserialize(deserializer)?;
        if !(0.0..=1.0).contains(&ratio) {
            return Err(serde::de::Error::custom(format!(
                "{ratio} is out of range (allowed: 0 to 1)"
            )));
        }
        // In range, so the product fits: rounded to the nearest part per million.
        let ppm = (ratio * f64::from(Self::ONE_PPM)).round();
        Ok(Self::from_ppm(u32::try_from(ppm as u64).unwrap_or(Self::ONE_PPM)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Origin, SiteConfig};

    /// The site document with `telemetry` set to `section`, typed.
    fn site(section: &serde_json::Value) -> Result<SiteConfig, String> {
        let tree = SiteConfig::merged(Some(&serde_json::json!({ "telemetry": section.clone() })));
        SiteConfig::from_value(&tree, "site", &Origin::File("site.yaml".into())).map_err(|err| err.to_string())
    }

    #[test]
    fn headers_and_resource_attributes_take_the_services_own_keys() {
        let site = site(&serde_json::json!({
            "endpoint": "http://collector:4318/v1/traces",
            "protocol": "http/protobuf",
            "sampling_ratio": 0.25,
            "headers": {"x-api-key": "secret"},
            "resource": {"deployment.environment": "staging"},
        }))
        .expect("valid");
        let telemetry = site.telemetry;
        assert_eq!(telemetry.protocol, Some(OtlpProtocol::HttpProtobuf));
        assert_eq!(telemetry.sampling_ratio, Some(SamplingRatio::from_ppm(250_000)));
        assert_eq!(telemetry.headers["x-api-key"], "secret");
        assert_eq!(telemetry.resource["deployment.environment"], "staging");
    }

    #[test]
    fn a_bad_telemetry_value_is_an_error_naming_its_key() {
        let err = site(&serde_json::json!({"sampling_ratio": 2})).expect_err("out of range");
        assert!(
            err.starts_with("site.yaml: site.telemetry.sampling_ratio: 2 is out of range (allowed: 0 to 1)"),
            "{err}"
        );
        let err = site(&serde_json::json!({"protocol": "http"})).expect_err("unknown protocol");
        assert!(
            err.starts_with("site.yaml: site.telemetry.protocol: unknown variant `http`"),
            "{err}"
        );
        let err = site(&serde_json::json!({"queue_size": 0})).expect_err("out of range");
        assert!(
            err.contains("site.telemetry.queue_size: 0 is out of range (allowed: 1 to 1000000)"),
            "{err}"
        );
        let err = site(&serde_json::json!({"endpiont": "x"})).expect_err("a typo");
        assert!(
            err.contains("unknown key `endpiont`; did you mean `endpoint`?"),
            "{err}"
        );
        let err = site(&serde_json::json!({"headers": {"x-retries": 3}})).expect_err("not text");
        assert!(err.contains("site.telemetry.headers.x-retries: invalid type"), "{err}");
    }

    fn ratio(text: &str) -> Result<SamplingRatio, String> {
        serde_json::from_str::<SamplingRatio>(text).map_err(|err| err.to_string())
    }

    #[test]
    fn a_ratio_is_read_between_zero_and_one_to_the_part_per_million() {
        assert_eq!(ratio("0").map(SamplingRatio::ppm), Ok(0));
        assert_eq!(ratio("1").map(SamplingRatio::ppm), Ok(1_000_000));
        assert_eq!(ratio("0.1").map(SamplingRatio::ppm), Ok(100_000));
        assert_eq!(ratio("0.0000004").map(SamplingRatio::ppm), Ok(0));
        assert!(ratio("1.5").is_err_and(|err| err.contains("1.5 is out of range (allowed: 0 to 1)")));
        assert!(ratio("-0.1").is_err_and(|err| err.contains("out of range")));
        assert!(ratio("\"half\"").is_err());
    }
}
