//! Embeds the web client: every file of `web/dist` (the committed Vite build, see
//! ARCHITECTURE.md "web") becomes an `include_bytes!` entry, so `agora serve` serves the page with
//! no npm at build time. Only reads `web/dist`; without it the list is empty and `/` says so.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    git_commit(&manifest_dir);
    let dist = manifest_dir.join("../../web/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    if dist.is_dir() {
        collect(&dist, &mut files);
    }
    files.sort();
    let mut code = String::from(
        "/// The web client's files: (path under `/`, bytes).\npub static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for file in &files {
        let relative = file.strip_prefix(&dist).expect("under dist");
        let route = format!("/{}", relative.to_string_lossy().replace('\\', "/"));
        let absolute = file.canonicalize().expect("a file of web/dist");
        writeln!(
            code,
            "    ({route:?}, include_bytes!({:?})),",
            absolute.display().to_string()
        )
        .expect("writing to a string");
    }
    code.push_str("];\n");
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")).join("web_assets.rs");
    std::fs::write(out, code).expect("writing web_assets.rs");
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading web/dist") {
        let path = entry.expect("a directory entry").path();
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// The commit being built, as `AGORA_GIT_SHA` for `/version`, and a rebuild whenever HEAD moves.
/// Outside a git checkout (a source tarball) nothing is set and `/version` says `unknown`.
fn git_commit(manifest_dir: &Path) {
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git")
            .args(args)
            .current_dir(manifest_dir)
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let Some(sha) = git(&["rev-parse", "HEAD"]) else {
        return;
    };
    println!("cargo:rustc-env=AGORA_GIT_SHA={sha}");
    for path in ["HEAD", "logs/HEAD", "packed-refs", "refs/heads"] {
        if let Some(path) = git(&["rev-parse", "--git-path", path]) {
            let path = manifest_dir.join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
}
