//! The demo with its configuration in a real etcd (cargo feature `etcd`):
//! changes, bad values, crashes, partitions, compaction and clusters.

use crate::support;

use support::etcd::{Etcd, Proxy};
use support::load::{Bodies, Load};
use support::{Demo, Running, poll};

const KEY: &str = "/micro/micro-demo/demo";

/// The demo reading from `endpoints`, listening.
fn demo_on(endpoints: &str, extra: &[&str]) -> Running {
    let demo = Demo::new().args(["--etcd", endpoints]).args(extra).start();
    demo.wait_for_line("etcd watch on /micro/micro-demo/ from revision");
    demo
}

fn greets(demo: &Running, greeting: &str) {
    poll(&format!("/hello to answer {greeting:?}"), || {
        (demo.get("/hello") == (200, greeting.to_owned())).then_some(())
    });
}

#[test]
fn a_put_in_etcd_is_served_without_a_restart() {
    let etcd = Etcd::start();
    etcd.put(KEY, "greeting: from etcd");
    let demo = demo_on(&etcd.url(), &[]);
    assert_eq!(demo.get("/hello"), (200, "from etcd".into()));

    etcd.put(KEY, "greeting: changed in etcd");
    greets(&demo, "changed in etcd");
    let line = demo.wait_for_line("config reloaded");
    assert!(line.contains("changed: demo.greeting"), "{line}");
}

#[test]
fn a_document_deleted_from_etcd_falls_back_to_the_layers_under_it() {
    let etcd = Etcd::start();
    etcd.put(KEY, "greeting: from etcd");
    let demo = demo_on(&etcd.url(), &[]);
    assert_eq!(demo.get("/hello"), (200, "from etcd".into()));

    etcd.delete(KEY);
    greets(&demo, "hello"); // the demo's embedded default
}

#[test]
fn invalid_yaml_put_in_etcd_is_rejected_naming_the_key_and_the_old_config_stays() {
    let etcd = Etcd::start();
    etcd.put(KEY, "greeting: kept");
    let mut demo = demo_on(&etcd.url(), &[]);

    etcd.put(KEY, "greeting: [unclosed");
    let line = demo.wait_for_line("reload rejected");
    assert!(
        line.contains("etcd /micro/micro-demo/demo@"),
        "names the key and revision: {line}"
    );
    assert!(line.contains(":2:1"), "names line and column: {line}");
    assert_eq!(demo.get("/hello"), (200, "kept".into()));

    // A value the demo's schema refuses is rejected the same way.
    etcd.put(KEY, "greeting: 12");
    demo.wait_for_nth_line("reload rejected", 2);
    assert_eq!(demo.get("/hello"), (200, "kept".into()));
    assert!(demo.is_alive());

    etcd.put(KEY, "greeting: fixed");
    greets(&demo, "fixed");
}

#[test]
fn etcd_killed_and_restarted_the_service_serves_the_old_config_then_catches_up() {
    let mut etcd = Etcd::start();
    etcd.put(KEY, "greeting: before the crash");
    let demo = demo_on(&etcd.url(), &[]);

    etcd.members[0].kill();
    demo.wait_for_line("etcd watch on /micro/micro-demo/ lost");
    assert_eq!(demo.get("/hello"), (200, "before the crash".into()));
    assert_eq!(demo.get("/health/ready").0, 200, "stays ready by default");

    etcd.members[0].restart();
    etcd.wait_healthy();
    etcd.put(KEY, "greeting: after the restart");
    greets(&demo, "after the restart");
    demo.wait_for_nth_line("etcd watch on /micro/micro-demo/ from revision", 2);
}

#[test]
fn with_unready_on_outage_readiness_follows_the_watch() {
    let mut etcd = Etcd::start();
    let demo = demo_on(&etcd.url(), &["--etcd-unready-on-outage"]);
    poll("ready", || (demo.get("/health/ready").0 == 200).then_some(()));

    etcd.members[0].kill();
    poll("503 while etcd is gone", || {
        (demo.get("/health/ready").0 == 503).then_some(())
    });
    let (_, body) = demo.get("/health/ready");
    assert!(body.contains("etcd watch not connected"), "{body}");
    assert_eq!(demo.get("/hello").0, 200, "still serving");

    etcd.members[0].restart();
    poll("ready again", || (demo.get("/health/ready").0 == 200).then_some(()));
}

#[test]
fn a_watch_that_resumes_past_a_compaction_reloads_everything() {
    let etcd = Etcd::start();
    etcd.put(KEY, "greeting: first");
    let demo = demo_on(&etcd.url(), &[]);

    let proxy = &etcd.members[0].front;
    proxy.cut();
    demo.wait_for_line("etcd watch on /micro/micro-demo/ lost");
    // While the service cannot see etcd: changes, then history compacted.
    etcd.put(KEY, "greeting: missed");
    etcd.put(KEY, "greeting: after compaction");
    etcd.compact(etcd.revision());
    proxy.heal();

    greets(&demo, "after compaction");
    let line = demo.wait_for_line("was compacted");
    assert!(line.contains("full reload"), "{line}");
}

#[test]
fn in_a_three_member_cluster_the_watch_survives_each_member_killed_in_turn() {
    let mut etcd = Etcd::cluster(3);
    etcd.put(KEY, "greeting: from the cluster");
    let demo = demo_on(&etcd.endpoints(), &[]);
    assert_eq!(demo.get("/hello"), (200, "from the cluster".into()));

    // The watch runs over one of the three, which one is the client's
    // choice: each is killed in turn, so one of the kills is under it.
    for down in 0..3 {
        etcd.members[down].kill();
        etcd.wait_healthy();
        let greeting = format!("member m{down} down");
        etcd.put(KEY, &format!("greeting: {greeting}"));
        greets(&demo, &greeting);
        etcd.members[down].restart();
        etcd.wait_healthy();
    }
    // One of the kills was under the watch: it was lost, and resumed.
    let lost = demo.wait_for_line("etcd watch on /micro/micro-demo/ lost");
    assert!(!lost.is_empty());
    demo.wait_for_nth_line("etcd watch on /micro/micro-demo/ from revision", 2);
}

#[test]
fn etcd_unreachable_at_startup_exits_69_saying_so() {
    // A port held, where no etcd answers.
    let proxy = Proxy::to(None);
    let nowhere = proxy.url();
    let mut demo = Demo::new()
        .args(["--etcd", &nowhere, "--etcd-connect-timeout", "500ms"])
        .spawn();
    let status = demo.wait_exit();
    assert_eq!(status.code(), Some(69), "{}", demo.stderr());
    let stderr = demo.stderr();
    assert!(
        stderr.contains(&format!("etcd {nowhere} under /micro/micro-demo/ cannot be reached")),
        "{stderr}"
    );
    assert!(stderr.contains("kept trying for 500ms"), "{stderr}");
}

#[test]
fn with_fallback_an_unreachable_etcd_starts_on_the_files_and_is_taken_once_it_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("demo.yaml"), "greeting: from the file\n").expect("write");
    let proxy = Proxy::to(None);
    let demo = Demo::new()
        .config(dir.path())
        .args([
            "--etcd",
            &proxy.url(),
            "--etcd-fallback",
            "--etcd-connect-timeout",
            "300ms",
        ])
        .start();
    assert_eq!(demo.get("/hello"), (200, "from the file".into()));
    demo.wait_for_line("serving the layers under it");

    let etcd = Etcd::start();
    etcd.put(KEY, "greeting: etcd is back");
    proxy.point_to(Some(etcd.client_address()));
    greets(&demo, "etcd is back");
}

#[test]
fn etcd_killed_under_load_loses_no_request_and_the_config_catches_up_after() {
    let mut etcd = Etcd::start();
    etcd.put(KEY, "greeting: before the crash");
    let demo = demo_on(&etcd.url(), &[]);
    let load = Load::start(
        demo.addr.expect("listening"),
        32,
        "/hello",
        &Bodies::in_order(&["before the crash", "after the restart"]),
    );
    poll("load running", || (load.sent() >= 1000).then_some(()));

    etcd.members[0].kill();
    demo.wait_for_line("etcd watch on /micro/micro-demo/ lost");
    let at_kill = load.sent();
    poll("load running with etcd down", || {
        (load.sent() >= at_kill + 2000).then_some(())
    });

    etcd.members[0].restart();
    etcd.wait_healthy();
    etcd.put(KEY, "greeting: after the restart");
    greets(&demo, "after the restart");
    let tally = load.finish();

    tally.assert_nothing_lost("while etcd was down");
    eprintln!(
        "etcd killed under load: {} answers, all 2xx ({} while etcd was down or after)",
        tally.answered(),
        tally.answered().saturating_sub(at_kill)
    );
}
