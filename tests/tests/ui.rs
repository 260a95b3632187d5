//! Compile-time behaviour of `#[migratable]` (trybuild): the shapes it rejects, each with a
//! message that points at the user's code and says what to write instead (`tests/ui/fail`),
//! and the shapes it accepts, compiled and run against a real node (`tests/ui/pass`).
//!
//! Regenerate the expected messages with `TRYBUILD=overwrite cargo test -p tern-tests --test ui`
//! and read every changed `.stderr` before committing it.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/*.rs");
    t.pass("ui/pass/*.rs");
}
