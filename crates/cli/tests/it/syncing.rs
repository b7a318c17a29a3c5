//! `agora sync` and `agora follow` as a script sees them: the exit status, the per-server
//! summary, plain stderr when it is not a terminal, and what a follow fetched.

use std::process::Command;

use agora_testnet::TestServer;
use serde_json::{Value, json};

use crate::support::{DEAD_SERVER, agora, entry, identity};

fn server_entry<'a>(sync: &'a Value, server: &str) -> &'a Value {
    entry(&sync["servers"], "server", server)
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_exits_3_when_no_server_answers_and_4_with_a_warning_when_some_fail() {
    let alone = tempfile::tempdir().expect("tempdir");
    identity(alone.path(), &[DEAD_SERVER]).await;
    agora(alone.path(), &["post", "unsent"]).await;
    let failed = agora(alone.path(), &["sync"]).await;
    assert_eq!(failed.code, Some(3), "{}{}", failed.stdout, failed.stderr);
    assert!(
        failed.stderr.contains("no server answered") && failed.stderr.contains(DEAD_SERVER),
        "{}",
        failed.stderr
    );
    assert!(
        failed
            .stdout
            .contains(&format!("{DEAD_SERVER}: FAILED, pushed 0 event(s)")),
        "{}",
        failed.stdout
    );

    let server = TestServer::start().await;
    let home = tempfile::tempdir().expect("tempdir");
    identity(home.path(), &[DEAD_SERVER]).await;
    agora(home.path(), &["post", "one"]).await;
    agora(home.path(), &["post", "two"]).await;
    // Added with the live server down for it: `server add` pushes, so sync has nothing left to
    // push there; the dead one still lacks everything.
    agora(home.path(), &["server", "add", &server.url()])
        .await
        .partial();
    let partial = agora(home.path(), &["sync"]).await;
    assert_eq!(
        partial.code,
        Some(crate::support::EXIT_SOME_SERVERS_FAILED),
        "{}{}",
        partial.stdout,
        partial.stderr
    );
    assert!(
        partial
            .stderr
            .contains(&format!("warning: 1 of 2 server(s) failed: {DEAD_SERVER}")),
        "{}",
        partial.stderr
    );
    assert!(
        partial
            .stdout
            .contains(&format!("{}: ok, pushed 0 event(s)", server.url())),
        "{}",
        partial.stdout
    );
    for run in [&failed, &partial] {
        assert!(
            !run.stderr.contains('\u{1b}') && !run.stdout.contains('\u{1b}'),
            "no escape codes when not a terminal: {:?}",
            run.stderr
        );
    }

    let json = agora(home.path(), &["sync", "--json"]).await;
    assert_eq!(json.code, Some(crate::support::EXIT_SOME_SERVERS_FAILED));
    let sync: Value = serde_json::from_str(&json.stdout).expect("json");
    let live = server_entry(&sync, &server.url());
    assert_eq!(
        (&live["answered"], &live["pushed"], &live["failures"]),
        (&json!(true), &json!(0), &json!(0)),
        "{sync}"
    );
    let dead = server_entry(&sync, DEAD_SERVER);
    assert_eq!(dead["answered"], false, "{sync}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_counts_what_each_server_took_and_gave() {
    let server = TestServer::start().await;
    let alice = tempfile::tempdir().expect("tempdir");
    let alice_link = identity(alice.path(), &[&server.url()]).await;
    let bob = tempfile::tempdir().expect("tempdir");
    identity(bob.path(), &[]).await;
    agora(bob.path(), &["follow", &alice_link]).await.ok();
    agora(alice.path(), &["post", "new one"]).await.ok();
    agora(alice.path(), &["post", "newer one"]).await.ok();
    // Bob's own server: it gets bob's events on the add, then nothing more to push.
    agora(bob.path(), &["server", "add", &server.url()])
        .await
        .ok();

    let run = agora(bob.path(), &["sync", "--json"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let sync: Value = serde_json::from_str(&run.stdout).expect("json");
    let entry = server_entry(&sync, &server.url());
    assert_eq!(
        (&entry["pushed"], &entry["pulled"], &entry["answered"]),
        (&json!(0), &json!(2), &json!(true)),
        "{sync}"
    );
    assert_eq!(run.stderr, "", "nothing to warn about");
    let again = agora(bob.path(), &["sync"]).await;
    assert!(
        again.stdout.contains(&format!(
            "{}: ok, pushed 0 event(s), pulled 0 event(s)",
            server.url()
        )),
        "{}",
        again.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_reports_what_it_fetched_and_names_failed_servers() {
    let server = TestServer::start().await;
    let alice = tempfile::tempdir().expect("tempdir");
    let alice_link = identity(alice.path(), &[&server.url(), DEAD_SERVER]).await;
    for text in ["a1", "a2", "a3"] {
        agora(alice.path(), &["post", text]).await.partial();
    }

    let bob = tempfile::tempdir().expect("tempdir");
    identity(bob.path(), &[]).await;
    let followed = agora(bob.path(), &["follow", &alice_link, "--json"])
        .await
        .partial_json();
    let pull = &followed["pull"];
    // Three posts and alice's two SERVER events.
    assert_eq!(pull["received"], 5, "{followed}");
    assert_eq!(pull["answered"], json!([server.url()]));
    assert_eq!(pull["failed"][0]["server"], DEAD_SERVER, "{followed}");

    let carol = tempfile::tempdir().expect("tempdir");
    identity(carol.path(), &[]).await;
    let text = agora(carol.path(), &["follow", &alice_link])
        .await
        .partial();
    assert!(
        text.contains("fetched 5 new event(s) of ")
            && text.contains(&format!("from {}", server.url()))
            && text.contains(&format!("FAILED server {DEAD_SERVER}")),
        "{text}"
    );
    let feed = agora(carol.path(), &["feed", "--json"]).await.json()["posts"].take();
    assert_eq!(feed.as_array().map(Vec::len), Some(3), "{feed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_draws_a_progress_bar_only_on_a_terminal() {
    let server = TestServer::start().await;
    let home = tempfile::tempdir().expect("tempdir");
    identity(home.path(), &[&server.url()]).await;
    agora(home.path(), &["post", "hello"]).await.ok();
    // `script` runs the command on a pseudo-terminal and copies what it printed.
    let command = format!(
        "{} sync --home {}",
        env!("CARGO_BIN_EXE_agora"),
        home.path().display()
    );
    let mut script = Command::new("script");
    script
        .args(["-qec", &command, "/dev/null"])
        .env("RUST_LOG", "off");
    let output = tokio::task::spawn_blocking(move || script.output().expect("script runs"))
        .await
        .expect("script thread");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}");
    assert!(
        printed.contains("sync [") && printed.contains('\u{1b}'),
        "a bar is drawn on a terminal: {printed:?}"
    );
    assert!(
        printed.contains(&format!("{}: ok, pushed 0 event(s)", server.url())),
        "{printed:?}"
    );

    let piped = agora(home.path(), &["sync"]).await;
    assert_eq!(piped.code, Some(0));
    assert!(!piped.stderr.contains("sync ["), "{:?}", piped.stderr);
    assert_eq!(
        piped.stderr, "",
        "nothing failed, so nothing to say on stderr"
    );
}
