//! Compile-time behaviour of `#[migratable]` and `#[tern::remote]` (trybuild): the shapes they
//! reject, each with a message that points at the user's code and says what to write instead
//! (`tests/ui/fail`, `tests/ui/remote_fail`), and the shapes they accept, compiled and run
//! against a real node (`tests/ui/pass`, `tests/ui/remote_pass`).
//!
//! Regenerate the expected messages with `TRYBUILD=overwrite cargo test -p tern-tests --test ui`
//! and read every changed `.stderr` before committing it.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/*.rs");
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/remote_fail/*.rs");
    t.pass("ui/remote_pass/*.rs");
}
