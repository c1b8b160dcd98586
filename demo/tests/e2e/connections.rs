//! Many connections that never speak, and one that speaks too slowly: the
//! service keeps answering everyone else, holds bounded memory, and closes
//! both kinds at `http.header_read_timeout`.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use support::{DEADLINE, Demo};

const IDLE: usize = 10_000;

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

/// Whether the server closed `stream`: EOF (or a reset) when reading.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut byte = [0_u8; 64];
    matches!(stream.read(&mut byte), Ok(0) | Err(_))
}

#[test]
fn ten_thousand_idle_connections_and_a_slow_loris_are_closed_at_the_header_timeout_while_others_are_served() {
    allow_open_files(IDLE as u64 + 500);
    let timeout = Duration::from_secs(4);
    let mut demo = Demo::spawn_env(
        &["--production", "--port", "0"],
        &[("MICRO__SITE__HTTP__HEADER_READ_TIMEOUT", "4s")],
    );
    demo.wait_listening();
    demo.wait_for_line("started micro-demo");
    let addr = demo.addr.expect("listening");
    let rss_before = demo.status_kib("VmRSS");

    let opening = Instant::now();
    let mut idle: Vec<TcpStream> = (0..IDLE)
        .map(|i| TcpStream::connect(addr).unwrap_or_else(|err| panic!("idle connection {i}: {err}")))
        .collect();
    let opened_in = opening.elapsed();

    // The slow loris: a request line, then one header byte every 100 ms.
    let mut loris = TcpStream::connect(addr).expect("connect");
    loris.write_all(b"GET /hello HTTP/1.1\r\nx-slow: ").expect("send");
    let loris_started = Instant::now();
    let dripping = std::thread::spawn(move || {
        while loris.write_all(b"a").is_ok() && loris_started.elapsed() < DEADLINE {
            std::thread::sleep(Duration::from_millis(100));
        }
        loris_started.elapsed()
    });

    // Everyone else is served meanwhile, each within a bound.
    let mut slowest = Duration::ZERO;
    for _ in 0..200 {
        let asked = Instant::now();
        assert_eq!(demo.get("/hello"), (200, "hello".into()));
        slowest = slowest.max(asked.elapsed());
    }
    let rss_peak = demo.status_kib("VmHWM");

    // The idle ones are closed at the header timeout (counted from each
    // one's accept), the loris too although it keeps sending.
    let loris_cut_after = dripping.join().expect("the loris thread");
    assert!(
        loris_cut_after < timeout + Duration::from_secs(2),
        "the slow loris was cut after {loris_cut_after:?}; the header timeout is {timeout:?}"
    );
    for stream in &idle {
        stream
            .set_read_timeout(Some(timeout + opened_in + Duration::from_secs(5)))
            .expect("timeout");
    }
    let still_open = idle.iter_mut().map(closed_by_server).filter(|closed| !closed).count();
    assert_eq!(still_open, 0, "idle connections left open past the header timeout");
    assert_eq!(demo.get("/hello").0, 200, "serving after");
    assert!(
        rss_peak < 256 * 1024,
        "peak RSS {rss_peak} KiB with {IDLE} idle connections"
    );
    eprintln!(
        "{IDLE} idle connections opened in {opened_in:?}; slowest of 200 requests meanwhile {slowest:?}; \
         RSS {rss_before} KiB before, peak {rss_peak} KiB; slow loris cut after {loris_cut_after:?}"
    );
}
