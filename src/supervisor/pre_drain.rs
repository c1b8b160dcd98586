//! The pre-drain: readiness has turned 503, and the listener keeps serving
//! whatever still comes while balancers take the instance out. It ends once
//! no request has come for `site.shutdown.quiet_period`, or at
//! `site.shutdown.pre_drain_max`, never before `site.shutdown.pre_drain_delay`.
//! A service idle for the quiet period when told to stop drains at once.

use std::time::{Duration, Instant};

use micro_actors::Traffic;
use micro_config::SiteConfig;

use crate::{PreDrainEnd, PreDrainReport};

/// The paths whose requests are not traffic: the probes and the scrapes,
/// which keep coming from the balancer and the monitoring whatever the
/// instance's readiness says.
pub(crate) const NOT_TRAFFIC: [&str; 6] = [
    "/healthcheck",
    "/health/live",
    "/health/ready",
    "/metrics",
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
];

/// How long the pre-drain may last: `pre_drain_max`, at most half of
/// `shutdown.total` (the drain and what follows keep the other half), and
/// never under `pre_drain_delay`.
pub(super) fn longest(site: &SiteConfig) -> Duration {
    let shutdown = &site.shutdown;
    shutdown
        .pre_drain_max
        .min(shutdown.total / 2)
        .max(shutdown.pre_drain_delay)
}

/// Serves on until the traffic is quiet or the bound is reached; from its
/// start, HTTP/1 answers carry `Connection: close`.
pub(super) async fn wait(traffic: &Traffic, site: &SiteConfig) -> PreDrainReport {
    let started = Instant::now();
    let before = traffic.arrivals();
    traffic.wind_down();
    let (least, most, quiet) = (site.shutdown.pre_drain_delay, longest(site), site.shutdown.quiet_period);
    let end = loop {
        let waited = started.elapsed();
        // Until the quiet period is reached (none yet: there was no traffic).
        let to_quiet = traffic
            .idle_for()
            .map_or(Duration::ZERO, |idle| quiet.saturating_sub(idle));
        if waited >= least && to_quiet.is_zero() {
            break PreDrainEnd::Quiet(quiet);
        }
        if waited >= most {
            break PreDrainEnd::Max(most);
        }
        let next = to_quiet.max(least.saturating_sub(waited)).min(most - waited);
        tokio::time::sleep(next).await;
    };
    PreDrainReport {
        waited: started.elapsed(),
        served: traffic.arrivals() - before,
        end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use micro_actors::InFlight;

    fn site(shutdown: &serde_json::Value) -> SiteConfig {
        let tree = SiteConfig::merged(Some(&serde_json::json!({ "shutdown": shutdown })));
        serde_json::from_value(tree).expect("a site")
    }

    #[test]
    fn the_longest_pre_drain_takes_at_most_half_the_total_but_never_cuts_the_fixed_delay() {
        let defaults = site(&serde_json::json!({}));
        assert_eq!(longest(&defaults), Duration::from_secs(8));
        let tight = site(&serde_json::json!({"total": "4s", "pre_drain_max": "8s"}));
        assert_eq!(longest(&tight), Duration::from_secs(2));
        let fixed = site(&serde_json::json!({"pre_drain_delay": "9s"}));
        assert_eq!(longest(&fixed), Duration::from_secs(9));
    }

    #[tokio::test]
    async fn an_idle_service_drains_at_once() {
        let traffic = InFlight::default().traffic().clone();
        let report = wait(&traffic, &site(&serde_json::json!({"quiet_period": "1h"}))).await;
        assert_eq!(
            (report.end, report.served),
            (PreDrainEnd::Quiet(Duration::from_secs(3600)), 0)
        );
        assert!(traffic.is_winding_down());
    }

    #[tokio::test]
    async fn traffic_that_keeps_coming_is_served_until_the_bound() {
        let traffic = InFlight::default().traffic().clone();
        // Traffic up to the moment the stop begins.
        traffic.arrived("/orders");
        let sender = traffic.clone();
        let requests = tokio::spawn(async move {
            loop {
                sender.arrived("/orders");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        let report = wait(
            &traffic,
            &site(&serde_json::json!({"quiet_period": "1s", "pre_drain_max": "200ms"})),
        )
        .await;
        requests.abort();
        assert_eq!(report.end, PreDrainEnd::Max(Duration::from_millis(200)));
        assert!(report.served > 0, "{report}");
        assert!(report.waited >= Duration::from_millis(200), "{report}");
    }

    #[tokio::test]
    async fn traffic_that_stops_ends_the_pre_drain_a_quiet_period_later_and_probes_do_not_count() {
        let traffic = InFlight::not_counting(&NOT_TRAFFIC).traffic().clone();
        traffic.arrived("/orders");
        let sender = traffic.clone();
        let requests = tokio::spawn(async move {
            for _ in 0..20 {
                sender.arrived("/orders");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // The balancer has taken the instance out: only its probes come.
            loop {
                sender.arrived("/health/ready");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        let quiet = Duration::from_millis(50);
        let report = wait(
            &traffic,
            &site(&serde_json::json!({"quiet_period": "50ms", "pre_drain_max": "1h"})),
        )
        .await;
        requests.abort();
        assert_eq!((report.end, report.served), (PreDrainEnd::Quiet(quiet), 20));
        assert!(report.waited >= Duration::from_millis(100) + quiet, "{report}");
    }
}
