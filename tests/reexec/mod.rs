//! Re-executing this test binary on one `#[ignore]`d test, for a case that
//! needs a process of its own: `Child::start(NAME, ..)` runs `--exact NAME
//! --ignored` with `MICRO_TEST_CHILD=NAME`, and the child test does its work
//! only when [`is_child`] says it was asked to.

#![allow(dead_code, unreachable_pub)] // each test binary uses what it needs

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

/// How long a child may take to say something, or to end.
pub const BOUND: Duration = Duration::from_secs(60);

/// The variable naming the child test a child process runs.
pub const CHILD: &str = "MICRO_TEST_CHILD";

/// Whether this process was started to run the child test `name`.
pub fn is_child(name: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|asked| asked == name)
}

/// Says `line` on stdout, for the parent's [`Child::wait_for_stdout`]
/// (the child runs with `--nocapture`).
pub fn tell_parent(line: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .expect("stdout");
}

/// This test binary, running the ignored test `name` alone.
pub struct Child {
    process: std::process::Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Child {
    /// Starts it; with `nocapture`, its output is not held by libtest.
    pub fn start(name: &str, nocapture: bool) -> Self {
        let mut command = Command::new(std::env::current_exe().expect("the test binary"));
        command.args(["--exact", name, "--ignored", "--test-threads=1"]);
        if nocapture {
            command.arg("--nocapture");
        }
        let mut process = command
            .env(CHILD, name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawned");
        let (stdout, stderr) = (Arc::default(), Arc::default());
        let readers = vec![
            read_into(process.stdout.take().expect("piped"), Arc::clone(&stdout)),
            read_into(process.stderr.take().expect("piped"), Arc::clone(&stderr)),
        ];
        Self {
            process,
            stdout,
            stderr,
            readers,
        }
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().expect("stdout").clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr").clone()
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.process.id()).expect("a pid"))
    }

    pub fn wait_for_stdout(&self, needle: &str) {
        let deadline = Instant::now() + BOUND;
        while !self.stdout().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} within {BOUND:?}:\n{}\n{}",
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for it to end (killed past the bound) and for its last output.
    /// Runs the child test `name`, which is meant to fail, to its end:
    /// the child, its whole stdout, and libtest's failure section for it
    /// (what libtest captured of the test's output, with the panic).
    pub fn run_failing(name: &str) -> (Self, String, String) {
        let mut child = Self::start(name, false);
        let status = child.wait();
        let stdout = child.stdout();
        assert_eq!(status.code(), Some(101), "{status}\n{stdout}");
        let failure = stdout
            .split_once(&format!("---- {name} stdout ----"))
            .map(|(_, section)| section.to_owned())
            .unwrap_or_else(|| panic!("no failure section for {name}:\n{stdout}"));
        (child, stdout, failure)
    }

    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + BOUND;
        let status = loop {
            if let Some(status) = self.process.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.process.kill();
                panic!(
                    "still running after {BOUND:?}, killed:\n{}\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        for reader in self.readers.drain(..) {
            reader.join().expect("reader");
        }
        status
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn read_into(pipe: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let mut text = into.lock().expect("output");
            text.push_str(&line);
            text.push('\n');
        }
    })
}
