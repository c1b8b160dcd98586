//! Many connections that never speak, and one that speaks too slowly: the
//! service keeps answering everyone else, holds bounded memory, and closes
//! both kinds at `http.header_read_timeout`.

use crate::support;

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use support::{DEADLINE, Demo, Peer, peer};

const IDLE: usize = 10_000;

/// The header timeout the demo runs with here.
const TIMEOUT: Duration = Duration::from_secs(4);

/// How long after the header timeout a connection may still be open:
/// timers, the accept queue and a loaded machine.
const LATE: Duration = Duration::from_secs(3);

/// This process opens IDLE sockets and the demo (which inherits the limit)
/// accepts them: both need the soft limit on open files above that.
fn allow_open_files(needed: u64) {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    assert!(
        hard >= needed,
        "this test opens {IDLE} connections and needs an open-files hard limit of {needed}; it is {hard}"
    );
    if soft < needed {
        setrlimit(Resource::RLIMIT_NOFILE, needed, hard).expect("setrlimit");
    }
}

/// An idle connection: when the client began to open it, and when the
/// client first saw it closed.
struct Idle {
    stream: TcpStream,
    opened: Instant,
    closed: Option<Instant>,
}

/// Sweeps every idle connection without blocking until each is closed or
/// the last may be closed no later; returns what is still open and what
/// the server sent (it must send nothing).
fn watch_close(idle: &mut [Idle]) -> (usize, Vec<String>) {
    let last_opened = idle.iter().map(|c| c.opened).max().expect("connections");
    let give_up = last_opened + TIMEOUT + LATE;
    let mut unexpected = Vec::new();
    loop {
        let now = Instant::now();
        for connection in idle.iter_mut().filter(|c| c.closed.is_none()) {
            let seen = peer(&mut connection.stream);
            // When it was seen closed, not when the sweep began.
            let at = Instant::now();
            match seen {
                Peer::Open => {}
                Peer::Closed => connection.closed = Some(at),
                other => {
                    unexpected.push(format!("{other:?}"));
                    connection.closed = Some(at);
                }
            }
        }
        let open = idle.iter().filter(|c| c.closed.is_none()).count();
        if open == 0 || now > give_up {
            return (open, unexpected);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ten_thousand_idle_connections_and_a_slow_loris_are_closed_at_the_header_timeout_while_others_are_served() {
    allow_open_files(IDLE as u64 + 500);
    let demo = Demo::new()
        .args(["--production"])
        .env("MICRO__SITE__HTTP__HEADER_READ_TIMEOUT", "4s")
        .start();
    let addr = demo.addr.expect("listening");
    let rss_before = demo.status_kib("VmRSS");

    let opening = Instant::now();
    let mut idle: Vec<Idle> = (0..IDLE)
        .map(|i| {
            let opened = Instant::now();
            let stream = TcpStream::connect(addr).unwrap_or_else(|err| panic!("idle connection {i}: {err}"));
            Idle {
                stream,
                opened,
                closed: None,
            }
        })
        .collect();
    let opened_in = opening.elapsed();
    // Watched from now on, so a close before the timeout would be seen.
    let watcher = std::thread::spawn(move || {
        let result = watch_close(&mut idle);
        (idle, result)
    });

    // The slow loris: a request line, then one header byte every 100 ms.
    let loris_started = Instant::now();
    let mut loris = TcpStream::connect(addr).expect("connect");
    loris.set_write_timeout(Some(DEADLINE)).expect("timeout");
    loris.write_all(b"GET /hello HTTP/1.1\r\nx-slow: ").expect("send");
    let dripping = std::thread::spawn(move || {
        loop {
            match loris.write_all(b"a") {
                Ok(()) if loris_started.elapsed() < DEADLINE => std::thread::sleep(Duration::from_millis(100)),
                Ok(()) => return Err("still open".to_owned()),
                Err(err) if matches!(err.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => {
                    return Ok(loris_started.elapsed());
                }
                Err(err) => return Err(err.to_string()),
            }
        }
    });

    // Everyone else is served meanwhile, each well within the timeout.
    let mut slowest = Duration::ZERO;
    for _ in 0..200 {
        let asked = Instant::now();
        assert_eq!(demo.get("/hello"), (200, "hello".into()));
        slowest = slowest.max(asked.elapsed());
    }
    let rss_peak = demo.status_kib("VmHWM");
    assert!(
        slowest < TIMEOUT / 2,
        "the slowest of 200 requests took {slowest:?} beside {IDLE} idle connections"
    );

    // The loris is cut at the timeout although it keeps sending (its first
    // write after the close may still succeed: one drip late).
    let loris_cut_after = dripping
        .join()
        .expect("the loris thread")
        .unwrap_or_else(|err| panic!("the slow loris was not cut: {err}"));
    assert!(
        loris_cut_after >= TIMEOUT && loris_cut_after < TIMEOUT + LATE,
        "the slow loris was cut after {loris_cut_after:?}; the header timeout is {TIMEOUT:?}"
    );

    // The idle ones, each at the timeout counted from its own accept.
    let (idle, (still_open, unexpected)) = watcher.join().expect("the watching thread");
    assert_eq!(still_open, 0, "idle connections open {LATE:?} past the header timeout");
    assert!(unexpected.is_empty(), "idle connections got {unexpected:?}");
    let lived = |c: &Idle| c.closed.expect("closed") - c.opened;
    let shortest = idle.iter().map(lived).min().expect("connections");
    let longest = idle.iter().map(lived).max().expect("connections");
    assert!(
        shortest >= TIMEOUT,
        "an idle connection closed after {shortest:?}, before the header timeout {TIMEOUT:?}"
    );
    assert!(
        longest < TIMEOUT + LATE,
        "an idle connection closed after {longest:?}; the header timeout is {TIMEOUT:?}"
    );
    assert_eq!(demo.get("/hello").0, 200, "serving after");
    assert!(
        rss_peak < 256 * 1024,
        "peak RSS {rss_peak} KiB with {IDLE} idle connections"
    );
    eprintln!(
        "{IDLE} idle connections opened in {opened_in:?}, closed {shortest:?} to {longest:?} after opening; \
         slowest of 200 requests meanwhile {slowest:?}; RSS {rss_before} KiB before, peak {rss_peak} KiB; \
         slow loris cut after {loris_cut_after:?}"
    );
}
