//! The catalogue of malformed configuration. Each case is checked twice on
//! the real demo binary: at start (exit 78, the message names the source,
//! the key path and, for YAML, line and column) and — for files — at reload
//! (rejected with the same message, the old configuration kept, the process
//! alive).

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
    ($($name:ident: files $files:expr, env $env:expr, expect $expect:expr;)*) => {
        mod at_start {
            use super::*;
            $(#[test] fn $name() { at_start(&Case { files: files($files), env: $env, expect: $expect }); })*
        }
        mod at_reload {
            use super::*;
            $(#[test] fn $name() {
                let case = Case { files: files($files), env: $env, expect: $expect };
                // The environment of a running process does not change: those cases are start-only.
                if case.env.is_empty() { at_reload(&case); }
            })*
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
    bad_indentation: files &[("demo.yaml", b"greeting: hi\n  extra: x\n")], env &[],
        expect &["{dir}/demo.yaml:2:"];
    a_tab_used_for_indentation: files &[("demo.yaml", b"greeting:\n\thi: 1\n")], env &[],
        expect &["{dir}/demo.yaml:2:"];
    a_key_given_twice: files &[("demo.yaml", b"greeting: a\ngreeting: b\n")], env &[],
        expect &["{dir}/demo.yaml:", "duplicate key `greeting`"];
    a_word_where_a_port_goes: files &[("site.yaml", b"http:\n  port: eighty\n")], env &[],
        expect &["{dir}/site.yaml:2:3: site.http.port: invalid type: string \"eighty\""];
    a_misspelt_key: files &[("site.yaml", b"http:\n  prot: 8080\n")], env &[],
        expect &["{dir}/site.yaml:2:3: site.http.prot: unknown key `prot`; did you mean `port`?"];
    an_unknown_section: files &[("site.yaml", b"htpp:\n  port: 8080\n")], env &[],
        expect &["{dir}/site.yaml:1:1: site.htpp: unknown key `htpp`; did you mean `http`?"];
    a_duration_without_unit: files &[("site.yaml", b"shutdown:\n  drain_timeout: soon\n")], env &[],
        expect &["{dir}/site.yaml:2:3: site.shutdown.drain_timeout:", "expected a duration"];
    a_port_out_of_range: files &[("site.yaml", b"http:\n  port: 70000\n")], env &[],
        expect &["{dir}/site.yaml:2:3: site.http.port:", "70000"];
    a_negative_port: files &[("site.yaml", b"http:\n  port: -1\n")], env &[],
        expect &["{dir}/site.yaml:2:3: site.http.port:", "-1"];
    a_greeting_that_is_a_number: files &[("demo.yaml", b"greeting: 12\n")], env &[],
        expect &["{dir}/demo.yaml:1:1: demo.greeting: invalid type"];
    aliases_that_multiply: files &[("demo.yaml", ALIASES.as_bytes())], env &[],
        expect &["{dir}/demo.yaml", "more than 200000 values"];
    an_admin_token_too_short: files &[("site.yaml", b"admin:\n  enabled: true\n  token: abc\n")], env &[],
        expect &["{dir}/site.yaml:3:3: site.admin.token: must be at least 16 characters"];
    an_admin_listen_that_is_no_address: files &[("site.yaml", b"admin:\n  listen: localhost\n")], env &[],
        expect &["{dir}/site.yaml:2:3: site.admin.listen: `localhost` is not an address:port"];
    a_zero_request_timeout: files &[("site.yaml", b"http:\n  request_timeout: 0s\n")], env &[],
        expect &["{dir}/site.yaml:2:3: site.http.request_timeout: must be longer than 0s"];
    a_greeting_that_is_not_text: files &[("demo.yaml", b"greeting:\n  nested: map\n")], env &[],
        expect &["{dir}/demo.yaml:1:1: demo.greeting: invalid type"];
    binary_garbage: files &[("demo.yaml", b"\x00\xff\xfe\x01greeting\xc3\x28")], env &[],
        expect &["{dir}/demo.yaml", "UTF-8"];
    a_file_too_large: files &[("demo.yaml", HUGE)], env &[],
        expect &["{dir}/demo.yaml", "10 MiB"];
    nesting_too_deep: files &[("demo.yaml", DEEP)], env &[],
        expect &["{dir}/demo.yaml:1:", "recursion limit"];
    a_billion_laughs: files &[("demo.yaml", LAUGHS)], env &[],
        expect &["{dir}/demo.yaml", "repetition limit"];
    a_directory_where_a_file_goes: files &[("demo.yaml/", b"")], env &[],
        expect &["{dir}/demo.yaml: cannot read:"];
    a_list_where_a_map_goes: files &[("demo.yaml", b"- greeting\n- hi\n")], env &[],
        expect &["{dir}/demo.yaml:1:1: a config document is a map of keys to values, not a list"];
    an_unclosed_bracket: files &[("demo.yaml", b"greeting: {text: hi\n")], env &[],
        expect &["{dir}/demo.yaml:2:1:"];
    two_documents_in_one_file: files &[("demo.yaml", b"greeting: a\n---\ngreeting: b\n")], env &[],
        expect &["{dir}/demo.yaml", "more than one document"];
    a_log_level_that_is_no_filter: files &[("site.yaml", b"logging:\n  level: \"info,=[\"\n")], env &[],
        expect &["{dir}/site.yaml:2:3: site.logging.level:", "is not a log filter"];
    an_unknown_log_format: files &[("site.yaml", b"logging:\n  format: xml\n")], env &[],
        expect &["{dir}/site.yaml:2:3: site.logging.format:", "unknown variant `xml`"];
    a_size_without_meaning: files &[("site.yaml", b"http:\n  body_limit: lots\n")], env &[],
        expect &["{dir}/site.yaml:2:3: site.http.body_limit: `lots` is not a size"];
    a_bound_longer_than_a_day: files &[("site.yaml", b"startup:\n  timeout: 2days\n")], env &[],
        expect &["{dir}/site.yaml:2:3: site.startup.timeout:", "longest bound allowed, 1 day"];
    a_total_shorter_than_its_delay: files &[("site.yaml", b"shutdown:\n  total: 1s\n  pre_drain_delay: 5s\n")], env &[],
        expect &["{dir}/site.yaml:2:3: site.shutdown.total:", "pre_drain_delay"];
    a_section_that_is_a_number: files &[("site.yaml", b"http: 80\n")], env &[],
        expect &["{dir}/site.yaml:1:1: site.http: invalid type: integer `80`"];
    a_bad_value_from_the_environment: files &[], env &[("MICRO__SITE__HTTP__PORT", "eighty")],
        expect &["environment variable MICRO__SITE__HTTP__PORT: site.http.port: invalid type"];
    a_variable_with_no_path: files &[], env &[("MICRO__", "1")],
        expect &["environment variable MICRO__"];
    a_duration_from_the_environment_without_unit: files &[], env &[("MICRO__SITE__SHUTDOWN__TOTAL", "forever")],
        expect &["environment variable MICRO__SITE__SHUTDOWN__TOTAL: site.shutdown.total:"];
    a_log_queue_of_no_lines: files &[("site.yaml", b"logging:\n  buffer_lines: 0\n")], env &[],
        expect &["{dir}/site.yaml:2:3: site.logging.buffer_lines: must be at least 1"];
    a_negative_backlog: files &[("site.yaml", b"http:\n  backlog: -5\n")], env &[],
        expect &["{dir}/site.yaml:2:3: site.http.backlog:", "-5"];
    a_zero_flush_timeout: files &[("site.yaml", b"shutdown:\n  flush_timeout: 0s\n")], env &[],
        expect &["{dir}/site.yaml:2:3: site.shutdown.flush_timeout: must be longer than 0s"];
    an_unknown_escape_in_a_quoted_string: files &[("demo.yaml", b"greeting: \"\\q\"\n")], env &[],
        expect &["{dir}/demo.yaml:1:"];
    a_switch_that_is_not_a_bool: files &[("site.yaml", b"http:\n  metrics: maybe\n")], env &[],
        expect &["{dir}/site.yaml:2:3: site.http.metrics: invalid type: string \"maybe\", expected a boolean"];
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
