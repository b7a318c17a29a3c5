//! Interoperability with the official client, `@polycentric/polycentric-core` from the npm
//! registry: its own publishing, sync and queries against a real `agora serve` (see interop/).

use std::process::Command;

use crate::support::{install_official_client, serve, terminate};

#[test]
fn the_official_client_publishes_syncs_and_reads_back_through_agora() {
    let dir = install_official_client();
    let data_dir = tempfile::tempdir().expect("tempdir");
    let served = serve(data_dir.path());

    let output = Command::new("node")
        .args(["--test", "--test-reporter=spec", "interop.test.mjs"])
        .current_dir(&dir)
        .env("AGORA_SERVER", &served.url)
        .output()
        .expect("node is installed");
    let report = String::from_utf8_lossy(&output.stdout);
    let stopped_cleanly = terminate(served);

    assert!(
        output.status.success(),
        "official client tests failed:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
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
