//! What a user command prints: one value with a readable text form and a JSON form for scripts.

use agora_client::{Gathered, ImageInfo, ServerFailure, SyncReport};
use agora_protocol::PublicKey;
use serde_json::{Value, json};

/// A command's result, printed as text by default or as JSON with `--json`.
#[derive(Debug)]
pub struct Output {
    pub text: String,
    pub json: Value,
}

impl Output {
    /// Prints the result; a closed stdout (`agora … | head`) is not an error worth a panic.
    pub fn print(&self, json: bool) {
        // A reader that went away (`| head`) has what it wanted.
        let _ = if json {
            emit(&format!("{}\n", self.json))
        } else {
            emit(&self.text)
        };
    }
}

/// Writes `text` to stdout and flushes it. Unlike `print!`, a closed stdout is an error the
/// caller sees (and may stop on), never a panic.
pub fn emit(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

pub fn failures_json(failed: &[ServerFailure]) -> Value {
    failed
        .iter()
        .map(|failure| json!({"server": failure.server, "error": failure.error.to_string()}))
        .collect()
}

/// A line per failed server, indented under a command's other lines.
pub fn failure_lines(failed: &[ServerFailure]) -> String {
    failed
        .iter()
        .map(|failure| format!("  FAILED {failure}\n"))
        .collect()
}

/// `{"sent": [{"server", "events"}], "failed": [{"server", "error"}]}`.
pub fn push_json(report: &SyncReport) -> Value {
    let sent: Value = report
        .sent
        .iter()
        .map(|(server, events)| json!({"server": server, "events": events}))
        .collect();
    json!({"sent": sent, "failed": failures_json(&report.failed)})
}

/// One line per server: which took the events and which failed, and what happens next.
pub fn push_text(report: &SyncReport) -> String {
    let mut text = String::new();
    for (server, events) in &report.sent {
        text.push_str(&format!("  sent to {server}: {events} event(s)\n"));
    }
    text.push_str(&failure_lines(&report.failed));
    if report.sent.is_empty() && report.failed.is_empty() {
        text.push_str(
            "  saved locally only: no servers yet; add one with `agora server add URL`\n",
        );
    } else if report.sent.is_empty() {
        text.push_str(
            "  saved locally: no server took it; it will be sent on the next `agora sync`\n",
        );
    } else if !report.failed.is_empty() {
        text.push_str("  the failed servers will get it on the next `agora sync`\n");
    }
    text
}

/// The servers that answered a pull, for one line of text.
pub fn answered_text(answered: &[String]) -> String {
    if answered.is_empty() {
        "no server".to_owned()
    } else {
        answered.join(", ")
    }
}

/// One pull of one system: what it fetched, from where, and which servers failed.
pub fn pull_text(system: PublicKey, pulled: &Gathered<usize>) -> String {
    let mut text = format!(
        "  fetched {} new event(s) of {system} from {}\n",
        pulled.value,
        answered_text(&pulled.answered)
    );
    text.push_str(&failure_lines(&pulled.failed));
    if pulled.answered.is_empty() {
        text.push_str("  nothing fetched now; the next `agora sync` tries its servers again\n");
    }
    text
}

/// `{"system", "received", "answered", "failed"}` for one pull.
pub fn pull_json(system: PublicKey, pulled: &Gathered<usize>) -> Value {
    json!({
        "system": system.to_string(),
        "received": pulled.value,
        "answered": pulled.answered,
        "failed": failures_json(&pulled.failed),
    })
}

/// `{"mime", "width", "height", "byte_count"}` of an image manifest.
pub fn image_json(image: &ImageInfo) -> Value {
    json!({
        "mime": image.mime,
        "width": image.width,
        "height": image.height,
        "byte_count": image.byte_count,
    })
}
