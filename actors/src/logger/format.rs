//! An event format that puts the service's name and version on every line.

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{self, Format, Full, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::LogFormat;

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
                if let Some(ids) = super::trace_ids::current() {
                    write!(
                        writer,
                        "\"trace_id\":\"{:032x}\",\"span_id\":\"{:016x}\",",
                        ids.trace_id, ids.span_id
                    )?;
                }
                writer.write_str(rest)
            }
            None => writer.write_str(&line),
        }
    }
}

/// Span fields as a JSON object, as [`JsonFields`] writes them, but a
/// record appends its fields to the object instead of parsing and writing
/// every field again (thousands of instructions per record on a span of
/// a dozen fields). A field recorded twice then appears twice; lines read
/// the object with serde_json, which keeps the last value.
///
/// [`JsonFields`]: tracing_subscriber::fmt::format::JsonFields
#[derive(Debug, Default)]
pub(super) struct AppendJson;

impl<'w> FormatFields<'w> for AppendJson {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: Writer<'w>,
        fields: R,
    ) -> std::fmt::Result {
        format::JsonFields::new().format_fields(writer, fields)
    }

    fn add_fields(
        &self,
        current: &'w mut tracing_subscriber::fmt::FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> std::fmt::Result {
        let mut added = String::new();
        self.format_fields(Writer::new(&mut added), fields)?;
        let (Some(object), Some(new)) = (
            current.fields.strip_suffix('}'),
            added.strip_prefix('{').and_then(|new| new.strip_suffix('}')),
        ) else {
            current.fields = added;
            return Ok(());
        };
        if new.is_empty() {
            return Ok(());
        }
        let first = object.ends_with('{');
        current.fields.pop();
        if !first {
            current.fields.push(',');
        }
        current.fields.push_str(new);
        current.fields.push('}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::AppendJson;

    /// The `span` object of the line logged inside a span whose fields
    /// `record` changed.
    fn recorded(record: impl FnOnce(&tracing::Span)) -> serde_json::Value {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = Arc::clone(&out);
        let subscriber = tracing_subscriber::fmt()
            .json()
            .fmt_fields(AppendJson)
            .with_writer(move || Writer(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("s", a = 1, b = tracing::field::Empty, c = tracing::field::Empty);
            record(&span);
            span.in_scope(|| tracing::info!("inside"));
        });
        let line = String::from_utf8(out.lock().expect("not poisoned").clone()).expect("utf-8");
        serde_json::from_str::<serde_json::Value>(&line).expect("a JSON line")["span"].clone()
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn records_append_to_the_span_object_and_the_last_value_of_a_field_wins() {
        let span = recorded(|span| {
            span.record("b", "two");
            span.record("c", true);
            span.record("b", "again");
        });
        assert_eq!(span, serde_json::json!({"a": 1, "b": "again", "c": true, "name": "s"}));
    }

    #[test]
    fn a_field_first_recorded_later_joins_the_span_object() {
        let span = recorded(|span| {
            span.record("b", 2);
        });
        assert_eq!(span, serde_json::json!({"a": 1, "b": 2, "name": "s"}));
    }
}
