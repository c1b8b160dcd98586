//! The demo binary talking to systemd: a real unix datagram socket stands
//! in as `NOTIFY_SOCKET`, and the messages are read off it.

use crate::support;

use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{Demo, poll};

/// Collects every datagram sent to a socket in a fresh directory, with
/// when it came and the process that sent it (as the kernel says).
struct NotifySocket {
    path: std::path::PathBuf,
    messages: Arc<Mutex<Vec<(Instant, i32, String)>>>,
    _dir: tempfile::TempDir,
}

impl NotifySocket {
    fn bind() -> Self {
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, UnixCredentials, recvmsg, setsockopt, sockopt};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        setsockopt(&socket, sockopt::PassCred, &true).expect("SO_PASSCRED");
        let messages: Arc<Mutex<Vec<(Instant, i32, String)>>> = Arc::default();
        let sink = Arc::clone(&messages);
        std::thread::spawn(move || {
            use std::os::fd::AsRawFd as _;
            let mut buffer = [0_u8; 4096];
            let mut space = nix::cmsg_space!(UnixCredentials);
            // Wakes every 100 ms to end once the test (and its sink) is gone.
            while Arc::strong_count(&sink) > 1 {
                let mut iov = [std::io::IoSliceMut::new(&mut buffer)];
                let Ok(received) = recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty())
                else {
                    continue;
                };
                let pid = received
                    .cmsgs()
                    .ok()
                    .and_then(|mut cmsgs| {
                        cmsgs.find_map(|cmsg| match cmsg {
                            ControlMessageOwned::ScmCredentials(credentials) => Some(credentials.pid()),
                            _ => None,
                        })
                    })
                    .unwrap_or(0);
                let n = received.bytes;
                let message = String::from_utf8_lossy(&buffer[..n]).trim_end().to_owned();
                sink.lock().expect("lock").push((Instant::now(), pid, message));
            }
        });
        Self {
            path,
            messages,
            _dir: dir,
        }
    }

    /// Every message with the pid that sent it, in order.
    fn sent(&self) -> Vec<(u32, String)> {
        self.messages
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, pid, m)| (u32::try_from(*pid).unwrap_or(0), m.clone()))
            .collect()
    }

    fn messages(&self) -> Vec<String> {
        self.messages
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, _, m)| m.clone())
            .collect()
    }

    /// When each message equal to `message` came.
    fn times_of(&self, message: &str) -> Vec<Instant> {
        let messages = self.messages.lock().expect("lock");
        messages
            .iter()
            .filter(|(_, _, m)| m == message)
            .map(|(at, _, _)| *at)
            .collect()
    }

    /// Waits for a message containing `needle`; returns how many came before.
    fn wait_for(&self, needle: &str) -> usize {
        poll(&format!("sd_notify message {needle:?}"), || {
            self.messages().iter().position(|m| m.contains(needle))
        })
    }
}

#[test]
fn systemd_hears_ready_reloading_ready_then_stopping() {
    let socket = NotifySocket::bind();
    let path = socket.path.to_str().expect("utf-8").to_owned();
    let mut demo = Demo::new().env("NOTIFY_SOCKET", &path).start();

    let ready = socket.wait_for("READY=1");
    assert!(
        socket.messages()[ready].contains("STATUS=serving on 127.0.0.1:"),
        "{:?}",
        socket.messages()
    );

    demo.signal(Signal::SIGHUP);
    let reloading = socket.wait_for("RELOADING=1");
    assert!(
        socket.messages()[reloading].contains("MONOTONIC_USEC="),
        "{:?}",
        socket.messages()
    );
    poll("READY=1 after the reload", || {
        let messages = socket.messages();
        messages[reloading..]
            .iter()
            .any(|m| m.contains("READY=1"))
            .then_some(())
    });

    assert_eq!(demo.stop().code(), Some(0));
    let stopping = socket.wait_for("STOPPING=1");
    assert!(stopping > reloading, "{:?}", socket.messages());
    let messages = socket.messages();
    assert!(messages.iter().any(|m| m == "STATUS=starting: config"), "{messages:?}");
    assert!(messages.iter().any(|m| m == "STATUS=stopping: drain"), "{messages:?}");
}

#[test]
fn the_watchdog_is_pinged_at_half_its_interval() {
    let interval = Duration::from_millis(200);
    let socket = NotifySocket::bind();
    let path = socket.path.to_str().expect("utf-8").to_owned();
    let _demo = Demo::new()
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "200000")
        .spawn();
    let pings = poll("eleven watchdog pings", || {
        Some(socket.times_of("WATCHDOG=1")).filter(|pings| pings.len() >= 11)
    });
    let mut gaps: Vec<Duration> = pings.windows(2).map(|pair| pair[1] - pair[0]).collect();
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    let longest = gaps[gaps.len() - 1];
    assert!(
        median >= interval / 4 && median <= interval * 3 / 4,
        "the median gap between pings is {median:?}; half the interval is {:?}: {gaps:?}",
        interval / 2
    );
    assert!(
        longest < interval,
        "a gap of {longest:?} between pings: systemd would have killed the service: {gaps:?}"
    );
}

/// The demo told to notify a socket of the test's, once it said READY=1.
fn ready() -> (NotifySocket, support::Running) {
    let socket = NotifySocket::bind();
    let demo = Demo::new()
        .env("NOTIFY_SOCKET", socket.path.to_str().expect("utf-8"))
        .spawn();
    socket.wait_for("READY=1");
    (socket, demo)
}

#[test]
fn sighup_then_sigterm_never_announces_ready_after_stopping() {
    for attempt in 0..5 {
        let (socket, mut demo) = ready();

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
    let (socket, mut demo) = ready();
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
fn an_upgrade_hands_the_main_pid_over_and_only_the_new_process_says_ready_after() {
    use crate::upgrade::{Lineage, pid_of, version};
    let socket = NotifySocket::bind();
    let path = socket.path.to_str().expect("utf-8").to_owned();
    let demo = Demo::new()
        .env("NOTIFY_SOCKET", &path)
        .env("MICRO__SITE__SHUTDOWN__QUIET_PERIOD", "100ms")
        .start();
    let base = demo.url("");
    let old = demo.pid();
    let mut lineage = Lineage(vec![old]);
    socket.wait_for("READY=1");
    Lineage::signal(old, Signal::SIGUSR2);
    let new = poll("the new process serving", || {
        let pid = pid_of(&version(&base));
        (pid != old).then_some(pid)
    });
    lineage.0.push(new);
    poll("the old process to exit", || (!Lineage::alive(old)).then_some(()));
    let said = |by: u32| -> Vec<String> {
        let sent = socket.sent();
        sent.into_iter().filter(|(pid, _)| *pid == by).map(|(_, m)| m).collect()
    };
    poll("READY=1 from the new process", || {
        said(new).iter().any(|m| m.contains("READY=1")).then_some(())
    });

    let from_old = said(old);
    let handed = from_old
        .iter()
        .position(|m| *m == format!("MAINPID={new}"))
        .unwrap_or_else(|| panic!("no MAINPID={new} from the old process: {from_old:?}"));
    assert!(
        from_old[..handed]
            .iter()
            .any(|m| m.starts_with("RELOADING=1\nMONOTONIC_USEC=")),
        "RELOADING=1 once the upgrade began: {from_old:?}"
    );
    assert_eq!(
        handed,
        from_old.len() - 1,
        "the old process says nothing after handing over (no STOPPING=1, no READY=1): {from_old:?}"
    );
    // The new process is silent until it is the main one: its first word
    // is READY=1, with MAINPID= itself, after the old one's MAINPID=.
    let from_new = said(new);
    assert!(
        from_new[0].starts_with(&format!("MAINPID={new}\nREADY=1\nSTATUS=serving on ")),
        "{from_new:?}"
    );
    let order: Vec<(u32, String)> = socket.sent();
    let handed_at = order
        .iter()
        .position(|(pid, m)| *pid == old && m.starts_with("MAINPID="));
    let ready_at = order.iter().position(|(pid, _)| *pid == new);
    assert!(handed_at < ready_at, "{order:?}");

    Lineage::signal(new, Signal::SIGTERM);
    poll("STOPPING=1 from the new process", || {
        said(new).iter().any(|m| m.starts_with("STOPPING=1")).then_some(())
    });
    poll("the new process to exit", || (!Lineage::alive(new)).then_some(()));
}
