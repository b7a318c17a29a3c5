//! `agora watch`: posts of the people followed arrive live from every server they publish to,
//! verified, and each is shown once although two servers deliver it.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use agora_testnet::TestServer;
use serde_json::Value;

use crate::support::{agora, identity};

#[tokio::test(flavor = "multi_thread")]
async fn watch_shows_each_new_post_of_the_people_followed_once() {
    let (a, b) = (TestServer::start().await, TestServer::start().await);
    let dirs = tempfile::tempdir().expect("tempdir");
    let (alice, reader) = (dirs.path().join("alice"), dirs.path().join("reader"));
    let link = identity(&alice, &[&a.url(), &b.url()]).await;
    agora(&alice, &["profile", "--name", "alice"]).await.ok();
    identity(&reader, &[&a.url()]).await;
    agora(&reader, &["follow", &link]).await.ok();

    let mut watching = Command::new(env!("CARGO_BIN_EXE_agora"))
        .args(["watch", "--json", "--count", "3", "--home"])
        .arg(&reader)
        .env_remove("AGORA_HOME")
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("agora watch starts");
    let stderr = watching.stderr.take().expect("stderr");
    let connected = tokio::task::spawn_blocking(move || {
        let mut servers = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.expect("stderr line");
            if let Some(server) = line.strip_prefix("connected to ") {
                servers.push(server.to_owned());
                if servers.len() == 2 {
                    break;
                }
            }
        }
        servers.sort();
        servers
    })
    .await
    .expect("reading stderr");
    let mut expected = vec![a.url(), b.url()];
    expected.sort();
    assert_eq!(connected, expected, "watching both of alice's servers");

    for text in ["one", "two", "three"] {
        agora(&alice, &["post", text]).await.ok();
    }
    let stdout = watching.stdout.take().expect("stdout");
    let lines = tokio::task::spawn_blocking(move || {
        let lines: Vec<Value> = BufReader::new(stdout)
            .lines()
            .map(|line| serde_json::from_str(&line.expect("line")).expect("JSON line"))
            .collect();
        (lines, watching.wait().expect("exit"))
    });
    let (lines, status) = tokio::time::timeout(std::time::Duration::from_secs(30), lines)
        .await
        .expect("watch ends after three posts")
        .expect("reading stdout");
    assert!(status.success());
    let texts: Vec<&str> = lines
        .iter()
        .map(|line| line["text"].as_str().expect("text"))
        .collect();
    assert_eq!(texts, ["one", "two", "three"], "each once, in order");
    for line in &lines {
        assert_eq!(line["username"], "alice");
        assert_eq!(line["system"], crate::support::system_of(&link).to_string());
    }
}
