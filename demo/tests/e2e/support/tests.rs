//! The support's own checks, against stand-ins whose behaviour is known:
//! a check that cannot fail proves nothing.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;

use super::load::{Bodies, Load, Tally};
use super::{DEADLINE, Demo, Peer, peer, poll};

#[test]
fn wait_exit_returns_only_once_the_whole_stderr_is_read() {
    // The shell exits at once; what it left running writes the last line
    // later and holds stderr until then.
    let mut shell = Demo::new()
        .program(Path::new("/bin/sh"))
        .args(["-c", "echo first >&2; (sleep 0.3; echo last >&2) & exit 0"])
        .spawn();
    assert!(shell.wait_exit().success());
    assert_eq!(shell.lines(), ["first", "last"]);
    shell.assert_never_logged("never written", "a line nobody wrote");
}

#[test]
#[should_panic(expected = "wait_exit first")]
fn a_check_that_something_was_never_logged_refuses_to_run_before_the_exit() {
    let shell = Demo::new()
        .program(Path::new("/bin/sh"))
        .args(["-c", "sleep 30"])
        .spawn();
    shell.assert_never_logged("anything", "too early");
}

#[test]
fn a_connection_the_server_holds_open_is_not_counted_as_closed() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut held = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (accepted, _) = listener.accept().expect("accept");
    assert_eq!(peer(&mut held), Peer::Open);
    drop(accepted);
    assert_eq!(
        poll("the close to be seen", || Some(peer(&mut held))
            .filter(|p| *p != Peer::Open)),
        Peer::Closed
    );
}

#[test]
#[should_panic(expected = "connections refused")]
fn a_refused_connection_fails_the_nothing_lost_check() {
    Tally {
        refused: 1,
        ..Tally::default()
    }
    .assert_nothing_lost("in a listener blip");
}

#[test]
fn an_answer_with_the_wrong_body_or_an_older_one_is_counted_as_wrong() {
    // A stand-in server: "hello 2", "hello 1" (older), then the built-in
    // default "hello", on one keep-alive connection.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut writer = stream;
        for body in ["hello 2", "hello 1", "hello"] {
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
            writer.write_all(answer.as_bytes()).expect("answer");
        }
        // Holds the connection until the client is done.
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
    });
    let load = Load::start(addr, 1, "/hello", &Bodies::numbered("hello "));
    poll("three answers", || (load.sent() >= 4).then_some(()));
    let tally = load.finish();
    drop(server);
    assert_eq!(tally.wrong_bodies.len(), 2, "{:?}", tally.wrong_bodies);
    assert!(
        tally.wrong_bodies[0].contains("\"hello 1\" after a later one"),
        "{:?}",
        tally.wrong_bodies
    );
    assert!(tally.wrong_bodies[1].contains("\"hello\""), "{:?}", tally.wrong_bodies);
}
