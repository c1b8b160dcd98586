//! `http_request_duration_seconds` kept by micro itself when micro's own
//! Prometheus recorder is the one in place: a fixed-bucket histogram of
//! atomic counts per series, so a request costs a bucket search and two
//! atomic updates. (The `metrics` recorder's histogram stores every sample
//! and folds them in at upkeep: ~1,300 instructions per request more.)
//!
//! The series and its text are the recorder's: same name, labels, buckets
//! ([`BUCKETS`]), `_bucket{le=..}`, `_sum` and `_count` lines; `/metrics`
//! renders them after what the recorder renders. When the embedding
//! program installed a recorder of its own, nothing here is used and
//! durations go to that recorder, as every other series does.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use metrics_exporter_prometheus::formatting::sanitize_label_value;

use super::metrics::DURATION;

/// Latency buckets of [`DURATION`], seconds: 0.5 ms to 10 s.
pub const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The `# HELP` text of [`DURATION`].
pub const DURATION_HELP: &str = "Time from a request reaching the router to its response headers.";

/// One series: a count per bucket (each its own, not cumulative; the last
/// one above every bound) and the sum of the samples, as `f64` bits.
#[derive(Debug, Default)]
pub(crate) struct Series {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum: AtomicU64,
}

impl Series {
    pub(crate) fn record(&self, seconds: f64) {
        // The first bound the sample does not exceed, as the recorder's `le`.
        let bucket = BUCKETS.partition_point(|&bound| bound < seconds);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let _ = self.sum.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            Some((f64::from_bits(bits) + seconds).to_bits())
        });
    }
}

/// The label values of one series: route, method, status.
type Labels = (Box<str>, &'static str, u16);

/// Every series of [`DURATION`] micro keeps, shared by all servers of the
/// process (two servers' requests on the same route, method and status
/// count in one series, as in a recorder).
///
/// ```
/// let durations = micro_actors::http::metrics::keep_durations();
/// let mut text = String::new();
/// durations.render(&mut text);
/// assert!(text.is_empty() || text.contains("# TYPE http_request_duration_seconds histogram"));
/// ```
#[derive(Debug, Default)]
pub struct Durations {
    series: Mutex<BTreeMap<Labels, Arc<Series>>>,
}

static KEPT: OnceLock<Durations> = OnceLock::new();

/// From now on, request durations are recorded into [`Durations`] rather
/// than into the `metrics` recorder (series already resolved keep theirs);
/// returns them, to be rendered with the recorder's text. Called by micro
/// once its own recorder is installed. See [`Durations`] for an example.
pub fn keep_durations() -> &'static Durations {
    KEPT.get_or_init(Durations::default)
}

/// The kept durations, once [`keep_durations`] was called.
pub(crate) fn kept() -> Option<&'static Durations> {
    KEPT.get()
}

impl Durations {
    /// The series of these labels, made on first use.
    pub(crate) fn series(&self, route: &str, method: &'static str, status: u16) -> Arc<Series> {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(series.entry((route.into(), method, status)).or_default())
    }

    /// Appends the Prometheus text of every series: `# HELP`, `# TYPE`, and
    /// per series its cumulative `_bucket` lines, `_sum` and `_count`,
    /// then an empty line; nothing while there is no series. See
    /// [`Durations`] for an example.
    pub fn render(&self, out: &mut String) {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        if series.is_empty() {
            return;
        }
        let _ = writeln!(out, "# HELP {DURATION} {DURATION_HELP}");
        let _ = writeln!(out, "# TYPE {DURATION} histogram");
        for ((route, method, status), one) in series.iter() {
            let route = sanitize_label_value(route);
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
            let mut count = 0;
            for (bound, bucket) in BUCKETS.iter().zip(&one.counts) {
                count += bucket.load(Ordering::Relaxed);
                let _ = writeln!(out, "{DURATION}_bucket{{{labels},le=\"{bound}\"}} {count}");
            }
            count += one.counts[BUCKETS.len()].load(Ordering::Relaxed);
            let sum = f64::from_bits(one.sum.load(Ordering::Relaxed));
            let _ = writeln!(out, "{DURATION}_bucket{{{labels},le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "{DURATION}_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "{DURATION}_count{{{labels}}} {count}");
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorder's text for `samples` recorded into one series.
    fn recorded_by_the_exporter(route: &str, samples: &[f64]) -> String {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets_for_metric(metrics_exporter_prometheus::Matcher::Full(DURATION.into()), BUCKETS)
            .expect("buckets")
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_histogram!(DURATION, DURATION_HELP);
            let histogram =
                metrics::histogram!(DURATION, "method" => "GET", "route" => route.to_owned(), "status" => "200");
            for &sample in samples {
                histogram.record(sample);
            }
        });
        handle.run_upkeep();
        handle.render()
    }

    #[test]
    fn the_text_is_the_exporters_for_the_same_samples() {
        let samples = [0.0001, 0.0005, 0.0007, 0.003, 0.003, 0.04, 0.9, 2.5, 11.0, 60.0];
        for route in ["/users/{id}", r#"/odd "quoted" \ route\"#] {
            let durations = Durations::default();
            let series = durations.series(route, "GET", 200);
            for &sample in &samples {
                series.record(sample);
            }
            let mut ours = String::new();
            durations.render(&mut ours);
            assert_eq!(ours, recorded_by_the_exporter(route, &samples));
        }
    }

    #[test]
    fn no_series_renders_nothing_and_one_labels_set_is_one_series() {
        let durations = Durations::default();
        let mut text = String::new();
        durations.render(&mut text);
        assert_eq!(text, "");
        durations.series("/a", "GET", 200).record(0.001);
        durations.series("/a", "GET", 200).record(0.002);
        durations.series("/a", "GET", 404).record(0.001);
        durations.render(&mut text);
        assert!(
            text.contains("http_request_duration_seconds_count{method=\"GET\",route=\"/a\",status=\"200\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("http_request_duration_seconds_count{method=\"GET\",route=\"/a\",status=\"404\"} 1\n"),
            "{text}"
        );
        assert_eq!(text.matches("# TYPE").count(), 1, "{text}");
    }
}
