//! What a reload reports: [`ReloadReport`] when accepted, [`ReloadError`] when not.

use std::sync::Arc;
use std::time::Duration;

use micro_config::LoadError;

/// An accepted reload.
///
/// ```
/// let report = micro_actors::ReloadReport {
///     generation: 2,
///     changed: vec!["demo.greeting".into()],
///     took: std::time::Duration::from_millis(1),
/// };
/// assert_eq!(report.to_string(), "generation 2, changed: demo.greeting");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// The generation now in force.
    pub generation: u64,
    /// Dotted key paths whose values changed (values are never listed).
    pub changed: Vec<String>,
    /// How long loading and validating took.
    pub took: Duration,
}

impl std::fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.changed.is_empty() {
            write!(f, "generation {}, nothing changed", self.generation)
        } else {
            write!(
                f,
                "generation {}, changed: {}",
                self.generation,
                self.changed.join(", ")
            )
        }
    }
}

/// A reload that did not happen; the configuration in force is unchanged.
///
/// ```
/// let err = micro_actors::ReloadError::NotRunning;
/// assert_eq!(err.to_string(), "reload refused: the service is not running");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The candidate configuration is invalid.
    #[error("reload rejected, generation {kept} stays in force: {source}")]
    Rejected {
        /// The generation still in force.
        kept: u64,
        /// What is wrong with the candidate (shared by every caller of a
        /// coalesced reload).
        source: Arc<LoadError>,
    },
    /// Nothing to reload: the service has not started or has stopped.
    #[error("reload refused: the service is not running")]
    NotRunning,
    /// The caller stopped waiting before the candidate was ready; nothing changed.
    #[error("reload abandoned: its caller stopped waiting; the configuration in force is unchanged")]
    Abandoned,
    /// ConfigActor did not answer within the bound.
    #[error("reload unanswered after {waited:?} (bound: site.actors.call_timeout)")]
    Unanswered {
        /// How long the caller waited.
        waited: Duration,
    },
}
