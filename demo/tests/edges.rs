//! The lifecycle's edges seen from outside the demo binary: a reload
//! racing SIGTERM, SIGHUP while starting, `shutdown.total` as the bound of
//! everything after SIGTERM, and the admin listener drained.

mod support;

use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::load::Load;
use support::{Demo, poll};

/// Collects every datagram sent to a socket in a fresh directory.
struct NotifySocket {
    path: String,
    messages: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl NotifySocket {
    fn bind() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let messages: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = Arc::clone(&messages);
        std::thread::spawn(move || {
            let mut buffer = [0_u8; 4096];
            while Arc::strong_count(&sink) > 1 {
                if let Ok(n) = socket.recv(&mut buffer) {
                    let message = String::from_utf8_lossy(&buffer[..n]).trim_end().to_owned();
                    sink.lock().expect("lock").push(message);
                }
            }
        });
        let path = path.to_str().expect("utf-8").to_owned();
        Self {
            path,
            messages,
            _dir: dir,
        }
    }

    fn messages(&self) -> Vec<String> {
        self.messages.lock().expect("lock").clone()
    }
}

#[test]
fn sighup_then_sigterm_never_announces_ready_after_stopping() {
    for attempt in 0..5 {
        let socket = NotifySocket::bind();
        let mut demo = Demo::spawn_env(&["--port", "0"], &[("NOTIFY_SOCKET", socket.path.as_str())]);
        demo.wait_listening();
        poll("READY=1", || {
            socket.messages().iter().any(|m| m.contains("READY=1")).then_some(())
        });

        demo.signal(Signal::SIGHUP);
        demo.signal(Signal::SIGTERM);
        assert_eq!(demo.wait_exit().code(), Some(0), "attempt {attempt}");
        // The STOPPING=1 datagram was sent before the process exited.
        let messages = poll("STOPPING=1", || {
            let messages = socket.messages();
            messages.iter().any(|m| m.contains("STOPPING=1")).then_some(messages)
        });
        let stopping = messages.iter().position(|m| m.contains("STOPPING=1")).expect("found");
        let after: Vec<&String> = messages[stopping..]
            .iter()
            .filter(|m| m.contains("READY=1") || m.contains("RELOADING=1"))
            .collect();
        assert!(
            after.is_empty(),
            "attempt {attempt}: after STOPPING=1 came {after:?} in {messages:?}"
        );
    }
}

#[test]
fn each_startup_phase_is_announced_once() {
    let socket = NotifySocket::bind();
    let mut demo = Demo::spawn_env(&["--port", "0"], &[("NOTIFY_SOCKET", socket.path.as_str())]);
    demo.wait_listening();
    poll("READY=1", || {
        socket.messages().iter().any(|m| m.contains("READY=1")).then_some(())
    });
    demo.signal(Signal::SIGTERM);
    assert_eq!(demo.wait_exit().code(), Some(0));

    let starting: Vec<String> = socket
        .messages()
        .into_iter()
        .filter(|m| m.starts_with("STATUS=starting: "))
        .collect();
    assert_eq!(
        starting,
        [
            "STATUS=starting: config",
            "STATUS=starting: logging",
            "STATUS=starting: watch",
            "STATUS=starting: init",
            "STATUS=starting: http"
        ]
    );
}

#[test]
fn sighup_while_starting_is_kept_for_once_the_service_runs() {
    let mut demo = Demo::spawn(&["--port", "0", "--init-delay", "3s"]);
    demo.wait_for_line("demo init callback: taking 3s first");

    demo.signal(Signal::SIGHUP);
    demo.wait_for_line("SIGHUP while starting: the config is reloaded once the service runs");
    demo.wait_listening();
    demo.wait_for_line("reloading the config for the SIGHUP received while starting");
    demo.wait_for_line("config reload: nothing changed, generation 1 stays in force");

    demo.signal(Signal::SIGTERM);
    assert_eq!(demo.wait_exit().code(), Some(0), "{}", demo.stderr());
}

#[test]
fn everything_after_sigterm_fits_in_shutdown_total_even_with_stderr_blocked() {
    let total = Duration::from_secs(1);
    let mut demo = Demo::spawn_holding_stderr(
        &["--production", "--port", "0", "--hanging-finish-callback"],
        &[
            ("MICRO__SITE__LOGGING__BUFFER_LINES", "100"),
            ("MICRO__SITE__SHUTDOWN__TOTAL", "1s"),
            ("MICRO__SITE__SHUTDOWN__FINISH_TIMEOUT", "10s"),
            ("MICRO__SITE__SHUTDOWN__FLUSH_TIMEOUT", "3s"),
        ],
        "started micro-demo",
    );
    demo.wait_listening();
    demo.wait_for_line("started micro-demo");
    // Lines of ~200 bytes each, far past the 64 KiB pipe: every write blocks.
    let load = Load::start(demo.addr.expect("listening"), 8, "/sleep/0");
    poll("3000 requests sent with stderr blocked", || {
        (load.sent() >= 3000).then_some(())
    });
    load.finish().assert_nothing_lost("with stderr blocked");

    let sigterm = Instant::now();
    demo.signal(Signal::SIGTERM);
    let status = demo.wait_exit();
    let took = sigterm.elapsed();
    assert_eq!(status.code(), Some(0), "{status:?}");
    let margin = Duration::from_millis(700);
    assert!(
        took < total + margin,
        "SIGTERM → exit took {took:?}; site.shutdown.total is {total:?}"
    );
}

#[test]
fn the_admin_listener_is_drained_not_aborted() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("site.yaml"),
        "admin:\n  enabled: true\n  listen: 127.0.0.1:0\n",
    )
    .expect("write");
    let config = dir.path().to_str().expect("utf-8");
    let token = ("MICRO__SITE__ADMIN__TOKEN", "0123456789abcdef-not-a-real-secret");
    let mut demo = Demo::spawn_env(&["--port", "0", "--config", config], &[token]);
    demo.wait_listening();
    demo.wait_for_line("admin routes served on ");

    demo.signal(Signal::SIGTERM);
    assert_eq!(demo.wait_exit().code(), Some(0), "{}", demo.stderr());
    demo.wait_for_line("admin listener drained in ");
}
