//! Overload: past `http.max_in_flight` a request is refused at once with
//! 503 and `Retry-After` (nothing waits in a queue), the probes and
//! `/metrics` still answer, a stream holds its slot until it ends; past
//! `http.max_connections` accepting pauses and resumes; out of file
//! descriptors, accepting backs off instead of spinning; readiness turns
//! off under sustained shedding when asked, and back.

use crate::support;

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::{DEADLINE, Demo, Running, get, poll};

/// A raw HTTP/1.1 request on a new connection, left unread: the server
/// holds it in flight (`/sleep/…`) or answers it later.
fn send(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("read timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nhost: test\r\n\r\n").expect("sent");
    stream
}

/// The head of the answer on `stream` (up to its blank line).
fn head(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0_u8; 1024];
    while !received.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).expect("an answer");
        assert!(n > 0, "closed unanswered: {}", String::from_utf8_lossy(&received));
        received.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&received).into_owned()
}

/// `n` requests to `/sleep/{ms}`, each waited for until the server counts
/// it in flight.
fn hold(demo: &Running, n: usize, ms: u64) -> Vec<TcpStream> {
    let addr = demo.addr.expect("listening");
    let held: Vec<TcpStream> = (0..n).map(|_| send(addr, &format!("/sleep/{ms}"))).collect();
    // The scrape asking counts itself in flight too.
    poll(&format!("{n} requests in flight"), || {
        (demo.metric("http_requests_in_flight") > n as f64).then_some(())
    });
    held
}

#[test]
fn past_max_in_flight_a_request_is_refused_at_once_and_probes_still_answer() {
    let demo = Demo::new().env("MICRO__SITE__HTTP__MAX_IN_FLIGHT", "8").start();
    let addr = demo.addr.expect("listening");
    let mut held = hold(&demo, 8, 20_000);
    let asked = Instant::now();
    for _ in 0..20 {
        let mut refused = send(addr, "/hello");
        let answer = head(&mut refused);
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("retry-after: 1\r\n"), "{answer}");
    }
    // Answered while the eight still run: refused, not queued behind them.
    assert!(asked.elapsed() < Duration::from_secs(20), "{:?}", asked.elapsed());
    for probe in ["/health/live", "/health/ready", "/healthcheck", "/metrics"] {
        assert_eq!(get(&demo.url(probe)).0, 200, "{probe} at the limit");
    }
    assert_eq!(demo.metric("http_requests_shed_total{reason=\"max_in_flight\"}"), 20.0);
    // The eight and this scrape (probes and scrapes take no slot):
    // nothing queued past the limit.
    assert_eq!(demo.metric("http_requests_in_flight"), 9.0);
    // One finishes (its client goes away): a slot is free again.
    drop(held.pop());
    poll("a request admitted again", || {
        (get(&demo.url("/hello")).0 == 200).then_some(())
    });
}

#[test]
fn a_stream_holds_its_slot_until_its_body_ends() {
    let demo = Demo::new().env("MICRO__SITE__HTTP__MAX_IN_FLIGHT", "1").start();
    let addr = demo.addr.expect("listening");
    let mut stream = send(addr, "/events?every=50");
    let answer = head(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Its headers are long sent; its body is not: it still counts.
    let (code, body) = get(&demo.url("/hello"));
    assert_eq!(code, 503, "{body}");
    drop(stream);
    poll("the slot free once the stream ended", || {
        (get(&demo.url("/hello")).0 == 200).then_some(())
    });
}

#[test]
fn at_max_connections_accepting_pauses_and_resumes_when_one_closes() {
    let demo = Demo::new().env("MICRO__SITE__HTTP__MAX_CONNECTIONS", "4").start();
    let addr = demo.addr.expect("listening");
    // Four kept-alive connections, each answered once, now idle.
    let mut open: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut stream = send(addr, "/hello");
            assert!(head(&mut stream).starts_with("HTTP/1.1 200"));
            stream
        })
        .collect();
    demo.wait_for_line("accepting paused: 4 connections open (site.http.max_connections = 4)");
    // The kernel completes the fifth connection; nobody accepts it yet.
    let mut waiting = send(addr, "/hello");
    waiting
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("read timeout");
    let mut buf = [0_u8; 64];
    let early = waiting.read(&mut buf);
    assert!(
        matches!(&early, Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "answered while four connections were open: {early:?}"
    );
    drop(open.pop());
    waiting.set_read_timeout(Some(DEADLINE)).expect("read timeout");
    let answer = head(&mut waiting);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(open);
    drop(waiting);
    poll("the pause on /metrics", || {
        let (_, text) = get(&demo.url("/metrics"));
        text.contains("micro_accept_pauses_total{reason=\"max_connections\"}")
            .then_some(())
    });
}

/// CPU seconds `pid` has used (user and system).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or_default().split(' ').collect();
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after "pid (comm) ".
    let ticks: f64 = fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
    let per_second = 100.0; // USER_HZ on Linux
    ticks / per_second
}

#[test]
fn out_of_file_descriptors_accepting_backs_off_instead_of_spinning() {
    // The demo raises its soft limit to the hard one: both are set low.
    let demo = Demo::new()
        .program(std::path::Path::new("prlimit"))
        .args(["--nofile=48:48", "--", env!("CARGO_BIN_EXE_micro"), "--port", "0"])
        .start();
    let addr = demo.addr.expect("listening");
    let clients: Vec<TcpStream> = (0..80).map(|_| send(addr, "/hello")).collect();
    demo.wait_for_line("accept failed: ");
    let line = demo.wait_for_line("out of file descriptors");
    assert!(line.contains("LimitNOFILE"), "{line}");
    // The listener stays readable (connections wait in its queue): a loop
    // that retried at once would use a whole core.
    let (before, started) = (cpu_seconds(demo.pid()), Instant::now());
    std::thread::sleep(Duration::from_secs(1));
    let used = (cpu_seconds(demo.pid()) - before) / started.elapsed().as_secs_f64();
    assert!(
        used < 0.3,
        "{:.0}% of a core while out of file descriptors",
        used * 100.0
    );
    drop(clients);
    poll("serving again once descriptors are free", || {
        (get(&demo.url("/hello")).0 == 200).then_some(())
    });
    let (_, text) = get(&demo.url("/metrics"));
    assert!(
        text.contains("micro_accept_pauses_total{reason=\"file_limit\"}"),
        "{text}"
    );
}

#[test]
fn readiness_turns_off_under_sustained_shedding_and_back_when_it_stops() {
    let demo = Demo::new()
        .env("MICRO__SITE__HTTP__MAX_IN_FLIGHT", "2")
        .env("MICRO__SITE__HTTP__UNREADY_SHED_PERCENT", "50")
        .env("MICRO__SITE__HTTP__UNREADY_SHED_WINDOW", "300ms")
        .start();
    let _held = hold(&demo, 2, 20_000);
    assert_eq!(get(&demo.url("/health/ready")).0, 200, "refusing nothing yet");
    let addr = demo.addr.expect("listening");
    // Requests keep coming, every one refused, until readiness turns off.
    let unready = poll("readiness off while shedding", || {
        let mut refused = send(addr, "/hello");
        assert!(head(&mut refused).starts_with("HTTP/1.1 503"));
        let (code, body) = get(&demo.url("/health/ready"));
        (code == 503).then_some(body)
    });
    assert!(unready.contains("\"shedding\":true"), "{unready}");
    demo.wait_for_line("not ready: ");
    // The balancer sends elsewhere: no more requests, readiness comes back.
    poll("readiness back once the shedding stopped", || {
        (get(&demo.url("/health/ready")).0 == 200).then_some(())
    });
    demo.wait_for_line("ready again: ");
}
