//! The service's build identity: the commit it is built from, as
//! `VERGEN_GIT_SHA`, read by `micro::build_version!()`. Outside git, nothing.

fn main() {
    let Ok(git) = vergen_gitcl::GitclBuilder::default().sha(false).build() else {
        return;
    };
    let mut emitter = vergen_gitcl::Emitter::default();
    if emitter.add_instructions(&git).is_ok() {
        let _ = emitter.fail_on_error().emit();
    }
}
