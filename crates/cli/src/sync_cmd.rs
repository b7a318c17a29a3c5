//! `agora sync`: push what each of the identity's servers lacks, then pull the identity and
//! every followed system from their known servers, with a progress bar on a terminal and one
//! summary line per server.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::time::Duration;

use agora_client::{Client, Gathered, SyncReport};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::output::{Output, answered_text, failures_json, push_json, push_text};

/// What one server did during a sync, for the per-server summary.
#[derive(Debug, Default)]
struct ServerTally {
    pushed: usize,
    pulled: usize,
    /// Whether it answered at least one push or pull.
    answered: bool,
    /// How many of its pushes and pulls failed.
    failures: usize,
}

/// Runs the sync; the flag says whether any server answered (or none was needed).
pub async fn sync(client: &Client, json: bool) -> anyhow::Result<(Output, bool)> {
    let servers = client.servers().await?;
    let mut systems = vec![client.identity()];
    systems.extend(client.following().await?);
    let progress = Progress::new(!json, servers.len() + systems.len());
    let mut tally: BTreeMap<String, ServerTally> = BTreeMap::new();

    let mut report = SyncReport::default();
    for server in servers {
        progress.step(format!("pushing to {server}"));
        match client.push_to_server(&server).await {
            Ok(events) => {
                let entry = tally.entry(server.clone()).or_default();
                entry.pushed += events;
                entry.answered = true;
                report.sent.push((server, events));
            }
            Err(failure) => {
                tally.entry(server).or_default().failures += 1;
                report.failed.push(failure);
            }
        }
    }
    let mut text = format!("push:\n{}", push_text(&report));
    let mut pulls = Vec::new();
    text.push_str("pull:\n");
    for system in systems {
        progress.step(format!("pulling {system}"));
        let gathered = client.pull_identity_counted(system, &[]).await?;
        for (server, stored) in &gathered.value {
            let entry = tally.entry(server.clone()).or_default();
            entry.pulled += stored;
            entry.answered = true;
        }
        for failure in &gathered.failed {
            tally.entry(failure.server.clone()).or_default().failures += 1;
        }
        let received: usize = gathered.value.iter().map(|(_, stored)| stored).sum();
        text.push_str(&format!(
            "  {system}: {received} new event(s) from {}\n",
            answered_text(&gathered.answered)
        ));
        for failure in &gathered.failed {
            text.push_str(&format!("    FAILED {failure}\n"));
        }
        pulls.push(pull_entry(system, received, &gathered));
    }
    progress.finish();

    let (summary, servers_json) = summary(&tally);
    text.push_str(&summary);
    let answered = tally.is_empty() || tally.values().any(|server| server.answered);
    warn(&tally, answered);
    let json = json!({"push": push_json(&report), "pull": pulls, "servers": servers_json});
    Ok((Output { text, json }, answered))
}

fn pull_entry(
    system: agora_protocol::PublicKey,
    received: usize,
    gathered: &Gathered<Vec<(String, usize)>>,
) -> Value {
    json!({
        "system": system.to_string(),
        "received": received,
        "answered": gathered.answered,
        "failed": failures_json(&gathered.failed),
    })
}

/// One line per server: what it took and gave, or that it failed every time.
fn summary(tally: &BTreeMap<String, ServerTally>) -> (String, Value) {
    let mut text = "servers:\n".to_owned();
    if tally.is_empty() {
        text.push_str("  none known: add one with `agora server add URL`\n");
    }
    let mut list = Vec::new();
    for (server, counts) in tally {
        let state = if counts.answered { "ok" } else { "FAILED" };
        text.push_str(&format!(
            "  {server}: {state}, pushed {} event(s), pulled {} event(s){}\n",
            counts.pushed,
            counts.pulled,
            match counts.failures {
                0 => String::new(),
                failures => format!(", {failures} failure(s) (see above)"),
            }
        ));
        list.push(json!({
            "server": server,
            "answered": counts.answered,
            "pushed": counts.pushed,
            "pulled": counts.pulled,
            "failures": counts.failures,
        }));
    }
    (text, Value::Array(list))
}

/// Plain warning lines on stderr when servers failed, whatever stderr is.
fn warn(tally: &BTreeMap<String, ServerTally>, answered: bool) {
    let failed: Vec<&str> = tally
        .iter()
        .filter(|(_, counts)| counts.failures > 0)
        .map(|(server, _)| server.as_str())
        .collect();
    if failed.is_empty() {
        return;
    }
    if answered {
        eprintln!(
            "warning: {} of {} server(s) failed: {}",
            failed.len(),
            tally.len(),
            failed.join(", ")
        );
    } else {
        eprintln!(
            "error: no server answered ({}); nothing was sent or fetched",
            failed.join(", ")
        );
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal and output is not JSON; else
/// nothing at all, so piped stderr carries no escape codes.
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(wanted: bool, steps: usize) -> Self {
        if !wanted || !std::io::stderr().is_terminal() {
            return Self { bar: None };
        }
        let bar = ProgressBar::new(steps as u64);
        let style = ProgressStyle::with_template("{spinner} sync [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar: Some(bar) }
    }

    /// Starts the next step: the previous one is done.
    fn step(&self, message: String) {
        if let Some(bar) = &self.bar {
            if bar.message().is_empty() {
                bar.set_message(message);
            } else {
                bar.inc(1);
                bar.set_message(message);
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
