//! A client that a server cannot hurt, and that keeps its secrets: an endless answer is cut off
//! at a bound, a backup link pasted in the wrong place is never echoed, and the home is private.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{EXIT_BAD_INPUT, EXIT_NO_SERVER_ANSWERED, agora, parse_json};

/// A server that answers every request with `200` and a chunked body that never ends.
async fn endless_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0_u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n\
                            transfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 1024 * 1024];
                let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                framed.extend_from_slice(&chunk);
                framed.extend_from_slice(b"\r\n");
                while socket.write_all(&framed).await.is_ok() {}
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_answer_is_cut_off_within_a_bounded_memory() {
    let hostile = endless_server().await;
    let home = tempfile::tempdir().expect("tempdir");
    agora(home.path(), &["init"]).await.ok();
    agora(
        home.path(),
        &["server", "add", &hostile, "--force", "--timeout", "20"],
    )
    .await;
    // Under a 1 GiB address-space limit: a client that buffered the whole answer would be
    // killed long before its 20-second timeout; a bounded one fails the server and goes on.
    let mut command = std::process::Command::new("bash");
    command
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_agora"))
        .args(["search", "walrus", "--json", "--timeout", "20", "--home"])
        .arg(home.path())
        .env("RUST_LOG", "off");
    let run = crate::support::run(command).await;
    assert_eq!(
        run.code,
        Some(EXIT_NO_SERVER_ANSWERED),
        "{}{}",
        run.stdout,
        run.stderr
    );
    let answer = parse_json(&run.stdout);
    let error = answer["failed"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("answered more than 64 MiB"), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_link_in_the_wrong_place_is_refused_without_being_echoed() {
    let home = tempfile::tempdir().expect("tempdir");
    agora(home.path(), &["init"]).await.ok();
    let backup = agora(home.path(), &["export"]).await.ok().trim().to_owned();
    let secret_part = &backup[backup.len() - 40..];
    for args in [
        &["follow", backup.as_str()][..],
        &["like", backup.as_str()],
        &["show", backup.as_str()],
        &["follow", backup.as_str(), "--json"],
    ] {
        let run = agora(home.path(), args).await;
        assert_eq!(run.code, Some(EXIT_BAD_INPUT), "{}", run.stderr);
        assert!(
            !run.stderr.contains(secret_part) && !run.stdout.contains(secret_part),
            "the backup link is echoed: {}{}",
            run.stdout,
            run.stderr
        );
        assert!(
            format!("{}{}", run.stdout, run.stderr).contains("backup link"),
            "says what it was: {}",
            run.stderr
        );
    }
}

/// Every directory and file under `dir`, with its mode.
fn modes(dir: &Path, found: &mut Vec<(String, u32)>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("entry");
        let mode = entry.metadata().expect("metadata").permissions().mode();
        found.push((entry.path().display().to_string(), mode));
        if entry.file_type().expect("type").is_dir() {
            modes(&entry.path(), found);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_home_and_every_file_in_it_are_private_to_the_user() {
    let parent = tempfile::tempdir().expect("tempdir");
    let home = parent.path().join("home");
    agora(&home, &["init", "--name", "private"]).await.ok();
    agora(&home, &["post", "kept locally"]).await.ok();
    let own = std::fs::metadata(&home).expect("home").permissions().mode();
    assert_eq!(own & 0o777, 0o700, "the home directory: {own:o}");
    let mut found = Vec::new();
    modes(&home, &mut found);
    assert!(found.len() >= 4, "key, process, store files: {found:?}");
    for (path, mode) in found {
        assert_eq!(mode & 0o077, 0, "{path} is {mode:o}");
    }
    // A file read as an option has a bound too.
    let big = parent.path().join("big.pem");
    std::fs::write(&big, vec![b'a'; 2 * 1024 * 1024]).expect("write");
    let run = agora(
        &home,
        &["whoami", "--ca-cert", big.to_str().expect("utf-8")],
    )
    .await;
    assert_eq!(run.code, Some(EXIT_BAD_INPUT), "{}", run.stderr);
    assert!(run.stderr.contains("larger than 1 MiB"), "{}", run.stderr);
}
