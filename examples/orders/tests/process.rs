//! The `orders` binary from outside: its command line, its typed document
//! at start and at reload, and its store released when startup fails after
//! it opened. Real process, real signals, real sockets.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const DEADLINE: Duration = Duration::from_secs(30);

/// A running `orders` with its stderr collected line by line.
struct Orders {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Orders {
    /// Starts `orders` with `args`, its data in `data_dir`.
    fn spawn(args: &[&str], data_dir: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orders"))
            .args(args)
            .env("MICRO__ORDERS__DATA_DIR", data_dir)
            .env_remove("PORT")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("orders starts");
        let stderr = child.stderr.take().expect("piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        Self { child, lines }
    }

    fn stderr(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }

    /// The first line holding `needle`, polled until the deadline.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(line) = self.lines.lock().expect("lines").iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no line with {needle:?} within {DEADLINE:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `http://ADDR` from the `listening on ADDR` line.
    fn base(&self) -> String {
        let line = self.wait_for("listening on ");
        let addr = line.rsplit("listening on ").next().expect("an address");
        format!("http://{}", addr.split_whitespace().next().expect("an address"))
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(i32::try_from(self.child.id()).expect("a pid")), signal).expect("delivered");
    }

    /// The exit code, polled until the deadline.
    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "still running after {DEADLINE:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Orders {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs an order of `quantity` items; the status code.
fn order(base: &str, quantity: u32) -> u16 {
    let body = format!(r#"{{"item": "widget", "quantity": {quantity}}}"#);
    match ureq::post(&format!("{base}/orders"))
        .set("content-type", "application/json")
        .send_string(&body)
    {
        Ok(response) => response.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(err) => panic!("POST /orders: {err}"),
    }
}

#[test]
fn a_wrong_type_in_the_orders_document_exits_78_naming_file_line_and_column() {
    let (conf, data) = (tempfile::tempdir().expect("conf"), tempfile::tempdir().expect("data"));
    std::fs::write(conf.path().join("orders.yaml"), "max_items: lots\n").expect("written");
    let conf_dir = conf.path().to_str().expect("utf-8");
    let at = format!("{}:1:1: orders.max_items", conf.path().join("orders.yaml").display());

    let mut start = Orders::spawn(&["--config", conf_dir, "--port", "0"], data.path());
    assert_eq!(start.exit_code(), Some(78), "{}", start.stderr());
    assert!(start.stderr().contains(&at), "{}", start.stderr());
    assert!(
        start.stderr().contains("invalid type: string \"lots\", expected u32"),
        "{}",
        start.stderr()
    );

    let mut check = Orders::spawn(&["--config", conf_dir, "--check-config"], data.path());
    assert_eq!(check.exit_code(), Some(78), "{}", check.stderr());
    assert!(check.stderr().contains(&at), "{}", check.stderr());
    assert!(
        !data.path().join("orders.lock").exists(),
        "nothing opened before the config was valid"
    );
}

#[test]
fn a_reload_with_a_wrong_type_is_rejected_and_the_orders_config_in_force_stays() {
    let (conf, data) = (tempfile::tempdir().expect("conf"), tempfile::tempdir().expect("data"));
    let file = conf.path().join("orders.yaml");
    std::fs::write(&file, "max_items: 3\n").expect("written");
    let mut orders = Orders::spawn(
        &["--config", conf.path().to_str().expect("utf-8"), "--port", "0"],
        data.path(),
    );
    let base = orders.base();
    assert_eq!(order(&base, 3), 201);
    assert_eq!(order(&base, 4), 422);

    std::fs::write(&file, "max_items: lots\n").expect("written");
    orders.signal(Signal::SIGHUP);
    let rejected = orders.wait_for("reload rejected");
    assert!(
        rejected.contains(&format!("{}:1:1: orders.max_items", file.display())),
        "{rejected}"
    );
    assert_eq!(order(&base, 3), 201, "the config in force stays");

    std::fs::write(&file, "max_items: 5\n").expect("written");
    orders.signal(Signal::SIGHUP);
    orders.wait_for("config reloaded");
    assert_eq!(order(&base, 5), 201, "a valid reload applies");

    orders.signal(Signal::SIGTERM);
    assert_eq!(orders.exit_code(), Some(0), "{}", orders.stderr());
    assert!(!data.path().join("orders.lock").exists(), "the store released its lock");
}

#[test]
fn a_port_in_use_after_the_store_opened_releases_it_and_exits_69() {
    let data = tempfile::tempdir().expect("data");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port to hold");
    let port = taken.local_addr().expect("its address").port().to_string();
    let mut orders = Orders::spawn(&["--port", &port], data.path());
    assert_eq!(orders.exit_code(), Some(69), "{}", orders.stderr());
    let stderr = orders.stderr();
    assert!(
        stderr.contains("store open, holding"),
        "the store opened first:\n{stderr}"
    );
    assert!(stderr.contains("store closed after 0 orders"), "{stderr}");
    assert!(!data.path().join("orders.lock").exists(), "the lock file is released");
}

#[test]
fn the_command_line_is_micros_with_the_services_name_and_version() {
    let output = Command::new(env!("CARGO_BIN_EXE_orders"))
        .arg("--version")
        .output()
        .expect("runs");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "orders 0.3.1");
    let help = Command::new(env!("CARGO_BIN_EXE_orders"))
        .arg("--help")
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in ["--production", "--config", "--watch-config", "--check-config", "--port"] {
        assert!(help.contains(flag), "{flag} missing:\n{help}");
    }
}
