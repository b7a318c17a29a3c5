//! How `agora` delivers to its servers: an event a server refused for good is said once and
//! never offered to it again, one that failed for now is sent again, and a server that never
//! answers costs one timeout for a whole sync, whatever it is asked.

use std::time::{Duration, Instant};

use agora_testnet::TestServer;
use serde_json::{Value, json};

use crate::support::{agora, entry, identity, serve};

/// Events `push` sent to `server` (`None`: it failed or was not asked).
fn sent_to(push: &Value, server: &str) -> Option<u64> {
    push["sent"]
        .as_array()?
        .iter()
        .find(|sent| sent["server"] == server)?["events"]
        .as_u64()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_refusal_is_never_retried_and_a_temporary_failure_is() {
    let data = tempfile::tempdir().expect("tempdir");
    let curated = serve(data.path());
    let mut flaky = TestServer::start().await;
    let (a, b) = (curated.url.clone(), flaky.url());
    let home = tempfile::tempdir().expect("tempdir");
    identity(home.path(), &[&a, &b]).await;
    let posted = agora(home.path(), &["post", "buy walrus oil", "--json"])
        .await
        .json();
    let spam = posted["link"].as_str().expect("link").to_owned();

    // A's operator refuses the post for good; the author's next sync offers it again, learns
    // that A will never take it, and says so once.
    let censor = std::process::Command::new(env!("CARGO_BIN_EXE_agora"))
        .args([
            "admin",
            "censor",
            &spam,
            "--kind",
            "refuse-storage",
            "--data-dir",
        ])
        .arg(data.path())
        .output()
        .expect("admin runs");
    assert!(
        censor.status.success(),
        "{}",
        String::from_utf8_lossy(&censor.stderr)
    );
    let first = agora(home.path(), &["sync", "--json"]).await.json();
    let refused = &first["push"]["refused"];
    assert_eq!(refused.as_array().map(Vec::len), Some(1), "{first}");
    assert_eq!(refused[0]["server"], a.as_str(), "{first}");
    assert_eq!(refused[0]["event"], posted["event"], "{first}");
    assert!(
        refused[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("operator")),
        "{first}"
    );
    assert_eq!(
        first["push"]["failed"],
        json!([]),
        "a refusal is not a failure: {first}"
    );
    let text = agora(home.path(), &["sync"]).await.ok();
    assert!(!text.contains("REFUSED"), "said once: {text}");
    let again = agora(home.path(), &["sync", "--json"]).await.json();
    assert_eq!(
        sent_to(&again["push"], &a),
        Some(0),
        "not offered again: {again}"
    );
    assert_eq!(again["push"]["refused"], json!([]), "{again}");

    // Later posts still reach A, and none of them reports the old refusal.
    let later = agora(home.path(), &["post", "a real post", "--json"])
        .await
        .json();
    assert_eq!(sent_to(&later, &a), Some(1), "{later}");
    assert_eq!(later["refused"], json!([]), "{later}");

    // B is down for a post: a failure for now, sent when it is back.
    flaky.stop().await;
    let while_down = agora(home.path(), &["post", "while B is down", "--json"])
        .await
        .partial_json();
    assert_eq!(
        entry(&while_down["failed"], "server", &b)["server"],
        b.as_str()
    );
    flaky.resume().await;
    let back = agora(home.path(), &["sync", "--json"]).await.json();
    assert_eq!(sent_to(&back["push"], &b), Some(1), "retried: {back}");

    // `--retry-refused` offers the refused event again (an operator may lift a curation).
    let retried = agora(home.path(), &["sync", "--retry-refused", "--json"])
        .await
        .json();
    assert_eq!(
        retried["push"]["refused"][0]["server"],
        a.as_str(),
        "{retried}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_costs_one_timeout_for_the_whole_sync() {
    const TIMEOUT_SECS: u64 = 3;
    const FOLLOWED: usize = 4;
    // Connections to this listener complete (the kernel queues them) but nothing answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent = format!("http://{}", silent.local_addr().expect("address"));
    let live = TestServer::start().await;
    let dirs = tempfile::tempdir().expect("tempdir");

    // Everyone lists the silent server beside the live one.
    let reader = dirs.path().join("reader");
    identity(&reader, &[&live.url()]).await;
    for n in 0..FOLLOWED {
        let home = dirs.path().join(format!("author{n}"));
        let link = identity(&home, &[&live.url()]).await;
        agora(
            &home,
            &["server", "add", &silent, "--force", "--timeout", "1"],
        )
        .await;
        agora(&home, &["post", "hello"]).await;
        agora(&reader, &["follow", &link]).await.ok();
    }
    agora(
        &reader,
        &["server", "add", &silent, "--force", "--timeout", "1"],
    )
    .await;

    // Asked one after the other, the silent server would cost a timeout for the push and one
    // per followed identity: (1 + FOLLOWED) × TIMEOUT_SECS at least.
    let timeout = TIMEOUT_SECS.to_string();
    let started = Instant::now();
    let synced = agora(&reader, &["sync", "--timeout", &timeout, "--json"])
        .await
        .partial_json();
    let took = started.elapsed();
    let sequential = Duration::from_secs(TIMEOUT_SECS * (1 + FOLLOWED as u64));
    assert!(
        took < sequential / 2,
        "took {took:?}; asking one by one would take {sequential:?}: {synced}"
    );
    assert_eq!(
        entry(&synced["servers"], "server", &silent)["answered"],
        false,
        "{synced}"
    );
    assert_eq!(
        entry(&synced["servers"], "server", &live.url())["answered"],
        true
    );
}
