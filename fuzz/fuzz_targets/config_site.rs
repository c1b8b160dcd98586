//! Any bytes as a site config file: parsed as YAML (with the limits on
//! size, depth and aliases) and, when that succeeds, typed and validated as
//! `SiteConfig`. Nothing may panic, and every error names where it comes
//! from.

#![no_main]

use libfuzzer_sys::fuzz_target;
use micro_config::{Origin, SiteConfig, yaml};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let origin = Origin::File("fuzz/site.yaml".into());
    match yaml::parse(text, &origin) {
        Ok(tree) => {
            if let Err(err) = SiteConfig::from_value(&tree, "site", &origin) {
                let message = err.to_string();
                assert!(
                    message.contains("fuzz/site.yaml"),
                    "an error without its source: {message}"
                );
            }
        }
        Err(err) => {
            let message = err.to_string();
            assert!(
                message.starts_with("fuzz/site.yaml"),
                "an error without its source: {message}"
            );
        }
    }
});
