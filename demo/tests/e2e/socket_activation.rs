//! Socket activation: `systemd-socket-activate` (part of systemd) holds the
//! port and starts the demo on the first connection, handing the socket
//! over in `LISTEN_FDS`; the demo serves on it without binding.

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Instant;

use support::DEADLINE;

/// `systemd-socket-activate` with its stderr lines; killed when dropped
/// (the demo runs in its process once started).
struct Activator {
    child: Child,
    lines: Receiver<String>,
    log: Vec<String>,
}

impl Activator {
    /// Listening on `address`, or `None` when the address was taken.
    fn listen(address: &str) -> Option<Self> {
        let mut child = Command::new("systemd-socket-activate")
            .args([
                "-l",
                address,
                env!("CARGO_BIN_EXE_micro"),
                "--production",
                "--port",
                "1",
            ])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("systemd-socket-activate runs (install the systemd package)");
        let stderr = child.stderr.take().expect("piped");
        let (lines_tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let mut activator = Self {
            child,
            lines,
            log: Vec::new(),
        };
        // It says it listens, or it ends (the address was taken meanwhile).
        match activator.wait_for("Listening on") {
            Ok(_) => Some(activator),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("no answer within {DEADLINE:?}: {:?}", activator.log),
        }
    }

    /// Listening on a free port: one is found here and released for it
    /// (systemd-socket-activate binds the port itself), and looked for
    /// again if taken meanwhile.
    fn on_a_free_port() -> (String, Self) {
        (0..5)
            .find_map(|_| {
                let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
                let address = probe.local_addr().expect("addr").to_string();
                drop(probe);
                Self::listen(&address).map(|activator| (address, activator))
            })
            .expect("systemd-socket-activate listening within 5 tries")
    }

    /// The next line containing `needle`, waiting at most [`DEADLINE`].
    fn wait_for(&mut self, needle: &str) -> Result<String, RecvTimeoutError> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let line = self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))?;
            self.log.push(line.clone());
            if line.contains(needle) {
                return Ok(line);
            }
        }
    }
}

impl Drop for Activator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_demo_serves_on_the_socket_systemd_hands_over() {
    let (address, mut activator) = Activator::on_a_free_port();

    // The first connection starts the demo; it answers on the handed-over
    // socket although its own configuration says port 1.
    let (status, body) = support::get(&format!("http://{address}/hello"));
    assert_eq!((status, body.as_str()), (200, "hello"));
    let listening = activator
        .wait_for("listening on")
        .unwrap_or_else(|err| panic!("the demo's listening line: {err}; {:?}", activator.log));
    assert!(listening.contains(&format!("listening on {address}")), "{listening}");
}

#[test]
fn an_upgrade_hands_the_socket_systemd_passed_to_the_new_process() {
    use crate::upgrade::{Lineage, pid_of, version};
    use nix::sys::signal::Signal;
    let (address, mut activator) = Activator::on_a_free_port();
    let base = format!("http://{address}");
    let old = pid_of(&version(&base));
    let mut lineage = Lineage(vec![old]);
    Lineage::signal(old, Signal::SIGUSR2);
    let new = support::poll("the new process serving on the activated socket", || {
        let pid = pid_of(&version(&base));
        (pid != old).then_some(pid)
    });
    lineage.0.push(new);
    // Each listened on the socket handed over, not on its configured port 1.
    for _ in 0..2 {
        let listening = activator
            .wait_for("listening on")
            .unwrap_or_else(|err| panic!("a listening line: {err}; {:?}", activator.log));
        assert!(listening.contains(&format!("listening on {address}")), "{listening}");
    }
    support::poll("the old process to exit", || (!Lineage::alive(old)).then_some(()));
    assert_eq!(support::get(&format!("{base}/hello")), (200, "hello".to_owned()));
}
