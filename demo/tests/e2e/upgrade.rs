//! Upgrades: SIGUSR2 or `POST /admin/upgrade` start the binary again on
//! the same sockets. Under keep-alive load nothing is refused or cut; a
//! build whose configuration is broken changes nothing; one upgrade at a
//! time; the state handed over arrives.

use crate::support;

use std::path::Path;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use support::load::{Bodies, Load};
use support::{Demo, agent, config_dir, get, poll, status};

/// The processes an upgrade chain went through, first to last. Any still
/// alive when the test ends, passed or failed, is killed: the later ones
/// are no children of the test, and would outlive it.
pub(crate) struct Lineage(pub(crate) Vec<u32>);

impl Lineage {
    pub(crate) fn last(&self) -> u32 {
        *self.0.last().expect("a first process")
    }

    /// Whether `pid` runs: its `/proc` entry is there and not a zombie
    /// (an orphan the init process has not reaped yet has exited).
    pub(crate) fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| stat.rsplit(") ").next().map(|rest| !rest.starts_with('Z')))
            .unwrap_or(false)
    }

    pub(crate) fn signal(pid: u32, signal: Signal) {
        let pid = i32::try_from(pid).expect("a pid");
        kill(Pid::from_raw(pid), signal).expect("the signal is delivered");
    }
}

impl Drop for Lineage {
    fn drop(&mut self) {
        for pid in self.0.iter().copied().filter(|pid| Self::alive(*pid)) {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// `GET /version` at `base`.
pub(crate) fn version(base: &str) -> Value {
    let (code, body) = get(&format!("{base}/version"));
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

/// The `pid` of a `/version` answer, an upgrade's answer or its record.
pub(crate) fn pid_of(answer: &Value) -> u32 {
    u32::try_from(answer["pid"].as_u64().expect("a pid")).expect("a pid")
}

/// The build `REVISION` in `dir` names, as `/version` reports it.
fn deploy(dir: &Path, revision: &str) {
    std::fs::write(dir.join("REVISION"), format!("{revision}\n")).expect("REVISION written");
}

/// SIGUSR2 to `from`; waits until another process answers at `base` with
/// `revision`, and returns it.
fn upgrade(base: &str, from: u32, revision: &str) -> u32 {
    Lineage::signal(from, Signal::SIGUSR2);
    poll(&format!("a process of {revision} serving in place of {from}"), || {
        let now = version(base);
        (pid_of(&now) != from && now["version"] == revision).then(|| pid_of(&now))
    })
}

const SITE: &str = "shutdown:\n  quiet_period: 200ms\n";
/// The same, with a typo on line 3, column 3.
const BROKEN_SITE: &str = "shutdown:\n  quiet_period: 200ms\n  quiet_periodd: 1s\n";

#[test]
fn five_upgrades_under_keep_alive_load_refuse_no_connection_and_cut_no_request() {
    let work = tempfile::tempdir().expect("tempdir");
    let conf = config_dir(&[("site.yaml", SITE)]);
    deploy(work.path(), "build-1");
    let mut demo = Demo::new().dir(work.path()).config(conf.path()).start();
    let base = demo.url("");
    let mut lineage = Lineage(vec![demo.pid()]);
    let load = Load::start(
        demo.addr.expect("listening"),
        64,
        "/sleep/10",
        &Bodies::exactly("slept 10 ms\n"),
    );
    poll("500 requests before the first upgrade", || {
        (load.sent() >= 500).then_some(())
    });
    for build in 2..=6 {
        let revision = format!("build-{build}");
        deploy(work.path(), &revision);
        let from = lineage.last();
        if build == 4 {
            // A deploy whose configuration is broken: the new process
            // exits 78, the running one serves on and says why.
            std::fs::write(conf.path().join("site.yaml"), BROKEN_SITE).expect("written");
            Lineage::signal(from, Signal::SIGUSR2);
            let last = poll("the broken upgrade to fail", || {
                let now = version(&base);
                (now["last_upgrade"]["outcome"] == "failed").then_some(now)
            });
            assert_eq!(pid_of(&last), from, "the old process serves on: {last}");
            assert_eq!(last["version"], "build-3", "{last}");
            let reason = last["last_upgrade"]["reason"].as_str().expect("a reason");
            assert!(
                reason.contains("exited with 78")
                    && reason.contains("site.yaml:3:3: site.shutdown.quiet_periodd: unknown key"),
                "{reason}"
            );
            let failed = demo.metric("micro_upgrades_total{outcome=\"failed\"}");
            assert_eq!(failed, 1.0);
            std::fs::write(conf.path().join("site.yaml"), SITE).expect("written");
            continue;
        }
        let to = upgrade(&base, from, &revision);
        lineage.0.push(to);
        let sent = load.sent();
        poll("200 more requests after the upgrade", || {
            (load.sent() >= sent + 200).then_some(())
        });
    }
    let olds = &lineage.0[..lineage.0.len() - 1];
    for pid in olds {
        poll(&format!("process {pid} to exit"), || {
            (!Lineage::alive(*pid)).then_some(())
        });
    }
    let tally = load.finish();
    tally.assert_nothing_lost("through five upgrades, one of them broken");
    assert!(tally.answered() >= 1500, "{}", tally.summary());

    let last = lineage.last();
    Lineage::signal(last, Signal::SIGTERM);
    poll(&format!("the last process {last} to exit"), || {
        (!Lineage::alive(last)).then_some(())
    });
    // The first process is the test's child: its exit code is seen; the
    // others' are in their last line.
    assert_eq!(demo.wait_exit().code(), Some(0), "{}", demo.stderr());
    let lines = demo.lines();
    let upgraded: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains("stopped micro-demo") && line.contains("(upgrade: process "))
        .collect();
    assert_eq!(upgraded.len(), 4, "{upgraded:#?}");
    assert!(upgraded.iter().all(|line| line.ends_with("exit 0")), "{upgraded:#?}");
    for (old, new) in lineage.0.iter().zip(&lineage.0[1..]) {
        assert!(
            lines
                .iter()
                .any(|line| line.contains(&format!("upgraded: process {new} serves"))),
            "{old} → {new}"
        );
    }
    let stopped = lines
        .iter()
        .filter(|line| line.contains("stopped micro-demo") && line.contains("(SIGTERM)"))
        .count();
    assert_eq!(stopped, 1, "the last one stopped by SIGTERM");
    eprintln!("five upgrades under load: {}", tally.summary());
}

#[test]
fn a_second_upgrade_while_one_is_under_way_is_refused_and_the_next_one_works() {
    let token = "0123456789abcdef-not-a-real-secret";
    let conf = config_dir(&[("site.yaml", "admin:\n  enabled: true\n")]);
    // Each process's init takes a while: an upgrade stays under way.
    let demo = Demo::new()
        .config(conf.path())
        .args(["--init-delay", "1s"])
        .env("MICRO__SITE__ADMIN__TOKEN", token)
        .env("MICRO__SITE__SHUTDOWN__QUIET_PERIOD", "100ms")
        .start();
    let base = demo.url("");
    let mut lineage = Lineage(vec![demo.pid()]);
    for _ in 0..3 {
        assert_eq!(get(&format!("{base}/hello")).0, 200);
    }
    let post = |path: &str| {
        let result = agent()
            .post(&format!("{base}{path}"))
            .set("Authorization", &format!("Bearer {token}"))
            .call();
        match result {
            Ok(response) => (response.status(), response.into_string().expect("text")),
            Err(ureq::Error::Status(code, response)) => (code, response.into_string().unwrap_or_default()),
            Err(err) => panic!("POST {path}: {err}"),
        }
    };
    assert_eq!(
        status(agent().post(&format!("{base}/admin/upgrade")).call()),
        401,
        "no token, no upgrade"
    );
    let first = std::thread::scope(|scope| {
        let first = scope.spawn(|| post("/admin/upgrade"));
        demo.wait_for_line("waiting for it to serve");
        let (code, body) = post("/admin/upgrade");
        assert_eq!(code, 409, "{body}");
        assert!(body.contains("an upgrade is already under way (new process "), "{body}");
        Lineage::signal(lineage.last(), Signal::SIGUSR2);
        first.join().expect("the first upgrade answers")
    });
    assert_eq!(first.0, 200, "{}", first.1);
    let answer: Value = serde_json::from_str(&first.1).expect("JSON");
    let new = pid_of(&answer);
    lineage.0.push(new);
    assert_eq!(pid_of(&version(&base)), new);
    let refused = demo.wait_for_line("upgrade refused: ");
    assert!(refused.contains("already under way"), "{refused}");
    // The count of greetings, handed over as the demo's state.
    assert_eq!(get(&format!("{base}/greeted")), (200, "3\n".to_owned()));
    // Back to back: the new process upgrades at once.
    let (code, body) = post("/admin/upgrade");
    assert_eq!(code, 200, "{body}");
    let newer = pid_of(&serde_json::from_str(&body).expect("JSON"));
    lineage.0.push(newer);
    assert_eq!(get(&format!("{base}/greeted")), (200, "3\n".to_owned()));
    Lineage::signal(newer, Signal::SIGTERM);
    for pid in lineage.0.clone() {
        poll(&format!("process {pid} to exit"), || {
            (!Lineage::alive(pid)).then_some(())
        });
    }
}

#[test]
fn a_new_process_not_ready_in_time_is_stopped_and_the_old_one_serves_on() {
    // The new process takes a second to start; its predecessor waits 300ms.
    let demo = Demo::new()
        .args(["--init-delay", "1s"])
        .env("MICRO__SITE__UPGRADE__TIMEOUT", "300ms")
        .start();
    let base = demo.url("");
    let old = demo.pid();
    let mut lineage = Lineage(vec![old]);
    Lineage::signal(old, Signal::SIGUSR2);
    let last = poll("the upgrade to time out", || {
        let now = version(&base);
        (now["last_upgrade"]["outcome"] == "timed_out").then_some(now)
    });
    let new = pid_of(&last["last_upgrade"]);
    lineage.0.push(new);
    assert_eq!(pid_of(&last), old);
    let reason = last["last_upgrade"]["reason"].as_str().expect("a reason");
    assert!(
        reason.contains("was not ready within 300.0ms (site.upgrade.timeout)"),
        "{reason}"
    );
    poll(&format!("the new process {new} to be stopped"), || {
        (!Lineage::alive(new)).then_some(())
    });
    assert_eq!(get(&format!("{base}/hello")).0, 200);
    assert_eq!(demo.metric("micro_upgrades_total{outcome=\"timed_out\"}"), 1.0);
}

#[test]
fn the_admin_listener_of_its_own_is_handed_over_too() {
    let dir = config_dir(&[("site.yaml", "admin:\n  enabled: true\n  listen: 127.0.0.1:0\n")]);
    let token = "0123456789abcdef-not-a-real-secret";
    let demo = Demo::new()
        .config(dir.path())
        .args(["--production"])
        .env("MICRO__SITE__ADMIN__TOKEN", token)
        .env("MICRO__SITE__SHUTDOWN__QUIET_PERIOD", "100ms")
        .start();
    let admin = demo.admin_addr(1);
    let mut lineage = Lineage(vec![demo.pid()]);
    let call = agent()
        .post(&format!("http://{admin}/admin/upgrade"))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .expect("upgraded");
    let answer: Value = serde_json::from_str(&call.into_string().expect("text")).expect("JSON");
    let new = pid_of(&answer);
    lineage.0.push(new);
    // Its configuration says port 0: the new process serves the admin
    // routes on the socket handed over, not on a port of its own.
    assert_eq!(demo.admin_addr(2), admin);
    let reload = agent()
        .post(&format!("http://{admin}/admin/reload"))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .expect("reloaded");
    assert_eq!(reload.status(), 200);
    poll("the old process to exit", || {
        (!Lineage::alive(lineage.0[0])).then_some(())
    });
    assert_eq!(pid_of(&version(&demo.url(""))), new);
}

#[test]
fn an_upgrade_starts_what_the_path_the_service_was_started_by_points_at_now() {
    use std::os::unix::fs::{PermissionsExt as _, symlink};
    let dir = tempfile::tempdir().expect("tempdir");
    let current = dir.path().join("current");
    symlink(env!("CARGO_BIN_EXE_micro"), &current).expect("symlinked");
    let demo = Demo::new()
        .program(&current)
        .args(["--port", "0"])
        .env("MICRO__SITE__SHUTDOWN__QUIET_PERIOD", "100ms")
        .dir(dir.path())
        .start();
    let base = demo.url("");
    let old = demo.pid();
    let mut lineage = Lineage(vec![old]);
    // A deploy: release v2 in place, then the symlink switched to it.
    let release = dir.path().join("v2");
    let script = format!(
        "#!/bin/sh\nMICRO_REVISION=v2 exec {} \"$@\"\n",
        env!("CARGO_BIN_EXE_micro")
    );
    std::fs::write(&release, script).expect("written");
    std::fs::set_permissions(&release, std::fs::Permissions::from_mode(0o755)).expect("executable");
    let next = dir.path().join("current.next");
    symlink(&release, &next).expect("symlinked");
    std::fs::rename(&next, &current).expect("switched");
    let new = upgrade(&base, old, "v2");
    lineage.0.push(new);
    poll("the old process to exit", || (!Lineage::alive(old)).then_some(()));
}
