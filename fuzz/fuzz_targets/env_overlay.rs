//! Any set of environment variables as the env layer: each `MICRO__...`
//! name split into a document and keys, each value read as a YAML scalar,
//! merged over nothing; the `site` document then typed and validated.
//! Nothing may panic, and every error names the variable.

#![no_main]

use libfuzzer_sys::fuzz_target;
use micro_config::{ConfigBackend, EnvBackend, Origin, SiteConfig};

fuzz_target!(|vars: Vec<(String, String)>| {
    let vars: Vec<(String, String)> = vars
        .into_iter()
        .map(|(name, value)| (format!("MICRO__{name}"), value))
        .collect();
    let backend = EnvBackend::from_vars("MICRO", vars);
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    for name in ["site", "demo"] {
        match runtime.block_on(backend.load(name)) {
            Ok(Some(document)) if name == "site" => {
                let origin = Origin::Env("MICRO__SITE".into());
                let _ = SiteConfig::from_value(document.value(), "site", &origin);
            }
            Ok(_) => {}
            Err(err) => {
                let message = err.to_string();
                assert!(message.contains("MICRO__"), "an error without its variable: {message}");
            }
        }
    }
});
