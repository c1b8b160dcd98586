//! Behind a real balancer: HAProxy (Debian's) in front of three demo
//! instances, checking `/health/ready` every 100 ms, and a rolling restart
//! under load as an orchestrator does it: a new instance starts and joins,
//! then an old one gets SIGTERM.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::load::{Bodies, Load, Tally};
use crate::support::{DEADLINE, Demo, Running, poll};

/// Server slots in the backend: the instances and their replacements.
const SLOTS: usize = 6;

/// HAProxy with its runtime API on a unix socket and its request log sent
/// here over UDP (it never waits on it); killed when dropped.
struct Haproxy {
    child: Child,
    front: SocketAddr,
    admin: PathBuf,
    requests: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    /// HAProxy balancing over `servers` (the first slots; the others wait
    /// disabled for the replacements), on a port it could bind.
    fn start(servers: &[SocketAddr]) -> Self {
        // HAProxy cannot bind port 0: a port from the dynamic range,
        // another one when it was taken.
        for attempt in 0..20_u16 {
            let port = 20_000 + (std::process::id() as u16 % 1000) * 20 + attempt;
            if let Some(haproxy) = Self::on(port, servers) {
                return haproxy;
            }
        }
        panic!("HAProxy found no free port");
    }

    fn on(port: u16, servers: &[SocketAddr]) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let admin = dir.path().join("admin.sock");
        let (log, requests) = log_receiver();
        let mut config = format!(
            "global\n    stats socket {} level admin\n    log {log} format raw local0\n\
             defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\
             frontend front\n    bind 127.0.0.1:{port}\n    default_backend demos\n\
             backend demos\n    option httpchk GET /health/ready\n    default-server inter 100ms fall 1 rise 1\n",
            admin.display()
        );
        for slot in 0..SLOTS {
            match servers.get(slot) {
                Some(addr) => config.push_str(&format!("    server s{slot} {addr} check\n")),
                None => config.push_str(&format!("    server s{slot} 127.0.0.1:1 check disabled\n")),
            }
        }
        let file = dir.path().join("haproxy.cfg");
        std::fs::write(&file, config).expect("write");
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("haproxy runs (scripts/prerequisites installs it)");
        let mut haproxy = Self {
            child,
            front: SocketAddr::from(([127, 0, 0, 1], port)),
            admin,
            requests,
            _dir: dir,
        };
        // Up once its runtime API answers; ended at once: the port was taken.
        let up = poll("HAProxy's runtime API", || {
            if haproxy.child.try_wait().expect("try_wait").is_some() {
                return Some(false);
            }
            UnixStream::connect(&haproxy.admin).is_ok().then_some(true)
        });
        up.then_some(haproxy)
    }

    /// Runs one runtime API command and returns its answer.
    fn command(&self, command: &str) -> String {
        let mut stream = UnixStream::connect(&self.admin).expect("the runtime API");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        stream.write_all(format!("{command}\n").as_bytes()).expect("sent");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("an answer");
        answer
    }

    /// Points `slot` at `addr` and lets it take traffic once its checks pass.
    fn join(&self, slot: usize, addr: SocketAddr) {
        let set = format!("set server demos/s{slot} addr {} port {}", addr.ip(), addr.port());
        self.command(&set);
        self.command(&format!("enable server demos/s{slot}"));
        poll(&format!("HAProxy to see s{slot} up"), || {
            self.command("show servers state demos")
                .lines()
                .filter(|line| line.contains(&format!(" s{slot} ")))
                // srv_op_state 2: running.
                .any(|line| line.split_whitespace().nth(5) == Some("2"))
                .then_some(())
        });
    }
}

impl Haproxy {
    /// Stops it and returns what it said (state changes, alerts) and its
    /// log lines of requests not answered 200.
    fn log(mut self) -> String {
        // SIGUSR1: a soft stop, which writes out what it logged.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), Signal::SIGUSR1);
        let deadline = Instant::now() + DEADLINE;
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let mut log = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut log);
        }
        let requests = self.requests.lock().expect("lock");
        let failed = requests.iter().filter(|line| !line.contains(" 200 "));
        format!("{log}\n{}", failed.cloned().collect::<Vec<_>>().join("\n"))
    }
}

/// A UDP socket collecting syslog datagrams, and what it collected.
fn log_receiver() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let addr = socket.local_addr().expect("addr");
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        let mut buffer = [0_u8; 4096];
        // Wakes every 100 ms to end once the balancer (and its sink) is gone.
        while Arc::strong_count(&sink) > 1 {
            if let Ok(n) = socket.recv(&mut buffer) {
                let line = String::from_utf8_lossy(&buffer[..n]).trim_end().to_owned();
                sink.lock().expect("lock").push(line);
            }
        }
    });
    (addr, lines)
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A demo instance with `env`, started.
fn instance(env: &[(&str, &str)]) -> Running {
    Demo::new().args(["--production"]).envs(env).start()
}

/// A rolling restart of three instances behind HAProxy under load: the
/// load's tally, how long each old instance took from SIGTERM to exit, and
/// what HAProxy said.
fn rolling_restart(env: &[(&str, &str)]) -> (Tally, Vec<Duration>, String) {
    let mut old: Vec<Running> = (0..3).map(|_| instance(env)).collect();
    let addrs: Vec<SocketAddr> = old.iter().map(|demo| demo.addr.expect("listening")).collect();
    let haproxy = Haproxy::start(&addrs);
    for (slot, addr) in addrs.iter().enumerate() {
        haproxy.join(slot, *addr);
    }
    let load = Load::start(haproxy.front, 16, "/hello", &Bodies::exactly("hello"));
    poll("load through HAProxy", || (load.sent() >= 2000).then_some(()));

    let (mut stops, mut replacements) = (Vec::new(), Vec::new());
    for (slot, mut demo) in old.drain(..).enumerate() {
        let new = instance(env);
        haproxy.join(3 + slot, new.addr.expect("listening"));
        replacements.push(new);
        let sigterm = Instant::now();
        demo.signal(Signal::SIGTERM);
        assert_eq!(demo.wait_exit().code(), Some(0), "{}", demo.stderr());
        stops.push(sigterm.elapsed());
        let pre_drain = demo.wait_for_line("pre-drain: ");
        let said = &pre_drain[pre_drain.find("served").unwrap_or(0)..];
        eprintln!("s{slot}: {}", said.split('"').next().unwrap_or(said));
        // Gone, as an orchestrator removes the endpoint: HAProxy stops
        // checking its port, which another instance may bind next.
        haproxy.command(&format!("disable server demos/s{slot}"));
    }
    poll("20,000 requests through the restart", || {
        (load.sent() >= 20_000).then_some(())
    });
    let tally = load.finish();
    drop(replacements);
    (tally, stops, haproxy.log())
}

#[test]
fn a_rolling_restart_behind_haproxy_with_the_defaults_fails_no_request() {
    let (tally, stops, log) = rolling_restart(&[]);
    eprintln!(
        "rolling restart, defaults: {}; SIGTERM → exit {stops:?}",
        tally.summary()
    );
    tally.assert_nothing_lost(&format!("through a rolling restart behind HAProxy (its log: {log})"));
    assert!(tally.answered() >= 20_000, "{}", tally.summary());
}

#[test]
#[ignore = "a measurement for README: what the pre-drain saves; run with --ignored --nocapture"]
fn a_rolling_restart_behind_haproxy_without_a_pre_drain() {
    let (tally, stops, log) = rolling_restart(&[("MICRO__SITE__SHUTDOWN__PRE_DRAIN_MAX", "0s")]);
    eprintln!(
        "rolling restart, no pre-drain: {}; SIGTERM → exit {stops:?}\n{log}",
        tally.summary()
    );
}

#[test]
#[ignore = "a measurement for README: a fixed delay instead of the pre-drain; run with --ignored --nocapture"]
fn a_rolling_restart_behind_haproxy_with_a_fixed_5s_delay() {
    let fixed = [
        ("MICRO__SITE__SHUTDOWN__PRE_DRAIN_MAX", "0s"),
        ("MICRO__SITE__SHUTDOWN__PRE_DRAIN_DELAY", "5s"),
    ];
    let (tally, stops, log) = rolling_restart(&fixed);
    eprintln!(
        "rolling restart, a fixed 5s delay: {}; SIGTERM → exit {stops:?}\n{log}",
        tally.summary()
    );
}
