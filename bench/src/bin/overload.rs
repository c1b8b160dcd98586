//! A closed-loop load for the overload benchmark: `CONNECTIONS` clients,
//! each on one keep-alive connection, send `GET PATH` again as soon as the
//! answer is in (a refused one, 503, after `RETRY_MS`; 0: at once, the
//! worst case for the server), while a probe asks `PROBE` every 10 ms on a
//! connection of its own. After `SECONDS`, prints one JSON object: per
//! status the count and latency percentiles, the probe's, and the answers
//! per second.
//!
//! Usage: `overload ADDR PATH CONNECTIONS SECONDS PROBE RETRY_MS`

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Latencies in microseconds, by status.
type Seen = Vec<(u16, u64)>;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, path, connections, seconds, probe, retry] = args.as_slice() else {
        eprintln!("usage: overload ADDR PATH CONNECTIONS SECONDS PROBE RETRY_MS");
        std::process::exit(64);
    };
    let retry = Duration::from_millis(retry.parse().expect("RETRY_MS is a number"));
    let connections: usize = connections.parse().expect("CONNECTIONS is a number");
    let until = Instant::now() + Duration::from_secs(seconds.parse().expect("SECONDS is a number"));
    let clients: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(client(addr.clone(), path.clone(), until, Pace::Retry(retry))))
        .collect();
    let probe = tokio::spawn(client(
        addr.clone(),
        probe.clone(),
        until,
        Pace::Every(Duration::from_millis(10)),
    ));
    let mut seen = Seen::new();
    let mut errors = 0_u64;
    for client in clients {
        let (answers, failed) = client.await.expect("a client does not panic");
        seen.extend(answers);
        errors += failed;
    }
    let (probes, probe_errors) = probe.await.expect("the probe does not panic");
    let elapsed = seconds.parse::<f64>().unwrap_or(1.0);
    let mut by_status = String::new();
    let mut statuses: Vec<u16> = seen.iter().map(|(status, _)| *status).collect();
    statuses.sort_unstable();
    statuses.dedup();
    for status in statuses {
        let latencies: Vec<u64> = seen.iter().filter(|(s, _)| *s == status).map(|(_, l)| *l).collect();
        if !by_status.is_empty() {
            by_status.push(',');
        }
        by_status.push_str(&format!("\"{status}\":{}", summary(latencies, elapsed)));
    }
    let probe_latencies = probes.into_iter().map(|(_, latency)| latency).collect();
    let report = format!(
        "{{\"statuses\":{{{by_status}}},\"errors\":{errors},\"probe\":{},\"probe_errors\":{probe_errors}}}\n",
        summary(probe_latencies, elapsed)
    );
    std::io::Write::write_all(&mut std::io::stdout(), report.as_bytes()).expect("stdout");
}

/// `{"count", "per_second", "p50_ms", "p99_ms", "max_ms"}`.
fn summary(mut latencies: Vec<u64>, seconds: f64) -> String {
    latencies.sort_unstable();
    let at = |q: f64| {
        let index = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len().max(1)) - 1;
        latencies.get(index).copied().unwrap_or(0) as f64 / 1e3
    };
    format!(
        "{{\"count\":{},\"per_second\":{:.1},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3}}}",
        latencies.len(),
        latencies.len() as f64 / seconds,
        at(0.5),
        at(0.99),
        latencies.last().copied().unwrap_or(0) as f64 / 1e3
    )
}

/// When a client sends its next request.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// As soon as answered; a refused one after this long.
    Retry(Duration),
    /// At this interval.
    Every(Duration),
}

/// Requests `path` until `until`, paced by `pace`: each answer's status
/// and latency, and how many failed.
async fn client(addr: String, path: String, until: Instant, pace: Pace) -> (Seen, u64) {
    let request = format!("GET {path} HTTP/1.1\r\nhost: bench\r\n\r\n");
    let (mut seen, mut errors) = (Seen::new(), 0_u64);
    let mut stream = None;
    while Instant::now() < until {
        if stream.is_none() {
            match TcpStream::connect(&addr).await {
                Ok(connected) => stream = Some(connected),
                Err(_) => {
                    errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let Some(connected) = stream.as_mut() else { continue };
        let sent = Instant::now();
        let mut status = 0;
        match exchange(connected, request.as_bytes()).await {
            Ok((answered, keep)) => {
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                seen.push((answered, micros));
                status = answered;
                if !keep {
                    stream = None;
                }
            }
            Err(_) => {
                errors += 1;
                stream = None;
            }
        }
        match pace {
            Pace::Every(every) => tokio::time::sleep_until((sent + every).into()).await,
            Pace::Retry(pause) if status == 503 && !pause.is_zero() => tokio::time::sleep(pause).await,
            Pace::Retry(_) => {}
        }
    }
    (seen, errors)
}

/// One request and its whole answer: the status, and whether the
/// connection stays open.
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> std::io::Result<(u16, bool)> {
    stream.write_all(request).await?;
    let mut buffer = Vec::with_capacity(512);
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let status = head.get(9..12).and_then(|code| code.parse().ok()).unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Ok((status, !head.contains("connection: close")))
}
