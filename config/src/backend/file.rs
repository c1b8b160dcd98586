use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::document::check_name;
use crate::{ConfigBackend, Document, LoadError, Origin};

/// Reads document `<name>` from the file `<dir>/<name>.yaml`.
///
/// A missing file is "no such document", not an error, so a directory needs
/// to hold only the documents it changes. Files are read at each load, so a
/// reload sees edits.
///
/// ```
/// use micro_config::{ConfigBackend, FileBackend};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("demo.yaml"), "greeting: hi\n").unwrap();
/// let backend = FileBackend::new(dir.path());
/// let doc = backend.load("demo").await.unwrap().unwrap();
/// assert_eq!(doc.value()["greeting"], "hi");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct FileBackend {
    dir: PathBuf,
}

impl FileBackend {
    /// A backend reading `<dir>/<name>.yaml`.
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
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory documents are read from.
    ///
    /// ```
    /// let backend = micro_config::FileBackend::new("conf");
    /// assert_eq!(backend.dir(), std::path::Path::new("conf"));
    /// ```
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait::async_trait]
impl ConfigBackend for FileBackend {
    fn describe(&self) -> String {
        format!("files in {}", self.dir.display())
    }

    async fn load(&self, name: &str) -> Result<Option<Document>, LoadError> {
        check_name(name)?;
        let path = self.dir.join(format!("{name}.yaml"));
        // Configuration files are small; reading them inline costs less than
        // handing the read to a blocking thread.
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(LoadError::Read { path, source }),
        };
        Document::from_yaml(name, Origin::File(path), &text).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_file_is_no_document() {
        let dir = tempfile::tempdir().expect("tempdir");
        let found = FileBackend::new(dir.path()).load("absent").await.expect("load");
        assert!(found.is_none());
    }

    #[tokio::test]
    async fn invalid_yaml_names_the_file_line_and_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("demo.yaml"), "greeting: hi\nbad: [\n").expect("write");
        let err = FileBackend::new(dir.path()).load("demo").await.expect_err("invalid");
        let expected = format!("{}:3:1: ", dir.path().join("demo.yaml").display());
        assert!(err.to_string().starts_with(&expected), "{err}");
    }

    #[tokio::test]
    async fn names_cannot_leave_the_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = FileBackend::new(dir.path())
            .load("../secret")
            .await
            .expect_err("rejected");
        assert!(matches!(err, LoadError::InvalidName { .. }), "{err}");
    }
}
