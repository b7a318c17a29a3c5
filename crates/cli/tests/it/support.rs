//! Starting `agora serve` as a subprocess and reading the address it prints.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

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
