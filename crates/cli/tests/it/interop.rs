//! Interoperability with the official client, `@polycentric/polycentric-core` from the npm
//! registry: its own publishing, sync and queries against a real `agora serve` (see interop/),
//! on the embedded store and on a node over PostgreSQL.

use crate::support::{Served, install_official_client, official_client_tests, serve, terminate};

/// Runs the official client's tests against `served`, then stops it.
fn official_client_against(served: Served) {
    let run = official_client_tests("interop.test.mjs", &served.url, &[]);
    let report = &run.stdout;
    let stopped_cleanly = terminate(served);

    assert!(
        run.success,
        "official client tests failed:\n{report}\n{}",
        run.stderr
    );
    assert!(
        report.contains("pass 13") || report.contains("ℹ pass 13"),
        "all 13 interop tests ran:\n{report}"
    );
    assert!(
        stopped_cleanly,
        "the server stopped cleanly after the official client's traffic"
    );
}

#[test]
fn the_official_client_publishes_syncs_and_reads_back_through_agora() {
    install_official_client();
    let data_dir = tempfile::tempdir().expect("tempdir");
    official_client_against(serve(data_dir.path()));
}

#[test]
fn the_official_client_works_the_same_against_a_node_over_postgres() {
    install_official_client();
    let database = crate::nodes::Database::create();
    official_client_against(database.node(&[]));
}
