//! The documents under the prefix as of one revision: filled by a range
//! read, then kept current by the watch's events, so a reload while the
//! watch is up costs no round trip to etcd.

use std::collections::HashMap;

use etcd_client::{EventType, KeyValue, WatchResponse};

/// Documents by name, at `revision`.
#[derive(Debug, Default)]
pub(super) struct View {
    /// Document name → (key, value, the revision it was last modified at).
    pub(super) documents: HashMap<String, (String, String, i64)>,
    /// The store revision this view reflects; 0 before the first read.
    pub(super) revision: i64,
    /// Set once a read succeeded.
    pub(super) loaded: bool,
}

impl View {
    /// The documents among `kvs` (keys directly under `prefix`), as read at `revision`.
    pub(super) fn read(prefix: &str, revision: i64, kvs: &[KeyValue]) -> Self {
        let documents = kvs
            .iter()
            .filter_map(|kv| {
                let key = kv.key_str().ok()?;
                let name = document_name(prefix, key)?;
                let value = String::from_utf8_lossy(kv.value()).into_owned();
                Some((name.to_owned(), (key.to_owned(), value, kv.mod_revision())))
            })
            .collect();
        Self {
            documents,
            revision,
            loaded: true,
        }
    }

    /// Takes `newer` unless this view is already past it (a slow read must
    /// not undo what the watch applied meanwhile).
    pub(super) fn replace(&mut self, newer: Self) {
        if newer.revision >= self.revision || !self.loaded {
            *self = newer;
        }
    }

    /// Applies one watch response (all events of one revision or more) as a
    /// whole; returns the key of a document it changed, if any.
    pub(super) fn apply(&mut self, prefix: &str, response: &WatchResponse) -> Option<String> {
        let revision = response.header().map_or(0, etcd_client::ResponseHeader::revision);
        let mut changed = None;
        for event in response.events() {
            let Some(kv) = event.kv() else { continue };
            let Ok(key) = kv.key_str() else { continue };
            let Some(name) = document_name(prefix, key) else {
                continue;
            };
            changed = Some(key.to_owned());
            if !self.loaded || kv.mod_revision() <= self.revision {
                continue; // already in the view (or no view yet: the next read brings it)
            }
            match event.event_type() {
                EventType::Put => {
                    let value = String::from_utf8_lossy(kv.value()).into_owned();
                    self.documents
                        .insert(name.to_owned(), (key.to_owned(), value, kv.mod_revision()));
                }
                EventType::Delete => {
                    self.documents.remove(name);
                }
            }
        }
        if self.loaded {
            self.revision = self.revision.max(revision);
        }
        changed
    }
}

/// The document a key holds: the rest of the key after `prefix`, when it is
/// one plain name (deeper keys are not documents).
fn document_name<'k>(prefix: &str, key: &'k str) -> Option<&'k str> {
    key.strip_prefix(prefix)
        .filter(|name| !name.is_empty() && !name.contains('/'))
}
