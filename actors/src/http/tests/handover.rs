//! A listening socket handed to another server (what an upgrade hands to
//! the new process): both accept until the first is released; from then
//! on the other takes every connection, those already queued included,
//! while the first serves the connections it had.

use super::*;

fn saying(word: &'static str) -> Router {
    Router::new().route("/", get(move || async move { word }))
}

async fn spawn_on(router: Router, listen: Listen) -> (ActorRef<HttpMsg>, SocketAddr) {
    let mut args = args(router, 0, Duration::from_secs(5), &InFlight::default());
    args.listen = listen;
    let (actor, _) = Actor::spawn(None, HttpActor, args).await.expect("spawn");
    let addr = call!(actor, HttpMsg::Serve).expect("call").expect("serve");
    (actor, addr)
}

/// One keep-alive request on `stream`; the body of its answer.
fn ask_on(stream: &mut TcpStream) -> String {
    write!(stream, "GET / HTTP/1.1\r\nhost: test\r\n\r\n").expect("sent");
    let mut answer = [0_u8; 512];
    let read = stream.read(&mut answer).expect("answered");
    let text = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text.rsplit("\r\n").next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_listener_leaves_every_new_and_queued_connection_to_the_server_it_was_handed_to() {
    let (old, addr, _) = serving(saying("old")).await;
    let handed = call!(old, HttpMsg::Listener)
        .expect("call")
        .expect("listening")
        .expect("dup");
    let (new, new_addr) = spawn_on(saying("new"), Listen::Listener(handed)).await;
    assert_eq!(new_addr, addr, "one socket");
    // A connection the old server accepted before its release. Which
    // server accepts a connection is the kernel's choice: connect until
    // the old one answers.
    let mut kept = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            assert!(std::time::Instant::now() < deadline, "the old server accepted nothing");
            let mut stream = TcpStream::connect(addr).expect("connect");
            if ask_on(&mut stream) == "old" {
                break stream;
            }
        }
    })
    .await
    .expect("joined");
    call!(old, HttpMsg::Release).expect("released");
    assert!(call!(old, HttpMsg::Listener).expect("call").is_none(), "released");
    let answers = tokio::task::spawn_blocking(move || {
        // Connections completed by the kernel before anyone accepts them.
        let queued: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(addr).expect("connect")).collect();
        let mut answers: Vec<String> = queued.into_iter().map(|mut stream| ask_on(&mut stream)).collect();
        answers.push(ask_on(&mut kept));
        answers
    })
    .await
    .expect("joined");
    let (kept_answer, new_answers) = answers.split_last().expect("answers");
    assert!(new_answers.iter().all(|answer| answer == "new"), "{new_answers:?}");
    assert_eq!(kept_answer, "old", "the old server serves the connections it had");
    let report = drain(&old, Duration::from_secs(5)).await;
    assert_eq!(report.cut, 0, "{report}");
    old.stop(None);
    new.stop(None);
}
