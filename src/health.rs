//! Readiness checks a service registers (`.health_check(name, fn)`): each
//! runs off the request path on `site.health.interval`, bounded by
//! `site.health.timeout`; `/health/ready` reads their last results.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use micro_actors::Callback;
use tokio::task::JoinHandle;

/// A check's last result.
#[derive(Debug, Clone)]
pub(crate) struct CheckResult {
    pub(crate) error: Option<String>,
    pub(crate) at: SystemTime,
    pub(crate) took: Duration,
}

/// The last result of every check; read with one atomic load.
#[derive(Debug, Clone, Default)]
pub(crate) struct Health(Arc<ArcSwap<BTreeMap<String, CheckResult>>>);

impl Health {
    pub(crate) fn results(&self) -> Arc<BTreeMap<String, CheckResult>> {
        self.0.load_full()
    }

    /// Whether each of `names` has passed its last run (a check that has
    /// not run yet has not passed).
    pub(crate) fn passing(&self, names: &[String]) -> bool {
        let results = self.0.load();
        names
            .iter()
            .all(|name| results.get(name).is_some_and(|result| result.error.is_none()))
    }

    /// Forgets every result: a new run is not ready on the last run's checks.
    pub(crate) fn reset(&self) {
        self.0.store(Arc::default());
    }

    fn record(&self, name: &str, result: &CheckResult) {
        self.0.rcu(|results| {
            let mut results = BTreeMap::clone(results);
            results.insert(name.to_owned(), result.clone());
            results
        });
    }
}

/// Runs each check now and then every `interval`, each run bounded by
/// `timeout` (a panic counts as a failure); until the tasks are aborted.
pub(crate) fn start(
    checks: &[Callback],
    health: &Health,
    interval: Duration,
    timeout: Duration,
) -> Vec<JoinHandle<()>> {
    checks
        .iter()
        .map(|check| {
            let (check, health) = (check.clone(), health.clone());
            tokio::spawn(async move {
                loop {
                    let started = std::time::Instant::now();
                    let outcome = check.run(timeout).await;
                    let result = CheckResult {
                        took: started.elapsed(),
                        error: outcome.err().map(|err| err.to_string()),
                        at: SystemTime::now(),
                    };
                    if let Some(error) = &result.error {
                        tracing::warn!(target: "micro", "health check {}: {error}", check.name());
                    }
                    health.record(check.name(), &result);
                    tokio::time::sleep(interval).await;
                }
            })
        })
        .collect()
}
