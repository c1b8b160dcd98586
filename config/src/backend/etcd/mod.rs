//! [`EtcdBackend`]: documents as YAML values under a key prefix in etcd,
//! read at one revision per load and watched for changes (cargo feature
//! `etcd`).
//!
//! - A document `<name>` is the value at `<prefix><name>`; keys deeper
//!   under the prefix are not documents and are ignored.
//! - Each load of a snapshot starts with [`ConfigBackend::refresh`]: one
//!   range read of the whole prefix, so every document of a snapshot comes
//!   from the same revision. Its documents are then served from that view,
//!   which the watch, while it is up, keeps current event by event (a
//!   response at a time, so still at one revision): a reload then costs no
//!   round trip.
//! - The first load retries until `connect_timeout`; then it fails with
//!   [`LoadError::Unavailable`] (exit 69), unless the backend is a
//!   [`fallback`](EtcdBackend::fallback) layer: then it contributes nothing
//!   until etcd answers. Later loads retry until `request_timeout`; a
//!   failure rejects the reload and the snapshot in force stays.
//! - The watch (see `watch.rs`) follows the prefix from the loaded revision,
//!   resumes from the last revision it saw after an outage, and asks for a
//!   full reload when that revision was compacted away.

mod view;
mod watch;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, GetOptions};
use tokio::sync::OnceCell;

use super::{ChangeSender, ConfigBackend, WatchGuard};
use crate::{Document, LoadError, Origin};
use view::View;

/// Connects to etcd and reads documents under a prefix.
///
/// ```
/// use micro_config::EtcdBackend;
/// use std::time::Duration;
/// let backend = EtcdBackend::for_service("orders", ["http://127.0.0.1:2379"])
///     .connect_timeout(Duration::from_secs(5))
///     .request_timeout(Duration::from_secs(2))
///     .watching(true);
/// assert_eq!(backend.prefix(), "/micro/orders/");
/// ```
#[derive(Clone)]
#[must_use]
pub struct EtcdBackend {
    options: Arc<Options>,
    shared: Arc<Shared>,
}

/// What the backend was built with.
#[derive(Debug, Clone)]
struct Options {
    endpoints: Vec<String>,
    prefix: String,
    user: Option<(String, String)>,
    tls: Option<Tls>,
    connect_timeout: Duration,
    request_timeout: Duration,
    keep_alive: (Duration, Duration),
    fallback: bool,
    watching: bool,
}

/// TLS material, read when the client connects.
#[derive(Debug, Clone)]
struct Tls {
    ca: Option<PathBuf>,
    identity: Option<(PathBuf, PathBuf)>,
}

/// State shared between loads and the watch.
#[derive(Default)]
struct Shared {
    client: OnceCell<Client>,
    /// The documents as of one revision: the last read, advanced by the watch.
    view: Mutex<View>,
    /// Whether the watch stream is up.
    connected: AtomicBool,
    /// Why a fallback start went without etcd, for the watch to log once
    /// logging is set up (the first load runs before it).
    fallback_reason: Mutex<Option<String>>,
}

impl EtcdBackend {
    /// Documents under `/micro/<service>/` on `endpoints`.
    ///
    /// ```
    /// let backend = micro_config::EtcdBackend::for_service("orders", ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]);
    /// assert_eq!(backend.prefix(), "/micro/orders/");
    /// ```
    pub fn for_service<E: Into<String>>(service: &str, endpoints: impl IntoIterator<Item = E>) -> Self {
        Self::new(endpoints, format!("/micro/{service}/"))
    }

    /// Documents under `prefix` (a `/` is added when missing, so `/cfg` does
    /// not also match `/cfgX`) on `endpoints`.
    ///
    /// ```
    /// let backend = micro_config::EtcdBackend::new(["http://127.0.0.1:2379"], "/fleet/orders");
    /// assert_eq!(backend.prefix(), "/fleet/orders/");
    /// ```
    pub fn new<E: Into<String>>(endpoints: impl IntoIterator<Item = E>, prefix: impl Into<String>) -> Self {
        let mut prefix = prefix.into();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        Self {
            options: Arc::new(Options {
                endpoints: endpoints.into_iter().map(Into::into).collect(),
                prefix,
                user: None,
                tls: None,
                connect_timeout: Duration::from_secs(5),
                request_timeout: Duration::from_secs(2),
                // etcd drops clients that ping more often than every 5 s.
                keep_alive: (Duration::from_secs(10), Duration::from_secs(5)),
                fallback: false,
                watching: false,
            }),
            shared: Arc::default(),
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Options)) -> Self {
        change(Arc::make_mut(&mut self.options));
        self
    }

    /// The key prefix documents live under, ending in `/`.
    ///
    /// ```
    /// assert_eq!(micro_config::EtcdBackend::new(["http://127.0.0.1:2379"], "/a/").prefix(), "/a/");
    /// ```
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.options.prefix
    }

    /// Authenticates as `user`.
    ///
    /// ```
    /// let backend = micro_config::EtcdBackend::new(["http://127.0.0.1:2379"], "/a/").user("orders", "s3cret");
    /// assert!(!format!("{backend:?}").contains("s3cret"));
    /// ```
    pub fn user(self, user: impl Into<String>, password: impl Into<String>) -> Self {
        let (user, password) = (user.into(), password.into());
        self.with(|o| o.user = Some((user, password)))
    }

    /// Verifies the server with the CA certificate in `ca` (PEM); use
    /// `https://` endpoints.
    ///
    /// ```
    /// let backend = micro_config::EtcdBackend::new(["https://etcd:2379"], "/a/").tls_ca("/etc/etcd/ca.pem");
    /// # let _ = backend;
    /// ```
    pub fn tls_ca(self, ca: impl Into<PathBuf>) -> Self {
        let ca = ca.into();
        self.with(|o| {
            o.tls
                .get_or_insert(Tls {
                    ca: None,
                    identity: None,
                })
                .ca = Some(ca);
        })
    }

    /// Presents the client certificate `cert` with its key `key` (PEM).
    ///
    /// ```
    /// let backend = micro_config::EtcdBackend::new(["https://etcd:2379"], "/a/")
    ///     .tls_ca("/etc/etcd/ca.pem")
    ///     .tls_identity("/etc/etcd/client.pem", "/etc/etcd/client-key.pem");
    /// # let _ = backend;
    /// ```
    pub fn tls_identity(self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        let (cert, key) = (cert.into(), key.into());
        self.with(|o| {
            o.tls
                .get_or_insert(Tls {
                    ca: None,
                    identity: None,
                })
                .identity = Some((cert, key));
        })
    }

    /// How long the first load keeps trying to reach etcd (default 5 s).
    ///
    /// ```
    /// let backend = micro_config::EtcdBackend::new(["http://127.0.0.1:2379"], "/a/")
    ///     .connect_timeout(std::time::Duration::from_secs(30));
    /// # let _ = backend;
    /// ```
    pub fn connect_timeout(self, bound: Duration) -> Self {
        self.with(|o| o.connect_timeout = bound)
    }

    /// How long a later load (a reload) keeps trying (default 2 s).
    ///
    /// ```
    /// let backend = micro_config::EtcdBackend::new(["http://127.0.0.1:2379"], "/a/")
    ///     .request_timeout(std::time::Duration::from_millis(500));
    /// # let _ = backend;
    /// ```
    pub fn request_timeout(self, bound: Duration) -> Self {
        self.with(|o| o.request_timeout = bound)
    }

    /// When etcd cannot be reached at startup, contribute no documents (the
    /// layers under this one serve) instead of failing; the watch brings
    /// etcd's documents in once it connects. Off by default.
    ///
    /// ```
    /// let backend = micro_config::EtcdBackend::new(["http://127.0.0.1:2379"], "/a/").fallback(true);
    /// # let _ = backend;
    /// ```
    pub fn fallback(self, fallback: bool) -> Self {
        self.with(|o| o.fallback = fallback)
    }

    /// Watches the prefix and reports each change (off by default).
    ///
    /// ```
    /// let backend = micro_config::EtcdBackend::new(["http://127.0.0.1:2379"], "/a/").watching(true);
    /// # let _ = backend;
    /// ```
    pub fn watching(self, watching: bool) -> Self {
        self.with(|o| o.watching = watching)
    }

    /// A handle on the connection's state, for a readiness check that turns
    /// 503 while etcd is out of reach (by default the service stays ready
    /// on its last good config).
    ///
    /// ```
    /// let backend = micro_config::EtcdBackend::new(["http://127.0.0.1:2379"], "/a/");
    /// let status = backend.status();
    /// assert!(status.check().is_err(), "not connected yet");
    /// ```
    pub fn status(&self) -> EtcdStatus {
        EtcdStatus(Arc::clone(&self.shared))
    }

    async fn client(&self) -> Result<Client, etcd_client::Error> {
        let options = &self.options;
        let client = self
            .shared
            .client
            .get_or_try_init(|| async {
                let mut connect = ConnectOptions::new()
                    .with_connect_timeout(options.request_timeout)
                    .with_timeout(options.request_timeout)
                    .with_keep_alive(options.keep_alive.0, options.keep_alive.1)
                    .with_require_leader(true);
                if let Some((user, password)) = &options.user {
                    connect = connect.with_user(user.clone(), password.clone());
                }
                if let Some(tls) = &options.tls {
                    connect = connect.with_tls(tls_options(tls)?);
                }
                Client::connect(&options.endpoints, Some(connect)).await
            })
            .await?;
        Ok(client.clone())
    }

    /// Reads the whole prefix at one revision, retrying until `bound`.
    async fn read(&self, bound: Duration) -> Result<View, String> {
        let deadline = tokio::time::Instant::now() + bound;
        let mut backoff = Duration::from_millis(50);
        loop {
            let attempt = tokio::time::timeout_at(deadline, async {
                let mut client = self.client().await?;
                client
                    .get(self.options.prefix.as_str(), Some(GetOptions::new().with_prefix()))
                    .await
            })
            .await;
            let error = match attempt {
                Ok(Ok(response)) => {
                    let revision = response.header().map_or(0, etcd_client::ResponseHeader::revision);
                    return Ok(View::read(&self.options.prefix, revision, response.kvs()));
                }
                Ok(Err(err)) => err.to_string(),
                Err(_) => "no answer".to_owned(),
            };
            let now = tokio::time::Instant::now();
            if now + backoff >= deadline {
                return Err(format!(
                    "{error} (kept trying for {})",
                    humantime_serde::re::humantime::format_duration(bound)
                ));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    fn view(&self) -> std::sync::MutexGuard<'_, View> {
        self.shared.view.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn tls_options(tls: &Tls) -> Result<etcd_client::TlsOptions, etcd_client::Error> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|err| {
            etcd_client::Error::IoError(std::io::Error::new(err.kind(), format!("{}: {err}", path.display())))
        })
    };
    let mut options = etcd_client::TlsOptions::new();
    if let Some(ca) = &tls.ca {
        options = options.ca_certificate(etcd_client::Certificate::from_pem(read(ca)?));
    }
    if let Some((cert, key)) = &tls.identity {
        options = options.identity(etcd_client::Identity::from_pem(read(cert)?, read(key)?));
    }
    Ok(options)
}

impl std::fmt::Debug for EtcdBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdBackend")
            .field("endpoints", &self.options.endpoints)
            .field("prefix", &self.options.prefix)
            .field("user", &self.options.user.as_ref().map(|(user, _)| user))
            .field("tls", &self.options.tls.is_some())
            .field("watching", &self.options.watching)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl ConfigBackend for EtcdBackend {
    fn describe(&self) -> String {
        format!(
            "etcd {} under {}",
            self.options.endpoints.join(","),
            self.options.prefix
        )
    }

    async fn refresh(&self) -> Result<(), LoadError> {
        let first = !self.view().loaded;
        if !first && self.shared.connected.load(Ordering::Acquire) {
            // The watch keeps the view current: it is the latest revision
            // this client has seen, at no round trip.
            return Ok(());
        }
        let bound = if first {
            self.options.connect_timeout
        } else {
            self.options.request_timeout
        };
        match self.read(bound).await {
            Ok(view) => {
                self.view().replace(view);
                Ok(())
            }
            Err(message) if first && self.options.fallback => {
                let message = format!(
                    "{} cannot be reached: {message}; serving the layers under it until it answers",
                    self.describe()
                );
                tracing::warn!(target: "micro", "{message}");
                *self
                    .shared
                    .fallback_reason
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(message);
                Ok(())
            }
            Err(message) => Err(LoadError::Unavailable {
                backend: self.describe(),
                message,
            }),
        }
    }

    async fn load(&self, name: &str) -> Result<Option<Document>, LoadError> {
        let found = self.view().documents.get(name).cloned();
        let Some((key, text, revision)) = found else {
            return Ok(None);
        };
        Document::from_yaml(name, Origin::Etcd { key, revision }, &text).map(Some)
    }

    fn watch(&self, changes: &ChangeSender) -> Result<Option<WatchGuard>, LoadError> {
        if !self.options.watching {
            return Ok(None);
        }
        let task = tokio::spawn(watch::run(self.clone(), changes.clone()));
        Ok(Some(WatchGuard::new(watch::AbortOnDrop(task))))
    }
}

/// Whether the backend's watch is connected; see [`EtcdBackend::status`].
///
/// ```
/// let status = micro_config::EtcdBackend::new(["http://127.0.0.1:2379"], "/a/").status();
/// assert!(!status.is_connected());
/// ```
#[derive(Clone)]
pub struct EtcdStatus(Arc<Shared>);

impl EtcdStatus {
    /// Whether the watch stream is up now.
    ///
    /// ```
    /// let status = micro_config::EtcdBackend::new(["http://127.0.0.1:2379"], "/a/").status();
    /// assert!(!status.is_connected());
    /// ```
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.0.connected.load(Ordering::Acquire)
    }

    /// `Ok` while connected, else why not: the shape a readiness check takes.
    ///
    /// ```
    /// let status = micro_config::EtcdBackend::new(["http://127.0.0.1:2379"], "/a/").status();
    /// assert_eq!(status.check().unwrap_err(), "etcd watch not connected (serving revision 0)");
    /// ```
    pub fn check(&self) -> Result<(), String> {
        if self.is_connected() {
            Ok(())
        } else {
            Err(format!(
                "etcd watch not connected (serving revision {})",
                self.0.view.lock().unwrap_or_else(PoisonError::into_inner).revision
            ))
        }
    }
}

impl std::fmt::Debug for EtcdStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStatus")
            .field("connected", &self.is_connected())
            .finish()
    }
}
