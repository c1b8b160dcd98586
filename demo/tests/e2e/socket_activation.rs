//! Socket activation: `systemd-socket-activate` (part of systemd) holds the
//! port and starts the demo on the first connection, handing the socket
//! over in `LISTEN_FDS`; the demo serves on it without binding.

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use support::poll;

#[test]
fn the_demo_serves_on_the_socket_systemd_hands_over() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = probe.local_addr().expect("addr").port();
    drop(probe);
    let address = format!("127.0.0.1:{port}");
    let mut activator = Command::new("systemd-socket-activate")
        .args([
            "-l",
            &address,
            env!("CARGO_BIN_EXE_micro"),
            "--production",
            "--port",
            "1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("systemd-socket-activate runs (install the systemd package)");
    let stderr = activator.stderr.take().expect("piped");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    poll("systemd-socket-activate listening", || {
        lines
            .try_recv()
            .ok()
            .filter(|line| line.contains("Listening on"))
            .map(drop)
    });

    // The first connection starts the demo; it answers on the handed-over
    // socket although its own configuration says port 1.
    let (status, body) = support::get(&format!("http://{address}/hello"));
    assert_eq!((status, body.as_str()), (200, "hello"));
    let mut log = Vec::new();
    poll("the demo's listening line", || {
        while let Ok(line) = lines.try_recv() {
            log.push(line);
        }
        log.iter().find(|line| line.contains("listening on")).cloned()
    });
    assert!(
        log.iter().any(|line| line.contains(&format!("listening on {address}"))),
        "{log:?}"
    );
    let _ = activator.kill();
    let _ = activator.wait();
}
