//! Any bytes as a site config file: decoded as UTF-8 (an error naming the
//! file when they are not), then loaded as a load does it — parsed as YAML
//! (with the limits on size, depth and aliases), merged over the defaults,
//! typed and validated as `SiteConfig` (types, ranges, levels). Nothing
//! may panic, every error names where it comes from, and an error about a
//! key the file sets names the file.

#![no_main]

use libfuzzer_sys::fuzz_target;
use micro_config::{LoadError, MemoryBackend, Origin, PreloadedConfig, Value, yaml};

const FILE: &str = "fuzz/site.yaml";

/// Whether `tree` sets a value at `keys` (a key left empty sets nothing).
fn sets(tree: &Value, keys: &[&str]) -> bool {
    keys.iter()
        .try_fold(tree, |node, key| node.as_object()?.get(*key))
        .is_some_and(|value| !value.is_null())
}

fuzz_target!(|data: &[u8]| {
    let named = |message: String| {
        assert!(message.starts_with(FILE), "an error without its source: {message}");
    };
    let text = match yaml::decode(data.to_vec(), &Origin::File(FILE.into())) {
        Ok(text) => text,
        Err(err) => return named(err.to_string()),
    };
    let tree = match yaml::parse(&text, &Origin::Memory(FILE.into())) {
        Ok(tree) => tree,
        Err(err) => return named(err.to_string()),
    };
    let backend = match MemoryBackend::labelled(FILE).with_yaml("site", &text) {
        Ok(backend) => backend,
        Err(err) => return named(err.to_string()),
    };
    let config = PreloadedConfig::new(["site"]).backend(backend);
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    match runtime.block_on(config.load_candidate(1, &[])) {
        Ok(_) => {}
        Err(LoadError::Invalid { at, path, message }) => {
            let keys: Vec<&str> = path.strip_prefix("site.").unwrap_or_default().split('.').collect();
            if sets(&tree, &keys) {
                assert_eq!(
                    at.origin,
                    Origin::Memory(FILE.into()),
                    "an error about a key the file sets, without the file: {path}: {message}"
                );
            } else {
                // A key the file left alone (another key's check): its default.
                assert!(
                    matches!(at.origin, Origin::Embedded(_) | Origin::Memory(_)),
                    "an error without its source: {at}: {path}: {message}"
                );
            }
        }
        Err(err) => named(err.to_string()),
    }
});
