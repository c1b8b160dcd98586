//! Drives the real `micro` demo binary from outside: real process, real
//! signals, real sockets. Every wait polls with a deadline and says what it
//! waited for when it gives up; every socket read has a timeout.

#![allow(dead_code, unreachable_pub)]

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[cfg(feature = "etcd")]
pub mod etcd;
pub mod load;
mod net;
mod tests;

pub use net::{Peer, agent, get, peer, status};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// How to start a program built on micro, the demo by default:
/// `Demo::new().args([..]).env(k, v).spawn()` or `.start()`.
#[must_use = "nothing runs until .spawn() or .start()"]
pub struct Demo {
    program: PathBuf,
    port: Option<String>,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    dir: Option<PathBuf>,
    hold_after: Option<String>,
}

impl Demo {
    /// The demo binary on port 0, no other argument, no `MICRO__` variable.
    pub fn new() -> Self {
        Self {
            program: PathBuf::from(env!("CARGO_BIN_EXE_micro")),
            port: Some("0".into()),
            args: Vec::new(),
            env: Vec::new(),
            dir: None,
            hold_after: None,
        }
    }

    /// Arguments after `--port`.
    pub fn args<S: Into<OsString>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// `--config DIR`.
    pub fn config(self, dir: &Path) -> Self {
        self.args([OsString::from("--config"), dir.as_os_str().to_owned()])
    }

    /// `--port PORT` instead of `--port 0`.
    pub fn port(mut self, port: impl Into<String>) -> Self {
        self.port = Some(port.into());
        self
    }

    /// An environment variable for the process.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Environment variables for the process.
    pub fn envs(self, vars: &[(&str, &str)]) -> Self {
        vars.iter().fold(self, |demo, (name, value)| demo.env(name, value))
    }

    /// The working directory.
    pub fn dir(mut self, dir: &Path) -> Self {
        self.dir = Some(dir.to_owned());
        self
    }

    /// Another program built on micro (a service crate a test built),
    /// given only the arguments set with [`Demo::args`] (no `--port`).
    pub fn program(mut self, program: &Path) -> Self {
        self.program = program.to_owned();
        self.port = None;
        self
    }

    /// Reads stderr only up to the first line containing `needle`, then
    /// holds the pipe unread, so it fills and every write to it blocks; the
    /// rest is read once the process exited.
    pub fn hold_stderr_after(mut self, needle: &str) -> Self {
        self.hold_after = Some(needle.to_owned());
        self
    }

    /// Starts the process without waiting for anything.
    pub fn spawn(self) -> Running {
        let mut command = Command::new(&self.program);
        if let Some(port) = &self.port {
            command.args(["--port", port]);
        }
        command
            .args(&self.args)
            .env_remove("RUST_LOG")
            .env_remove("PORT")
            .env_remove("MICRO_REVISION")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        // Only the variables a test sets may reach the demo's env layer.
        for (name, _) in std::env::vars() {
            if name.starts_with("MICRO__") {
                command.env_remove(name);
            }
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("{} starts: {err}", self.program.display()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (release, released) = channel();
        let sink = Arc::clone(&lines);
        let hold_after = self.hold_after;
        let reader = std::thread::spawn(move || read_stderr(stderr, &sink, hold_after.as_deref(), &released));
        Running {
            child,
            lines,
            addr: None,
            reader: Some(reader),
            release: Some(release),
            exit: None,
        }
    }

    /// Starts the demo and waits until it listens and says it started.
    pub fn start(self) -> Running {
        let mut running = self.spawn();
        running.wait_listening();
        running.wait_for_line("started micro-demo");
        running
    }
}

/// Reads `stderr` line by line into `sink` until EOF (the process and
/// everything it started closed it); with `hold_after`, stops reading after
/// the first line containing it until `release` says to go on.
fn read_stderr(stderr: ChildStderr, sink: &Mutex<Vec<String>>, hold_after: Option<&str>, release: &Receiver<()>) {
    let mut reader = BufReader::new(stderr);
    let mut holding = hold_after;
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
        let last = std::mem::take(&mut line).trim_end().to_owned();
        let hold = holding.is_some_and(|needle| last.contains(needle));
        sink.lock().expect("lines").push(last);
        if hold {
            holding = None;
            // Released, or the test dropped the process: read on to EOF.
            let _ = release.recv();
        }
    }
}

/// A running program with its stderr collected line by line.
pub struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    pub addr: Option<SocketAddr>,
    reader: Option<JoinHandle<()>>,
    release: Option<Sender<()>>,
    /// Set by [`Running::wait_exit`], once every line of stderr is read.
    exit: Option<ExitStatus>,
}

impl Running {
    /// Waits for the `listening on ADDR` line and records the address.
    pub fn wait_listening(&mut self) -> String {
        let line = self.wait_for_line("listening on ");
        let rest = line.rsplit("listening on ").next().unwrap_or_default();
        let addr: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || ".:[]".contains(*c))
            .collect();
        self.addr = Some(
            addr.parse()
                .unwrap_or_else(|e| panic!("bad address {addr:?} in {line:?}: {e}")),
        );
        line
    }

    /// Waits for a stderr line containing `needle` and returns it.
    pub fn wait_for_line(&self, needle: &str) -> String {
        self.wait_for_nth_line(needle, 1)
    }

    /// Waits for the `n`-th stderr line containing `needle` and returns it.
    pub fn wait_for_nth_line(&self, needle: &str, n: usize) -> String {
        poll_or(
            || {
                format!(
                    "stderr line #{n} containing {needle:?}; stderr so far:\n{}",
                    self.stderr()
                )
            },
            || self.lines().into_iter().filter(|l| l.contains(needle)).nth(n - 1),
        )
    }

    /// The stderr lines read so far: all of them once [`Running::wait_exit`]
    /// returned.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    /// [`Running::lines`] as one text.
    pub fn stderr(&self) -> String {
        self.lines().join("\n")
    }

    /// Asserts that no line of the whole stderr contains `needle`; only
    /// after [`Running::wait_exit`], when the whole stderr is read.
    pub fn assert_never_logged(&self, needle: &str, why: &str) {
        assert!(
            self.exit.is_some(),
            "a check that {needle:?} was never logged needs the whole stderr: wait_exit first"
        );
        let stderr = self.stderr();
        assert!(!stderr.contains(needle), "{why}: {needle:?} logged:\n{stderr}");
    }

    /// The address of the `n`-th "admin routes served on ADDR" line
    /// (`site.admin.listen`), waited for.
    pub fn admin_addr(&self, n: usize) -> String {
        let line = self.wait_for_nth_line("admin routes served on ", n);
        let rest = line.rsplit("served on ").next().unwrap_or_default();
        rest.split(' ').next().unwrap_or_default().to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr.expect("the demo listens"))
    }

    /// GET `path`: the status and body (4xx/5xx included).
    pub fn get(&self, path: &str) -> (u16, String) {
        get(&self.url(path))
    }

    /// The value of an unlabelled sample on `/metrics`.
    pub fn metric(&self, name: &str) -> f64 {
        let (status, metrics) = self.get("/metrics");
        assert_eq!(status, 200, "{metrics}");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{metrics}"))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A line of `/proc/PID/status` (such as `VmHWM`), in KiB.
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc/PID/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.trim().trim_end_matches(" kB").parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/PID/status"))
    }

    pub fn signal(&self, signal: Signal) {
        let pid = i32::try_from(self.child.id()).expect("a pid");
        kill(Pid::from_raw(pid), signal).expect("the signal is delivered");
    }

    /// SIGTERM, then [`Running::wait_exit`].
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        self.wait_exit()
    }

    /// Waits for the process to exit and for its whole stderr to be read
    /// (to EOF), then returns its exit status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let lines = Arc::clone(&self.lines);
        let child = &mut self.child;
        let status = poll_or(
            || {
                format!(
                    "the process to exit; stderr:\n{}",
                    lines.lock().expect("lines").join("\n")
                )
            },
            || child.try_wait().expect("try_wait"),
        );
        self.release.take();
        if let Some(reader) = self.reader.take() {
            poll_or(
                || "stderr to reach EOF after the process exited (does a child of it hold the pipe?)".into(),
                || reader.is_finished().then_some(()),
            );
            reader.join().expect("the stderr reader does not panic");
        }
        self.exit = Some(status);
        status
    }

    /// Whether the process is still running.
    pub fn is_alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory with `files` (name, content) in it, for `--config`.
pub fn config_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).expect("write");
    }
    dir
}

/// `micro --check-config ARGS` with `env`: exit code, stdout, stderr.
pub fn check_config(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_micro"));
    command
        .arg("--check-config")
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("PORT");
    for (name, _) in std::env::vars() {
        if name.starts_with("MICRO__") {
            command.env_remove(name);
        }
    }
    let output = command.envs(env.iter().copied()).output().expect("the demo runs");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("utf-8");
    (output.status.code(), text(output.stdout), text(output.stderr))
}

/// Polls `probe` until it returns `Some`, at most [`DEADLINE`].
pub fn poll<T>(what: &str, probe: impl FnMut() -> Option<T>) -> T {
    poll_or(|| what.to_owned(), probe)
}

/// [`poll`], with the failure message made only when it fails.
fn poll_or<T>(what: impl FnOnce() -> String, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        if Instant::now() >= deadline {
            panic!("not within {DEADLINE:?}: {}", what());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
