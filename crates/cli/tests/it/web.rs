//! The web client (`web/`) in headless Chromium, driven by Playwright from Node
//! (`web/tests/browser.test.mjs`), against real `agora serve` processes that the Node side starts
//! from this test's binary, and a testnet `LyingServer` started here.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use agora_testnet::TestServer;
use agora_testnet::lying::{INJECTED_TEXT, LyingServer};

use crate::support::{Run, install_official_client, run};

/// Debian's Chromium (`.ci/run` installs it where it is missing).
const CHROMIUM: &str = "/usr/bin/chromium";

fn web_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web")
}

/// Installs the web client's pinned packages (Playwright's driver, axe-core) once.
fn install_web_packages() {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _installing = INSTALL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !web_dir().join("node_modules/playwright-core").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(web_dir())
            .status()
            .expect("npm is installed (.ci/run installs Node 20 and npm)");
        assert!(status.success(), "npm ci in web/ failed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_web_client_works_in_a_real_browser() {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does it)"
    );
    install_web_packages();
    let interop = install_official_client();
    let behind = TestServer::start().await;
    let mut lying = LyingServer::start(&behind.url()).await;

    let mut command = Command::new("node");
    command
        .args(["--test", "--test-reporter=spec", "tests/browser.test.mjs"])
        .current_dir(web_dir())
        .env("AGORA_BIN", env!("CARGO_BIN_EXE_agora"))
        .env("AGORA_CHROMIUM", CHROMIUM)
        .env("AGORA_LIAR", lying.url())
        .env("AGORA_LIAR_UPSTREAM", behind.url())
        .env("AGORA_INJECTED_TEXT", INJECTED_TEXT)
        .env("AGORA_INTEROP_DIR", interop);
    let Run {
        success,
        stdout,
        stderr,
        ..
    } = run(command).await;
    lying.stop().await;
    // The per-test report, shown with `cargo test -- --nocapture`.
    println!("{stdout}");
    assert!(success, "browser tests failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("skipped 0") && stdout.contains("fail 0"),
        "no browser test was skipped:\n{stdout}"
    );
}

/// What `agora serve` answers a browser at `path`: (status, content type, body).
async fn browse(server: &str, path: &str) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .get(format!("{server}{path}"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread")]
async fn agora_serve_serves_the_page_at_its_address_unless_told_not_to() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let served = crate::support::serve(data_dir.path());
    let (status, content_type, body) = browse(&served.url, "/").await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    assert!(body.contains("<title>Agora</title>"), "{body}");
    // A page of the client (a profile address) is the same page; the API is unchanged.
    assert_eq!(browse(&served.url, "/user/abc").await.2, body);
    let (status, _, message) = browse(&served.url, "/events").await;
    assert_eq!(status, 400, "GET /events is still the API: {message}");
    drop(served);

    let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
    command
        .args(["serve", "--no-web"])
        .env("AGORA_LISTEN", "127.0.0.1:0")
        .env("AGORA_DATA_DIR", data_dir.path())
        .env("RUST_LOG", "warn");
    let served = crate::support::start_serving(&mut command);
    let (status, _, message) = browse(&served.url, "/").await;
    assert_eq!(
        (status, message.as_str()),
        (404, "no such route: GET /"),
        "--no-web: no page"
    );
}
