//! Property tests over real servers and clients: a runner for async properties, outside the
//! `proptest!` macro.

use proptest::prelude::*;

/// `cases` cases, with failures reported in the test's output only: a runner outside the
/// `proptest!` macro knows no source file to save them beside.
pub fn config(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}

/// Runs `cases` cases of `strategy` through the async `test` on `runtime` (a property over a
/// real server or client), failing with the smallest case found.
pub fn run_async<S: Strategy>(
    runtime: &tokio::runtime::Runtime,
    cases: u32,
    strategy: S,
    test: impl AsyncFn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = proptest::test_runner::TestRunner::new(config(cases));
    if let Err(failure) = runner.run(&strategy, |value| runtime.block_on(test(value))) {
        panic!("{failure}");
    }
}
