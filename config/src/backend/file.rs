use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::document::check_name;
use crate::{ChangeSender, ConfigBackend, Document, LoadError, Origin, WatchGuard, yaml};

mod single;
#[cfg(test)]
mod tests;
mod watch;

/// Reads documents from YAML files: document `<name>` from the file
/// `<dir>/<name>.yaml` or, when the path given is a file, from the key
/// `<name>` at the top level of that one file.
///
/// A missing file (or key) is "no such document", not an error, so a
/// directory needs to hold only the documents it changes. Files are read at
/// each load, so a reload sees edits, and whether the path is a directory or
/// a file is decided at each load too. A file larger than
/// [`FileBackend::MAX_FILE_SIZE`] is refused without being read. Errors name
/// the file and, in both modes, the line and column in it.
///
/// ```
/// use micro_config::{ConfigBackend, FileBackend};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("demo.yaml"), "greeting: hi\n").unwrap();
/// let backend = FileBackend::new(dir.path());
/// let doc = backend.load("demo").await.unwrap().unwrap();
/// assert_eq!(doc.value()["greeting"], "hi");
///
/// let file = dir.path().join("all.yaml");
/// std::fs::write(&file, "demo:\n  greeting: hey\nsite:\n  http:\n    port: x\n").unwrap();
/// let backend = FileBackend::new(&file);
/// assert_eq!(backend.load("demo").await.unwrap().unwrap().value()["greeting"], "hey");
/// let site = backend.load("site").await.unwrap().unwrap();
/// assert_eq!(site.locate(&["http", "port"]).to_string(), format!("{}:5:5", file.display()));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct FileBackend {
    path: PathBuf,
    watching: bool,
    debounce: Duration,
}

impl FileBackend {
    /// The largest file read: 10 MiB. Larger ones are an error, found from
    /// the file's metadata before anything is read.
    ///
    /// ```
    /// assert_eq!(micro_config::FileBackend::MAX_FILE_SIZE, 10 * 1024 * 1024);
    /// ```
    pub const MAX_FILE_SIZE: u64 = 10 * 1024 * 1024;

    /// A backend reading `<path>/<name>.yaml` or, when `path` is a file,
    /// the top-level key `<name>` of that file. Not watching.
    ///
    /// ```
    /// use micro_config::{ConfigBackend, FileBackend};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let backend = FileBackend::new(dir.path());
    /// assert!(backend.load("demo").await.unwrap().is_none()); // no file yet
    /// std::fs::write(dir.path().join("demo.yaml"), "greeting: hi\n").unwrap();
    /// assert_eq!(backend.load("demo").await.unwrap().unwrap().value()["greeting"], "hi");
    /// # });
    /// ```
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            watching: false,
            debounce: Duration::from_millis(200),
        }
    }

    /// Whether [`ConfigBackend::watch`] watches the files (off by default):
    /// a change to a `*.yaml` file in the directory, or to the single file,
    /// is reported once its events have been quiet for the
    /// [debounce](FileBackend::debounce) time. Only the directory itself is
    /// watched, not its subdirectories.
    ///
    /// ```
    /// use micro_config::{ChangeSender, ConfigBackend, FileBackend};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let (sender, mut changes) = ChangeSender::channel();
    /// assert!(FileBackend::new(dir.path()).watch(&sender).unwrap().is_none(), "off by default");
    ///
    /// let backend = FileBackend::new(dir.path()).watching(true);
    /// let guard = backend.watch(&sender).unwrap().expect("watching");
    /// std::fs::write(dir.path().join("demo.yaml"), "greeting: hi\n").unwrap();
    /// let change = tokio::time::timeout(std::time::Duration::from_secs(10), changes.recv()).await;
    /// assert!(change.unwrap().unwrap().what.ends_with("demo.yaml"));
    /// drop(guard); // stops watching
    /// # });
    /// ```
    #[must_use]
    pub fn watching(mut self, on: bool) -> Self {
        self.watching = on;
        self
    }

    /// How long the events of a file must be quiet before its change is
    /// reported (default 200 ms), so that a save that writes a file in
    /// several steps is reported once.
    ///
    /// ```
    /// use std::time::Duration;
    /// let backend = micro_config::FileBackend::new("conf").watching(true).debounce(Duration::from_millis(50));
    /// # let _ = backend;
    /// ```
    #[must_use]
    pub fn debounce(mut self, quiet: Duration) -> Self {
        self.debounce = quiet;
        self
    }

    /// The path given to [`FileBackend::new`]: the directory documents are
    /// read from, or the single file.
    ///
    /// ```
    /// let backend = micro_config::FileBackend::new("conf");
    /// assert_eq!(backend.dir(), std::path::Path::new("conf"));
    /// ```
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// Whether the path is one file holding all documents (else a directory).
    fn is_single_file(&self) -> bool {
        self.path.is_file()
    }
}

#[async_trait::async_trait]
impl ConfigBackend for FileBackend {
    fn describe(&self) -> String {
        if self.is_single_file() {
            format!("file {}", self.path.display())
        } else {
            format!("files in {}", self.path.display())
        }
    }

    fn watch(&self, changes: &ChangeSender) -> Result<Option<WatchGuard>, LoadError> {
        if !self.watching {
            return Ok(None);
        }
        let scope = if self.is_single_file() {
            watch::Scope::file(&self.path)
        } else {
            watch::Scope::dir(&self.path)
        };
        scope.start(self.debounce, changes).map(Some)
    }

    /// The path given does not exist (named as a directory unless it
    /// ends in `.yaml` or `.yml`), or the file looked for, or the single
    /// file lacks the key.
    fn explain_missing(&self, name: &str) -> Option<String> {
        check_name(name).ok()?;
        let path = self.path.display();
        match std::fs::metadata(&self.path) {
            Err(err) if err.kind() == ErrorKind::NotFound => {
                let yaml = matches!(self.path.extension().and_then(|ext| ext.to_str()), Some("yaml" | "yml"));
                let kind = if yaml { "file" } else { "directory" };
                Some(format!("config {kind} {path} does not exist"))
            }
            Ok(metadata) if metadata.is_file() => Some(format!("{path} has no top-level key `{name}`")),
            Ok(metadata) if metadata.is_dir() => {
                Some(format!("no file {}", self.path.join(format!("{name}.yaml")).display()))
            }
            _ => None,
        }
    }

    async fn load(&self, name: &str) -> Result<Option<Document>, LoadError> {
        check_name(name)?;
        // A file system can be slow or hang (a network mount), and a file
        // can hold 10 MiB of YAML: reading and parsing run on a blocking
        // thread, so the runtime's workers keep serving meanwhile.
        let (backend, name) = (self.clone(), name.to_owned());
        tokio::task::spawn_blocking(move || backend.load_blocking(&name))
            .await
            .map_err(|err| LoadError::Panicked {
                message: format!("reading {}: {err}", self.path.display()),
            })?
    }
}

impl FileBackend {
    /// [`ConfigBackend::load`], on the calling thread.
    fn load_blocking(&self, name: &str) -> Result<Option<Document>, LoadError> {
        if self.is_single_file() {
            let Some(text) = read_text(&self.path)? else {
                return Ok(None);
            };
            return single::document(name, &self.path, &text);
        }
        let path = self.path.join(format!("{name}.yaml"));
        let Some(text) = read_text(&path)? else {
            return Ok(None);
        };
        Document::from_yaml(name, Origin::File(path), &text).map(Some)
    }
}

/// The text of the file at `path`, `None` when there is none. Refuses
/// anything but a regular file (a FIFO would block), files over
/// [`FileBackend::MAX_FILE_SIZE`] (from the metadata, before reading; the
/// read is capped as well, in case the file grows meanwhile) and text that
/// is not UTF-8.
fn read_text(path: &Path) -> Result<Option<String>, LoadError> {
    let read_error = |source: std::io::Error| LoadError::Read {
        path: path.to_owned(),
        source,
    };
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(read_error(err)),
    };
    if !metadata.is_file() {
        return Err(read_error(std::io::Error::other("not a regular file")));
    }
    let too_large = |size: u64| {
        read_error(std::io::Error::new(
            ErrorKind::FileTooLarge,
            format!(
                "{size} bytes is over the limit of {} MiB for a configuration file",
                FileBackend::MAX_FILE_SIZE / (1024 * 1024)
            ),
        ))
    };
    if metadata.len() > FileBackend::MAX_FILE_SIZE {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::new();
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(read_error(err)),
    };
    file.take(FileBackend::MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > FileBackend::MAX_FILE_SIZE {
        return Err(too_large(bytes.len() as u64));
    }
    yaml::decode(bytes, &Origin::File(path.to_owned())).map(Some)
}
