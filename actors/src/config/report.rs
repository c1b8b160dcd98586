//! What a reload reports: [`ReloadReport`] when accepted, [`ReloadError`] when not.

use std::sync::Arc;
use std::time::Duration;

use micro_config::LoadError;

/// An accepted reload: a new generation and what changed in it, or —
/// when the candidate held the values in force — nothing changed and the
/// generation in force stays.
///
/// ```
/// let report = micro_actors::ReloadReport {
///     generation: 2,
///     changed: vec!["demo.greeting".into()],
///     took: std::time::Duration::from_millis(1),
/// };
/// assert_eq!(report.to_string(), "generation 2, changed: demo.greeting");
/// assert!(!report.is_unchanged());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// The generation now in force: a new one, or the one that stayed.
    pub generation: u64,
    /// Dotted key paths whose values changed (values are never listed);
    /// empty when nothing did.
    pub changed: Vec<String>,
    /// How long loading and validating took.
    pub took: Duration,
}

impl ReloadReport {
    /// Whether the reload changed nothing: the candidate held the values
    /// in force, so the generation in force stayed and no one was told.
    ///
    /// ```
    /// let report = micro_actors::ReloadReport { generation: 3, changed: Vec::new(), took: Default::default() };
    /// assert!(report.is_unchanged());
    /// assert_eq!(report.to_string(), "nothing changed, generation 3 stays in force");
    /// ```
    #[must_use]
    pub fn is_unchanged(&self) -> bool {
        self.changed.is_empty()
    }
}

impl std::fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_unchanged() {
            write!(f, "nothing changed, generation {} stays in force", self.generation)
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
    /// Too many reloads already wait for the load under way (see
    /// [`MAX_QUEUED`](crate::config::MAX_QUEUED)); nothing changed.
    #[error(
        "reload refused: {waiting} reloads already wait for the load under way; the configuration in force is unchanged"
    )]
    Busy {
        /// How many wait.
        waiting: usize,
    },
    /// ConfigActor did not answer within the bound.
    #[error("reload unanswered after {waited:?} (bound: site.actors.call_timeout)")]
    Unanswered {
        /// How long the caller waited.
        waited: Duration,
    },
}
