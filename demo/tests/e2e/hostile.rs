//! Hostile input from outside: malformed requests, traversal attempts,
//! secrets fished for through every place configuration is shown. Each
//! answer is a 4xx (never a 5xx, never a hang) and the service lives on.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpStream;

use nix::sys::signal::Signal;
use support::{DEADLINE, Demo, Running, check_config, config_dir};

/// Sends `raw` on a new connection and returns the status of the answer.
fn raw_status(demo: &Running, raw: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(demo.addr.expect("listening")).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    stream.set_write_timeout(Some(DEADLINE)).expect("timeout");
    // The server may answer and close before it read all of a large request.
    let _ = stream.write_all(raw);
    // The status line is enough: the answer may keep the connection open.
    let mut answer = Vec::new();
    let mut buf = [0_u8; 1024];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer to {:?}: {text:?}", String::from_utf8_lossy(raw)))
}

#[test]
fn malformed_requests_are_answered_4xx_and_the_service_lives_on() {
    let mut demo = Demo::new().args(["--production"]).start();
    let many_headers: String = (0..200).map(|i| format!("x-h{i}: v\r\n")).collect();
    let huge_header = format!(
        "GET /hello HTTP/1.1\r\nhost: a\r\nx-big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "a header line without a colon",
            b"GET /hello HTTP/1.1\r\nhost: a\r\nbroken header\r\n\r\n".to_vec(),
            400,
        ),
        ("a request line that is not HTTP", b"HELLO THERE\r\n\r\n".to_vec(), 400),
        ("binary garbage", vec![0, 159, 146, 150, 255, 13, 10, 13, 10], 400),
        (
            "a header name with a space",
            b"GET /hello HTTP/1.1\r\nho st: a\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a content-length that is not a number",
            b"POST /echo HTTP/1.1\r\nhost: a\r\ncontent-length: ten\r\n\r\n".to_vec(),
            400,
        ),
        (
            "two different content-lengths",
            b"POST /echo HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab".to_vec(),
            400,
        ),
        (
            "an unknown HTTP version",
            b"GET /hello HTTP/3.7\r\nhost: a\r\n\r\n".to_vec(),
            400,
        ),
        (
            "200 headers",
            format!("GET /hello HTTP/1.1\r\nhost: a\r\n{many_headers}\r\n").into_bytes(),
            431,
        ),
        ("a 1 MiB header", huge_header.into_bytes(), 431),
        (
            "a path that is not a number where one is expected",
            b"GET /sleep/..%2F..%2Fetc%2Fpasswd HTTP/1.1\r\nhost: a\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a traversal outside any route",
            b"GET /../../etc/passwd HTTP/1.1\r\nhost: a\r\n\r\n".to_vec(),
            404,
        ),
        (
            "a traversal with encoded dots",
            b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nhost: a\r\n\r\n".to_vec(),
            404,
        ),
        (
            "a debug route in production",
            b"GET /debug/config HTTP/1.1\r\nhost: a\r\n\r\n".to_vec(),
            404,
        ),
        (
            "admin reload, off by default",
            b"POST /admin/reload HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\n\r\n".to_vec(),
            404,
        ),
    ];
    let mut wrong = Vec::new();
    for (what, raw, expected) in &cases {
        let status = raw_status(&demo, raw);
        if status != *expected {
            wrong.push(format!("{what}: {status}, expected {expected}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(demo.get("/hello"), (200, "hello".into()), "still serving");
    assert!(demo.stop().success(), "{}", demo.stderr());
    demo.assert_never_logged("panicked", "no handler panicked");
}

#[test]
fn a_body_over_the_limit_is_answered_413_whether_announced_or_chunked() {
    let demo = Demo::new()
        .args(["--production"])
        .env("MICRO__SITE__HTTP__BODY_LIMIT", "1KiB")
        .start();
    let announced = |length: usize| {
        format!(
            "POST /echo HTTP/1.1\r\nhost: a\r\ncontent-length: {length}\r\nconnection: close\r\n\r\n{}",
            "a".repeat(length)
        )
    };
    assert_eq!(raw_status(&demo, announced(1024).as_bytes()), 200, "at the limit");
    assert_eq!(raw_status(&demo, announced(1025).as_bytes()), 413, "one byte over");
    assert_eq!(raw_status(&demo, announced(5000).as_bytes()), 413);
    let chunk = "a".repeat(4000);
    let chunked = format!(
        "POST /echo HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    assert_eq!(raw_status(&demo, chunked.as_bytes()), 413);
}

#[test]
fn the_default_bind_is_loopback() {
    let mut demo = Demo::new().args(["--production"]).spawn();
    let line = demo.wait_listening();
    assert!(
        demo.addr.expect("listening").ip().is_loopback(),
        "production listens on loopback unless told otherwise: {line}"
    );
}

#[test]
fn secrets_are_redacted_wherever_configuration_is_shown() {
    let secret = "s3cr3t-s3cr3t-s3cr3t-0123456789";
    let dir = config_dir(&[
        ("site.yaml", &format!("admin:\n  enabled: true\n  token: {secret}\n")),
        ("demo.yaml", &format!("greeting: hi\napi_key: {secret}\n")),
    ]);
    let path = dir.path().to_str().expect("utf-8");

    // --check-config, with and without sources.
    for args in [&["--config", path][..], &["--config", path, "--sources"]] {
        let (code, shown, said) = check_config(args, &[]);
        assert_eq!(code, Some(0), "{said}");
        assert!(shown.contains("<redacted>") && !shown.contains(secret), "{shown}");
        assert!(!said.contains(secret), "{said}");
    }

    // /debug/config in debug mode, and the reload's list of changes.
    let mut demo = Demo::new().config(dir.path()).start();
    let (_, dump) = demo.get("/debug/config");
    assert!(dump.contains("<redacted>") && !dump.contains(secret), "{dump}");
    std::fs::write(
        dir.path().join("demo.yaml"),
        format!("greeting: hi\napi_key: {secret}-changed\n"),
    )
    .expect("write");
    demo.signal(Signal::SIGHUP);
    demo.wait_for_line("demo.api_key");
    assert!(demo.stop().success(), "{}", demo.stderr());
    demo.assert_never_logged(secret, "a secret in the log");

    // An invalid secret: the error names the key, never the value.
    let short = "tiny-secret";
    std::fs::write(
        dir.path().join("site.yaml"),
        format!("admin:\n  enabled: true\n  token: {short}\n"),
    )
    .expect("write");
    let (code, stdout, stderr) = check_config(&["--config", path], &[]);
    let said = format!("{stdout}{stderr}");
    assert_eq!(code, Some(78), "{said}");
    assert!(said.contains("admin.token") && !said.contains(short), "{said}");
}
