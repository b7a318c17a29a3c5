//! Running the `agora` binary in tests: `agora serve` with the address it prints, and the user
//! commands with their output.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use serde_json::Value;

/// A running `agora serve` subprocess.
pub struct Served {
    pub child: Child,
    pub url: String,
}

/// Starts `agora serve` on a free port with its store in `data_dir`, configured through the
/// environment variables, and waits until it prints the address it serves.
pub fn serve(data_dir: &Path) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_agora"))
        .arg("serve")
        .env("AGORA_LISTEN", "127.0.0.1:0")
        .env("AGORA_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
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

/// What one run of `agora` printed, and whether it succeeded.
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> String {
        assert!(self.success, "agora failed: {}", self.stderr);
        self.stdout
    }

    pub fn json(self) -> Value {
        let stdout = self.ok();
        serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}: {stdout:?}"))
    }
}

/// Runs `agora ARGS --home HOME` off the runtime, so the test's servers keep serving.
pub async fn agora(home: &Path, args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
    command
        .args(args)
        .arg("--home")
        .arg(home)
        .env_remove("AGORA_HOME")
        .env("RUST_LOG", "off")
        .env("RUST_BACKTRACE", "0");
    let output = tokio::task::spawn_blocking(move || command.output().expect("agora runs"))
        .await
        .expect("agora thread");
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
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
