//! Real etcd servers for tests: single members and clusters on free
//! loopback ports with temporary data directories, `etcdctl` to change
//! them, and a TCP proxy that can cut the network between a service and
//! etcd without stopping either.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::DEADLINE;

/// A free loopback port (bound then released: the test binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn require(binary: &str) {
    let found = Command::new(binary).arg("--version").output().is_ok();
    assert!(
        found,
        "`{binary}` not found: install Debian's etcd-server and etcd-client (.ci/run does)"
    );
}

/// One etcd member.
pub struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    dir: PathBuf,
    cluster: String,
    child: Option<Child>,
}

impl Member {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn start(&mut self, state: &str) {
        let log = std::fs::File::create(self.dir.join(format!("{}.log", self.name))).expect("etcd log");
        let child = Command::new("etcd")
            .args(["--name", &self.name])
            .arg("--data-dir")
            .arg(self.dir.join(&self.name))
            .args(["--listen-client-urls", &self.url()])
            .args(["--advertise-client-urls", &self.url()])
            .args(["--listen-peer-urls", &format!("http://127.0.0.1:{}", self.peer_port)])
            .args([
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{}", self.peer_port),
            ])
            .args(["--initial-cluster", &self.cluster])
            .args(["--initial-cluster-state", state])
            .args(["--initial-cluster-token", &self.dir.display().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd starts");
        self.child = Some(child);
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same ports and data.
    pub fn restart(&mut self) {
        self.kill();
        self.start("existing");
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One etcd cluster of 1 or more members.
pub struct Etcd {
    pub members: Vec<Member>,
    _dir: tempfile::TempDir,
}

impl Etcd {
    /// A single member, answering.
    pub fn start() -> Self {
        Self::cluster(1)
    }

    /// `n` members, answering.
    pub fn cluster(n: usize) -> Self {
        Self::on_ports(&(0..n).map(|_| free_port()).collect::<Vec<_>>())
    }

    /// Members with these client ports (one each), answering.
    pub fn on_ports(client_ports: &[u16]) -> Self {
        require("etcd");
        require("etcdctl");
        let dir = tempfile::tempdir().expect("tempdir");
        let peers: Vec<(String, u16)> = (0..client_ports.len())
            .map(|i| (format!("m{i}"), free_port()))
            .collect();
        let cluster = peers
            .iter()
            .map(|(name, port)| format!("{name}=http://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members: Vec<Member> = peers
            .into_iter()
            .zip(client_ports)
            .map(|((name, peer_port), client_port)| Member {
                name,
                client_port: *client_port,
                peer_port,
                dir: dir.path().to_owned(),
                cluster: cluster.clone(),
                child: None,
            })
            .collect();
        for member in &mut members {
            member.start("new");
        }
        let etcd = Self { members, _dir: dir };
        etcd.wait_healthy();
        etcd
    }

    /// Every endpoint, comma-separated.
    pub fn endpoints(&self) -> String {
        self.members.iter().map(Member::url).collect::<Vec<_>>().join(",")
    }

    /// The first member's endpoint.
    pub fn url(&self) -> String {
        self.members[0].url()
    }

    fn etcdctl(&self, args: &[&str]) -> Output {
        let live: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.child.is_some())
            .map(Member::url)
            .collect();
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &live.join(","), "--command-timeout", "5s"])
            .args(args)
            .output()
            .expect("etcdctl runs")
    }

    /// Waits until a write goes through (a leader is elected).
    pub fn wait_healthy(&self) {
        let started = Instant::now();
        loop {
            let output = self.etcdctl(&["put", "/health-probe", "ok"]);
            if output.status.success() {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "etcd did not answer within {DEADLINE:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `etcdctl put`; panics when it fails.
    pub fn put(&self, key: &str, value: &str) {
        let output = self.etcdctl(&["put", key, value]);
        assert!(
            output.status.success(),
            "put {key}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `etcdctl del`; panics when it fails.
    pub fn delete(&self, key: &str) {
        let output = self.etcdctl(&["del", key]);
        assert!(
            output.status.success(),
            "del {key}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The store's current revision.
    pub fn revision(&self) -> i64 {
        let output = self.etcdctl(&["get", "/", "--prefix", "--keys-only", "-w", "json"]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        json["header"]["revision"].as_i64().expect("a revision")
    }

    /// Compacts the history up to `revision`.
    pub fn compact(&self, revision: i64) {
        let output = self.etcdctl(&["compact", &revision.to_string(), "--physical"]);
        assert!(
            output.status.success(),
            "compact: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A TCP proxy to one address that can cut every connection and refuse
/// new ones (a network partition), then let traffic through again.
pub struct Proxy {
    pub port: u16,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub fn to(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (accept_cut, accept_open) = (Arc::clone(&cut), Arc::clone(&open));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if accept_cut.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let mut registry = accept_open.lock().expect("lock");
                for stream in [&client, &server] {
                    if let Ok(clone) = stream.try_clone() {
                        registry.push(clone);
                    }
                }
                drop(registry);
                pipe(&client, &server);
                pipe(&server, &client);
            }
        });
        Self { port, cut, open }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for stream in self.open.lock().expect("lock").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Lets connections through again.
    pub fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buffer = [0_u8; 16 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
