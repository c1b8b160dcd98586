//! A load client over raw TCP: keep-alive HTTP/1.1 from many threads, each
//! request classified by what came back and each body checked. Raw, so a
//! test can tell a request the server never read (its connection closed
//! before any byte of an answer, or the connection was refused) from one
//! the server dropped (part of an answer, then nothing).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::DEADLINE;

/// What each 2xx body must be: its rank, which never goes down on one
/// client (a client sends its next request once the answer is in), or
/// `None` for a body that must not be served.
#[derive(Clone)]
pub struct Bodies(Arc<Rank>);

/// A body's rank, `None` for a body that must not be served.
type Rank = dyn Fn(&str) -> Option<u64> + Send + Sync;

impl Bodies {
    /// Always `body`.
    pub fn exactly(body: &str) -> Self {
        let body = body.to_owned();
        Self(Arc::new(move |seen| (seen == body).then_some(0)))
    }

    /// One of `bodies`, never an earlier one after a later one.
    pub fn in_order(bodies: &[&str]) -> Self {
        let bodies: Vec<String> = bodies.iter().map(|b| (*b).to_owned()).collect();
        Self(Arc::new(move |seen| {
            bodies
                .iter()
                .position(|b| b == seen)
                .and_then(|i| u64::try_from(i).ok())
        }))
    }

    /// `PREFIX N` with N a number that never goes down.
    pub fn numbered(prefix: &str) -> Self {
        let prefix = prefix.to_owned();
        Self(Arc::new(move |seen| seen.strip_prefix(&prefix)?.parse().ok()))
    }
}

/// What the load saw, summed over its connections.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Complete answers, by status.
    pub statuses: BTreeMap<u16, usize>,
    /// Request ids answered in full (any status).
    pub answered_ids: BTreeSet<String>,
    /// Connections refused: the listener was closed (nothing sent). A
    /// refused client stops.
    pub refused: usize,
    /// Request ids whose connection closed before any byte of an answer,
    /// on a connection that had answered before (kept alive).
    pub unanswered: Vec<String>,
    /// The same, as the first request of a new connection: a connect the
    /// kernel completed just as the listener closed, reset unread (a
    /// client retries it as it would a refused one). A client stops there.
    pub reset_new: Vec<String>,
    /// Request ids answered in part, then cut: a dropped request.
    pub cut: Vec<String>,
    /// 2xx bodies that must not be served, and bodies older than one the
    /// same client was served before: `id: what`.
    pub wrong_bodies: Vec<String>,
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

    /// Asserts that every request sent was answered in full with a 2xx
    /// and the body expected: no other status, no wrong body, none cut,
    /// none left unanswered, no connection refused, no client error.
    pub fn assert_nothing_lost(&self, during: &str) {
        assert_eq!(self.refused, 0, "connections refused {during}: {}", self.summary());
        self.assert_none_cut_or_wrong(during);
        assert!(
            self.unanswered.is_empty() && self.reset_new.is_empty(),
            "left unanswered {during}: {:?} {:?}; {}",
            self.unanswered,
            self.reset_new,
            self.summary()
        );
    }

    /// Asserts that every answer was a complete 2xx with the body
    /// expected and that no client failed otherwise; says nothing of
    /// refused connections and requests left unanswered.
    pub fn assert_none_cut_or_wrong(&self, during: &str) {
        assert_eq!(self.failed(), 0, "non-2xx answers {during}: {:?}", self.statuses);
        assert!(
            self.wrong_bodies.is_empty(),
            "wrong bodies {during}: {:?}",
            self.wrong_bodies
        );
        assert!(self.cut.is_empty(), "answers cut off {during}: {:?}", self.cut);
        assert!(self.errors.is_empty(), "client errors {during}: {:?}", self.errors);
    }

    /// The counts, for a failure message or a report.
    pub fn summary(&self) -> String {
        format!(
            "{} answered {:?}, {} refused, {} reset new, {} unanswered, {} cut, {} wrong bodies, {} errors",
            self.answered(),
            self.statuses,
            self.refused,
            self.reset_new.len(),
            self.unanswered.len(),
            self.cut.len(),
            self.wrong_bodies.len(),
            self.errors.len()
        )
    }

    fn merge(&mut self, other: Self) {
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.answered_ids.extend(other.answered_ids);
        self.refused += other.refused;
        self.wrong_bodies.extend(other.wrong_bodies);
        self.unanswered.extend(other.unanswered);
        self.reset_new.extend(other.reset_new);
        self.cut.extend(other.cut);
        self.errors.extend(other.errors);
    }
}

/// A running load: `connections` threads sending `GET path` in a loop.
#[must_use = "a load runs until .finish()"]
pub struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<Tally>>,
}

impl Load {
    /// Starts `connections` clients of `addr`. Each keeps one connection
    /// open and sends the next request when the answer is in, checking
    /// each 2xx body against `bodies`; a closed connection is reopened; a
    /// refused one is counted and ends the client (the server closed its
    /// listener), as does [`Load::finish`].
    pub fn start(addr: SocketAddr, connections: usize, path: &str, bodies: &Bodies) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let threads = (0..connections)
            .map(|client| {
                let (stop, sent, path) = (Arc::clone(&stop), Arc::clone(&sent), path.to_owned());
                let bodies = bodies.clone();
                std::thread::spawn(move || run(addr, client, &path, &bodies, &stop, &sent))
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

fn run(addr: SocketAddr, client: usize, path: &str, bodies: &Bodies, stop: &AtomicBool, sent: &AtomicUsize) -> Tally {
    let mut tally = Tally::default();
    let mut n = 0;
    let mut rank = 0;
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
        let _ = stream.set_write_timeout(Some(DEADLINE));
        let _ = stream.set_nodelay(true);
        let mut reader = BufReader::new(stream.try_clone().expect("a clone of the stream"));
        let mut writer = stream;
        let mut new = true;
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
            let first = std::mem::take(&mut new);
            sent.fetch_add(1, Ordering::Relaxed);
            match read_response(&mut reader) {
                Answer::Complete { status, close, body } => {
                    *tally.statuses.entry(status).or_default() += 1;
                    if (200..300).contains(&status) {
                        match (bodies.0)(&body) {
                            None => tally.wrong_bodies.push(format!("{id}: {body:?}")),
                            Some(seen) if seen < rank => {
                                tally.wrong_bodies.push(format!("{id}: {body:?} after a later one"));
                            }
                            Some(seen) => rank = seen,
                        }
                    }
                    tally.answered_ids.insert(id);
                    if close {
                        break;
                    }
                }
                Answer::Nothing if first => {
                    tally.reset_new.push(id);
                    return tally;
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
        body: String,
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
        Ok(()) => Answer::Complete {
            status,
            close,
            body: String::from_utf8_lossy(&body).into_owned(),
        },
        Err(err) => Answer::Part(format!("body: {err}")),
    }
}

/// Request ids the server logged with `event` (micro's DEBUG
/// "started/finished processing request" inside its request span).
pub fn ids_in(lines: &[String], event: &str) -> BTreeSet<String> {
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
