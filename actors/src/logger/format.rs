//! An event format that puts the service's name and version on every line.

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{self, Format, Full, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::LogFormat;
use super::trace_ids::TraceIds;

/// The ids of the innermost span around the event that has them.
fn trace_ids<S, N>(ctx: &FmtContext<'_, S, N>) -> Option<TraceIds>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    ctx.lookup_current()?
        .scope()
        .find_map(|span| span.extensions().get::<TraceIds>().cloned())
}

/// Wraps the standard formats: JSON objects get `service` and `version` as
/// their first keys; text lines start with `service version`. Fields set
/// here are static, so events from any task or thread carry them (a root
/// span would not).
pub(super) struct WithService {
    service: String,
    version: String,
    /// `"service":"..","version":".."` pre-escaped, for JSON lines.
    json_prefix: String,
    json: Option<Format<Json>>,
    text: Format<Full>,
}

impl WithService {
    pub(super) fn new(service: &str, version: &str, format: LogFormat, ansi: bool) -> Self {
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        Self {
            service: service.to_owned(),
            version: version.to_owned(),
            json_prefix: format!("\"service\":{},\"version\":{},", quote(service), quote(version)),
            json: (format == LogFormat::Json).then(|| format::format().json().flatten_event(true)),
            text: format::format().with_ansi(ansi),
        }
    }
}

impl<S, N> FormatEvent<S, N> for WithService
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        let Some(json) = &self.json else {
            write!(writer, "{} {} ", self.service, self.version)?;
            return self.text.format_event(ctx, writer, event);
        };
        // Rendered into a buffer so the static keys can be spliced in after `{`.
        let mut line = String::with_capacity(256);
        json.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => {
                writer.write_char('{')?;
                writer.write_str(&self.json_prefix)?;
                if let Some(ids) = trace_ids(ctx) {
                    write!(
                        writer,
                        "\"trace_id\":\"{}\",\"span_id\":\"{}\",",
                        ids.trace_id, ids.span_id
                    )?;
                }
                writer.write_str(rest)
            }
            None => writer.write_str(&line),
        }
    }
}
