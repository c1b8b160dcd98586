//! What README promises that is seen from outside the process, checked on
//! the real demo binary: `PORT` in
//! production, an address that cannot be listened on, what `/version`
//! shows of a rejected reload in production, and, with feature `etcd`, the
//! etcd watch's series on `/metrics` and a watch resumed with no change
//! lost.

use nix::sys::signal::Signal;

use crate::support::{Demo, config_dir};

#[test]
fn in_production_the_port_variable_wins_over_site_http_port() {
    // The configured port is taken (held here): listening there would exit
    // 69, so serving at all shows PORT won.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let configured = taken.local_addr().expect("addr").port();
    let dir = config_dir(&[(
        "site.yaml",
        &format!("http:\n  host: 127.0.0.1\n  port: {configured}\n"),
    )]);
    let mut demo = Demo::new()
        .port("0")
        .args(["--production"])
        .config(dir.path())
        .env("PORT", "0")
        .spawn();
    demo.wait_listening();
    assert_ne!(demo.addr.expect("listening").port(), configured);
    assert_eq!(demo.get("/hello"), (200, "hello".into()));
}

#[test]
fn in_production_a_port_variable_that_is_not_a_port_exits_78_naming_port() {
    for bad in ["eighty", "70000"] {
        let mut demo = Demo::new().args(["--production"]).env("PORT", bad).spawn();
        let exit = demo.wait_exit();
        let stderr = demo.stderr();
        assert_eq!(exit.code(), Some(78), "PORT={bad}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "cannot start micro-demo: configuration: environment variable PORT: site.http.port: \"{bad}\" is not a port (0 to 65535)"
            )),
            "PORT={bad}: {stderr}"
        );
        assert!(!stderr.contains("listening on"), "PORT={bad}: {stderr}");
    }
}

#[test]
fn an_address_of_another_host_exits_69_naming_the_address() {
    // TEST-NET-3 (RFC 5737): never an address of this machine.
    let mut demo = Demo::new().args(["--host", "203.0.113.1"]).spawn();
    let exit = demo.wait_exit();
    let stderr = demo.stderr();
    assert_eq!(exit.code(), Some(69), "{stderr}");
    assert!(stderr.contains("cannot listen on 203.0.113.1:0: "), "{stderr}");
    let last = demo.wait_for_line("stopped micro-demo");
    assert!(last.ends_with("exit 69"), "{last}");
}

#[test]
fn a_host_that_is_no_address_exits_69_naming_it() {
    let mut demo = Demo::new().args(["--host", "not an address"]).spawn();
    let exit = demo.wait_exit();
    let stderr = demo.stderr();
    assert_eq!(exit.code(), Some(69), "{stderr}");
    assert!(stderr.contains("cannot listen on not an address:0: "), "{stderr}");
}

#[test]
fn in_production_version_shows_a_rejected_reload_without_its_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Demo::new().args(["--production"]).config(dir.path()).start();
    std::fs::write(dir.path().join("site.yaml"), "http:\n  prot: 1\n").expect("write");
    demo.signal(Signal::SIGHUP);
    let line = demo.wait_for_line("reload rejected");
    assert!(
        line.contains("site.http.prot: unknown key `prot`"),
        "the log has it: {line}"
    );

    let (status, body) = demo.get("/version");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["config_generation"], 1, "{json}");
    assert_eq!(json["last_reload"]["ok"], false, "{json}");
    assert_eq!(json["last_reload"]["generation"], 1, "{json}");
    assert_eq!(json["last_reload"]["error"], serde_json::Value::Null, "{json}");
    assert!(!body.contains("prot"), "no file or key in production: {body}");
}

#[cfg(feature = "etcd")]
mod etcd {
    use crate::support::etcd::{Etcd, Proxy};
    use crate::support::{Demo, Running, poll};

    const KEY: &str = "/micro/micro-demo/demo";

    /// The demo reading etcd through `proxy`, its watch up.
    fn demo_through(proxy: &Proxy) -> Running {
        let demo = Demo::new().args(["--etcd", &proxy.url()]).start();
        demo.wait_for_line("etcd watch on /micro/micro-demo/ from revision");
        demo
    }

    fn proxy_to(etcd: &Etcd) -> Proxy {
        Proxy::to(Some(etcd.client_address()))
    }

    /// The `/metrics` lines of the etcd watch's series.
    fn etcd_series(demo: &Running) -> Vec<String> {
        let (status, metrics) = demo.get("/metrics");
        assert_eq!(status, 200, "{metrics}");
        metrics
            .lines()
            .filter(|line| line.starts_with("micro_etcd_"))
            .map(str::to_owned)
            .collect()
    }

    /// Polls until the etcd series are exactly `expected` (in any order).
    fn series_become(demo: &Running, expected: &[&str]) {
        let mut want: Vec<String> = expected.iter().map(|line| (*line).to_owned()).collect();
        want.sort();
        let mut last = Vec::new();
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            poll("the etcd series on /metrics", || {
                last = etcd_series(demo);
                last.sort();
                (last == want).then_some(())
            });
        }));
        assert!(found.is_ok(), "expected {want:#?}, last seen {last:#?}");
    }

    #[test]
    fn the_etcd_watch_transitions_and_connection_are_on_metrics() {
        let etcd = Etcd::start();
        etcd.put(KEY, "greeting: first");
        let proxy = proxy_to(&etcd);
        let demo = demo_through(&proxy);
        series_become(
            &demo,
            &[
                "micro_etcd_connected 1",
                r#"micro_etcd_watch_transitions_total{to="connected"} 1"#,
            ],
        );

        proxy.cut();
        demo.wait_for_line("etcd watch on /micro/micro-demo/ lost");
        series_become(
            &demo,
            &[
                "micro_etcd_connected 0",
                r#"micro_etcd_watch_transitions_total{to="connected"} 1"#,
                r#"micro_etcd_watch_transitions_total{to="lost"} 1"#,
            ],
        );

        // Two changes, then history up to the last compacted away: the
        // revision after the last one seen is gone.
        etcd.put(KEY, "greeting: missed");
        etcd.put(KEY, "greeting: after compaction");
        etcd.compact(etcd.revision());
        proxy.heal();
        demo.wait_for_line("was compacted");
        series_become(
            &demo,
            &[
                "micro_etcd_connected 1",
                r#"micro_etcd_watch_transitions_total{to="connected"} 2"#,
                r#"micro_etcd_watch_transitions_total{to="lost"} 1"#,
                r#"micro_etcd_watch_transitions_total{to="compacted"} 1"#,
            ],
        );
    }

    #[test]
    fn a_watch_resumed_from_its_last_revision_misses_no_change_made_while_it_was_down() {
        let etcd = Etcd::start();
        etcd.put(KEY, "greeting: before the cut");
        let proxy = proxy_to(&etcd);
        let demo = demo_through(&proxy);
        let seen = etcd.revision();

        proxy.cut();
        let lost = demo.wait_for_line("etcd watch on /micro/micro-demo/ lost");
        assert!(lost.contains(&format!("(revision {seen})")), "{lost}");
        // Two documents change while the service cannot see etcd; nothing
        // is put after the heal, so only the resumed watch can bring them.
        etcd.put(KEY, "greeting: put while the watch was down");
        etcd.put("/micro/micro-demo/site", "shutdown:\n  drain_timeout: 7s\n");
        proxy.heal();

        let resumed = demo.wait_for_nth_line("etcd watch on /micro/micro-demo/ from revision", 2);
        assert!(
            resumed.contains(&format!("from revision {}", seen + 1)),
            "resumed after the last revision seen: {resumed}"
        );
        poll("/hello to answer the greeting put while down", || {
            (demo.get("/hello") == (200, "put while the watch was down".to_owned())).then_some(())
        });
        poll("the site change made while down to be in force", || {
            demo.get("/debug/config").1.contains("drain_timeout: 7s").then_some(())
        });
        assert!(
            !demo.lines().iter().any(|line| line.contains("was compacted")),
            "{}",
            demo.stderr()
        );
    }
}
