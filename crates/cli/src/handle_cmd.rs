//! `agora handle claim NAME`, `agora handle resolve NAME` and `agora handle release`: handles
//! on every one of the identity's servers, with a line per server. A claim is signed over each server's challenge
//! (docs/protocol.md, "Identity routes"), so the binding cannot be taken or moved by anyone
//! else; `agora handle release` gives the handle up the same way. With `--json`, claim prints
//! `{"handle", "claimed": [server], "failed": [{"server", "error"}]}`, resolve prints
//! `{"handle", "answers": [{"server", "system"|null}], "failed"}` and release prints
//! `{"released": [{"server", "message"}], "failed"}`.

use agora_client::{Client, Gathered};
use anyhow::bail;
use serde_json::{Value, json};

use crate::output::{Output, Reach, failure_lines, failures_json};
use crate::user::HomeArgs;

#[derive(Debug, clap::Args)]
pub struct HandleArgs {
    #[command(subcommand)]
    action: HandleAction,
}

#[derive(Debug, clap::Subcommand)]
enum HandleAction {
    /// Claim a handle for your identity on every one of your servers, with proof.
    #[command(after_help = "Example:\n  agora handle claim alice")]
    Claim(NameArgs),
    /// Ask every one of your servers which identity holds a handle.
    #[command(after_help = "Example:\n  agora handle resolve alice")]
    Resolve(NameArgs),
    /// Give up your handle on every one of your servers, with proof.
    #[command(after_help = "Example:\n  agora handle release")]
    Release(HomeArgs),
}

#[derive(Debug, clap::Args)]
struct NameArgs {
    #[command(flatten)]
    home: HomeArgs,
    /// The handle: 1 to 64 letters, digits, `-` or `_` (Agora servers compare handles without
    /// regard to case; the reference server does not); a leading `@` is dropped.
    name: String,
}

/// Runs the command; returns its exit status.
pub async fn run(args: HandleArgs, json: bool) -> anyhow::Result<u8> {
    let output = match args.action {
        HandleAction::Claim(args) => {
            let name = args.name.trim_start_matches('@');
            claim(&crate::user::open(&args.home).await?, name).await?
        }
        HandleAction::Resolve(args) => {
            let name = args.name.trim_start_matches('@');
            resolve(&crate::user::open(&args.home).await?, name).await?
        }
        HandleAction::Release(home) => release(&crate::user::open(&home).await?).await?,
    };
    output.print(json);
    Ok(output.reach.exit_status())
}

async fn servers(client: &Client) -> anyhow::Result<Vec<String>> {
    let servers = client.servers().await?;
    if servers.is_empty() {
        crate::output::bad_input!("no servers to ask: add one with `agora server add URL`");
    }
    Ok(servers)
}

/// The per-server `text` followed by a line per failed server; an error that starts with `none`
/// when no server answered (exit status 3 when none could be reached, else 1).
fn answered_or_fail<T>(text: String, gathered: &Gathered<T>, none: &str) -> anyhow::Result<String> {
    let text = text + &failure_lines(&gathered.failed);
    if gathered.answered.is_empty() {
        if gathered
            .failed
            .iter()
            .all(|failure| failure.error.is_transient())
        {
            return Err(crate::output::NoServerAnswered(format!("{none}:\n{text}")).into());
        }
        bail!("{none}:\n{text}");
    }
    Ok(text)
}

/// Claims on every server; fails (exit status 1) only when no server took the claim.
async fn claim(client: &Client, handle: &str) -> anyhow::Result<Output> {
    let gathered = client.claim_handle(handle, &servers(client).await?).await;
    let mut text = String::new();
    for server in &gathered.answered {
        text.push_str(&format!("  claimed {handle} on {server}\n"));
    }
    let text = answered_or_fail(text, &gathered, &format!("no server bound {handle}"))?;
    Ok(Output::new(
        text,
        json!({
            "handle": handle,
            "claimed": gathered.answered,
            "failed": failures_json(&gathered.failed),
        }),
    )
    .reached(Reach::of_gathered(&gathered)))
}

async fn resolve(client: &Client, handle: &str) -> anyhow::Result<Output> {
    let gathered = client.resolve_handle(handle, &servers(client).await?).await;
    let mut text = String::new();
    let mut answers = Vec::new();
    for (server, holder) in &gathered.value {
        let shown = holder.map_or_else(
            || "(unknown)".to_owned(),
            |holder| {
                let proven = if holder.proven { " (proven)" } else { "" };
                format!("{}{proven}", holder.system)
            },
        );
        text.push_str(&format!("  {server}: @{handle} -> {shown}\n"));
        let system: Value = holder.map_or(Value::Null, |holder| json!(holder.system.to_string()));
        let proven = holder.map(|holder| holder.proven);
        answers.push(json!({"server": server, "system": system, "proven": proven}));
    }
    let text = answered_or_fail(text, &gathered, "no server answered")?;
    Ok(Output::new(
        text,
        json!({
            "handle": handle,
            "answers": answers,
            "failed": failures_json(&gathered.failed),
        }),
    )
    .reached(Reach::of_gathered(&gathered)))
}

async fn release(client: &Client) -> anyhow::Result<Output> {
    let gathered = client.release_handle(&servers(client).await?).await;
    let mut text = String::new();
    let mut released = Vec::new();
    for (server, message) in &gathered.value {
        text.push_str(&format!("  {server}: {message}\n"));
        released.push(json!({"server": server, "message": message}));
    }
    let text = answered_or_fail(text, &gathered, "no server answered")?;
    Ok(Output::new(
        text,
        json!({"released": released, "failed": failures_json(&gathered.failed)}),
    )
    .reached(Reach::of_gathered(&gathered)))
}
