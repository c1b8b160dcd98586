//! OpenTelemetry traces (cargo feature `otel`): the tracer provider built
//! from `site.telemetry` and the standard `OTEL_*` variables, exporting
//! over OTLP in batches off the request path.
//!
//! A span that ends goes into a bounded queue and nothing else happens on
//! the request path; when the queue is full (a collector down or slow),
//! the span is dropped and counted in `micro_otel_spans_dropped_total`, as
//! is a batch whose export failed or ran past `telemetry.export_timeout`.
//! The sampling ratio is read at each root span, so a reload changes it.
//!
//! A handler carries its trace into the calls it makes with [`inject`],
//! [`headers`] or, for a tonic client, the interceptor [`Propagate`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use micro_config::site::{OtlpProtocol, SamplingRatio, TelemetryConfig};
use opentelemetry::trace::{Link, SpanKind, TraceId, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SamplingResult, SdkTracerProvider, ShouldSample, Span, SpanData,
    SpanExporter, SpanProcessor,
};

mod layer;
mod propagation;
mod standard;

pub(crate) use layer::layer;

pub use propagation::{Propagate, headers, inject};
pub use standard::BadVariable;
use standard::Resolved;

/// The series of spans dropped: the queue was full, or their export failed.
///
/// ```
/// assert_eq!(micro::telemetry::DROPPED, "micro_otel_spans_dropped_total");
/// ```
pub const DROPPED: &str = "micro_otel_spans_dropped_total";

/// Why telemetry could not start (the start ends with exit 78).
///
/// ```
/// use micro::telemetry::TelemetryError;
/// let err = TelemetryError::Header { key: "bad key".into(), what: "name" };
/// assert_eq!(err.to_string(), "site.telemetry.headers.bad key: not a valid header name");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The exporter could not be built (an endpoint that is no URL, say).
    #[error("telemetry: cannot build the {protocol} exporter for `{endpoint}`: {source}")]
    Exporter {
        /// `site.telemetry.protocol`.
        protocol: OtlpProtocol,
        /// The endpoint tried.
        endpoint: String,
        /// What the exporter said.
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// A standard `OTEL_*` variable micro reads cannot be used.
    #[error(transparent)]
    Variable(#[from] BadVariable),
    /// A header of `site.telemetry.headers` cannot be sent.
    #[error("site.telemetry.headers.{key}: not a valid header {what}")]
    Header {
        /// The header's name, as configured.
        key: String,
        /// `name` or `value`.
        what: &'static str,
    },
}

/// The running telemetry: its provider, and the ratio a reload may change.
#[derive(Debug, Clone)]
pub(crate) struct Telemetry {
    provider: SdkTracerProvider,
    ratio: Arc<AtomicU32>,
    resolved: Resolved,
}

impl Telemetry {
    /// Builds the provider for the service `name` at `version`; `None`
    /// when no endpoint is set, or `OTEL_SDK_DISABLED=true`. Must run on
    /// the runtime (the gRPC exporter spawns its connection's task there).
    pub(crate) fn start(site: &TelemetryConfig, name: &str, version: &str) -> Result<Option<Self>, TelemetryError> {
        // Until this run's provider is built, no earlier run's tracer is used.
        layer::stop_exporting();
        let Some(resolved) = standard::resolve(site, |name| std::env::var(name).ok())? else {
            return Ok(None);
        };
        check_headers(site)?;
        let gate = Arc::new(Gate::new(site.queue_size));
        let exporter = exporter(site, &resolved).map_err(|source| TelemetryError::Exporter {
            protocol: resolved.protocol,
            endpoint: resolved.endpoint.clone(),
            source,
        })?;
        let queue = usize::try_from(site.queue_size).unwrap_or(usize::MAX);
        let batch = BatchConfigBuilder::default()
            .with_max_queue_size(queue)
            .with_max_export_batch_size(queue.min(512))
            .with_scheduled_delay(site.batch_delay)
            .build();
        let processor = BatchSpanProcessor::builder(Counted {
            inner: exporter,
            gate: Arc::clone(&gate),
        })
        .with_batch_config(batch)
        .build();
        let ratio = Arc::new(AtomicU32::new(resolved.ratio(site).ppm()));
        let mut attributes: Vec<KeyValue> = site
            .resource
            .iter()
            .map(|(key, value)| KeyValue::new(key.clone(), value.clone()))
            .collect();
        attributes.push(KeyValue::new("service.version", version.to_owned()));
        let provider = SdkTracerProvider::builder()
            .with_span_processor(Gated { inner: processor, gate })
            .with_sampler(Sampler::ParentBased(Box::new(Ratio(Arc::clone(&ratio)))))
            .with_resource(
                Resource::builder()
                    .with_attributes(attributes)
                    .with_service_name(name.to_owned())
                    .build(),
            )
            .build();
        layer::export_with(provider.tracer("micro"));
        Ok(Some(Self {
            provider,
            ratio,
            resolved,
        }))
    }

    /// Where spans go, how, and the share of the traces starting here
    /// recorded at first: for the line that says so at startup.
    pub(crate) fn describe(&self) -> String {
        let ratio = SamplingRatio::from_ppm(self.ratio.load(Ordering::Relaxed));
        format!(
            "telemetry: exporting spans to {} over {}, recording {ratio} of the traces that start here",
            self.resolved.endpoint, self.resolved.protocol
        )
    }

    /// From now on, root spans are recorded at the ratio `site` says
    /// (a reload).
    pub(crate) fn set_ratio(&self, site: &TelemetryConfig) {
        self.ratio.store(self.resolved.ratio(site).ppm(), Ordering::Relaxed);
    }

    /// Exports what is queued and stops, within `bound`: a collector that
    /// is down or hangs costs the stop `bound` at most.
    pub(crate) async fn flush(&self, bound: Duration) -> Result<(), String> {
        layer::stop_exporting();
        let provider = self.provider.clone();
        let flushing = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(bound));
        match tokio::time::timeout(bound + Duration::from_millis(100), flushing).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(err))) => Err(err.to_string()),
            Ok(Err(err)) => Err(format!("the flush panicked: {err}")),
            Err(_) => Err(format!("not done within {}", humantime::format_duration(bound))),
        }
    }
}

/// Every configured header can be sent: a valid name and value.
fn check_headers(site: &TelemetryConfig) -> Result<(), TelemetryError> {
    for (key, value) in &site.headers {
        let bad = |what| TelemetryError::Header { key: key.clone(), what };
        tonic::metadata::MetadataKey::<tonic::metadata::Ascii>::from_bytes(key.as_bytes()).map_err(|_| bad("name"))?;
        tonic::metadata::MetadataValue::<tonic::metadata::Ascii>::try_from(value.as_str()).map_err(|_| bad("value"))?;
    }
    Ok(())
}

/// The exporter `site` and the variables ask for.
fn exporter(
    site: &TelemetryConfig,
    resolved: &Resolved,
) -> Result<opentelemetry_otlp::SpanExporter, opentelemetry_otlp::ExporterBuildError> {
    let endpoint = resolved.endpoint.as_str();
    match resolved.protocol {
        OtlpProtocol::Grpc => {
            let mut metadata = tonic::metadata::MetadataMap::new();
            for (key, value) in &site.headers {
                if let (Ok(key), Ok(value)) = (tonic::metadata::MetadataKey::from_bytes(key.as_bytes()), value.parse())
                {
                    metadata.insert(key, value);
                }
            }
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .with_timeout(site.export_timeout)
                .with_metadata(metadata)
                .build()
        }
        _ => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_timeout(site.export_timeout)
            .with_headers(site.headers.clone().into_iter().collect())
            .build(),
    }
}

/// Spans between their end and their export's end, against the queue's
/// size: what the batch processor would drop is dropped (and counted) here.
#[derive(Debug)]
struct Gate {
    pending: AtomicUsize,
    size: usize,
}

impl Gate {
    fn new(size: u64) -> Self {
        Self {
            pending: AtomicUsize::new(0),
            size: usize::try_from(size).unwrap_or(usize::MAX),
        }
    }

    /// Takes a place for one span; `false` (and counted dropped) when full.
    fn enter(&self) -> bool {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= self.size {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!(DROPPED).increment(1);
            return false;
        }
        true
    }

    /// `spans` left the queue, exported or not.
    fn left(&self, spans: usize) {
        self.pending.fetch_sub(spans, Ordering::AcqRel);
    }
}

/// The batch processor behind the [`Gate`].
#[derive(Debug)]
struct Gated {
    inner: BatchSpanProcessor,
    gate: Arc<Gate>,
}

impl SpanProcessor for Gated {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if self.gate.enter() {
            self.inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The exporter, telling the [`Gate`] what left the queue and counting a
/// batch that failed as dropped.
#[derive(Debug)]
struct Counted<E> {
    inner: E,
    gate: Arc<Gate>,
}

impl<E: SpanExporter> SpanExporter for Counted<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let spans = batch.len();
        let gate = Arc::clone(&self.gate);
        let exported = self.inner.export(batch);
        async move {
            let result = exported.await;
            gate.left(spans);
            if result.is_err() {
                metrics::counter!(DROPPED).increment(spans as u64);
            }
            result
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Trace-id-ratio sampling at a ratio read at each decision.
#[derive(Debug, Clone)]
struct Ratio(Arc<AtomicU32>);

impl ShouldSample for Ratio {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let ratio = SamplingRatio::from_ppm(self.0.load(Ordering::Relaxed)).get();
        Sampler::TraceIdRatioBased(ratio).should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_that_cannot_be_sent_is_an_error_naming_its_key() {
        let mut site = micro_config::SiteConfig::default().telemetry;
        site.headers.insert("x-api-key".into(), "s3cret".into());
        assert!(check_headers(&site).is_ok());
        site.headers.insert("bad key".into(), "v".into());
        let err = check_headers(&site).expect_err("a space in a name");
        assert_eq!(
            err.to_string(),
            "site.telemetry.headers.bad key: not a valid header name"
        );
        site.headers.remove("bad key");
        site.headers.insert("x-line".into(), "a\nb".into());
        let err = check_headers(&site).expect_err("a newline in a value");
        assert_eq!(
            err.to_string(),
            "site.telemetry.headers.x-line: not a valid header value"
        );
    }
}
