//! Real etcd servers for tests: single members and clusters with temporary
//! data directories, `etcdctl` to change them, and a TCP proxy that can cut
//! the network between a service and etcd without stopping either.
//!
//! No port is picked here and bound by someone else later: members talk to
//! each other over unix sockets in the cluster's directory, each binds its
//! client port itself (port 0) and the port it got is read from its log;
//! the service reaches each member through a proxy whose port the test
//! holds from start to end, so a member restarted on another port is the
//! same endpoint to the service.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{poll, poll_or};

fn require(binary: &str) {
    let found = Command::new(binary).arg("--version").output().is_ok();
    assert!(
        found,
        "`{binary}` not found: install Debian's etcd-server and etcd-client (scripts/prerequisites does)"
    );
}

/// One etcd member.
pub struct Member {
    name: String,
    /// The cluster's directory: data, logs and the peer sockets.
    dir: PathBuf,
    cluster: String,
    child: Option<Child>,
    starts: usize,
    /// The client address the running member bound, from its log.
    client: Option<String>,
    /// What the service connects to.
    pub front: Proxy,
}

impl Member {
    /// The endpoint the service uses: the member's proxy.
    pub fn url(&self) -> String {
        self.front.url()
    }

    fn spawn(&mut self, state: &str) {
        self.starts += 1;
        let log = self.dir.join(format!("{}.{}.log", self.name, self.starts));
        let peer = format!("unix://{}:1", self.name);
        let child = Command::new("etcd")
            .current_dir(&self.dir)
            .args(["--name", &self.name, "--data-dir", &self.name])
            .args(["--listen-client-urls", "http://127.0.0.1:0"])
            .args(["--advertise-client-urls", "http://127.0.0.1:0"])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &self.cluster])
            .args(["--initial-cluster-state", state])
            .args(["--initial-cluster-token", &self.dir.display().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("etcd log"))
            .spawn()
            .expect("etcd starts");
        self.child = Some(child);
        self.client = None;
    }

    /// Waits for the member to serve clients and points its proxy at it.
    fn wait_serving(&mut self) {
        let log = self.dir.join(format!("{}.{}.log", self.name, self.starts));
        let marker = "serving insecure client requests on ";
        let address = poll(
            &format!("etcd {} serving clients (log {})", self.name, log.display()),
            || {
                let text = std::fs::read_to_string(&log).ok()?;
                let rest = &text[text.find(marker)? + marker.len()..];
                let address: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || ".:".contains(*c))
                    .collect();
                address.trim_end_matches(['.', ':']).to_owned().into()
            },
        );
        self.front.point_to(Some(address.clone()));
        self.client = Some(address);
    }

    /// SIGKILL, as a crash; the proxy refuses until it restarts.
    pub fn kill(&mut self) {
        self.front.point_to(None);
        self.client = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same data, behind the same proxy.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn("existing");
        self.wait_serving();
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
        require("etcd");
        require("etcdctl");
        let dir = tempfile::tempdir().expect("tempdir");
        let names: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        let cluster = names
            .iter()
            .map(|name| format!("{name}=unix://{name}:1"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members: Vec<Member> = names
            .into_iter()
            .map(|name| Member {
                name,
                dir: dir.path().to_owned(),
                cluster: cluster.clone(),
                child: None,
                starts: 0,
                client: None,
                front: Proxy::to(None),
            })
            .collect();
        for member in &mut members {
            member.spawn("new");
        }
        for member in &mut members {
            member.wait_serving();
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
        let live: Vec<&str> = self.members.iter().filter_map(|m| m.client.as_deref()).collect();
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &live.join(","), "--command-timeout", "5s"])
            .args(args)
            .output()
            .expect("etcdctl runs")
    }

    /// Waits until a write goes through (a leader is elected).
    pub fn wait_healthy(&self) {
        let last = std::cell::RefCell::new(String::new());
        poll_or(
            || format!("etcd to take a write; etcdctl said: {}", last.borrow()),
            || {
                let output = self.etcdctl(&["put", "/health-probe", "ok"]);
                *last.borrow_mut() = String::from_utf8_lossy(&output.stderr).into_owned();
                output.status.success().then_some(())
            },
        );
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

    /// The first member's own client address, behind its proxy.
    pub fn client_address(&self) -> String {
        self.members[0].client.clone().expect("the member runs")
    }
}

/// A TCP proxy on a port it holds until dropped, to one address or to
/// nowhere (it accepts and closes at once). It can cut every connection and
/// refuse new ones (a network partition), then let traffic through again.
pub struct Proxy {
    pub port: u16,
    cut: Arc<AtomicBool>,
    target: Arc<Mutex<Option<String>>>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub fn to(target: Option<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let cut = Arc::new(AtomicBool::new(false));
        let target = Arc::new(Mutex::new(target));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (accept_cut, accept_target, accept_open) = (Arc::clone(&cut), Arc::clone(&target), Arc::clone(&open));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let to = accept_target.lock().expect("lock").clone();
                let Some(to) = to.filter(|_| !accept_cut.load(Ordering::SeqCst)) else {
                    drop(client);
                    continue;
                };
                let Ok(server) = TcpStream::connect_timeout(&to.parse().expect("an address"), Duration::from_secs(5))
                else {
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
        Self {
            port,
            cut,
            target,
            open,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where new connections go from now on (`None`: closed at once).
    pub fn point_to(&self, target: Option<String>) {
        *self.target.lock().expect("lock") = target;
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

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
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
