//! The trace and span ids of a request, on every JSON line logged inside
//! it: the HTTP server span (while telemetry exports) is given them as a
//! typed extension once its OpenTelemetry span has started, and the line's
//! format finds them in the current scope and puts them beside `service`
//! and `version`, where log tools look for them. Nothing is recorded as a
//! field, so no layer formats them per request; they are written in hex
//! only when a line is.

use tracing_subscriber::Registry;
use tracing_subscriber::registry::LookupSpan as _;

/// A span's W3C trace and span ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceIds {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
}

/// Gives `span` its ids, for the lines logged inside it. Nothing happens
/// when the process's subscriber is not micro's (no registry to keep them).
#[cfg(any(feature = "otel", test))]
pub(crate) fn attach(span: &tracing::Span, ids: TraceIds) {
    span.with_subscriber(|(id, dispatch)| {
        if let Some(data) = dispatch
            .downcast_ref::<Registry>()
            .and_then(|registry| registry.span(id))
        {
            data.extensions_mut().replace(ids);
        }
    });
}

/// The ids of the innermost span around this thread's current one that
/// has them, found through the registry itself: the lines' layer does not
/// see the server span (it is filtered out of their span lists).
pub(crate) fn current() -> Option<TraceIds> {
    tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let current = tracing::Subscriber::current_span(registry);
        registry
            .span(current.id()?)?
            .scope()
            .find_map(|span| span.extensions().get::<TraceIds>().copied())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt as _;

    #[test]
    fn ids_attached_to_a_span_are_found_in_its_extensions() {
        let subscriber =
            tracing_subscriber::registry().with(tracing_subscriber::fmt::layer().with_writer(std::io::sink));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request");
            let ids = TraceIds {
                trace_id: 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
                span_id: 0x00f0_67aa_0ba9_02b7,
            };
            attach(&span, ids);
            let found = span.with_subscriber(|(id, dispatch)| {
                let registry = dispatch.downcast_ref::<Registry>().expect("a registry");
                registry
                    .span(id)
                    .and_then(|data| data.extensions().get::<TraceIds>().copied())
            });
            assert_eq!(found.flatten(), Some(ids));
            assert_eq!(current(), None, "outside the span");
            let inner = span.in_scope(|| tracing::info_span!("inner"));
            assert_eq!(inner.in_scope(current), Some(ids), "inside a span inside it");
        });
    }
}
