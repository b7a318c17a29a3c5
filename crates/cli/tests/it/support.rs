//! Running the `agora` binary in tests: `agora serve` with the address it prints, the user
//! commands with their output, and pairing a device through the real two-home flow.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use agora_protocol::links::Link;
use agora_protocol::{Pointer, PublicKey};
use serde_json::Value;

/// A running `agora serve` subprocess.
pub struct Served {
    pub child: Child,
    pub url: String,
}

/// Starts `agora serve` on a free port with its store in `data_dir`, configured through the
/// environment variables, and waits until it prints the address it serves.
pub fn serve(data_dir: &Path) -> Served {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
    command
        .arg("serve")
        .env("AGORA_LISTEN", "127.0.0.1:0")
        .env("AGORA_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn");
    start_serving(&mut command)
}

/// `agora serve ARGS` on a free port with its store in `data_dir` and rate limits off, for tests
/// that send many requests from one address.
pub fn serve_unlimited(data_dir: &Path, args: &[&str]) -> Served {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
    command
        .arg("serve")
        .args(args)
        .env("AGORA_LISTEN", "127.0.0.1:0")
        .env("AGORA_DATA_DIR", data_dir)
        .env("AGORA_RATE_LIMITS", "off")
        .env("RUST_LOG", "error");
    start_serving(&mut command)
}

/// Spawns `command` (an `agora serve` listening on a free port) with stdout piped, and waits
/// until it prints the address it serves.
pub fn start_serving(command: &mut Command) -> Served {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("agora starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("agora prints its address");
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Served { child, url }
}

impl Drop for Served {
    /// A test that fails before [`terminate`] must not leave its server running (it would also
    /// hold the test's inherited stderr open).
    fn drop(&mut self) {
        // Does nothing when the server was already waited for.
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Sends SIGTERM and returns whether the server exited successfully.
pub fn terminate(mut served: Served) -> bool {
    let pid = served.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -TERM {pid}");
    served.child.wait().expect("agora exits").success()
}

/// A server address nothing listens on.
pub const DEAD_SERVER: &str = "http://127.0.0.1:9";

/// What one run of `agora` (or of the official client's tests) printed, and how it exited.
pub struct Run {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// `agora`'s exit status when some servers failed and the others did the work.
pub const EXIT_SOME_SERVERS_FAILED: i32 = 4;
/// `agora`'s exit status when no server answered.
pub const EXIT_NO_SERVER_ANSWERED: i32 = 3;
/// `agora`'s exit status for bad input.
pub const EXIT_BAD_INPUT: i32 = 2;

impl Run {
    /// Stdout of a run that exited 0: done, every server asked answered.
    pub fn ok(self) -> String {
        assert!(
            self.success,
            "agora failed (exit {:?}): {}{}",
            self.code, self.stdout, self.stderr
        );
        self.stdout
    }

    pub fn json(self) -> Value {
        let stdout = self.ok();
        parse_json(&stdout)
    }

    /// Stdout of a run that exited 4: done with the servers that answered, some failed.
    pub fn partial(self) -> String {
        assert_eq!(
            self.code,
            Some(EXIT_SOME_SERVERS_FAILED),
            "expected exit 4 (some servers failed): {}{}",
            self.stdout,
            self.stderr
        );
        self.stdout
    }

    pub fn partial_json(self) -> Value {
        let stdout = self.partial();
        parse_json(&stdout)
    }

    /// JSON of a run that exited 0 or 4: done, where whether a server that is down gets asked
    /// depends on what the home learned earlier (its `failed` list says which).
    pub fn done_json(self) -> Value {
        assert!(
            matches!(self.code, Some(0 | EXIT_SOME_SERVERS_FAILED)),
            "expected exit 0 or 4: {}{}",
            self.stdout,
            self.stderr
        );
        parse_json(&self.stdout)
    }

    /// JSON of a run whose exit status agrees with the failures it reports: 0 when every
    /// `failed` list in it is empty, else 4 (some servers failed) or 3 (none answered).
    pub fn reported_json(self) -> Value {
        let json = parse_json(&self.stdout);
        let failures = failure_count(&json);
        if failures == 0 {
            assert_eq!(
                self.code,
                Some(0),
                "no failure reported: {json} {}",
                self.stderr
            );
        } else {
            assert!(
                matches!(
                    self.code,
                    Some(EXIT_SOME_SERVERS_FAILED | EXIT_NO_SERVER_ANSWERED)
                ),
                "failures reported, exit {:?}: {json}",
                self.code
            );
        }
        json
    }

    /// A run refused as bad input (exit 2) whose error mentions `what`; returns its stderr.
    pub fn bad_input(self, what: &str) -> String {
        assert_eq!(
            self.code,
            Some(EXIT_BAD_INPUT),
            "{}{}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.stderr.contains(what),
            "no {what:?} in: {}",
            self.stderr
        );
        self.stderr
    }

    /// Stdout of a run that exited 3: no server answered.
    pub fn unanswered(self) -> String {
        assert_eq!(
            self.code,
            Some(EXIT_NO_SERVER_ANSWERED),
            "expected exit 3 (no server answered): {}{}",
            self.stdout,
            self.stderr
        );
        self.stdout
    }

    pub fn unanswered_json(self) -> Value {
        let stdout = self.unanswered();
        parse_json(&stdout)
    }
}

/// How many server failures a `--json` answer reports, in all its `failed` lists.
fn failure_count(json: &Value) -> usize {
    match json {
        Value::Object(fields) => fields
            .iter()
            .map(|(key, value)| match (key.as_str(), value) {
                ("failed", Value::Array(list)) => list.len(),
                _ => failure_count(value),
            })
            .sum(),
        Value::Array(items) => items.iter().map(failure_count).sum(),
        _ => 0,
    }
}

/// One JSON object, as every `--json` output is.
pub fn parse_json(stdout: &str) -> Value {
    let value: Value =
        serde_json::from_str(stdout).unwrap_or_else(|error| panic!("{error}: {stdout:?}"));
    assert!(value.is_object(), "not one JSON object: {stdout}");
    value
}

impl From<std::process::Output> for Run {
    fn from(output: std::process::Output) -> Self {
        Run {
            success: output.status.success(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs `agora ARGS --home HOME` off the runtime, so the test's servers keep serving. Its stdout
/// and stderr are pipes, not terminals.
pub async fn agora(home: &Path, args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
    command
        .args(args)
        .arg("--home")
        .arg(home)
        .env_remove("AGORA_HOME")
        .env("RUST_LOG", "off")
        .env("RUST_BACKTRACE", "0");
    run(command).await
}

/// Runs `command` to its end off the runtime, so the test's servers keep serving.
pub async fn run(mut command: Command) -> Run {
    let output = tokio::task::spawn_blocking(move || command.output().expect("agora runs"))
        .await
        .expect("agora thread");
    Run::from(output)
}

/// A new identity in `home` with `servers` (added with `--force`, so a server a test keeps
/// down is added too), returning its system link.
pub async fn identity(home: &Path, servers: &[&str]) -> String {
    agora(home, &["init"]).await.ok();
    for server in servers {
        let added = agora(home, &["server", "add", server, "--force"]).await;
        assert!(
            matches!(
                added.code,
                Some(0 | EXIT_SOME_SERVERS_FAILED | EXIT_NO_SERVER_ANSWERED)
            ),
            "server add {server}: {}{}",
            added.stdout,
            added.stderr
        );
    }
    agora(home, &["link"]).await.ok().trim().to_owned()
}

/// The system a system link names.
pub fn system_of(link: &str) -> PublicKey {
    match Link::parse(link.trim()).expect("a system link") {
        Link::System { system, .. } => system,
        other => panic!("not a system link: {other:?}"),
    }
}

/// The event an event link names (its slot: no digest).
pub fn event_pointer(link: &str) -> Pointer {
    match Link::parse(link).expect("link") {
        Link::Event {
            system,
            process,
            logical_clock,
            ..
        } => Pointer {
            system,
            process,
            logical_clock,
            digest: None,
        },
        other => panic!("not an event link: {other:?}"),
    }
}

/// A system link to `system` whose hints are `servers`, in order.
pub fn link_to(system: PublicKey, servers: &[&str]) -> String {
    Link::System {
        system,
        servers: servers.iter().map(|server| (*server).to_owned()).collect(),
    }
    .to_url()
}

/// The texts of the posts of a `feed --json` or `show --json` answer (its `posts`, or a list of
/// posts), in its order.
pub fn texts(posts: &Value) -> Vec<&str> {
    let posts = posts.get("posts").unwrap_or(posts);
    posts
        .as_array()
        .unwrap_or_else(|| panic!("an array: {posts}"))
        .iter()
        .map(|post| post["text"].as_str().expect("text"))
        .collect()
}

/// The same texts, sorted (where the order is not what a test is about).
pub fn sorted_texts(posts: &Value) -> Vec<&str> {
    let mut texts = texts(posts);
    texts.sort_unstable();
    texts
}

/// The entry of the array `list` whose `field` is `value`.
pub fn entry<'a>(list: &'a Value, field: &str, value: &str) -> &'a Value {
    list.as_array()
        .and_then(|entries| entries.iter().find(|entry| entry[field] == value))
        .unwrap_or_else(|| panic!("no {field} {value:?} in {list}"))
}

/// The servers named in the `failed` list of a `--json` answer, in its order.
pub fn failed_servers(json: &Value) -> Vec<&str> {
    json["failed"]
        .as_array()
        .unwrap_or_else(|| panic!("failed is an array: {json}"))
        .iter()
        .map(|failure| failure["server"].as_str().expect("server"))
        .collect()
}

/// The folder of the official-client tests (`interop/`, with its pinned package).
pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

/// Installs the official client into `interop/node_modules` once. Tests run in parallel, and two
/// `npm ci` in one folder would delete each other's files, so installation is serialized.
pub fn install_official_client() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _installing = INSTALL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = interop_dir();
    if !dir
        .join("node_modules/@polycentric/polycentric-core")
        .exists()
    {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm is installed (.ci/run installs Node 20 and npm)");
        assert!(status.success(), "npm ci in interop/ failed");
    }
    dir
}

/// Runs the official client's test file `file` (in `interop/`, installed) against `server` with
/// the environment `env`, with the spec reporter.
pub fn official_client_tests(file: &str, server: &str, env: &[(&str, &str)]) -> Run {
    Command::new("node")
        .args(["--test", "--test-reporter=spec", file])
        .current_dir(interop_dir())
        .env("AGORA_SERVER", server)
        .envs(env.iter().copied())
        .output()
        .expect("node is installed")
        .into()
}

/// A new device pairing in the background: `agora device pair LINK --json`, with the code and
/// confirmation words it printed first.
pub struct Pairing {
    child: Child,
    pub code: String,
    pub confirmation: String,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Pairing {
    /// A pairing the test abandons must not keep running.
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Pairing {
    /// Starts pairing `home` to the identity of `link` and waits for its code.
    pub fn start(home: &Path, link: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_agora"))
            .args([
                "device",
                "pair",
                link,
                "--json",
                "--timeout-secs",
                "60",
                "--home",
            ])
            .arg(home)
            .env_remove("AGORA_HOME")
            .env("RUST_LOG", "off")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("agora starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("a first line");
        let first: Value =
            serde_json::from_str(&line).unwrap_or_else(|error| panic!("{error}: {line:?}"));
        Self {
            child,
            code: first["code"].as_str().expect("code").to_owned(),
            confirmation: first["confirmation"].as_str().expect("words").to_owned(),
            stdout,
        }
    }

    /// Waits for the pairing to end; its final JSON answer.
    pub async fn finish(mut self) -> Value {
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            self.stdout.read_line(&mut line).expect("a last line");
            assert!(
                self.child.wait().expect("exit").success(),
                "pair failed: {line}"
            );
            serde_json::from_str(&line).unwrap_or_else(|error| panic!("{error}: {line:?}"))
        })
        .await
        .expect("pairing thread")
    }
}

/// Runs `agora ARGS --home HOME` with `input` on its stdin.
pub async fn agora_input(home: &Path, args: &[&str], input: &str) -> Run {
    let input = input.to_owned();
    let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
    command
        .args(args)
        .arg("--home")
        .arg(home)
        .env_remove("AGORA_HOME")
        .env("RUST_LOG", "off");
    tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("agora starts");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        Run::from(child.wait_with_output().expect("agora runs"))
    })
    .await
    .expect("agora thread")
}

/// Pairs `new_home` to the identity whose root is in `root_home`, through the real flow: the
/// new device prints a code and words, the root approves the code after seeing the same words.
pub async fn pair(root_home: &Path, new_home: &Path, link: &str, name: &str) -> Value {
    let pairing = Pairing::start(new_home, link);
    let approve = agora_input(
        root_home,
        &["device", "approve", &pairing.code, "--name", name],
        "y\n",
    )
    .await;
    assert!(approve.success, "approve failed: {}", approve.stderr);
    assert!(
        approve.stderr.contains(&pairing.confirmation),
        "the root shows the words the device shows ({}): {}",
        pairing.confirmation,
        approve.stderr
    );
    assert_eq!(pairing.confirmation.split(' ').count(), 5);
    pairing.finish().await
}
