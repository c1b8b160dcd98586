//! A load client over raw TCP: keep-alive HTTP/1.1 from many threads, each
//! request classified by what came back. Raw, so a test can tell a request
//! the server never read (its connection closed before any byte of an
//! answer, or the connection was refused) from one the server dropped
//! (part of an answer, then nothing).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::DEADLINE;

/// What the load saw, summed over its connections.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Complete answers, by status.
    pub statuses: std::collections::BTreeMap<u16, usize>,
    /// Connections refused: the listener was closed (nothing sent).
    pub refused: usize,
    /// Request ids whose connection closed before any byte of an answer.
    pub unanswered: Vec<String>,
    /// Request ids answered in part, then cut: a dropped request.
    pub cut: Vec<String>,
    /// Anything else, as text.
    pub errors: Vec<String>,
}

impl Tally {
    /// Complete answers of any status.
    pub fn answered(&self) -> usize {
        self.statuses.values().sum()
    }

    /// Complete answers outside 2xx.
    pub fn failed(&self) -> usize {
        self.statuses
            .iter()
            .filter(|(status, _)| !(200..300).contains(*status))
            .map(|(_, n)| n)
            .sum()
    }

    /// Asserts that every request sent was answered in full with a 2xx:
    /// no other status, none cut, none left unanswered, no client error.
    pub fn assert_nothing_lost(&self, during: &str) {
        assert_eq!(self.failed(), 0, "non-2xx answers {during}: {:?}", self.statuses);
        assert!(
            self.cut.is_empty() && self.unanswered.is_empty() && self.errors.is_empty(),
            "lost {during}: {self:?}"
        );
    }

    fn merge(&mut self, other: Self) {
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.refused += other.refused;
        self.unanswered.extend(other.unanswered);
        self.cut.extend(other.cut);
        self.errors.extend(other.errors);
    }
}

/// A running load: `connections` threads sending `GET path` in a loop.
pub struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<Tally>>,
}

impl Load {
    /// Starts `connections` clients of `addr`. Each keeps one connection
    /// open and sends the next request when the answer is in; a closed
    /// connection is reopened; a refused one ends the client (the server
    /// closed its listener), as does [`Load::finish`].
    pub fn start(addr: SocketAddr, connections: usize, path: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let threads = (0..connections)
            .map(|client| {
                let (stop, sent, path) = (Arc::clone(&stop), Arc::clone(&sent), path.to_owned());
                std::thread::spawn(move || run(addr, client, &path, &stop, &sent))
            })
            .collect();
        Self { stop, sent, threads }
    }

    /// Requests sent so far, over every client.
    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }

    /// Stops every client that is still running and sums what they saw.
    pub fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut tally = Tally::default();
        for thread in self.threads {
            tally.merge(thread.join().expect("a load client does not panic"));
        }
        tally
    }
}

fn run(addr: SocketAddr, client: usize, path: &str, stop: &AtomicBool, sent: &AtomicUsize) -> Tally {
    let mut tally = Tally::default();
    let mut n = 0;
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) && started.elapsed() < DEADLINE * 4 {
        let stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(stream) => stream,
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                tally.refused += 1;
                return tally;
            }
            Err(err) => {
                tally.errors.push(format!("connect: {err}"));
                return tally;
            }
        };
        let _ = stream.set_read_timeout(Some(DEADLINE));
        let _ = stream.set_nodelay(true);
        let mut reader = BufReader::new(stream.try_clone().expect("a clone of the stream"));
        let mut writer = stream;
        loop {
            if stop.load(Ordering::Relaxed) {
                return tally;
            }
            n += 1;
            let id = format!("load-{client}-{n}");
            let request = format!("GET {path} HTTP/1.1\r\nhost: load\r\nx-request-id: {id}\r\n\r\n");
            if writer.write_all(request.as_bytes()).is_err() {
                tally.unanswered.push(id);
                break;
            }
            sent.fetch_add(1, Ordering::Relaxed);
            match read_response(&mut reader) {
                Answer::Complete { status, close } => {
                    *tally.statuses.entry(status).or_default() += 1;
                    if close {
                        break;
                    }
                }
                Answer::Nothing => {
                    tally.unanswered.push(id);
                    break;
                }
                Answer::Part(what) => {
                    tally.cut.push(format!("{id}: {what}"));
                    break;
                }
            }
        }
    }
    tally
}

enum Answer {
    Complete {
        status: u16,
        close: bool,
    },
    /// The connection ended before any byte of the answer.
    Nothing,
    /// The connection ended inside the answer.
    Part(String),
}

/// Reads one answer with a `content-length` body (all the demo sends).
fn read_response(reader: &mut BufReader<TcpStream>) -> Answer {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) | Err(_) if line.is_empty() => return Answer::Nothing,
        Ok(_) => {}
        Err(err) => return Answer::Part(format!("status line: {err}")),
    }
    let Some(status) = line.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok()) else {
        return Answer::Part(format!("bad status line {line:?}"));
    };
    let (mut length, mut close) = (0_usize, false);
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) => return Answer::Part("headers cut".into()),
            Err(err) => return Answer::Part(format!("headers: {err}")),
            Ok(_) => {}
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().unwrap_or(0);
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            close = true;
        }
    }
    let mut body = vec![0; length];
    match reader.read_exact(&mut body) {
        Ok(()) => Answer::Complete { status, close },
        Err(err) => Answer::Part(format!("body: {err}")),
    }
}

/// Request ids the server logged with `event` (micro's DEBUG
/// "started/finished processing request" inside its request span).
pub fn ids_in(lines: &[String], event: &str) -> std::collections::HashSet<String> {
    lines
        .iter()
        .filter(|line| line.contains(event))
        .filter_map(|line| {
            let at = line.find("load-")?;
            let id: String = line[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            Some(id)
        })
        .collect()
}
