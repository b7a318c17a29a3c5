//! What a user command prints: one value with a readable text form and a JSON form for scripts,
//! how its servers did (the exit status), and the text helpers that keep output readable: short
//! forms of events, local times, lines that fit the terminal.

use std::sync::OnceLock;

use agora_client::{Gathered, ImageInfo, Refusal, ServerFailure, SyncReport};
use agora_protocol::{Pointer, PublicKey};
use serde_json::{Value, json};

/// Exit statuses, the same for every command (README, "Exit status").
pub mod exit {
    /// Done; every server asked answered.
    pub const OK: u8 = 0;
    /// Any other failure.
    pub const ERROR: u8 = 1;
    /// A command-line mistake or an argument that cannot be read (link, key, handle, file).
    pub const BAD_INPUT: u8 = 2;
    /// No server answered (what could be done locally was done).
    pub const NO_SERVER_ANSWERED: u8 = 3;
    /// Done with the servers that answered; some failed (named in the output).
    pub const SOME_SERVERS_FAILED: u8 = 4;
}

/// How the servers a command asked did, for its exit status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// Every server asked answered, or none was asked.
    #[default]
    All,
    Some,
    None,
}

impl Reach {
    pub fn of(answered: usize, failed: usize) -> Self {
        match (answered, failed) {
            (_, 0) => Self::All,
            (0, _) => Self::None,
            _ => Self::Some,
        }
    }

    pub fn of_gathered<T>(gathered: &Gathered<T>) -> Self {
        Self::of(gathered.answered.len(), gathered.failed.len())
    }

    pub fn of_push(report: &SyncReport) -> Self {
        Self::of(report.sent.len(), report.failed.len())
    }

    /// The worse of two.
    pub fn and(self, other: Self) -> Self {
        self.max(other)
    }

    pub fn exit_status(self) -> u8 {
        match self {
            Self::All => exit::OK,
            Self::Some => exit::SOME_SERVERS_FAILED,
            Self::None => exit::NO_SERVER_ANSWERED,
        }
    }
}

/// An argument a person gave that cannot be used as given (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// `Err(BadInput)` with a formatted message.
macro_rules! bad_input {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::output::BadInput(format!($($arg)*))))
    };
}
pub(crate) use bad_input;

/// A failure because no server answered (exit status 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoServerAnswered(pub String);

/// A command's result, printed as text by default or as JSON with `--json`.
#[derive(Debug)]
pub struct Output {
    pub text: String,
    pub json: Value,
    /// How the servers it asked did.
    pub reach: Reach,
}

impl Output {
    pub fn new(text: String, json: Value) -> Self {
        Self {
            text,
            json,
            reach: Reach::All,
        }
    }

    /// The same output, reporting `reach` (worse of it and what was reported before).
    pub fn reached(mut self, reach: Reach) -> Self {
        self.reach = self.reach.and(reach);
        self
    }

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

/// A line per failed server, indented under a command's other lines, within the output width
/// (`--json` has every error whole).
pub fn failure_lines(failed: &[ServerFailure]) -> String {
    failed
        .iter()
        .map(|failure| hanging(&format!("FAILED {failure}"), "  ", "    "))
        .collect()
}

/// `{"sent": [{"server", "events"}], "failed": [{"server", "error"}]}`.
pub fn push_json(report: &SyncReport) -> Value {
    let sent: Value = report
        .sent
        .iter()
        .map(|(server, events)| json!({"server": server, "events": events}))
        .collect();
    let refused: Value = report
        .refused
        .iter()
        .map(|refusal| {
            json!({
                "server": refusal.server,
                "event": short_event(&refusal.pointer()),
                "reason": refusal.reason,
            })
        })
        .collect();
    json!({"sent": sent, "failed": failures_json(&report.failed), "refused": refused})
}

/// A line per event a server refused for good: said once, never sent there again.
pub fn refusal_lines(refused: &[Refusal]) -> String {
    refused
        .iter()
        .map(|refusal| {
            hanging(
                &format!(
                    "REFUSED by {}: {} ({}); it will not be sent there again",
                    refusal.server,
                    short_event(&refusal.pointer()),
                    refusal.reason
                ),
                "  ",
                "    ",
            )
        })
        .collect()
}

/// One line per server: which took the events and which failed, and what happens next.
pub fn push_text(report: &SyncReport) -> String {
    let mut text = String::new();
    for (server, events) in &report.sent {
        text.push_str(&format!("  sent to {server}: {events} event(s)\n"));
    }
    text.push_str(&failure_lines(&report.failed));
    text.push_str(&refusal_lines(&report.refused));
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
    let mut text = fit(&format!(
        "  fetched {} new event(s) of {} from {}",
        pulled.value,
        system.abbreviation(),
        answered_text(&pulled.answered)
    )) + "\n";
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

/// Text output style, set once from the command line.
static LONG: OnceLock<bool> = OnceLock::new();

/// Whether text output prints full links (`--long`) instead of short forms.
pub fn set_long(long: bool) {
    let _ = LONG.set(long);
}

pub fn long() -> bool {
    LONG.get().copied().unwrap_or(false)
}

/// The columns text output fits in: `COLUMNS`, else the terminal's width, else 80.
pub fn width() -> usize {
    static WIDTH: OnceLock<usize> = OnceLock::new();
    *WIDTH.get_or_init(|| {
        let from_env = std::env::var("COLUMNS")
            .ok()
            .and_then(|columns| columns.trim().parse::<usize>().ok());
        let from_terminal = || {
            terminal_size::terminal_size_of(std::io::stdout())
                .map(|(terminal_size::Width(columns), _)| usize::from(columns))
        };
        from_env
            .or_else(from_terminal)
            .filter(|&columns| columns >= 20)
            .unwrap_or(80)
    })
}

/// `line` cut to the output width, with `…` where it was cut.
pub fn fit(line: &str) -> String {
    let width = width();
    if textwrap::core::display_width(line) <= width {
        return line.to_owned();
    }
    let mut kept = String::new();
    let mut used = 0;
    for c in line.chars() {
        let w = textwrap::core::display_width(c.encode_utf8(&mut [0; 4]));
        if used + w + 1 > width {
            break;
        }
        used += w;
        kept.push(c);
    }
    kept.push('…');
    kept
}

/// `text` wrapped to the output width, each line indented by `indent`; words longer than a line
/// are broken.
pub fn wrapped(text: &str, indent: &str) -> String {
    let options = textwrap::Options::new(width())
        .initial_indent(indent)
        .subsequent_indent(indent)
        .break_words(true);
    let mut out = String::new();
    for paragraph in text.lines() {
        if paragraph.trim().is_empty() {
            out.push('\n');
            continue;
        }
        for line in textwrap::wrap(paragraph, &options) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// `text` wrapped to the output width: the first line indented by `first`, the others by
/// `rest`.
pub fn hanging(text: &str, first: &str, rest: &str) -> String {
    let options = textwrap::Options::new(width())
        .initial_indent(first)
        .subsequent_indent(rest)
        .break_words(true);
    textwrap::wrap(text, &options)
        .iter()
        .map(|line| format!("{line}\n"))
        .collect()
}

/// The short form of an event that every command accepts: the first characters of its key and
/// its clock, `kXq3abcd/5` (read back from the local store).
pub fn short_event(pointer: &Pointer) -> String {
    format!(
        "{}/{}",
        pointer.system.abbreviation(),
        pointer.logical_clock
    )
}

/// An event as text output shows it: the short form, or the full link with `--long`.
pub fn shown_event(pointer: &Pointer, link: &str) -> String {
    if long() {
        link.to_owned()
    } else {
        short_event(pointer)
    }
}

/// A time in the reader's time zone, `YYYY-MM-DD HH:MM`.
pub fn local_time(unix_milliseconds: u64) -> String {
    use chrono::TimeZone as _;
    i64::try_from(unix_milliseconds)
        .ok()
        .and_then(|ms| chrono::Local.timestamp_millis_opt(ms).single())
        .map_or_else(
            || "?".to_owned(),
            |time| time.format("%Y-%m-%d %H:%M").to_string(),
        )
}
