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
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Embedded(name) => write!(f, "{name} (embedded)"),
            Self::Memory(label) => write!(f, "{label} (in memory)"),
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
