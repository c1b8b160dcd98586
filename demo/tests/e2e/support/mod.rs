//! Drives the real `micro` demo binary from outside: real process, real
//! signals, real sockets. Every wait polls with a deadline and says what it
//! waited for when it gives up.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[cfg(feature = "etcd")]
pub mod etcd;
pub mod load;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A running demo process with its stderr collected line by line.
pub struct Demo {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    pub addr: Option<SocketAddr>,
    /// stderr, once the reader stopped reading it (see `spawn_holding_stderr`).
    held: Arc<Mutex<Option<BufReader<std::process::ChildStderr>>>>,
}

impl Demo {
    /// Starts the demo with `args` (plus `--port 0`), without waiting.
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_in(args, None)
    }

    /// Starts the demo in working directory `dir`.
    pub fn spawn_in(args: &[&str], dir: Option<&Path>) -> Self {
        Self::spawn_with(args, dir, &[])
    }

    /// Starts the demo with extra environment variables, without waiting.
    pub fn spawn_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn_with(args, None, env)
    }

    /// Starts the demo and reads its stderr only up to the first line
    /// containing `until`; then holds the pipe open unread, so it fills and
    /// every write to it blocks.
    pub fn spawn_holding_stderr(args: &[&str], env: &[(&str, &str)], until: &str) -> Self {
        Self::spawn_reading(args, None, env, Some(until.to_owned()))
    }

    fn spawn_with(args: &[&str], dir: Option<&Path>, env: &[(&str, &str)]) -> Self {
        Self::spawn_reading(args, dir, env, None)
    }

    fn spawn_reading(args: &[&str], dir: Option<&Path>, env: &[(&str, &str)], until: Option<String>) -> Self {
        Self::spawn_program(Path::new(env!("CARGO_BIN_EXE_micro")), args, dir, env, until)
    }

    /// Starts another program built on micro (a service crate built by a
    /// test), driven like the demo.
    pub fn spawn_program(
        program: &Path,
        args: &[&str],
        dir: Option<&Path>,
        env: &[(&str, &str)],
        until: Option<String>,
    ) -> Self {
        let mut command = Command::new(program);
        command
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("PORT")
            .env_remove("MICRO_REVISION")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        // Only the variables a test sets may reach the demo's env layer.
        for (name, _) in std::env::vars() {
            if name.starts_with("MICRO__") {
                command.env_remove(name);
            }
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("the demo binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let held = Arc::new(Mutex::new(None));
        let (sink, hold) = (Arc::clone(&lines), Arc::clone(&held));
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let last = std::mem::take(&mut line).trim_end().to_owned();
                let stop = until.as_deref().is_some_and(|until| last.contains(until));
                sink.lock().expect("lines").push(last);
                if stop {
                    *hold.lock().expect("held") = Some(reader);
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            addr: None,
            held,
        }
    }

    /// Starts the demo on port 0 with `extra` args and waits until it listens.
    pub fn start(extra: &[&str]) -> Self {
        let mut args = vec!["--port", "0"];
        args.extend_from_slice(extra);
        let mut demo = Self::spawn(&args);
        demo.wait_listening();
        demo.wait_for_line("started micro-demo");
        demo
    }

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
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(line) = self.lines().into_iter().filter(|l| l.contains(needle)).nth(n - 1) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no stderr line #{n} containing {needle:?} within {DEADLINE:?}; stderr so far:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// All stderr lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    /// All stderr so far, as one text.
    pub fn stderr(&self) -> String {
        self.lines().join("\n")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr.expect("the demo listens"))
    }

    /// GET `path`: the status and body (4xx/5xx included).
    pub fn get(&self, path: &str) -> (u16, String) {
        get(&self.url(path))
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
        kill(Pid::from_raw(self.child.id() as i32), signal).expect("the signal is delivered");
    }

    /// Waits for the process to exit and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(20));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the demo did not exit within {DEADLINE:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the process is still running.
    pub fn is_alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `url` with a bounded wait: the status and body.
pub fn get(url: &str) -> (u16, String) {
    let agent = ureq::AgentBuilder::new().timeout(DEADLINE).build();
    match agent.get(url).call() {
        Ok(response) => (response.status(), response.into_string().expect("a text body")),
        Err(ureq::Error::Status(code, response)) => (code, response.into_string().unwrap_or_default()),
        Err(err) => panic!("GET {url}: {err}"),
    }
}

/// Polls `probe` until it returns `Some`, at most [`DEADLINE`].
pub fn poll<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {DEADLINE:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
