//! Any set of environment variables, names and values any bytes (as the
//! process environment may hold), as the env layer of a config: each
//! `MICRO__...` name split into a document and keys, each value read as a
//! YAML scalar, the `site` document merged over the defaults, typed and
//! validated as a load does it. Nothing may panic, and every error names
//! the variable that set the key it is about.

#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;
use micro_config::{ConfigBackend, EnvBackend, LoadError, Origin, PreloadedConfig};

fuzz_target!(|vars: Vec<(Vec<u8>, Vec<u8>)>| {
    let vars: Vec<(OsString, OsString)> = vars
        .into_iter()
        .map(|(name, value)| {
            let mut full = b"MICRO__".to_vec();
            full.extend(name);
            (OsString::from_vec(full), OsString::from_vec(value))
        })
        .collect();
    // The key path each variable sets, as the error would name it.
    let paths: Vec<String> = vars
        .iter()
        .map(|(name, _)| {
            let name = name.to_string_lossy();
            name.trim_start_matches("MICRO__")
                .split("__")
                .collect::<Vec<_>>()
                .join(".")
                .to_lowercase()
        })
        .collect();
    let backend = EnvBackend::from_vars("MICRO", vars);
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    // The site document is always loaded, and typed with its defaults.
    let config = PreloadedConfig::new(Vec::<String>::new()).backend(backend.clone());
    let loads = [
        runtime.block_on(config.load_candidate(1, &[])).map(drop),
        runtime.block_on(backend.load("demo")).map(drop),
    ];
    for err in loads.into_iter().filter_map(Result::err) {
        let message = err.to_string();
        match &err {
            // About a key: a variable that set it (or one under it) is named.
            LoadError::Invalid { at, path, .. } => {
                let set_by_variable = paths.iter().any(|set| {
                    set == path || set.starts_with(&format!("{path}.")) || path.starts_with(&format!("{set}."))
                });
                if set_by_variable {
                    assert!(
                        matches!(&at.origin, Origin::Env(name) if name.starts_with("MICRO__")),
                        "an error about a key a variable set, without the variable: {message}"
                    );
                } else {
                    // A key the variables left alone (another key's check): its default.
                    assert!(
                        matches!(&at.origin, Origin::Embedded(_)) || matches!(&at.origin, Origin::Env(_)),
                        "an error without its source: {message}"
                    );
                }
            }
            _ => assert!(
                message.contains("environment variable MICRO__"),
                "an error without its variable: {message}"
            ),
        }
    }
});
