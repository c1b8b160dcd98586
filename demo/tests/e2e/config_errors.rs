//! The catalogue of malformed configuration. Each case is checked on the
//! real demo binary: at start (exit 78, the message names the source, the
//! key path and, for YAML, line and column), by `--check-config` (exit 78,
//! the same message) and — for files — at reload (rejected with the same
//! message, the old configuration kept, the process alive).

use crate::support;

use nix::sys::signal::Signal;
use support::Demo;

/// A malformed input: files written into the config directory, variables
/// set, and what the error must say.
struct Case {
    files: Vec<(&'static str, Vec<u8>)>,
    env: &'static [(&'static str, &'static str)],
    expect: &'static [&'static str],
}

/// Writes the case's files into a fresh directory; `{dir}` in expectations
/// stands for it.
fn write(case: &Case, dir: &std::path::Path) {
    for (name, content) in &case.files {
        let path = dir.join(name.trim_end_matches('/'));
        if name.ends_with('/') {
            let _ = std::fs::remove_file(&path);
            std::fs::create_dir_all(&path).expect("mkdir");
        } else {
            std::fs::write(&path, content).expect("write");
        }
    }
}

fn files(list: &[(&'static str, &[u8])]) -> Vec<(&'static str, Vec<u8>)> {
    list.iter().map(|(name, content)| (*name, content.to_vec())).collect()
}

fn expectations(case: &Case, dir: &std::path::Path) -> Vec<String> {
    let dir = dir.display().to_string();
    case.expect.iter().map(|e| e.replace("{dir}", &dir)).collect()
}

fn at_start(case: &Case) {
    let dir = tempfile::tempdir().expect("tempdir");
    write(case, dir.path());
    let path = dir.path().to_str().expect("utf-8");
    let mut demo = Demo::new().args(["--config", path]).envs(case.env).spawn();
    let exit = demo.wait_exit();
    let stderr = demo.stderr();
    assert_eq!(exit.code(), Some(78), "{stderr}");
    for expected in expectations(case, dir.path()) {
        assert!(stderr.contains(&expected), "expected {expected:?} in:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `--check-config` refuses what startup refuses, with the same message.
fn at_check(case: &Case) {
    let dir = tempfile::tempdir().expect("tempdir");
    write(case, dir.path());
    let path = dir.path().to_str().expect("utf-8");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_micro"));
    command
        .args(["--check-config", "--config", path])
        .env_remove("RUST_LOG");
    for (name, _) in std::env::vars() {
        if name.starts_with("MICRO__") {
            command.env_remove(name);
        }
    }
    let output = command.envs(case.env.iter().copied()).output().expect("the demo runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(78), "{stderr}");
    for expected in expectations(case, dir.path()) {
        assert!(stderr.contains(&expected), "expected {expected:?} in:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn at_reload(case: &Case) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("demo.yaml"), "greeting: kept\n").expect("write");
    let mut demo = Demo::new().config(dir.path()).start();
    std::fs::remove_file(dir.path().join("demo.yaml")).expect("rm");
    std::fs::write(dir.path().join("demo.yaml"), "greeting: kept\n").expect("write");
    write(case, dir.path());
    demo.signal(Signal::SIGHUP);
    let line = demo.wait_for_line("reload rejected");
    for expected in expectations(case, dir.path()) {
        assert!(line.contains(&expected), "expected {expected:?} in: {line}");
    }
    assert!(line.contains("generation 1 stays in force"), "{line}");
    assert_eq!(demo.get("/hello"), (200, "kept".into()), "the old config serves");
    assert!(demo.is_alive());
}

macro_rules! catalogue {
    (
        files { $($name:ident: $files:expr => $expect:expr;)* }
        environment { $($env_name:ident: $env:expr => $env_expect:expr;)* }
    ) => {
        mod at_start {
            use super::*;
            $(#[test] fn $name() { at_start(&Case { files: files($files), env: &[], expect: $expect }); })*
            $(#[test] fn $env_name() { at_start(&Case { files: Vec::new(), env: $env, expect: $env_expect }); })*
        }
        mod at_check {
            use super::*;
            $(#[test] fn $name() { at_check(&Case { files: files($files), env: &[], expect: $expect }); })*
            $(#[test] fn $env_name() { at_check(&Case { files: Vec::new(), env: $env, expect: $env_expect }); })*
        }
        // The environment of a running process does not change: only files
        // are checked at reload.
        mod at_reload {
            use super::*;
            $(#[test] fn $name() { at_reload(&Case { files: files($files), env: &[], expect: $expect }); })*
        }
    };
}

const HUGE: &[u8] = &[b'#'; 11 * 1024 * 1024];
const DEEP: &[u8] = concat!(
    "greeting: ",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "\n"
)
.as_bytes();
/// A list of 1000 items, then a list of 1000 aliases of it: 7 KB of text,
/// a million values once expanded.
static ALIASES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "greeting: hi\na: &a [{}]\nb: [{}]\n",
        vec!["1"; 1000].join(","),
        vec!["*a"; 1000].join(",")
    )
});
const LAUGHS: &[u8] = b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\ni: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\ngreeting: hi\n";

catalogue! {
    files {
        bad_indentation: &[("demo.yaml", b"greeting: hi\n  extra: x\n")]
            => &["{dir}/demo.yaml:2:"];
        a_tab_used_for_indentation: &[("demo.yaml", b"greeting:\n\thi: 1\n")]
            => &["{dir}/demo.yaml:2:"];
        a_key_given_twice: &[("demo.yaml", b"greeting: a\ngreeting: b\n")]
            => &["{dir}/demo.yaml:", "duplicate key `greeting`"];
        a_word_where_a_port_goes: &[("site.yaml", b"http:\n  port: eighty\n")]
            => &["{dir}/site.yaml:2:3: site.http.port: invalid type: string \"eighty\""];
        a_misspelt_key: &[("site.yaml", b"http:\n  prot: 8080\n")]
            => &["{dir}/site.yaml:2:3: site.http.prot: unknown key `prot`; did you mean `port`?"];
        an_unknown_section: &[("site.yaml", b"htpp:\n  port: 8080\n")]
            => &["{dir}/site.yaml:1:1: site.htpp: unknown key `htpp`; did you mean `http`?"];
        a_duration_without_unit: &[("site.yaml", b"shutdown:\n  drain_timeout: soon\n")]
            => &["{dir}/site.yaml:2:3: site.shutdown.drain_timeout:", "expected a duration"];
        a_port_out_of_range: &[("site.yaml", b"http:\n  port: 70000\n")]
            => &["{dir}/site.yaml:2:3: site.http.port:", "70000", "(allowed: 0 to 65535)"];
        a_negative_port: &[("site.yaml", b"http:\n  port: -1\n")]
            => &["{dir}/site.yaml:2:3: site.http.port:", "-1"];
        a_greeting_that_is_a_number: &[("demo.yaml", b"greeting: 12\n")]
            => &["{dir}/demo.yaml:1:1: demo.greeting: invalid type"];
        aliases_that_multiply: &[("demo.yaml", ALIASES.as_bytes())]
            => &["{dir}/demo.yaml", "more than 200000 values"];
        an_admin_token_too_short: &[("site.yaml", b"admin:\n  enabled: true\n  token: abc\n")]
            => &["{dir}/site.yaml:3:3: site.admin.token: must be at least 16 characters"];
        an_admin_listen_that_is_no_address: &[("site.yaml", b"admin:\n  listen: localhost\n")]
            => &["{dir}/site.yaml:2:3: site.admin.listen: `localhost` is not an address:port"];
        a_zero_request_timeout: &[("site.yaml", b"http:\n  request_timeout: 0s\n")]
            => &["{dir}/site.yaml:2:3: site.http.request_timeout: 0s is out of range (allowed: 1ms to 1day)"];
        a_greeting_that_is_not_text: &[("demo.yaml", b"greeting:\n  nested: map\n")]
            => &["{dir}/demo.yaml:1:1: demo.greeting: invalid type"];
        binary_garbage: &[("demo.yaml", b"\x00\xff\xfe\x01greeting\xc3\x28")]
            => &["{dir}/demo.yaml", "UTF-8"];
        a_file_too_large: &[("demo.yaml", HUGE)]
            => &["{dir}/demo.yaml", "10 MiB"];
        nesting_too_deep: &[("demo.yaml", DEEP)]
            => &["{dir}/demo.yaml:1:", "recursion limit"];
        a_billion_laughs: &[("demo.yaml", LAUGHS)]
            => &["{dir}/demo.yaml", "repetition limit"];
        a_directory_where_a_file_goes: &[("demo.yaml/", b"")]
            => &["{dir}/demo.yaml: cannot read:"];
        a_list_where_a_map_goes: &[("demo.yaml", b"- greeting\n- hi\n")]
            => &["{dir}/demo.yaml:1:1: a config document is a map of keys to values, not a list"];
        an_unclosed_bracket: &[("demo.yaml", b"greeting: {text: hi\n")]
            => &["{dir}/demo.yaml:2:1:"];
        two_documents_in_one_file: &[("demo.yaml", b"greeting: a\n---\ngreeting: b\n")]
            => &["{dir}/demo.yaml", "more than one document"];
        a_log_level_that_is_no_filter: &[("site.yaml", b"logging:\n  level: \"info,=[\"\n")]
            => &["{dir}/site.yaml:2:3: site.logging.level:", "is not a log filter"];
        an_unknown_log_format: &[("site.yaml", b"logging:\n  format: xml\n")]
            => &["{dir}/site.yaml:2:3: site.logging.format:", "unknown variant `xml`"];
        a_size_without_meaning: &[("site.yaml", b"http:\n  body_limit: lots\n")]
            => &["{dir}/site.yaml:2:3: site.http.body_limit: `lots` is not a size"];
        a_bound_longer_than_a_day: &[("site.yaml", b"startup:\n  timeout: 2days\n")]
            => &["{dir}/site.yaml:2:3: site.startup.timeout: 2days is out of range (allowed: 1ms to 1day)"];
        a_total_shorter_than_its_delay: &[("site.yaml", b"shutdown:\n  total: 1s\n  pre_drain_delay: 5s\n")]
            => &["{dir}/site.yaml:2:3: site.shutdown.total:", "pre_drain_delay"];
        a_section_that_is_a_number: &[("site.yaml", b"http: 80\n")]
            => &["{dir}/site.yaml:1:1: site.http: invalid type: integer `80`"];
        a_log_queue_of_no_lines: &[("site.yaml", b"logging:\n  buffer_lines: 0\n")]
            => &["{dir}/site.yaml:2:3: site.logging.buffer_lines: 0 is out of range (allowed: 1 to 1000000)"];
        a_negative_backlog: &[("site.yaml", b"http:\n  backlog: -5\n")]
            => &["{dir}/site.yaml:2:3: site.http.backlog:", "-5"];
        a_zero_flush_timeout: &[("site.yaml", b"shutdown:\n  flush_timeout: 0s\n")]
            => &["{dir}/site.yaml:2:3: site.shutdown.flush_timeout: 0s is out of range (allowed: 1ms to 1day)"];
        an_unknown_escape_in_a_quoted_string: &[("demo.yaml", b"greeting: \"\\q\"\n")]
            => &["{dir}/demo.yaml:1:"];
        a_switch_that_is_not_a_bool: &[("site.yaml", b"http:\n  metrics: maybe\n")]
            => &["{dir}/site.yaml:2:3: site.http.metrics: invalid type: string \"maybe\", expected a boolean"];
        a_log_queue_too_long_for_memory: &[("site.yaml", b"logging:\n  buffer_lines: 100000000000\n")]
            => &["{dir}/site.yaml:2:3: site.logging.buffer_lines: 100000000000 is out of range (allowed: 1 to 1000000)"];
        a_body_limit_over_a_gibibyte: &[("site.yaml", b"http:\n  body_limit: 2GiB\n")]
            => &["{dir}/site.yaml:2:3: site.http.body_limit: 2GiB is out of range (allowed: 1B to 1GiB)"];
        a_backlog_over_what_listen_takes: &[("site.yaml", b"http:\n  backlog: 4000000000\n")]
            => &["{dir}/site.yaml:2:3: site.http.backlog: 4000000000 is out of range (allowed: 1 to 65535)"];
        a_restart_count_beyond_reason: &[("site.yaml", b"supervision:\n  max_restarts: 99999999\n")]
            => &["{dir}/site.yaml:2:3: site.supervision.max_restarts: 99999999 is out of range (allowed: 0 to 10000)"];
        a_load_timeout_not_shorter_than_the_call_timeout: &[("site.yaml", b"config:\n  load_timeout: 5s\n")]
            => &["{dir}/site.yaml:2:3: site.config.load_timeout: must be shorter than actors.call_timeout"];
        a_log_level_that_is_a_word_but_no_level: &[("site.yaml", b"logging:\n  level: loudest\n")]
            => &["{dir}/site.yaml:2:3: site.logging.level: `loudest` is not a level; did you mean `", "a target is written `target=level`"];
    }
    environment {
        a_log_queue_of_a_hundred_billion_lines: &[("MICRO__SITE__LOGGING__BUFFER_LINES", "100000000000")]
            => &["environment variable MICRO__SITE__LOGGING__BUFFER_LINES: site.logging.buffer_lines: 100000000000 is out of range (allowed: 1 to 1000000)"];
        a_log_queue_of_the_largest_number: &[("MICRO__SITE__LOGGING__BUFFER_LINES", "18446744073709551615")]
            => &["environment variable MICRO__SITE__LOGGING__BUFFER_LINES: site.logging.buffer_lines: 18446744073709551615 is out of range (allowed: 1 to 1000000)"];
        a_port_beyond_65535_from_the_environment: &[("MICRO__SITE__HTTP__PORT", "70000")]
            => &["environment variable MICRO__SITE__HTTP__PORT: site.http.port:", "(allowed: 0 to 65535)"];
        a_log_level_from_the_environment_that_is_no_level: &[("MICRO__SITE__LOGGING__LEVEL", "INFOO")]
            => &["environment variable MICRO__SITE__LOGGING__LEVEL: site.logging.level: `INFOO` is not a level; did you mean `info`?"];
        a_bad_value_from_the_environment: &[("MICRO__SITE__HTTP__PORT", "eighty")]
            => &["environment variable MICRO__SITE__HTTP__PORT: site.http.port: invalid type"];
        a_variable_with_no_path: &[("MICRO__", "1")]
            => &["environment variable MICRO__"];
        a_duration_from_the_environment_without_unit: &[("MICRO__SITE__SHUTDOWN__TOTAL", "forever")]
            => &["environment variable MICRO__SITE__SHUTDOWN__TOTAL: site.shutdown.total:"];
    }
}

#[test]
fn an_empty_file_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("demo.yaml"), "").expect("write");
    std::fs::write(dir.path().join("site.yaml"), "# nothing set here\n").expect("write");
    let demo = Demo::new().config(dir.path()).start();
    assert_eq!(demo.get("/hello"), (200, "hello".into()));
}

#[test]
fn a_section_left_empty_keeps_its_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("site.yaml"),
        "http:\n  # port: 9000\n  request_timeout:\nshutdown:\n",
    )
    .expect("write");
    let demo = Demo::new().config(dir.path()).start();
    assert_eq!(demo.get("/health/ready").0, 200);
    let (_, dump) = demo.get("/debug/config");
    assert!(dump.contains("request_timeout: 30s"), "the default stays: {dump}");
}
