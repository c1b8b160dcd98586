//! Captures the commit the demo is built from as `VERGEN_GIT_SHA`, which
//! `micro::build_version!()` reads: the demo's own build identity. Outside a
//! git checkout nothing is emitted and the version is the crate's.

fn main() {
    let Ok(gitcl) = vergen_gitcl::GitclBuilder::default().sha(false).build() else {
        return;
    };
    let mut emitter = vergen_gitcl::Emitter::default();
    if emitter.add_instructions(&gitcl).is_ok() {
        // Outside git, emit nothing rather than a placeholder value.
        let _ = emitter.fail_on_error().emit();
    }
}
