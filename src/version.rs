//! The running version: what deploy tools wrote, else what the service's
//! build knew. Never micro's own: the build identity comes from the
//! service's crate, through [`build_version!`](crate::build_version).

use std::path::Path;

/// The service's build identity: its package version and, when its build
/// captured one, the commit it was built from. Usually made by
/// [`build_version!`](crate::build_version) in the service's own crate; a
/// plain `&str` or `String` converts into one with no commit.
///
/// ```
/// let version = micro::BuildVersion::new("1.4.0").commit(Some("0123456789abcdef0123"));
/// assert_eq!(version.package(), "1.4.0");
/// assert_eq!(version.git_commit(), Some("0123456789abcdef0123"));
/// let plain: micro::BuildVersion = "2.0.0".into();
/// assert_eq!(plain.git_commit(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildVersion {
    package: String,
    commit: Option<String>,
}

impl BuildVersion {
    /// A build identity with the package version only.
    ///
    /// ```
    /// assert_eq!(micro::BuildVersion::new("0.3.1").package(), "0.3.1");
    /// ```
    #[must_use]
    pub fn new(package: impl Into<String>) -> Self {
        Self {
            package: package.into(),
            commit: None,
        }
    }

    /// The commit the build saw; `None`, an empty or blank value keeps none.
    ///
    /// ```
    /// let version = micro::BuildVersion::new("0.3.1").commit(Some("  "));
    /// assert_eq!(version.git_commit(), None);
    /// ```
    #[must_use]
    pub fn commit(mut self, commit: Option<&str>) -> Self {
        self.commit = commit.map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned);
        self
    }

    /// The package version (`CARGO_PKG_VERSION` of the service's crate).
    ///
    /// ```
    /// assert_eq!(micro::BuildVersion::from("1.0.0").package(), "1.0.0");
    /// ```
    #[must_use]
    pub fn package(&self) -> &str {
        &self.package
    }

    /// The commit captured at build, if any.
    ///
    /// ```
    /// assert_eq!(micro::BuildVersion::from("1.0.0").git_commit(), None);
    /// ```
    #[must_use]
    pub fn git_commit(&self) -> Option<&str> {
        self.commit.as_deref()
    }
}

impl From<&str> for BuildVersion {
    fn from(package: &str) -> Self {
        Self::new(package)
    }
}

impl From<String> for BuildVersion {
    fn from(package: String) -> Self {
        Self::new(package)
    }
}

/// The build identity of the crate this macro expands in — the service's:
/// its `CARGO_PKG_VERSION` and, when its build script set one,
/// `VERGEN_GIT_SHA` (the variable [vergen](https://docs.rs/vergen-gitcl)
/// emits; any build script may print `cargo:rustc-env=VERGEN_GIT_SHA=<sha>`).
/// Hand it to [`ServiceBuilder::version`](crate::ServiceBuilder::version).
///
/// A service's `build.rs` with `vergen-gitcl = "1"` as a build-dependency:
///
/// ```ignore
/// fn main() {
///     if let Ok(git) = vergen_gitcl::GitclBuilder::default().sha(false).build() {
///         let mut emitter = vergen_gitcl::Emitter::default();
///         if emitter.add_instructions(&git).is_ok() {
///             let _ = emitter.fail_on_error().emit(); // outside git: nothing
///         }
///     }
/// }
/// ```
///
/// ```
/// let version = micro::build_version!();
/// assert_eq!(version.package(), env!("CARGO_PKG_VERSION"));
/// let service = micro::Service::builder("orders", "takes orders").version(version).build();
/// # let _ = service;
/// ```
#[macro_export]
macro_rules! build_version {
    () => {
        $crate::BuildVersion::new(::core::env!("CARGO_PKG_VERSION")).commit(::core::option_env!("VERGEN_GIT_SHA"))
    };
}

/// Resolves the version, first found wins:
/// 1. the `REVISION` file in `dir` (what deploy tools such as Capistrano write),
/// 2. the `MICRO_REVISION` environment variable,
/// 3. the commit the service's build captured,
/// 4. the service's package version.
pub(crate) fn resolve(dir: &Path, build: &BuildVersion) -> String {
    let from_file = std::fs::read_to_string(dir.join("REVISION")).ok();
    let from_env = std::env::var("MICRO_REVISION").ok();
    [from_file, from_env, build.commit.clone()]
        .into_iter()
        .flatten()
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| build.package.clone())
}

/// The short form: the first 7 characters of a commit hash; any other
/// version (such as `0.1.0`) as it is.
pub(crate) fn short(version: &str) -> &str {
    if version.len() > 7 && version.bytes().all(|b| b.is_ascii_hexdigit()) {
        &version[..7]
    } else {
        version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revision_file_outranks_the_build_commit() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let build = BuildVersion::new("0.1.0").commit(Some("feedfacefeedface"));
        assert_eq!(resolve(dir.path(), &build), "feedfacefeedface");
        std::fs::write(dir.path().join("REVISION"), "0123456789abcdef\n").expect("REVISION written");
        assert_eq!(resolve(dir.path(), &build), "0123456789abcdef");
    }

    #[test]
    fn without_a_commit_the_package_version_is_the_version() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        assert_eq!(resolve(dir.path(), &BuildVersion::new("2.3.4")), "2.3.4");
    }

    #[test]
    fn short_cuts_only_commit_hashes() {
        assert_eq!(short("0123456789abcdef"), "0123456");
        assert_eq!(short("1.2.3"), "1.2.3");
    }
}
