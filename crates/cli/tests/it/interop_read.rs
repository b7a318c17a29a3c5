//! Interoperability, Agora to the official client: what the `agora` binary publishes (a profile,
//! a post, a reply, a follow and a like) against a real `agora serve` is read and verified by
//! `@polycentric/polycentric-core` through its own queries (interop/read_agora.test.mjs).

use serde_json::json;

use agora_testnet::lying::LyingServer;

use crate::support::{agora, install_official_client, official_client_tests, serve, terminate};

const NAME: &str = "Agora author ✓";
const DESCRIPTION: &str = "written with the agora CLI: ünïcödé";
const POST: &str = "a post from Agora";
const REPLY: &str = "a reply from Agora to its own post";

#[tokio::test(flavor = "multi_thread")]
async fn the_official_client_reads_an_agora_profile_follow_reply_and_like() {
    install_official_client();
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
    let (passed, report) = official_client_reads(&url, &env);
    // The same checks through a server that flips a byte of what it serves must fail on the
    // official client's own signature check: so the pass above means it verified Agora's events.
    let mut liar = LyingServer::start(&url).await;
    let (liar_passed, liar_report) = official_client_reads(&liar.url(), &env);
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
fn official_client_reads(server: &str, env: &[(&str, &str)]) -> (bool, String) {
    // Off the runtime's worker, so the servers on this runtime keep serving meanwhile.
    let run =
        tokio::task::block_in_place(|| official_client_tests("read_agora.test.mjs", server, env));
    (run.success, format!("{}\n{}", run.stdout, run.stderr))
}
