//! Where a configuration document came from, for error messages and logs.

use std::fmt;
use std::path::PathBuf;

/// The source of a configuration document.
///
/// Every error about a document names its origin, so an operator knows which
/// file (or which in-memory layer) to look at.
///
/// ```
/// use micro_config::Origin;
/// let origin = Origin::File("config/site.yaml".into());
/// assert_eq!(origin.to_string(), "config/site.yaml");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A YAML file on disk.
    File(PathBuf),
    /// Text compiled into the binary, named by the file it was read from.
    Embedded(&'static str),
    /// A document handed over in memory, with a label chosen by its owner.
    Memory(String),
    /// An environment variable, by name.
    Env(String),
    /// A key in etcd, with the revision its value was written at.
    Etcd {
        /// The full key.
        key: String,
        /// The key's `mod_revision`.
        revision: i64,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Embedded(name) => write!(f, "{name} (embedded)"),
            Self::Memory(label) => write!(f, "{label} (in memory)"),
            Self::Env(var) => write!(f, "environment variable {var}"),
            Self::Etcd { key, revision } => write!(f, "etcd {key}@{revision}"),
        }
    }
}

/// A position in a YAML text, 1-based as editors show it.
///
/// ```
/// use micro_config::Location;
/// assert_eq!(Location { line: 4, column: 3 }.to_string(), "4:3");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line, counted from 1.
    pub line: usize,
    /// Column, counted from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Where a value came from: its origin and, when the origin is YAML text,
/// the line and column. Displays as editors and compilers expect it.
///
/// ```
/// use micro_config::{Location, Origin, Source};
/// let at = Source { origin: Origin::File("conf/site.yaml".into()), location: Some(Location { line: 4, column: 3 }) };
/// assert_eq!(at.to_string(), "conf/site.yaml:4:3");
/// let at = Source { origin: Origin::Env("MICRO__SITE__HTTP__PORT".into()), location: None };
/// assert_eq!(at.to_string(), "environment variable MICRO__SITE__HTTP__PORT");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file, layer or variable.
    pub origin: Origin,
    /// Line and column inside it, when known.
    pub location: Option<Location>,
}

impl Source {
    /// A source without a position.
    ///
    /// ```
    /// use micro_config::{Origin, Source};
    /// assert_eq!(Source::from(Origin::Memory("t".into())).to_string(), "t (in memory)");
    /// ```
    #[must_use]
    pub fn from(origin: Origin) -> Self {
        Self { origin, location: None }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(location) => write!(f, "{}:{location}", self.origin),
            None => write!(f, "{}", self.origin),
        }
    }
}
