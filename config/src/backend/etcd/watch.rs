//! The etcd watch: follows the prefix from the last revision seen, reports
//! each change, survives outages.
//!
//! etcd's client never resumes a watch by itself: when the stream errs (etcd
//! died, a member left, keep-alive found it hung) this loop re-issues the
//! watch from the last revision it saw + 1, with backoff, so no change in
//! between is missed. When that revision has been compacted away, it reads
//! the current revision, watches from there and asks for a full reload,
//! which finds whatever changed (deletes included) by reading everything.
//!
//! Every state change is logged and counted:
//! `micro_etcd_watch_transitions_total{to="connected|lost|compacted"}`, and
//! `micro_etcd_connected` is 1 while the stream is up.

use std::sync::atomic::Ordering;
use std::time::Duration;

use etcd_client::WatchOptions;
use tokio::task::JoinHandle;

use super::EtcdBackend;
use crate::{Change, ChangeSender};

/// Aborts the watch task when the guard is dropped.
pub(super) struct AbortOnDrop(pub(super) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why following the stream stopped.
enum Ended {
    /// The stream broke or could not be opened.
    Lost(String),
    /// The revision to resume from is gone; the oldest kept is this one.
    Compacted(i64),
}

const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

pub(super) async fn run(backend: EtcdBackend, changes: ChangeSender) {
    let fallback = backend
        .shared
        .fallback_reason
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if let Some(reason) = fallback {
        tracing::warn!(target: "micro", "started without etcd: {reason}");
    }
    let mut seen = backend.view().revision;
    let mut backoff = BACKOFF_FIRST;
    let mut lost_logged = false;
    while !changes.is_closed() {
        match follow(&backend, &changes, &mut seen, &mut backoff).await {
            Ended::Compacted(oldest) => {
                transition("compacted");
                let bound = backend.options.request_timeout;
                match backend.read(bound).await {
                    Ok(view) => {
                        let revision = view.revision;
                        backend.view().replace(view);
                        tracing::warn!(
                            target: "micro",
                            "etcd revision {} was compacted (oldest kept {oldest}): full reload, watching from {}",
                            seen + 1,
                            revision + 1
                        );
                        seen = revision;
                        changes.notify(Change {
                            what: format!("{} (compacted)", backend.options.prefix),
                        });
                        continue;
                    }
                    Err(err) => lost(&backend, &mut lost_logged, seen, &err),
                }
            }
            Ended::Lost(err) => lost(&backend, &mut lost_logged, seen, &err),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Marks the watch down, logging once per outage.
fn lost(backend: &EtcdBackend, logged: &mut bool, seen: i64, err: &str) {
    let was = backend.shared.connected.swap(false, Ordering::AcqRel);
    if was || !*logged {
        transition("lost");
        metrics::gauge!("micro_etcd_connected").set(0.0);
        tracing::warn!(
            target: "micro",
            "etcd watch on {} lost: {err}; serving the config in force (revision {seen}), reconnecting",
            backend.options.prefix
        );
        *logged = true;
    }
}

fn transition(to: &'static str) {
    metrics::counter!("micro_etcd_watch_transitions_total", "to" => to).increment(1);
}

/// Opens a watch from `seen + 1` and reports changes until it ends.
async fn follow(backend: &EtcdBackend, changes: &ChangeSender, seen: &mut i64, backoff: &mut Duration) -> Ended {
    let bound = backend.options.request_timeout;
    let prefix = backend.options.prefix.as_str();
    let opened = tokio::time::timeout(bound, async {
        let mut client = backend.client().await?;
        let mut options = WatchOptions::new().with_prefix();
        if *seen > 0 {
            options = options.with_start_revision(*seen + 1);
        }
        client.watch(prefix, Some(options)).await
    })
    .await;
    let mut stream = match opened {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => return Ended::Lost(err.to_string()),
        Err(_) => return Ended::Lost(format!("no answer within {bound:?}")),
    };
    loop {
        let response = match stream.message().await {
            Ok(Some(response)) => response,
            Ok(None) => return Ended::Lost("the watch stream ended".into()),
            Err(err) => return Ended::Lost(err.to_string()),
        };
        if response.canceled() {
            if response.compact_revision() > 0 {
                return Ended::Compacted(response.compact_revision());
            }
            return Ended::Lost(format!("watch canceled: {}", response.cancel_reason()));
        }
        let revision = response.header().map_or(0, etcd_client::ResponseHeader::revision);
        if response.created() {
            let unseen = *seen == 0;
            if unseen {
                *seen = revision;
            }
            *backoff = BACKOFF_FIRST;
            // A transition only when the state changes: a watch reopened
            // after a compaction was never down.
            if !backend.shared.connected.swap(true, Ordering::AcqRel) {
                transition("connected");
            }
            metrics::gauge!("micro_etcd_connected").set(1.0);
            tracing::info!(target: "micro", "etcd watch on {prefix} from revision {}", *seen + 1);
            if unseen {
                // Nothing was read from etcd yet (a fallback start): read it now.
                changes.notify(Change {
                    what: format!("{prefix} (reachable)"),
                });
            }
            continue;
        }
        let changed = backend.view().apply(prefix, &response);
        *seen = (*seen).max(revision);
        if let Some(key) = changed {
            changes.notify(Change { what: key });
        }
    }
}
