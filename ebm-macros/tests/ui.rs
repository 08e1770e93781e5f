//! Compile-time behaviour of `#[energy]`: models that must compile (and run), and misuses that must
//! fail with the macro's own message at the offending tokens (`ui/fail/*.stderr`).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
