//! The OpenTelemetry layer, one per process. A process's subscriber is
//! installed once, at its first run, and keeps its layers; a run is not
//! always the only one (a service's tests run one after another in one
//! process). So the layer joins the subscriber at the first install
//! whether that run exports or not, sees spans only while a run exports,
//! and builds them with the tracer of the run exporting now.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwap;
use opentelemetry::Context;
use opentelemetry::trace::{SpanBuilder, Tracer, TracerProvider as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use tracing_subscriber::Layer as _;

/// The tracer of the run exporting now, and whether one is.
struct Current {
    tracer: ArcSwap<SdkTracer>,
    exporting: AtomicBool,
}

static CURRENT: LazyLock<Current> = LazyLock::new(|| {
    // Before any run exports: records nothing, exports nowhere.
    let idle = SdkTracerProvider::builder().with_sampler(Sampler::AlwaysOff).build();
    Current {
        tracer: ArcSwap::from_pointee(idle.tracer("micro")),
        exporting: AtomicBool::new(false),
    }
});

/// From now on, spans are built by `tracer` (a run's, as it starts).
pub(super) fn export_with(tracer: SdkTracer) {
    CURRENT.tracer.store(Arc::new(tracer));
    CURRENT.exporting.store(true, Ordering::Release);
}

/// From now on, the layer sees no span (the run's export is stopping).
pub(super) fn stop_exporting() {
    CURRENT.exporting.store(false, Ordering::Release);
}

/// The tracer the layer builds spans with: the current run's.
#[derive(Debug, Clone, Copy)]
struct RunTracer;

impl Tracer for RunTracer {
    type Span = opentelemetry_sdk::trace::Span;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> Self::Span {
        CURRENT.tracer.load().build_with_context(builder, parent_cx)
    }
}

/// The layer for the process's subscriber (added by the logging step of
/// every run; only the first install takes it).
pub(crate) fn layer() -> micro_actors::BoxedLayer {
    tracing_opentelemetry::layer()
        .with_tracer(RunTracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_target(false)
        .with_filter(tracing_subscriber::filter::dynamic_filter_fn(|_, _| {
            CURRENT.exporting.load(Ordering::Acquire)
        }))
        .boxed()
}
