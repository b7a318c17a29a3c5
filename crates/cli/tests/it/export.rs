//! `agora export` and `agora import` (spec section 2.6): the binary as a subprocess against real
//! servers, and both directions with the official client (interop/export.test.mjs).

use std::path::{Path, PathBuf};

use agora_client::{Client, Home};
use agora_protocol::PublicKey;
use agora_protocol::links::Link;
use agora_testnet::TestServer;

use crate::support::{
    Served, agora, install_official_client, official_client_tests, serve, terminate,
};

/// The post texts of `system` that `server` holds, read by a fresh reader that asks only it.
async fn posts_on(server: &str, system: PublicKey) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let reader = Client::open(Home::init(dir.path()).expect("home"))
        .await
        .expect("client");
    let gathered = reader
        .pull(system, &[server.to_owned()])
        .await
        .expect("pull");
    assert!(gathered.failed.is_empty(), "{:?}", gathered.failed);
    let mut texts: Vec<String> = reader
        .posts(system)
        .await
        .expect("posts")
        .into_iter()
        .map(|post| post.text)
        .collect();
    texts.sort();
    texts
}

/// Posts `text` and returns the new event's link, read back.
async fn post(home: &Path, text: &str) -> Link {
    let printed = agora(home, &["post", text, "--json"]).await.json();
    Link::parse(printed["link"].as_str().expect("link")).expect("an event link")
}

#[tokio::test(flavor = "multi_thread")]
async fn export_then_import_moves_the_identity_to_a_new_process() {
    let server = TestServer::start().await;
    let (first, second) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let whoami = |home: PathBuf| async move { agora(&home, &["whoami", "--json"]).await.json() };
    agora(first.path(), &["init", "--name", "alice"]).await.ok();
    agora(first.path(), &["server", "add", &server.url()])
        .await
        .ok();
    post(first.path(), "before export 1").await;
    post(first.path(), "before export 2").await;
    let original = whoami(first.path().to_owned()).await;

    let exported = agora(first.path(), &["export"]).await;
    assert!(exported.stderr.contains("SECRET"), "{}", exported.stderr);
    let link = exported.ok().trim().to_owned();
    assert!(link.starts_with("polycentric://"), "{link}");

    let imported = agora(second.path(), &["import", &link, "--json"])
        .await
        .json();
    assert_eq!(imported["system"], original["system"]);
    assert_ne!(
        imported["process"], original["process"],
        "never reuse a process"
    );
    assert_eq!(imported["servers"], serde_json::json!([server.url()]));
    assert_eq!(imported["answered"], serde_json::json!([server.url()]));
    let again = agora(second.path(), &["import", &link]).await;
    assert!(
        !again.success && again.stderr.contains("already exists"),
        "{}",
        again.stderr
    );

    let copy = whoami(second.path().to_owned()).await;
    assert_eq!(copy["system"], original["system"]);
    assert_eq!(copy["process"], imported["process"]);
    assert_eq!(
        copy["username"], "alice",
        "the pull brought the profile back"
    );

    let Link::Event {
        system,
        logical_clock,
        ..
    } = post(second.path(), "after import").await
    else {
        panic!("not an event link");
    };
    assert_eq!(
        system.to_string(),
        original["system"].as_str().expect("system")
    );
    assert_eq!(logical_clock, 1, "the new process's clocks start at 1");
    assert_eq!(
        posts_on(&server.url(), system).await,
        ["after import", "before export 1", "before export 2"]
    );

    // The imported home holds the old posts after its pull.
    let home = Home::open(second.path()).expect("home");
    let client = Client::open(home).await.expect("client");
    let mut local: Vec<String> = client
        .posts(system)
        .await
        .expect("posts")
        .into_iter()
        .map(|post| post.text)
        .collect();
    local.sort();
    assert_eq!(
        local,
        ["after import", "before export 1", "before export 2"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn import_refuses_a_bad_link_and_creates_nothing() {
    let home = tempfile::tempdir().expect("tempdir");
    let dir = home.path().join("new");
    let system_link = {
        let other = tempfile::tempdir().expect("tempdir");
        agora(other.path(), &["init"]).await.ok();
        agora(other.path(), &["link"]).await.ok()
    };
    let run = agora(&dir, &["import", system_link.trim()]).await;
    assert!(
        !run.success && run.stderr.contains("export bundle"),
        "{}",
        run.stderr
    );
    assert!(!dir.join(Home::KEY_FILE).exists());
}

/// The server, killed when a failed assertion unwinds past it.
struct Running(Option<Served>);

impl Running {
    fn url(&self) -> &str {
        &self.0.as_ref().expect("served").url
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut served) = self.0.take() {
            let _ = served.child.kill();
            let _ = served.child.wait();
        }
    }
}

/// Runs interop/export.test.mjs against `server` with `env`, returning the spec report.
fn node(server: &str, env: &[(&str, &str)]) -> String {
    let run = official_client_tests("export.test.mjs", server, env);
    assert!(
        run.success,
        "official client export tests failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    run.stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn export_bundles_move_between_the_official_client_and_agora() {
    install_official_client();
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut served = Running(Some(serve(data_dir.path())));
    let url = served.url().trim_end_matches('/').to_owned();
    let work = tempfile::tempdir().expect("tempdir");

    // (a) The official client exports; Agora imports, pulls and posts; the official client
    // reads that post back under the same key.
    let bundle_file = work.path().join("official.bundle");
    let bundle_path = bundle_file.to_str().expect("utf-8 path");
    let report = node(&url, &[("AGORA_EXPORT_OUT", bundle_path)]);
    assert!(report.contains("pass 1"), "{report}");
    let official = std::fs::read_to_string(&bundle_file).expect("the official export");
    let home = work.path().join("imported");
    let imported = agora(&home, &["import", official.trim(), "--json"])
        .await
        .json();
    assert_eq!(imported["servers"], serde_json::json!([url]));
    // The bundle brought the SERVER event; the pull brought the post.
    assert!(imported["pulled"].as_u64() >= Some(1), "{imported}");
    let Link::Event {
        system,
        logical_clock,
        ..
    } = post(&home, "agora post after importing an official export").await
    else {
        panic!("not an event link");
    };
    assert_eq!(logical_clock, 1);
    assert_eq!(imported["system"], system.to_string());

    // (b) Agora exports; the official client imports and publishes under the same key.
    let agora_home = work.path().join("agora");
    agora(&agora_home, &["init"]).await.ok();
    agora(&agora_home, &["server", "add", &url]).await.ok();
    let exported = agora(&agora_home, &["export"]).await.ok();
    let agora_system = match Link::parse(&agora(&agora_home, &["link"]).await.ok()) {
        Ok(Link::System { system, .. }) => system,
        other => panic!("not a system link: {other:?}"),
    };
    let official_text = "official post after importing an agora export";
    let report = node(
        &url,
        &[
            ("AGORA_OFFICIAL_BUNDLE", bundle_path),
            (
                "AGORA_EXPECT_POST",
                "agora post after importing an official export",
            ),
            ("AGORA_EXPORT", exported.trim()),
            ("AGORA_OFFICIAL_POST", official_text),
        ],
    );
    assert!(report.contains("pass 2"), "{report}");
    assert_eq!(posts_on(&url, agora_system).await, [official_text]);

    assert!(
        terminate(served.0.take().expect("served")),
        "the server stopped cleanly"
    );
}
