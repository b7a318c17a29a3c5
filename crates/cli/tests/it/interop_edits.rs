//! Interoperability, edits: a post edited twice with the `agora` binary against a real
//! `agora serve` is fetched, verified and read by `@polycentric/polycentric-core`
//! (interop/read_edits.test.mjs): the post and both POST_EDIT events (content type 1003) pass its
//! signature check and its store, its post queries still show the original text, and its explore
//! and search feeds take the answers that carry the latest edit in `related_events`.

use serde_json::json;

use crate::support::{agora, install_official_client, official_client_tests, serve, terminate};

const NAME: &str = "Agora editor ✓";
/// The post as first written, then its two edits. Search knows a post by its latest version
/// only, so `SEARCH_NEW` is in the last edit and `SEARCH_OLD` only in the original.
const ORIGINAL: &str = "a walrus story from Agora";
const FIRST_EDIT: &str = "a narwhal story from Agora";
const SECOND_EDIT: &str = "a narwhal story from Agora, edited twice: ünïcödé";
const SEARCH_NEW: &str = "narwhal";
const SEARCH_OLD: &str = "walrus";

#[tokio::test(flavor = "multi_thread")]
async fn the_official_client_verifies_an_edited_post_and_keeps_showing_the_original() {
    install_official_client();
    let data_dir = tempfile::tempdir().expect("tempdir");
    let served = serve(data_dir.path());
    let url = served.url.clone();
    let dirs = tempfile::tempdir().expect("tempdir");
    let home = dirs.path().join("author");

    agora(&home, &["init", "--name", NAME]).await.ok();
    agora(&home, &["server", "add", &url]).await.ok();
    let link = agora(&home, &["link"]).await.ok().trim().to_owned();
    let posted = agora(&home, &["post", ORIGINAL, "--json"]).await.json();
    assert_eq!(posted["sent"][0]["server"], url.as_str(), "{posted}");
    assert_eq!(posted["failed"], json!([]), "{posted}");
    let post = posted["link"].as_str().expect("link").to_owned();
    for text in [FIRST_EDIT, SECOND_EDIT] {
        let edited = agora(&home, &["edit", &post, text, "--json"]).await.json();
        assert_eq!(edited["sent"][0]["server"], url.as_str(), "{edited}");
        assert_eq!(edited["failed"], json!([]), "{edited}");
        assert_eq!(edited["post"], post.as_str(), "{edited}");
    }

    let env = [
        ("AGORA_LINK", link.as_str()),
        ("AGORA_POST_LINK", post.as_str()),
        ("AGORA_NAME", NAME),
        ("AGORA_ORIGINAL", ORIGINAL),
        ("AGORA_FIRST_EDIT", FIRST_EDIT),
        ("AGORA_SECOND_EDIT", SECOND_EDIT),
        ("AGORA_SEARCH_NEW", SEARCH_NEW),
        ("AGORA_SEARCH_OLD", SEARCH_OLD),
    ];
    // A blocking run, off the runtime's worker.
    let run =
        tokio::task::block_in_place(|| official_client_tests("read_edits.test.mjs", &url, &env));
    let report = format!("{}\n{}", run.stdout, run.stderr);
    let stopped_cleanly = terminate(served);

    assert!(run.success, "official client tests failed:\n{report}");
    assert!(
        report.contains("pass 9") && report.contains("skipped 0"),
        "all 9 official-client checks ran:\n{report}"
    );
    assert!(stopped_cleanly, "the server stopped cleanly");
}
