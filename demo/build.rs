//! Captures the commit the demo is built from as `VERGEN_GIT_SHA`, which
//! `micro::build_version!()` reads: the demo's own build identity. Outside a
//! git checkout nothing is emitted and the version is the crate's.
//!
//! Compiles the greeter's `.proto` (server and client: the end-to-end
//! tests call it) with the `protoc` that `protoc-bin-vendored` brings, so
//! `cargo run` needs nothing installed.

fn main() {
    let mut config = tonic_prost_build::Config::new();
    if let Ok(protoc) = protoc_bin_vendored::protoc_bin_path() {
        config.protoc_executable(protoc);
    }
    // No transport in the client: the binary has none (the tests bring a channel).
    tonic_prost_build::configure()
        .build_transport(false)
        .compile_with_config(config, &["proto/greeter.proto"], &["proto"])
        .expect("proto/greeter.proto compiles");
    let Ok(gitcl) = vergen_gitcl::GitclBuilder::default().sha(false).build() else {
        return;
    };
    let mut emitter = vergen_gitcl::Emitter::default();
    if emitter.add_instructions(&gitcl).is_ok() {
        // Outside git, emit nothing rather than a placeholder value.
        let _ = emitter.fail_on_error().emit();
    }
}
