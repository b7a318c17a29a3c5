//! `agora admin` as an operator runs it: a subprocess on the data directory of a running
//! `agora serve`, its effect seen over HTTP at once; and `agora serve --admin-token-file`.

use std::path::Path;
use std::process::Command;

use agora_protocol::author::{Author, post_stats_request};
use agora_protocol::content::opinion;
use agora_protocol::encoding::base64url_encode;
use agora_protocol::links::Link;
use agora_protocol::{Process, SecretKey, VerifiedEvent, wire};
use prost::Message as _;
use reqwest::StatusCode;

use crate::support::{Run, run, serve, start_serving, terminate};

pub(crate) fn author(seed: u8) -> Author {
    Author::new(
        SecretKey::from_seed(&[seed; 32]),
        Process::from_bytes(&[seed; 16]).expect("16 bytes"),
    )
}

/// Runs `agora admin ARGS --data-dir DIR` off the runtime.
async fn admin(data_dir: &Path, args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
    command
        .arg("admin")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("AGORA_DATA_DIR")
        .env("RUST_LOG", "off")
        .env("RUST_BACKTRACE", "0");
    run(command).await
}

pub(crate) async fn publish(url: &str, events: &[&VerifiedEvent]) -> (StatusCode, String) {
    let batch = wire::Events {
        events: events.iter().map(|event| event.to_signed()).collect(),
    };
    let response = reqwest::Client::new()
        .post(format!("{url}/events"))
        .body(batch.encode_to_vec())
        .send()
        .await
        .expect("POST /events");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

pub(crate) async fn get_proto<M: prost::Message + Default>(url: &str, path: &str) -> M {
    let response = reqwest::get(format!("{url}{path}")).await.expect("GET");
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    M::decode(response.bytes().await.expect("body")).expect("protobuf")
}

/// How many events the server holds for the author's process (clocks 1..=100).
pub(crate) async fn served_count(url: &str, author: &Author) -> usize {
    let ranges = wire::RangesForSystem {
        ranges_for_processes: vec![wire::RangesForProcess {
            process: Some(author.process().to_wire()),
            ranges: vec![wire::Range { low: 1, high: 100 }],
        }],
    };
    let path = format!(
        "/events?system={}&ranges={}",
        author.system().to_query_param(),
        base64url_encode(&ranges.encode_to_vec())
    );
    get_proto::<wire::Events>(url, &path).await.events.len()
}

/// [likes, dislikes, replies] of a post.
pub(crate) async fn stats(url: &str, post: &VerifiedEvent) -> Vec<u64> {
    let path = format!(
        "/query_references?query={}",
        base64url_encode(&post_stats_request(&post.pointer()).encode_to_vec())
    );
    get_proto::<wire::QueryReferencesResponse>(url, &path)
        .await
        .counts
}

pub(crate) fn system_link(author: &Author) -> String {
    Link::System {
        system: author.system(),
        servers: vec![],
    }
    .to_url()
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_censors_through_the_data_dir_of_a_running_server() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let served = serve(data_dir.path());
    let url = served.url.clone();
    let mut alice = author(1);
    let mut bob = author(2);
    let post = alice.post("alice's post", 1_000).expect("post");
    let like = bob
        .opinion(&post.pointer(), opinion::LIKE, 2_000)
        .expect("like");
    let reply = bob
        .reply("bob replies", &post.pointer(), 3_000)
        .expect("reply");
    let (status, body) = publish(&url, &[&post, &like, &reply]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(stats(&url, &post).await, [1, 0, 1]);

    let outcome = admin(
        data_dir.path(),
        &[
            "censor",
            &system_link(&bob),
            "--kind",
            "refuse-storage",
            "--json",
        ],
    )
    .await
    .json();
    assert_eq!(outcome["kind"], "refuse_storage");
    assert_eq!(outcome["changed"], true);
    assert_eq!(outcome["events_removed"], 2);

    // The running server sees it at once.
    assert_eq!(served_count(&url, &bob).await, 0);
    let ranges: wire::RangesForSystem = get_proto(
        &url,
        &format!("/ranges?system={}", bob.system().to_query_param()),
    )
    .await;
    assert!(ranges.ranges_for_processes.is_empty());
    assert_eq!(stats(&url, &post).await, [0, 0, 0]);
    let (status, body) = publish(&url, &[&like, &reply]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("refuses to store"), "{body}");

    // do-not-recommend on a post, given as a web URL: still served.
    let post_link = Link::Event {
        system: alice.system(),
        process: *post.process(),
        logical_clock: post.logical_clock(),
        servers: vec![url.clone()],
    }
    .to_url();
    let web = format!(
        "https://example.org/post/{}",
        post_link.trim_start_matches("polycentric://")
    );
    let text = admin(
        data_dir.path(),
        &["censor", &web, "--kind", "do-not-recommend"],
    )
    .await
    .ok();
    assert!(text.contains("censored post 1"), "{text}");
    let text = admin(
        data_dir.path(),
        &["censor", &web, "--kind", "do-not-recommend"],
    )
    .await
    .ok();
    assert!(
        text.contains("already censored"),
        "censoring twice is fine: {text}"
    );
    assert_eq!(served_count(&url, &alice).await, 1);

    let list = admin(data_dir.path(), &["list", "--json"]).await.json();
    let kinds: Vec<(&str, &str)> = list["censorships"]
        .as_array()
        .expect("array")
        .iter()
        .map(|item| {
            (
                item["target"]["type"].as_str().expect("type"),
                item["kind"].as_str().expect("kind"),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [("system", "refuse_storage"), ("event", "do_not_recommend")]
    );
    let listed = admin(data_dir.path(), &["list"]).await.ok();
    assert!(listed.contains(&system_link(&bob)), "{listed}");

    // Lifting lets Bob publish again.
    let text = admin(data_dir.path(), &["uncensor", &system_link(&bob)])
        .await
        .ok();
    assert!(text.contains("lifted refuse_storage"), "{text}");
    let (status, body) = publish(&url, &[&like, &reply]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(stats(&url, &post).await, [1, 0, 1]);

    // Mistakes are named and change nothing.
    let bad = admin(
        data_dir.path(),
        &["censor", "not-a-link", "--kind", "refuse-storage"],
    )
    .await;
    assert!(!bad.success);
    assert!(
        bad.stderr.contains("not an identity or post link"),
        "{}",
        bad.stderr
    );
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let missing = admin(elsewhere.path(), &["list"]).await;
    assert!(!missing.success);
    assert!(
        missing.stderr.contains("no Agora store"),
        "{}",
        missing.stderr
    );
    assert!(
        !elsewhere.path().join("agora.sqlite3").exists(),
        "no store is created by mistake"
    );
    assert_eq!(served_count(&url, &bob).await, 2);

    assert!(terminate(served), "the server exits cleanly");
}

/// `agora serve --admin-token-file`: POST /censor needs that token, and works with it.
#[tokio::test(flavor = "multi_thread")]
async fn serve_takes_the_admin_token_from_a_file() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let token_file = data_dir.path().join("token");
    std::fs::write(&token_file, "file-token\n").expect("write token");
    let served = start_serving(
        Command::new(env!("CARGO_BIN_EXE_agora"))
            .arg("serve")
            .arg("--admin-token-file")
            .arg(&token_file)
            .env("AGORA_LISTEN", "127.0.0.1:0")
            .env("AGORA_DATA_DIR", data_dir.path())
            .env_remove("AGORA_ADMIN_TOKEN")
            .env("RUST_LOG", "warn"),
    );

    let mut alice = author(1);
    let post = alice.post("hello", 1_000).expect("post");
    let (status, _) = publish(&served.url, &[&post]).await;
    assert_eq!(status, StatusCode::OK);
    let censor = |token: &'static str| {
        reqwest::Client::new()
            .post(format!(
                "{}/censor?censorship_type=refuse_storage",
                served.url
            ))
            .header("authorization", token)
            .body(system_link(&alice))
            .send()
    };
    let wrong = censor("file-token-but-wrong").await.expect("request");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(served_count(&served.url, &alice).await, 1);
    let right = censor("file-token").await.expect("request");
    assert_eq!(right.status(), StatusCode::OK);
    assert_eq!(served_count(&served.url, &alice).await, 0);
    assert!(terminate(served), "the server exits cleanly");
}
