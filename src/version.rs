//! The running version: what deploy tools wrote, else what the build knew.

use std::path::Path;

/// The git commit this binary was built from, when the build saw one.
///
/// ```
/// if let Some(sha) = micro::version::BUILD_GIT_SHA {
///     assert!(sha.len() >= 7);
/// }
/// ```
pub const BUILD_GIT_SHA: Option<&str> = option_env!("MICRO_GIT_SHA");

/// Resolves the version, first found wins:
/// 1. the `REVISION` file in `dir` (what deploy tools such as Capistrano write),
/// 2. the `MICRO_REVISION` environment variable,
/// 3. the git commit at build time,
/// 4. `fallback` (the crate version).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("REVISION"), "0123456789abcdef\n").unwrap();
/// assert_eq!(micro::version::resolve(dir.path(), "0.1.0"), "0123456789abcdef");
/// ```
#[must_use]
pub fn resolve(dir: &Path, fallback: &str) -> String {
    let from_file = std::fs::read_to_string(dir.join("REVISION")).ok();
    let from_env = std::env::var("MICRO_REVISION").ok();
    [from_file, from_env, BUILD_GIT_SHA.map(str::to_owned)]
        .into_iter()
        .flatten()
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| fallback.to_owned())
}

/// The short form: the first 7 characters of a commit hash; any other
/// version (such as `0.1.0`) as it is.
///
/// ```
/// assert_eq!(micro::version::short("0123456789abcdef"), "0123456");
/// assert_eq!(micro::version::short("1.2.3"), "1.2.3");
/// ```
#[must_use]
pub fn short(version: &str) -> &str {
    if version.len() > 7 && version.bytes().all(|b| b.is_ascii_hexdigit()) {
        &version[..7]
    } else {
        version
    }
}
