//! A full disk, for real: `agora serve` on a small tmpfs that fills up answers writes with 507
//! and an unhealthy `/health`, keeps serving what it holds, and takes writes again once space
//! returns, with nothing it acknowledged lost.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use agora_protocol::author::Author;
use agora_protocol::{Process, SecretKey, wire};
use prost::Message as _;

use crate::support::{serve_unlimited, terminate};

/// A tmpfs of `megabytes` mounted on a new directory, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(parent: &Path, megabytes: u32) -> Self {
        let dir = parent.join("small-disk");
        std::fs::create_dir(&dir).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a tmpfs needs root, as CI runs");
        Self(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A signed post of about 7 KB, the `n`th of `author`.
fn big_post(author: &mut Author, n: u64) -> Vec<u8> {
    let text = format!("{n} {}", "walrus ".repeat(1_000));
    let event = author.post(&text, 1_000 + n).expect("sign").to_signed();
    wire::Events {
        events: vec![event],
    }
    .encode_to_vec()
}

/// Posts a batch; the status and body.
async fn publish(http: &reqwest::Client, url: &str, body: Vec<u8>) -> (u16, String) {
    let answer = http
        .post(format!("{url}/events"))
        .body(body)
        .send()
        .await
        .expect("request");
    (
        answer.status().as_u16(),
        answer.text().await.unwrap_or_default(),
    )
}

/// The clocks the server holds of `author`, by `GET /ranges`.
async fn held(url: &str, author: &Author) -> Vec<(u64, u64)> {
    let body = reqwest::get(format!(
        "{url}/ranges?system={}",
        author.system().to_query_param()
    ))
    .await
    .expect("ranges")
    .bytes()
    .await
    .expect("body");
    let ranges = wire::RangesForSystem::decode(body).expect("ranges");
    ranges
        .ranges_for_processes
        .iter()
        .flat_map(|process| process.ranges.iter().map(|range| (range.low, range.high)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_answers_507_reports_unhealthy_and_recovers_losing_nothing() {
    let parent = tempfile::tempdir().expect("tempdir");
    let disk = Tmpfs::mount(parent.path(), 16);
    let data_dir = disk.0.join("data");
    let served = serve_unlimited(&data_dir, &[]);
    let url = served.url.clone();
    let http = reqwest::Client::new();
    let mut author = Author::new(
        SecretKey::from_seed(&[61; 32]),
        Process::from_bytes(&[61; 16]).expect("16 bytes"),
    );

    // Fill the disk with a file, then write until the server says it is full.
    let filler = disk.0.join("filler");
    let mut file = std::fs::File::create(&filler).expect("filler");
    let chunk = vec![0_u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    drop(file);
    let mut acknowledged = 0;
    let mut full = None;
    for n in 1..=2_000 {
        let batch = big_post(&mut author, n);
        let (status, body) = publish(&http, &url, batch.clone()).await;
        match status {
            200 => acknowledged = n,
            507 => {
                full = Some((batch, body));
                break;
            }
            other => panic!("event {n}: {other} {body}"),
        }
    }
    let (refused, full) = full.expect("a full disk is met");
    assert!(full.contains("disk is full"), "{full}");
    let health = reqwest::get(format!("{url}/health")).await.expect("health");
    assert_eq!(health.status(), 503);
    let health = health.text().await.expect("body");
    assert!(health.contains("full"), "{health}");
    // What it acknowledged is still served.
    let expected = if acknowledged == 0 {
        Vec::new()
    } else {
        vec![(1, acknowledged)]
    };
    assert_eq!(held(&url, &author).await, expected);

    // Space returns: the refused event, sent again as a client does, is taken, and /health is
    // ok again.
    std::fs::remove_file(&filler).expect("remove the filler");
    let next = acknowledged + 1;
    let (status, body) = publish(&http, &url, refused).await;
    assert_eq!(status, 200, "{body}");
    let health = reqwest::get(format!("{url}/health")).await.expect("health");
    assert_eq!(
        health.status(),
        200,
        "{}",
        health.text().await.unwrap_or_default()
    );

    // After a restart everything acknowledged is there.
    assert!(terminate(served));
    let served = serve_unlimited(&data_dir, &[]);
    assert_eq!(held(&served.url, &author).await, [(1, next)]);
    assert!(terminate(served));
}
