//! LoggerActor: owns the process's tracing subscriber.
//!
//! Messages (sent by the supervisor):
//! - [`LoggerMsg::Install`]: install the subscriber (once per process) with
//!   the service's name and version on every line; replies when done.
//! - [`LoggerMsg::SetLevel`]: apply a new filter directive at once (after a
//!   reload); replies with the outcome.
//! - [`LoggerMsg::Flush`]: write out the queued lines, bounded; replies
//!   with the outcome.
//!
//! Debug mode writes human-readable lines (colored on a terminal);
//! production writes one JSON object per line. Both go to stderr through a
//! thread of their own (see `output.rs`): a blocked stderr drops lines,
//! never blocks a request. `RUST_LOG`, when set, wins over the configured
//! level.
//!
//! A subscriber the embedding program installed first stays: micro's events
//! go to it and micro's settings do not apply. Panics are logged through
//! tracing by a hook that then calls the one installed before it
//! (`panic.rs`).

mod actor;
mod format;
mod output;
mod panic;
pub(crate) mod trace_ids;

use std::sync::OnceLock;

use tracing_subscriber::Layer as _;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry};

pub use actor::{LoggerActor, LoggerMsg, LoggerState};
use format::{AppendJson, WithService};
pub use output::{FlushError, dropped_lines, flush};

/// How log lines are written.
///
/// ```
/// use micro_actors::{LogFormat, LogSettings, logger};
/// let settings = LogSettings {
///     service: "doc".into(),
///     version: "0.1.0".into(),
///     format: LogFormat::Json,
///     level: "warn".into(),
///     buffer_lines: 1000,
///     output: Default::default(),
/// };
/// logger::install(&settings).unwrap();
/// assert!(logger::is_installed());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event, colored on a terminal.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// What the subscriber is built from.
///
/// ```
/// let settings = micro_actors::LogSettings {
///     service: "micro-demo".into(),
///     version: "1a2b3c4".into(),
///     format: micro_actors::LogFormat::Json,
///     level: "info".into(),
///     buffer_lines: 1000,
///     output: Default::default(),
/// };
/// assert_eq!(settings.format, micro_actors::LogFormat::Json);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// The service name put on every line.
    pub service: String,
    /// The version put on every line.
    pub version: String,
    /// Line format.
    pub format: LogFormat,
    /// A tracing `EnvFilter` directive.
    pub level: String,
    /// Lines that may wait for stderr (see `output.rs`); taken by the first
    /// install of the process.
    pub buffer_lines: usize,
    /// Where lines go; taken by the first install of the process.
    pub output: LogOutput,
}

/// Where log lines go.
///
/// ```
/// assert_eq!(micro_actors::LogOutput::default(), micro_actors::LogOutput::Stderr);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogOutput {
    /// stderr, through a writer thread (a full pipe drops lines, never
    /// blocks a task).
    #[default]
    Stderr,
    /// libtest's output capture, for a service run by its own tests: a
    /// line logged on a test's thread shows with that test's output (only
    /// when it fails, unless `--nocapture`); lines from other threads go
    /// to stdout.
    TestCapture,
}

/// Configuring logging failed.
///
/// ```
/// let err = micro_actors::LogError::Level { from: "RUST_LOG", directive: "loud".into(), message: "invalid".into() };
/// assert_eq!(err.to_string(), "RUST_LOG: `loud` is not a log filter: invalid");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The level is not a valid filter directive.
    #[error("{from}: `{directive}` is not a log filter: {message}")]
    Level {
        /// Where the directive came from: `site.logging.level` or `RUST_LOG`.
        from: &'static str,
        /// The rejected directive.
        directive: String,
        /// What the filter parser said.
        message: String,
    },
}

/// A layer of the embedding service's own (OpenTelemetry, a file
/// appender...), plugged under micro's level filter.
pub type BoxedLayer = Box<dyn tracing_subscriber::Layer<Registry> + Send + Sync + 'static>;

/// The service's own layers, handed to [`LoggerMsg::InstallWith`].
///
/// ```
/// use tracing_subscriber::Layer as _;
/// let layers = micro_actors::logger::ExtraLayers(vec![tracing_subscriber::fmt::layer().boxed()]);
/// assert_eq!(format!("{layers:?}"), "ExtraLayers(1)");
/// ```
#[derive(Default)]
pub struct ExtraLayers(pub Vec<BoxedLayer>);

impl std::fmt::Debug for ExtraLayers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ExtraLayers").field(&self.0.len()).finish()
    }
}

/// `Option`, not a bare `Vec`: an empty `Vec` of layers is a layer that
/// is interested in nothing, which would silence every event.
type FilterHandle = reload::Handle<EnvFilter, Layered<Option<Vec<BoxedLayer>>, Registry>>;

/// The filter handle of the subscriber this crate installed, if it did.
static FILTER: OnceLock<FilterHandle> = OnceLock::new();

/// Installs the process's subscriber, once; later calls only apply the
/// level. When another subscriber was installed first (by the embedding
/// program), it is left alone and `Ok` is returned: micro's events go to
/// it, a warning says micro's format and level do not apply, and later
/// levels change nothing.
///
/// The first call also installs micro's panic hook, once per process: a
/// panic is logged as an event (`panicked: <message>`, with its location),
/// then handed to the hook installed before (the standard one, which prints
/// it to stderr, when there was none).
///
/// ```
/// let settings = micro_actors::LogSettings {
///     service: "doc".into(),
///     version: "0.1.0".into(),
///     format: micro_actors::LogFormat::Pretty,
///     level: "warn".into(),
///     buffer_lines: 1000,
///     output: Default::default(),
/// };
/// micro_actors::logger::install(&settings).unwrap();
/// micro_actors::logger::install(&settings).unwrap(); // idempotent
/// ```
pub fn install(settings: &LogSettings) -> Result<(), LogError> {
    install_with(settings, ExtraLayers::default())
}

/// [`install`], with the service's own layers under the level filter: they
/// see the events the level lets through. They are taken only by the
/// install that puts the subscriber in place; later calls drop them.
///
/// ```
/// use tracing_subscriber::Layer as _;
/// let settings = micro_actors::LogSettings {
///     service: "doc".into(),
///     version: "0.1.0".into(),
///     format: micro_actors::LogFormat::Json,
///     level: "info".into(),
///     buffer_lines: 1000,
///     output: Default::default(),
/// };
/// let mine = tracing_subscriber::fmt::layer().with_writer(std::io::sink).boxed();
/// micro_actors::logger::install_with(&settings, micro_actors::logger::ExtraLayers(vec![mine])).unwrap();
/// ```
pub fn install_with(settings: &LogSettings, layers: ExtraLayers) -> Result<(), LogError> {
    let filter = parse_filter(&settings.level)?;
    panic::install();
    if FILTER.get().is_some() {
        return set_level(&settings.level);
    }
    if tracing::dispatcher::has_been_set() {
        // Not ours (FILTER is unset): no output queue to start for it.
        foreign_subscriber(settings);
        return Ok(());
    }
    let (filter_layer, handle) = reload::Layer::new(filter);
    let ansi = settings.format == LogFormat::Pretty && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let events = WithService::new(&settings.service, &settings.version, settings.format, ansi);
    let fmt_layer = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(match settings.output {
            LogOutput::TestCapture => BoxMakeWriter::new(tracing_subscriber::fmt::TestWriter::new()),
            _ => BoxMakeWriter::new(output::writer(settings.buffer_lines)),
        });
    // JSON lines need span fields recorded as JSON too.
    let fmt_layer = match settings.format {
        LogFormat::Pretty => fmt_layer.event_format(events).boxed(),
        LogFormat::Json => fmt_layer.fmt_fields(AppendJson).event_format(events).boxed(),
    };
    // ractor wraps every actor's loop in an `Actor{id=..}` span: the
    // runtime's plumbing, not the service's context. Lines leave it out, so
    // a callback's line shows its own `callback{name=..}` span only.
    // The request's server span (telemetry) is named on the lines by its
    // ids; its dozen fields, recorded as the request goes, are not
    // formatted into each line's span list.
    let fmt_layer = fmt_layer.with_filter(tracing_subscriber::filter::filter_fn(|meta| {
        !(meta.is_span() && (meta.target().starts_with("ractor") || meta.target() == crate::http::SERVER_SPAN))
    }));
    if tracing_subscriber::registry()
        .with((!layers.0.is_empty()).then_some(layers.0))
        .with(filter_layer)
        .with(fmt_layer)
        .try_init()
        .is_ok()
    {
        let _ = FILTER.set(handle);
    } else {
        foreign_subscriber(settings);
    }
    Ok(())
}

/// The embedding program installed its own subscriber: it keeps it, and
/// hears why micro's settings do not apply.
fn foreign_subscriber(settings: &LogSettings) {
    tracing::warn!(
        target: "micro",
        "another tracing subscriber is installed: micro's events go to it; micro's format ({:?}) and level ({:?}, and changes to it) do not apply",
        settings.format,
        settings.level
    );
}

/// Applies a new level to the installed subscriber. `RUST_LOG`, when set,
/// stays in force.
///
/// ```
/// use micro_actors::logger::set_level;
/// assert!(set_level("warn").is_ok());
/// // Without `RUST_LOG`, the directive given is checked.
/// let err = set_level("warn,=[").unwrap_err();
/// assert!(err.to_string().starts_with("site.logging.level: "), "{err}");
/// ```
pub fn set_level(directive: &str) -> Result<(), LogError> {
    let filter = parse_filter(directive)?;
    if let Some(handle) = FILTER.get() {
        // Fails only when the subscriber is gone, at process exit.
        let _ = handle.reload(filter);
    }
    Ok(())
}

/// Checks that `directive` is a valid filter, ignoring `RUST_LOG`.
///
/// ```
/// assert!(micro_actors::logger::check_directive("info,hyper=warn").is_ok());
/// assert!(micro_actors::logger::check_directive("info,=[").is_err());
/// ```
pub fn check_directive(directive: &str) -> Result<(), LogError> {
    EnvFilter::try_new(directive).map(drop).map_err(|err| LogError::Level {
        from: "site.logging.level",
        directive: directive.to_owned(),
        message: err.to_string(),
    })
}

/// Whether this crate's subscriber is installed.
///
/// ```
/// use micro_actors::{LogFormat, LogSettings, logger};
/// assert!(!logger::is_installed());
/// let settings = LogSettings {
///     service: "doc".into(),
///     version: "0.1.0".into(),
///     format: LogFormat::Pretty,
///     level: "warn".into(),
///     buffer_lines: 1000,
///     output: Default::default(),
/// };
/// logger::install(&settings).unwrap();
/// assert!(logger::is_installed());
/// ```
#[must_use]
pub fn is_installed() -> bool {
    FILTER.get().is_some()
}

fn parse_filter(directive: &str) -> Result<EnvFilter, LogError> {
    let (from, directive) = match std::env::var("RUST_LOG") {
        Ok(env) if !env.trim().is_empty() => ("RUST_LOG", env),
        _ => ("site.logging.level", directive.to_owned()),
    };
    EnvFilter::try_new(&directive).map_err(|err| LogError::Level {
        from,
        directive,
        message: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_level_is_rejected_with_the_key_that_holds_it() {
        let err = set_level("info,=[").expect_err("invalid");
        assert!(err.to_string().starts_with("site.logging.level: "), "{err}");
    }
}
