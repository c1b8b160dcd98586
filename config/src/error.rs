//! The errors of loading documents and of reading values out of them.

use std::path::PathBuf;

use crate::Source;

/// Loading a document from a backend failed, or the loaded set is invalid.
///
/// The message names the source (file path or layer), the key path and, for
/// YAML syntax errors, line and column:
///
/// ```
/// use micro_config::{LoadError, Location, Origin, Source};
/// let err = LoadError::Syntax {
///     at: Source { origin: Origin::File("config/demo.yaml".into()), location: Some(Location { line: 2, column: 7 }) },
///     message: "mapping values are not allowed in this context".into(),
/// };
/// assert_eq!(
///     err.to_string(),
///     "config/demo.yaml:2:7: mapping values are not allowed in this context"
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file exists but could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The text is not valid YAML (or not a configuration document at all).
    #[error("{at}: {message}")]
    Syntax {
        /// Where the text came from and where in it the parser stopped.
        at: Source,
        /// What the parser said.
        message: String,
    },
    /// A preloaded document is not served by the backend. Only a load
    /// makes one:
    ///
    /// ```compile_fail
    /// let err = micro_config::LoadError::Missing { name: "db".into(), backend: "t".into(), why: None };
    /// ```
    #[error("config document `{name}` is preloaded but {backend} has none{}", because(.why))]
    #[non_exhaustive]
    Missing {
        /// The document name.
        name: String,
        /// The backend, as it describes itself.
        backend: String,
        /// Why, when the backend can say more (see
        /// [`ConfigBackend::explain_missing`](crate::ConfigBackend::explain_missing)):
        /// `config directory conf does not exist`.
        why: Option<String>,
    },
    /// The document parsed but a value in it does not fit its schema.
    #[error("{at}: {path}: {message}")]
    Invalid {
        /// Where the value was set.
        at: Source,
        /// The dotted key path of the bad value, starting with the document name.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A document in use (loaded on first use) is gone from the backend.
    #[error("config document `{name}` is in use but {backend} no longer has it{}", because(.why))]
    #[non_exhaustive]
    Vanished {
        /// The document name.
        name: String,
        /// The backend, as it describes itself.
        backend: String,
        /// Why, when the backend can say more.
        why: Option<String>,
    },
    /// A document name that cannot be a file name (empty, or with a path separator).
    #[error("invalid config document name {name:?}: use letters, digits, `-` and `_` only")]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// A backend that must be reached could not be (etcd down, no quorum).
    #[error("{backend} cannot be reached: {message}")]
    Unavailable {
        /// The backend, as it describes itself.
        backend: String,
        /// What the last attempt said, and how long it kept trying.
        message: String,
    },
    /// A backend or a validator panicked while loading.
    #[error("loading panicked (a backend or a validator): {message}")]
    Panicked {
        /// The panic message.
        message: String,
    },
    /// A load did not finish within its bound (a backend that hangs); the
    /// configuration in force stays.
    ///
    /// ```
    /// let err = micro_config::LoadError::TimedOut {
    ///     bound: std::time::Duration::from_secs(3),
    ///     key: "site.config.load_timeout".into(),
    /// };
    /// assert_eq!(err.to_string(), "config load did not finish within 3s (site.config.load_timeout)");
    /// ```
    #[error("config load did not finish within {} ({key})", humantime_serde::re::humantime::format_duration(*.bound))]
    TimedOut {
        /// The bound.
        bound: std::time::Duration,
        /// The setting that holds the bound, as a dotted key path.
        key: String,
    },
    /// A validator read a document the candidate does not hold (see
    /// [`ReadError::NotLoaded`]).
    #[error("config document `{name}` is not loaded: add it to the preloads")]
    NotLoaded {
        /// The document name.
        name: String,
    },
}

/// A typed read that failed inside a validator fails the load with the
/// same message, so `?` works on [`Snapshot::get`](crate::Snapshot::get)
/// and its kin. A value of the wrong type or a missing key becomes
/// [`LoadError::Invalid`], located once.
///
/// ```
/// use micro_config::{LoadError, MemoryBackend, PreloadedConfig};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let config = PreloadedConfig::new(["db"])
///     .backend(MemoryBackend::labelled("t").with_yaml("db", "host: a\npool: many\n").unwrap())
///     .validate(|snapshot| {
///         snapshot.get_path::<u32>("db.pool")?;
///         Ok(())
///     });
/// let err = config.load_candidate(1, &[]).await.unwrap_err();
/// assert!(matches!(err, LoadError::Invalid { .. }));
/// assert_eq!(
///     err.to_string(),
///     "t (in memory):2:1: db.pool: invalid type: string \"many\", expected u32"
/// );
/// # });
/// ```
impl From<ReadError> for LoadError {
    fn from(err: ReadError) -> Self {
        match err {
            ReadError::NotLoaded { name } => Self::NotLoaded { name },
            ReadError::MissingKey { at, path } => Self::Invalid {
                at,
                path,
                message: "no such key".to_owned(),
            },
            ReadError::Type { at, path, message } => Self::Invalid { at, path, message },
        }
    }
}

/// Reading a typed value out of a snapshot failed.
///
/// ```
/// use micro_config::{Origin, ReadError, Source};
/// let err = ReadError::MissingKey {
///     at: Source::from(Origin::Memory("test".into())),
///     path: "demo.greeting".into(),
/// };
/// assert_eq!(err.to_string(), "test (in memory): demo.greeting: no such key");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The document is not in the snapshot: not preloaded and not loaded since.
    #[error("config document `{name}` is not loaded: add it to the preloads")]
    NotLoaded {
        /// The document name.
        name: String,
    },
    /// The path leads nowhere in the document.
    #[error("{at}: {path}: no such key")]
    MissingKey {
        /// Where the closest existing part of the path was set.
        at: Source,
        /// The dotted key path asked for.
        path: String,
    },
    /// The value exists but does not deserialize into the requested type.
    #[error("{at}: {path}: {message}")]
    Type {
        /// Where the value was set.
        at: Source,
        /// The dotted key path of the value that did not fit.
        path: String,
        /// What serde said.
        message: String,
    },
}

/// `": why"` after a message, when there is a why.
pub(crate) fn because(why: &Option<String>) -> String {
    why.as_deref().map(|why| format!(": {why}")).unwrap_or_default()
}
