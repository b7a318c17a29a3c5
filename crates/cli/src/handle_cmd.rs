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

use crate::output::{Output, failure_lines, failures_json};
use crate::user::HomeArgs;

#[derive(Debug, clap::Args)]
pub struct HandleArgs {
    #[command(subcommand)]
    action: HandleAction,
}

#[derive(Debug, clap::Subcommand)]
enum HandleAction {
    /// Claim a handle for your identity on every one of your servers, with proof.
    Claim(NameArgs),
    /// Ask every one of your servers which identity holds a handle.
    Resolve(NameArgs),
    /// Give up your handle on every one of your servers, with proof.
    Release(HomeArgs),
}

#[derive(Debug, clap::Args)]
struct NameArgs {
    #[command(flatten)]
    home: HomeArgs,
    /// The handle: 1 to 64 letters, digits, `-` or `_` (case-sensitive).
    name: String,
}

pub async fn run(args: HandleArgs, json: bool) -> anyhow::Result<()> {
    let output = match args.action {
        HandleAction::Claim(args) => {
            claim(&crate::user::open(&args.home).await?, &args.name).await?
        }
        HandleAction::Resolve(args) => {
            resolve(&crate::user::open(&args.home).await?, &args.name).await?
        }
        HandleAction::Release(home) => release(&crate::user::open(&home).await?).await?,
    };
    output.print(json);
    Ok(())
}

async fn servers(client: &Client) -> anyhow::Result<Vec<String>> {
    let servers = client.servers().await?;
    if servers.is_empty() {
        bail!("no servers to ask: add one with `agora server add URL`");
    }
    Ok(servers)
}

/// The per-server `text` followed by a line per failed server; an error (exit status 1) that
/// starts with `none` when no server answered.
fn answered_or_fail<T>(text: String, gathered: &Gathered<T>, none: &str) -> anyhow::Result<String> {
    let text = text + &failure_lines(&gathered.failed);
    if gathered.answered.is_empty() {
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
    Ok(Output {
        text,
        json: json!({
            "handle": handle,
            "claimed": gathered.answered,
            "failed": failures_json(&gathered.failed),
        }),
    })
}

async fn resolve(client: &Client, handle: &str) -> anyhow::Result<Output> {
    let gathered = client.resolve_handle(handle, &servers(client).await?).await;
    let mut text = String::new();
    let mut answers = Vec::new();
    for (server, system) in &gathered.value {
        let shown = system.map_or_else(|| "(unknown)".to_owned(), |system| system.to_string());
        text.push_str(&format!("  {server}: {handle} -> {shown}\n"));
        let system: Value = system.map_or(Value::Null, |system| json!(system.to_string()));
        answers.push(json!({"server": server, "system": system}));
    }
    let text = answered_or_fail(text, &gathered, "no server answered")?;
    Ok(Output {
        text,
        json: json!({
            "handle": handle,
            "answers": answers,
            "failed": failures_json(&gathered.failed),
        }),
    })
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
    Ok(Output {
        text,
        json: json!({"released": released, "failed": failures_json(&gathered.failed)}),
    })
}
