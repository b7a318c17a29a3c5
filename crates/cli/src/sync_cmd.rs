//! `agora sync`: push what each of the identity's servers lacks, then pull the identity and
//! every followed system from their known servers, with a progress bar on a terminal and one
//! summary line per server.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::time::Duration;

use agora_client::{Client, Gathered, SyncReport};
use futures::future::join_all;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::output::{Output, Reach, answered_text, failures_json, fit, push_json, push_text};
use crate::user::person;

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

/// Runs the sync: every push and every pull at once, so a server that does not answer costs
/// one timeout in all. The exit status says whether every server answered, some, or none.
pub async fn sync(client: &Client, json: bool, retry_refused: bool) -> anyhow::Result<Output> {
    let forgotten = if retry_refused {
        client.forget_refusals()?
    } else {
        0
    };
    let servers = client.servers().await?;
    let mut systems = vec![client.identity()];
    systems.extend(client.following().await?);
    let progress = Progress::new(!json, servers.len() + systems.len());

    let progress = &progress;
    let pushes = servers.iter().map(|server| async move {
        let pushed = client.push_to_server(server).await;
        progress.done(format!("pushed to {server}"));
        pushed
    });
    let pulls = systems.iter().map(|&system| async move {
        let pulled = client.pull_identity_counted(system, &[]).await;
        progress.done(format!("pulled {}", system.abbreviation()));
        (system, pulled)
    });
    let (pushed, pulled) = futures::future::join(join_all(pushes), join_all(pulls)).await;
    progress.finish();

    let mut tally: BTreeMap<String, ServerTally> = BTreeMap::new();
    let mut report = SyncReport::default();
    for (outcome, refused) in pushed {
        match outcome {
            Ok((server, events)) => {
                let entry = tally.entry(server.clone()).or_default();
                entry.pushed += events;
                entry.answered = true;
                report.sent.push((server, events));
            }
            Err(failure) => {
                tally.entry(failure.server.clone()).or_default().failures += 1;
                report.failed.push(failure);
            }
        }
        report.refused.extend(refused);
    }
    let mut text = String::new();
    if forgotten > 0 {
        text.push_str(&format!(
            "offering again {forgotten} event(s) servers had refused\n"
        ));
    }
    text.push_str(&format!("push:\n{}", push_text(&report)));
    let mut pulls = Vec::new();
    text.push_str("pull:\n");
    for (system, gathered) in pulled {
        let gathered = gathered?;
        for (server, stored) in &gathered.value {
            let entry = tally.entry(server.clone()).or_default();
            entry.pulled += stored;
            entry.answered = true;
        }
        for failure in &gathered.failed {
            tally.entry(failure.server.clone()).or_default().failures += 1;
        }
        let received: usize = gathered.value.iter().map(|(_, stored)| stored).sum();
        let username = client.profile(system).await?.username;
        text.push_str(&fit(&format!(
            "  {}: {received} new event(s) from {}",
            person(&system, username.as_deref()),
            answered_text(&gathered.answered)
        )));
        text.push('\n');
        for failure in &gathered.failed {
            text.push_str(&crate::output::hanging(
                &format!("FAILED {failure}"),
                "    ",
                "      ",
            ));
        }
        pulls.push(pull_entry(system, received, &gathered));
    }

    let (summary, servers_json) = summary(&tally);
    text.push_str(&summary);
    let answered = tally.values().filter(|server| server.answered).count();
    let failed = tally.values().filter(|server| server.failures > 0).count();
    let reach = if answered == 0 && failed > 0 {
        Reach::None
    } else if failed > 0 {
        Reach::Some
    } else {
        Reach::All
    };
    warn(&tally, reach != Reach::None);
    let json = json!({"push": push_json(&report), "pull": pulls, "servers": servers_json});
    Ok(Output::new(text, json).reached(reach))
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

    /// One more step is done (steps run at once and finish in any order).
    fn done(&self, message: String) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(message);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
