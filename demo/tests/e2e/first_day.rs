//! A service team's first day: a service crate made in a temporary
//! directory depends on this working tree (by path, default features), as a
//! team's own repository would, and is built, run and tested from outside.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Demo, poll};

/// The commit the service's own build captured (its build script says so).
const SERVICE_COMMIT: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

/// This working tree: what the service depends on.
fn micro_tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the demo sits in micro's tree")
        .to_owned()
}

/// Writes the `inventory` service crate into `dir`.
fn write_service_crate(dir: &Path) {
    let micro = micro_tree();
    let micro = micro.display();
    let files: [(&str, String); 5] = [
        (
            "Cargo.toml",
            format!(
                r#"[package]
name = "inventory"
version = "2.7.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
micro = {{ path = "{micro}" }}
tokio = {{ version = "1", features = ["rt-multi-thread", "macros"] }}

[dev-dependencies]
micro = {{ path = "{micro}", features = ["testing"] }}
ureq = {{ version = "2", default-features = false }}
"#
            ),
        ),
        (
            "build.rs",
            format!("fn main() {{\n    println!(\"cargo:rustc-env=VERGEN_GIT_SHA={SERVICE_COMMIT}\");\n}}\n"),
        ),
        (
            "src/lib.rs",
            r#"//! inventory: counts what is in stock.
use micro::axum::{routing::get, Router};

/// The service, for main and for the tests.
pub fn service() -> micro::ServiceBuilder {
    micro::Service::builder("inventory", "counts what is in stock")
        .version(micro::build_version!())
        .app(
            Router::new()
                .route("/stock", get(|| async { "42" }))
                .route("/boom", get(boom)),
        )
}

async fn boom() -> &'static str {
    panic!("inventory's handler panicked")
}
"#
            .to_owned(),
        ),
        (
            "src/main.rs",
            r#"#[tokio::main]
async fn main() -> micro::ExitStatus {
    // The service's own panic hook (an error reporter), installed first.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("inventory's own panic hook saw: {info}");
        previous(info);
    }));
    inventory::service().build().debug("127.0.0.1", 0).await
}
"#
            .to_owned(),
        ),
        (
            "tests/service.rs",
            r#"//! inventory's own integration test, on micro's testing support.
use micro::config::MemoryBackend;

#[tokio::test]
async fn stock_is_served_and_the_service_stops_cleanly() {
    let overrides = MemoryBackend::labelled("test").with_yaml("site", "logging: {level: warn}").unwrap();
    let running = micro::testing::TestService::start(inventory::service(), overrides).await.unwrap();
    let url = running.url("/stock");
    let body = tokio::task::spawn_blocking(move || ureq::get(&url).call().unwrap().into_string().unwrap())
        .await
        .unwrap();
    assert_eq!(body, "42");
    let status = running.stop().await.unwrap();
    assert_eq!(status.code(), 0, "{status:?}");
    assert!(status.report.drain.is_some(), "{status:?}");
}
"#
            .to_owned(),
        ),
    ];
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("folder made");
        std::fs::write(path, text).expect("file written");
    }
    // The versions this tree is tested with; cargo keeps only what the crate uses.
    std::fs::copy(micro_tree().join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock file copied");
}

/// `cargo <args>` in `dir`, offline (this tree's build fetched every crate),
/// into a target directory kept between runs; panics with its output when
/// it fails, returns its stdout.
fn cargo(dir: &Path, args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("first-day-target");
    let output = Command::new(cargo)
        .args(args)
        .arg("--offline")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    assert!(
        output.status.success(),
        "cargo {args:?} failed:\n{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

#[test]
fn a_service_crate_depending_on_micro_gets_its_own_version_its_own_panic_hook_and_no_clap() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write_service_crate(dir.path());

    let tree = cargo(dir.path(), &["tree", "-e", "normal", "--prefix", "none"]);
    assert!(tree.lines().any(|line| line.starts_with("micro v")), "{tree}");
    assert!(
        !tree.lines().any(|line| line.starts_with("clap")),
        "clap in a service's build:\n{tree}"
    );

    cargo(dir.path(), &["build", "--quiet"]);
    let binary = Path::new(env!("CARGO_TARGET_TMPDIR")).join("first-day-target/debug/inventory");
    let mut service = Demo::new().program(&binary).dir(dir.path()).spawn();
    service.wait_listening();

    let (code, body) = service.get("/version");
    assert_eq!(code, 200, "{body}");
    let version: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(version["version"], SERVICE_COMMIT, "{version}");
    assert_eq!(version["package_version"], "2.7.0", "{version}");
    assert_eq!(version["commit"], SERVICE_COMMIT, "{version}");
    assert_eq!(version["name"], "inventory", "{version}");

    let (code, _) = service.get("/boom");
    assert_eq!(code, 500);
    poll("the service's own panic hook to run", || {
        service
            .stderr()
            .contains("inventory's own panic hook saw: ")
            .then_some(())
    });
    assert!(service.stderr().contains("inventory's handler panicked"));
    assert_eq!(service.get("/stock"), (200, "42".to_owned()), "alive after the panic");

    assert_eq!(service.stop().code(), Some(0), "{}", service.stderr());

    let tests = cargo(dir.path(), &["test", "--quiet", "--test", "service"]);
    assert!(tests.contains("1 passed"), "{tests}");
}
