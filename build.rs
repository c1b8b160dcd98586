//! Records the git commit the binary is built from, when there is one, as
//! `MICRO_GIT_SHA`. Never fails: without git or a repository the variable
//! is simply not set.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MICRO_GIT_SHA");
    if let Ok(top) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={top}/HEAD");
        println!("cargo:rerun-if-changed={top}/refs/heads");
    }
    if let Ok(sha) = git(&["rev-parse", "HEAD"]) {
        if sha.len() >= 7 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            println!("cargo:rustc-env=MICRO_GIT_SHA={sha}");
        }
    }
}

fn git(args: &[&str]) -> Result<String, ()> {
    let output = Command::new("git").args(args).output().map_err(|_| ())?;
    if !output.status.success() {
        return Err(());
    }
    String::from_utf8(output.stdout)
        .map(|s| s.trim().to_owned())
        .map_err(|_| ())
}
