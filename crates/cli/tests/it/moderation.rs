//! `agora serve --labeler-rules`: a bad rules file stops the server before it listens, with a
//! message naming the file and the line.

use std::path::Path;
use std::process::{Command, Stdio};

use agora_protocol::author::Author;
use agora_protocol::{Process, SecretKey, wire};
use prost::Message as _;

use crate::support::{Served, start_serving, terminate};

#[test]
fn a_bad_rules_file_stops_serve_naming_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.txt");
    std::fs::write(&rules, "# rules\nspam 2 buy now\nhate 7 grr\n").expect("write rules");

    for use_env in [false, true] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .env("RUST_LOG", "off");
        if use_env {
            command.env("AGORA_LABELER_RULES", &rules);
        } else {
            command.arg("--labeler-rules").arg(&rules);
        }
        let output = exits(command);

        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "must not start: {stderr}");
        assert!(
            stderr.contains("line 3") && stderr.contains("level must be 0 to 3"),
            "names the line and the problem: {stderr}"
        );
        assert!(stderr.contains("rules.txt"), "names the file: {stderr}");
        assert!(
            String::from_utf8_lossy(&output.stdout).is_empty(),
            "never announced that it was serving"
        );
    }
}

/// Runs `command` to its end; if it is still running after a minute (the server started
/// despite the bad rules), stops it so the test fails instead of hanging.
fn exits(mut command: Command) -> std::process::Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("agora starts");
    for _ in 0..600 {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if child.try_wait().expect("wait").is_none() {
        child
            .kill()
            .expect("kill the server that should not have started");
    }
    child.wait_with_output().expect("output")
}

/// Starts `agora serve` on a free port with `--labeler-rules`, and reads the address it prints.
fn serve_with_rules(data_dir: &Path, rules: &Path) -> Served {
    start_serving(
        Command::new(env!("CARGO_BIN_EXE_agora"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--labeler-rules")
            .arg(rules)
            .env("RUST_LOG", "warn"),
    )
}

#[tokio::test]
async fn serve_with_rules_tags_and_filters_posts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.txt");
    std::fs::write(&rules, "spam 2 buy now\n").expect("write rules");
    let served = serve_with_rules(&dir.path().join("data"), &rules);
    let mut alice = Author::new(
        SecretKey::from_seed(&[7; 32]),
        Process::from_bytes(&[7; 16]).expect("16"),
    );
    let post = alice.post("buy now", 1_000).expect("sign");
    let client = reqwest::Client::new();
    let body = wire::Events {
        events: vec![post.to_signed()],
    }
    .encode_to_vec();
    let posted = client
        .post(format!("{}/events", served.url))
        .body(body)
        .send()
        .await
        .expect("post");
    assert!(posted.status().is_success());
    let index = async |extra: &str| -> wire::QueryIndexResponse {
        let response = client
            .get(format!(
                "{}/query_index?system={}&content_type=3{extra}",
                served.url,
                alice.system().to_query_param()
            ))
            .send()
            .await
            .expect("get");
        assert!(response.status().is_success());
        wire::QueryIndexResponse::decode(response.bytes().await.expect("body")).expect("decodes")
    };

    let shown = index("").await;
    let hidden = index(
        "&moderation_filters=%5B%7B%22name%22%3A%22spam%22%2C%22max_level%22%3A1%2C%22strict_mode%22%3Afalse%7D%5D",
    )
    .await;

    assert_eq!(shown.events.len(), 1);
    assert_eq!(
        shown.events[0].moderation_tags,
        vec![wire::ModerationTag {
            name: "spam".into(),
            level: 2
        }]
    );
    assert!(hidden.events.is_empty(), "spam above level 1 is hidden");
    assert!(terminate(served), "stops cleanly");
}
