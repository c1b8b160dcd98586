//! Captures the commit the demo is built from as `VERGEN_GIT_SHA`, which
//! `micro::build_version!()` reads: the demo's own build identity. Outside a
//! git checkout nothing is emitted and the version is the crate's.
//!
//! Compiles the greeter's `.proto` (server and client: the end-to-end
//! tests call it) with `protoc`.

fn main() {
    // No transport in the client: the binary has none (the tests bring a channel).
    tonic_prost_build::configure()
        .build_transport(false)
        .compile_protos(&["proto/greeter.proto"], &["proto"])
        .expect("proto/greeter.proto compiles (needs protoc)");
    let Ok(gitcl) = vergen_gitcl::GitclBuilder::default().sha(false).build() else {
        return;
    };
    let mut emitter = vergen_gitcl::Emitter::default();
    if emitter.add_instructions(&gitcl).is_ok() {
        // Outside git, emit nothing rather than a placeholder value.
        let _ = emitter.fail_on_error().emit();
    }
}
