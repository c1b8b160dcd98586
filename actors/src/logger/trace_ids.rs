//! The trace and span ids of a request, on every JSON line logged inside
//! it: a span that records `trace_id` and `span_id` fields (the HTTP server
//! span does, while telemetry exports) keeps them here as a typed
//! extension, which the line's format finds in the current scope and puts
//! beside `service` and `version`, where log tools look for them.

use std::fmt;

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// A span's trace and span ids, as recorded (lowercase hex).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct TraceIds {
    pub(super) trace_id: String,
    pub(super) span_id: String,
}

/// Keeps [`TraceIds`] on the spans that record them.
pub(crate) struct Capture;

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().fields().field("trace_id").is_some() {
            self.keep(id, |visit| attrs.record(visit), &ctx);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let fields = span.metadata().fields();
        let ours = ["trace_id", "span_id"]
            .iter()
            .filter_map(|name| fields.field(name))
            .any(|field| values.contains(&field));
        drop(span);
        if ours {
            self.keep(id, |visit| values.record(visit), &ctx);
        }
    }
}

impl Capture {
    fn keep<S>(&self, id: &Id, record: impl FnOnce(&mut Ids), ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        let mut ids = Ids(extensions.get_mut::<TraceIds>().map(std::mem::take).unwrap_or_default());
        record(&mut ids);
        if !ids.0.trace_id.is_empty() {
            extensions.replace(ids.0);
        }
    }
}

/// Reads the two fields into [`TraceIds`].
struct Ids(TraceIds);

impl Visit for Ids {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "trace_id" => value.clone_into(&mut self.0.trace_id),
            "span_id" => value.clone_into(&mut self.0.span_id),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(field.name(), "trace_id" | "span_id") {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}
