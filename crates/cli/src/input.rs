//! What `agora` reads besides its arguments (files a person names, stdin), each with a bound,
//! so a file of any size or an endless stdin cannot take the process's memory.

use std::io::{BufRead, Read};
use std::path::Path;

use anyhow::Context as _;

use crate::output::bad_input;

/// Reads the file at `path` (`what` names it in errors) if it holds at most `limit` bytes.
pub fn read_file(path: &Path, limit: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    if bytes.len() as u64 > limit {
        bad_input!(
            "{what} {} is larger than {}; it was not read",
            path.display(),
            size(limit)
        );
    }
    Ok(bytes)
}

/// One line of stdin, at most `limit` bytes (without its end of line).
pub fn stdin_line(limit: u64, what: &str) -> anyhow::Result<String> {
    stdin_bounded(limit, what, |input, text| input.read_line(text))
}

/// All of stdin, at most `limit` bytes.
pub fn stdin_all(limit: u64, what: &str) -> anyhow::Result<String> {
    stdin_bounded(limit, what, |input, text| input.read_to_string(text))
}

fn stdin_bounded(
    limit: u64,
    what: &str,
    read: impl FnOnce(
        &mut std::io::Take<std::io::StdinLock<'static>>,
        &mut String,
    ) -> std::io::Result<usize>,
) -> anyhow::Result<String> {
    let mut text = String::new();
    read(&mut std::io::stdin().lock().take(limit + 1), &mut text)
        .with_context(|| format!("cannot read {what} from stdin"))?;
    if text.len() as u64 > limit {
        bad_input!("{what} on stdin is longer than {}", size(limit));
    }
    Ok(text)
}

fn size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{} MiB", bytes / 1024 / 1024)
    } else {
        format!("{} KiB", bytes / 1024)
    }
}
