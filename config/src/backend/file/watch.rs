//! Watching a directory of documents, or the single file, for changes.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify_debouncer_mini::notify::event::{AccessKind, AccessMode};
use notify_debouncer_mini::notify::{
    self, Config, Event, EventHandler, EventKind, RecommendedWatcher, RecursiveMode, Watcher, WatcherKind,
};
use notify_debouncer_mini::{DebounceEventResult, new_debouncer_opt};

use crate::{Change, ChangeSender, LoadError, WatchGuard};

/// What to watch: a directory, and which of its files count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scope {
    dir: PathBuf,
    /// The single file's name; `None`: every `*.yaml` file.
    only: Option<OsString>,
}

impl Scope {
    /// Every `*.yaml` file directly in `dir`.
    pub(super) fn dir(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            only: None,
        }
    }

    /// The file at `path`, watched through its directory: editors often
    /// save by writing another file and renaming it over this one.
    pub(super) fn file(path: &Path) -> Self {
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        Self {
            dir,
            only: path.file_name().map(ToOwned::to_owned),
        }
    }

    /// Whether an event about `path` (in the watched directory) counts.
    /// Kubernetes updates a mounted ConfigMap or Secret by swapping its
    /// `..data` symlink: any `..`-prefixed entry counts too.
    pub(super) fn matches(&self, path: &Path) -> bool {
        if path
            .file_name()
            .is_some_and(|name| name.as_encoded_bytes().starts_with(b".."))
        {
            return true;
        }
        match &self.only {
            Some(name) => path.file_name() == Some(name.as_os_str()),
            None => path.extension().is_some_and(|ext| ext == "yaml"),
        }
    }

    /// Starts a debounced watcher reporting to `changes` until the guard
    /// is dropped.
    pub(super) fn start(self, debounce: Duration, changes: &ChangeSender) -> Result<WatchGuard, LoadError> {
        let sender = changes.clone();
        let dir = self.dir.clone();
        let handler = move |result: DebounceEventResult| match result {
            Ok(events) => {
                for event in events.iter().filter(|event| self.matches(&event.path)) {
                    sender.notify(Change {
                        what: event.path.display().to_string(),
                    });
                }
            }
            // Events may have been lost: reload, to be safe.
            Err(err) => sender.notify(Change {
                what: format!("{} (watch error: {err})", self.dir.display()),
            }),
        };
        let config = notify_debouncer_mini::Config::default().with_timeout(debounce);
        let cannot_watch = |err: notify::Error| LoadError::Read {
            path: dir.clone(),
            source: io_error(&err),
        };
        let mut debouncer = new_debouncer_opt::<_, IgnoreReads>(config, handler).map_err(cannot_watch)?;
        debouncer
            .watcher()
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(cannot_watch)?;
        Ok(WatchGuard::new(debouncer))
    }
}

/// A notify error as an I/O error with its text (and kind, when it has one).
fn io_error(err: &notify::Error) -> std::io::Error {
    let kind = match &err.kind {
        notify::ErrorKind::Io(io) => io.kind(),
        notify::ErrorKind::PathNotFound | notify::ErrorKind::WatchNotFound => std::io::ErrorKind::NotFound,
        _ => std::io::ErrorKind::Other,
    };
    std::io::Error::new(kind, err.to_string())
}

/// The recommended watcher without the events of reading files: a reload
/// reads them, and those events would report a change, reload again, and
/// so on. Only the end of a write counts of the access events.
#[derive(Debug)]
struct IgnoreReads(RecommendedWatcher);

fn is_read(event: &Event) -> bool {
    matches!(event.kind, EventKind::Access(kind) if kind != AccessKind::Close(AccessMode::Write))
}

impl Watcher for IgnoreReads {
    fn new<F: EventHandler>(mut handler: F, config: Config) -> notify::Result<Self> {
        let filtered = move |event: notify::Result<Event>| {
            if !event.as_ref().is_ok_and(is_read) {
                handler.handle_event(event);
            }
        };
        RecommendedWatcher::new(filtered, config).map(Self)
    }

    fn watch(&mut self, path: &Path, recursive_mode: RecursiveMode) -> notify::Result<()> {
        self.0.watch(path, recursive_mode)
    }

    fn unwatch(&mut self, path: &Path) -> notify::Result<()> {
        self.0.unwatch(path)
    }

    fn configure(&mut self, option: Config) -> notify::Result<bool> {
        self.0.configure(option)
    }

    fn kind() -> WatcherKind {
        RecommendedWatcher::kind()
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, ModifyKind};

    use super::*;

    #[test]
    fn a_directory_scope_counts_yaml_files_only() {
        let scope = Scope::dir(Path::new("conf"));
        assert!(scope.matches(Path::new("conf/site.yaml")));
        assert!(!scope.matches(Path::new("conf/site.yaml.swp")));
        assert!(!scope.matches(Path::new("conf/.site.yaml~")));
        assert!(scope.matches(Path::new("conf/..data")), "a Kubernetes ConfigMap update");
        assert!(scope.matches(Path::new("conf/..2026_11_25_13_00_00.123")));
        assert!(!scope.matches(Path::new("conf/notes.txt")));
        assert!(!scope.matches(Path::new("conf")));
    }

    #[test]
    fn a_file_scope_watches_its_directory_and_counts_that_file_only() {
        let scope = Scope::file(Path::new("conf/all.yaml"));
        assert_eq!(scope.dir, Path::new("conf"));
        assert!(scope.matches(Path::new("conf/all.yaml")));
        assert!(!scope.matches(Path::new("conf/site.yaml")));
        assert_eq!(Scope::file(Path::new("all.yaml")).dir, Path::new("."));
    }

    #[test]
    fn reads_are_not_changes_but_writes_are() {
        let event = |kind| Event::new(kind);
        assert!(is_read(&event(EventKind::Access(AccessKind::Open(AccessMode::Any)))));
        assert!(is_read(&event(EventKind::Access(AccessKind::Close(AccessMode::Read)))));
        assert!(!is_read(&event(EventKind::Access(AccessKind::Close(
            AccessMode::Write
        )))));
        assert!(!is_read(&event(EventKind::Modify(ModifyKind::Any))));
        assert!(!is_read(&event(EventKind::Create(CreateKind::File))));
    }

    #[test]
    fn notify_errors_keep_their_kind_as_io_errors() {
        let err = notify::Error::path_not_found();
        assert_eq!(io_error(&err).kind(), std::io::ErrorKind::NotFound);
        let err = notify::Error::generic("boom");
        assert_eq!(io_error(&err).to_string(), "boom");
    }
}
