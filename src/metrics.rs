//! `/metrics`: the process's Prometheus recorder and the series micro
//! records besides the request metrics of the HTTP layer.
//!
//! | series | type | labels |
//! |---|---|---|
//! | `http_requests_total` | counter | method, route, status |
//! | `http_request_duration_seconds` | histogram | method, route, status |
//! | `http_requests_in_flight` | gauge | |
//! | `grpc_requests_total` (feature `grpc`) | counter | service, code |
//! | `micro_build_info` | gauge (1) | service, version |
//! | `micro_config_generation` | gauge | |
//! | `micro_config_reloads_total` | counter | outcome (`ok`, `unchanged`, `rejected`) |
//! | `micro_restarts_total` | counter | child |
//! | `micro_phase_duration_seconds` | gauge | stage (`startup`, `shutdown`), phase |
//! | `micro_uptime_seconds` | gauge | |
//! | `micro_log_lines_dropped_total` | counter | |
//!
//! One recorder per process, installed by the first service that runs;
//! when the embedding program installed its own first, micro records into
//! that one and serves no `/metrics` of its own. While micro's recorder is
//! the one in place, `http_request_duration_seconds` is kept by the HTTP
//! layer itself (fixed buckets, atomic counts, no sample stored) and
//! rendered after the recorder's text.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use micro_actors::http::metrics::{BUCKETS, Durations};

/// How often recorded histogram samples are folded in when nobody scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

static RECORDER: OnceLock<Result<(PrometheusHandle, &'static Durations), String>> = OnceLock::new();

/// Starts installing the recorder on a thread of its own. Building it
/// calibrates the clock its histograms use (quanta spins for at least
/// 500 rounds of 1 µs, at most 200 ms), so the run starts it first and
/// joins it in [`joined`] once configuration and logging are up: the
/// calibration overlaps them instead of delaying readiness.
pub(crate) fn install_in_background() {
    if RECORDER.get().is_some() {
        return;
    }
    // Without a thread to spare, `joined` installs it in place.
    let _ = std::thread::Builder::new()
        .name("micro-metrics".into())
        .spawn(|| RECORDER.get_or_init(install).is_ok());
}

/// Waits for the recorder started by [`install_in_background`] (or installs
/// it now), records `micro_build_info`, and logs once why there is no
/// `/metrics` when another recorder was installed first. Called once
/// logging is up and before any child that records metrics starts.
pub(crate) fn joined(service: &str, version: &str) {
    static REPORTED: std::sync::Once = std::sync::Once::new();
    match RECORDER.get_or_init(install) {
        Ok(_) => build_info(service, version),
        Err(err) => REPORTED.call_once(|| {
            tracing::warn!(target: "micro", "no /metrics: {err}; micro records into the recorder in place");
        }),
    }
}

/// The recorder micro installed (waiting for it while it is being
/// installed); `None` when another one was installed first.
pub(crate) fn recorder() -> Option<&'static PrometheusHandle> {
    installed().map(|(handle, _)| handle)
}

fn installed() -> Option<&'static (PrometheusHandle, &'static Durations)> {
    RECORDER.get_or_init(install).as_ref().ok()
}

/// Installs micro's recorder; request durations are then kept by micro
/// itself (fixed buckets, atomic counts) and rendered with its text.
fn install() -> Result<(PrometheusHandle, &'static Durations), String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), BUCKETS)
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|err| err.to_string())?;
    describe();
    upkeep(handle.clone());
    Ok((handle, micro_actors::http::metrics::keep_durations()))
}

/// The `# HELP` lines.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge};
    describe_counter!(
        "http_requests_total",
        "Requests answered, by method, route pattern and status."
    );
    describe_gauge!("http_requests_in_flight", "Requests being handled now.");
    describe_counter!(
        "http_requests_shed_total",
        "Requests refused with 503 at once, by reason: max_in_flight (site.http.max_in_flight)."
    );
    describe_gauge!("http_connections_open", "Connections open now, on every listener.");
    describe_counter!(
        "micro_accept_pauses_total",
        "Times accepting paused, by reason: max_connections (site.http.max_connections), file_limit (out of file descriptors), error."
    );
    #[cfg(feature = "grpc")]
    describe_counter!(
        crate::grpc::GRPC_REQUESTS,
        "gRPC calls ended, by service and gRPC status code (CANCELLED: ended without a status)."
    );
    describe_gauge!(
        "micro_build_info",
        "Always 1; the labels name the service and its version."
    );
    describe_gauge!("micro_config_generation", "Generation of the configuration in force.");
    describe_counter!(
        "micro_config_reloads_total",
        "Configuration reloads, by outcome: ok (a new generation), unchanged, rejected."
    );
    describe_counter!("micro_restarts_total", "Restarts of a supervised child, by child.");
    describe_counter!(
        "micro_upgrades_total",
        "Upgrades asked of this process, by outcome: succeeded, failed, timed_out, refused."
    );
    describe_counter!(
        "micro_log_lines_dropped_total",
        "Log lines dropped because stderr could not keep up (site.logging.buffer_lines)."
    );
    #[cfg(feature = "otel")]
    describe_counter!(
        crate::telemetry::DROPPED,
        "Spans dropped: the export queue was full (site.telemetry.queue_size), or their export failed."
    );
    describe_gauge!(
        "micro_phase_duration_seconds",
        Unit::Seconds,
        "How long each startup and shutdown phase took."
    );
    describe_gauge!(
        "micro_uptime_seconds",
        Unit::Seconds,
        "Time since the service started running."
    );
}

/// Folds recorded histogram samples in every few seconds, for the life of
/// the process (the recorder's), on a thread of its own: a timer on the
/// runtime would make its time driver read the clock at every wake-up of
/// every request.
fn upkeep(handle: PrometheusHandle) {
    let _ = std::thread::Builder::new()
        .name("micro-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP);
                handle.run_upkeep();
            }
        });
}

/// `micro_build_info{service, version} 1`.
fn build_info(service: &str, version: &str) {
    metrics::gauge!("micro_build_info", "service" => service.to_owned(), "version" => version.to_owned()).set(1.0);
}

/// One restart of `child`.
pub(crate) fn restarted(child: &str) {
    metrics::counter!("micro_restarts_total", "child" => child.to_owned()).increment(1);
}

/// One upgrade asked of this process, and how it ended.
pub(crate) fn upgraded(outcome: crate::upgrade::UpgradeOutcome) {
    metrics::counter!("micro_upgrades_total", "outcome" => outcome.as_str()).increment(1);
}

/// How long each phase of `stage` took.
pub(crate) fn phases(records: &[crate::PhaseRecord]) {
    for record in records {
        let (stage, phase) = (record.phase.stage(), record.phase.as_str());
        metrics::gauge!("micro_phase_duration_seconds", "stage" => stage, "phase" => phase)
            .set(record.took.as_secs_f64());
    }
}

/// What changes all the time, read when scraped rather than on each change.
pub(crate) struct Scrape {
    pub(crate) in_flight: usize,
    pub(crate) generation: u64,
    pub(crate) uptime: Option<Duration>,
}

/// The text `/metrics` answers, or `None` when micro's recorder is not the
/// one in place.
#[allow(clippy::cast_precision_loss)] // counts far below 2^52
pub(crate) fn render(now: &Scrape) -> Option<String> {
    let (handle, durations) = installed()?;
    metrics::gauge!("http_requests_in_flight").set(now.in_flight as f64);
    metrics::gauge!("micro_config_generation").set(now.generation as f64);
    metrics::gauge!("micro_uptime_seconds").set(now.uptime.map_or(0.0, |uptime| uptime.as_secs_f64()));
    metrics::counter!("micro_log_lines_dropped_total").absolute(micro_actors::logger::dropped_lines());
    handle.run_upkeep();
    let mut text = handle.render();
    durations.render(&mut text);
    Some(text)
}
