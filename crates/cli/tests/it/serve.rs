//! `agora serve`: zero configuration, environment overrides, graceful stop, durable store.

use std::process::Command;

use crate::support::{serve, terminate};

fn get(url: &str) -> (u16, String) {
    let output = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    (code.trim().parse().expect("status code"), body.to_owned())
}

#[test]
fn serve_uses_the_environment_and_stops_cleanly_on_sigterm() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let served = serve(data_dir.path());

    let (status, body) = get(&format!("{}/health", served.url));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    assert!(
        data_dir.path().join("agora.sqlite3").exists(),
        "the store lives in AGORA_DATA_DIR"
    );

    assert!(
        terminate(served),
        "SIGTERM is a clean shutdown, exit status 0"
    );
}

#[test]
fn serve_listens_on_a_port_alone_and_on_a_host_name() {
    for listen in [":0", "localhost:0"] {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let served = crate::support::start_serving(
            Command::new(env!("CARGO_BIN_EXE_agora"))
                .args(["serve", "--listen", listen])
                .env("AGORA_DATA_DIR", data_dir.path())
                .env("RUST_LOG", "warn"),
        );
        assert!(
            served.url.starts_with("http://127.0.0.1:"),
            "{listen}: {}",
            served.url
        );
        let (status, body) = get(&format!("{}/health", served.url));
        assert_eq!(status, 200, "{listen}: {body}");
        assert!(terminate(served), "{listen}");
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_agora"))
        .args(["serve", "--listen", "nowhere.invalid:80"])
        .output()
        .expect("agora runs");
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a bad address is a command-line mistake"
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nowhere.invalid"));
}

/// Runs `agora serve` with `args` and `RUST_LOG=info`, makes `requests`, stops it, and returns
/// its stderr.
fn served_log(args: &[&str], requests: &[&str]) -> String {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_agora"))
        .arg("serve")
        .args(args)
        .env("AGORA_LISTEN", "127.0.0.1:0")
        .env("AGORA_DATA_DIR", data_dir.path())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("agora starts");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("the address");
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .expect("an address")
        .to_owned();
    for request in requests {
        get(&format!("{url}{request}"));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    let output = child.wait_with_output().expect("agora exits");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn every_request_is_logged_once_without_its_query_and_json_logs_are_json() {
    let key = "CAESIJmYC1sQpKl0w3pZ0qM1m6LZ4a1hJbM2W2b7p1hW8S1k";
    let ranges = format!("/ranges?system={key}");
    let log = served_log(&["--log-format", "json"], &[&ranges, "/version"]);
    let requests: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .filter(|entry: &serde_json::Value| entry["target"] == "agora::request")
        .collect();
    assert_eq!(requests.len(), 2, "{log}");
    let fields = &requests[0]["fields"];
    assert_eq!(fields["route"], "/ranges", "{log}");
    assert_eq!(fields["method"], "GET", "{log}");
    assert!(
        fields["status"].is_u64() && fields["duration_ms"].is_number(),
        "{log}"
    );
    assert_eq!(requests[1]["fields"]["route"], "/version", "{log}");
    assert!(requests[1]["fields"]["bytes"].is_u64(), "{log}");
    assert!(
        !log.contains(key),
        "no key or query string in the log: {log}"
    );

    let text = served_log(&[], &["/health"]);
    assert!(
        text.contains("route=\"/health\"") || text.contains("route=/health"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal: {text}"
    );
}

#[test]
fn serve_with_no_flags_uses_the_documented_defaults() {
    let home = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_agora"))
        .args(["serve", "--help"])
        .output()
        .expect("agora runs");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains("[env: AGORA_LISTEN=]") && help.contains("[default: 127.0.0.1:8081]"),
        "{help}"
    );
    assert!(help.contains("[env: AGORA_DATA_DIR=]"), "{help}");

    // With no flags at all the server takes 127.0.0.1:8081 and $XDG_DATA_HOME/agora/server. The
    // port may be in use on a developer's machine, so this checks the data directory it chose.
    let mut child = Command::new(env!("CARGO_BIN_EXE_agora"))
        .arg("serve")
        .env_remove("AGORA_LISTEN")
        .env_remove("AGORA_DATA_DIR")
        .env("XDG_DATA_HOME", home.path())
        .env("RUST_LOG", "off")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("agora starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let store = home.path().join("agora/server/agora.sqlite3");
    while !store.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        store.exists(),
        "the default data directory is $XDG_DATA_HOME/agora/server"
    );
}
