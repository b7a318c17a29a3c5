//! Interoperability, Agora to the official client: what the `agora` binary publishes (a profile,
//! a post, a reply, a follow and a like) against a real `agora serve` is read and verified by
//! `@polycentric/polycentric-core` through its own queries (interop/read_agora.test.mjs).

use std::process::Command;

use serde_json::json;

use agora_testnet::lying::LyingServer;

use crate::support::{agora, install_official_client, serve, terminate};

const NAME: &str = "Agora author ✓";
const DESCRIPTION: &str = "written with the agora CLI: ünïcödé";
const POST: &str = "a post from Agora";
const REPLY: &str = "a reply from Agora to its own post";

#[tokio::test(flavor = "multi_thread")]
async fn the_official_client_reads_an_agora_profile_follow_reply_and_like() {
    let dir = install_official_client();
    let data_dir = tempfile::tempdir().expect("tempdir");
    let served = serve(data_dir.path());
    let url = served.url.clone();

    let followed = tempfile::tempdir().expect("tempdir");
    agora(followed.path(), &["init"]).await.ok();
    let followed_link = agora(followed.path(), &["link"]).await.ok();

    let author = tempfile::tempdir().expect("tempdir");
    agora(author.path(), &["init"]).await.ok();
    agora(author.path(), &["server", "add", &url]).await.ok();
    let profile = agora(
        author.path(),
        &[
            "profile",
            "--name",
            NAME,
            "--description",
            DESCRIPTION,
            "--json",
        ],
    )
    .await
    .json();
    assert_eq!(profile["failed"], json!([]), "{profile}");
    let mut published = Vec::new();
    let post = agora(author.path(), &["post", POST, "--json"]).await.json();
    let post_link = post["link"].as_str().expect("link").to_owned();
    published.push(post);
    published.push(
        agora(
            author.path(),
            &["post", REPLY, "--reply-to", &post_link, "--json"],
        )
        .await
        .json(),
    );
    published.push(
        agora(author.path(), &["follow", followed_link.trim(), "--json"])
            .await
            .json(),
    );
    published.push(
        agora(author.path(), &["like", &post_link, "--json"])
            .await
            .json(),
    );
    for answer in &published {
        assert_eq!(answer["sent"][0]["server"], url, "{answer}");
        assert_eq!(answer["failed"], json!([]), "{answer}");
    }
    let author_link = agora(author.path(), &["link"]).await.ok();

    let env = [
        ("AGORA_LINK", author_link.trim()),
        ("AGORA_FOLLOWED", followed_link.trim()),
        ("AGORA_NAME", NAME),
        ("AGORA_DESCRIPTION", DESCRIPTION),
        ("AGORA_POST", POST),
        ("AGORA_REPLY", REPLY),
    ];
    let (passed, report) = official_client_reads(&dir, &url, &env).await;
    // The same checks through a server that flips a byte of what it serves must fail on the
    // official client's own signature check: so the pass above means it verified Agora's events.
    let mut liar = LyingServer::start(&url).await;
    let (liar_passed, liar_report) = official_client_reads(&dir, &liar.url(), &env).await;
    liar.stop().await;
    let stopped_cleanly = terminate(served);

    assert!(passed, "official client tests failed:\n{report}");
    assert!(
        report.contains("pass 7") && report.contains("skipped 0"),
        "all 7 official-client checks ran:\n{report}"
    );
    assert!(
        !liar_passed && liar_report.contains("signature verification failed"),
        "the official client must refuse altered events:\n{liar_report}"
    );
    assert!(stopped_cleanly, "the server stopped cleanly");
}

/// Runs read_agora.test.mjs against `server` with `env`; whether it passed, and its report.
async fn official_client_reads(
    dir: &std::path::Path,
    server: &str,
    env: &[(&str, &str)],
) -> (bool, String) {
    let mut node = Command::new("node");
    node.args(["--test", "--test-reporter=spec", "read_agora.test.mjs"])
        .current_dir(dir)
        .env("AGORA_SERVER", server)
        .envs(env.iter().copied());
    let output = tokio::task::spawn_blocking(move || node.output().expect("node is installed"))
        .await
        .expect("node thread");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), report)
}
