//! How a backend that can watch tells its owner that something changed.

use tokio::sync::mpsc;

/// Something changed in a watched backend; the owner reloads.
///
/// ```
/// let change = micro_config::Change { what: "config/site.yaml".into() };
/// assert_eq!(change.to_string(), "config/site.yaml changed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What changed, for logs: a file, a key, a prefix.
    pub what: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} changed", self.what)
    }
}

/// Where a watching backend sends its changes. Cloneable; sending never
/// waits: when changes are already pending, a new one adds nothing (the
/// reload that follows sees it anyway).
///
/// ```
/// let (sender, mut changes) = micro_config::ChangeSender::channel();
/// sender.notify(micro_config::Change { what: "a".into() });
/// sender.notify(micro_config::Change { what: "b".into() });
/// assert_eq!(changes.try_recv().unwrap().what, "a");
/// assert!(changes.try_recv().is_err(), "coalesced into the pending one");
/// ```
#[derive(Debug, Clone)]
pub struct ChangeSender(mpsc::Sender<Change>);

impl ChangeSender {
    /// A sender and the receiver its changes arrive at.
    ///
    /// ```
    /// let (sender, changes) = micro_config::ChangeSender::channel();
    /// assert!(!sender.is_closed());
    /// # drop(changes);
    /// ```
    #[must_use]
    pub fn channel() -> (Self, mpsc::Receiver<Change>) {
        let (tx, rx) = mpsc::channel(1);
        (Self(tx), rx)
    }

    /// Reports a change; never blocks.
    ///
    /// ```
    /// let (sender, mut changes) = micro_config::ChangeSender::channel();
    /// sender.notify(micro_config::Change { what: "conf/site.yaml".into() });
    /// assert_eq!(changes.try_recv().unwrap().to_string(), "conf/site.yaml changed");
    /// ```
    pub fn notify(&self, change: Change) {
        let _ = self.0.try_send(change);
    }

    /// Whether the receiving side is gone (the watcher can stop).
    ///
    /// ```
    /// let (sender, changes) = micro_config::ChangeSender::channel();
    /// drop(changes);
    /// assert!(sender.is_closed());
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// Keeps a backend watching; dropping it stops the watch.
///
/// ```
/// let guard = micro_config::WatchGuard::new(());
/// drop(guard);
/// ```
#[must_use = "the watch stops when the guard is dropped"]
pub struct WatchGuard(#[allow(dead_code)] Box<dyn Send + Sync>);

impl WatchGuard {
    /// Wraps whatever keeps the watch alive (a watcher handle, a task guard).
    ///
    /// ```
    /// let (stop, stopped) = std::sync::mpsc::channel::<()>();
    /// let guard = micro_config::WatchGuard::new(std::sync::Mutex::new(stop));
    /// drop(guard); // drops what it keeps
    /// assert!(stopped.recv().is_err());
    /// ```
    pub fn new(keep: impl Send + Sync + 'static) -> Self {
        Self(Box::new(keep))
    }
}

impl std::fmt::Debug for WatchGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatchGuard")
    }
}
