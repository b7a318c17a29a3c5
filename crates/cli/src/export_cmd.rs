//! `agora export` and `agora import`: the account backup link of spec section 2.6.

use agora_client::{Client, Home, import_bundle};
use agora_protocol::encoding::base64url_encode;
use anyhow::{Context as _, bail};
use serde_json::json;

use crate::output::{Output, answered_text, failure_lines, failures_json};
use crate::user::HomeArgs;

/// Prints the identity's backup link; the warning goes to stderr so the link alone is on stdout.
pub async fn export(client: &Client) -> anyhow::Result<Output> {
    let link = client.export_bundle().await?;
    if !client.holds_root() {
        eprintln!(
            "note: this home is a device of {}: the backup holds this device's own key, not the \
             identity's root key. For another device, pair it (`agora device pair`); to back up \
             the identity, run `agora recovery show` where its root key is.",
            client.identity()
        );
    }
    eprintln!(
        "WARNING: this link contains the identity's SECRET key: anyone who has it can post as \
         {}. Keep it private.",
        client.system()
    );
    Ok(Output::new(
        format!("{link}\n"),
        json!({"system": client.system().to_string(), "bundle": link}),
    ))
}

/// Creates the identity of a backup link in `dir` with a new process, then pulls its history
/// from its servers.
pub async fn import(home: &HomeArgs, link: &str) -> anyhow::Result<Output> {
    let dir = &home.dir()?;
    let options = home.client_options()?;
    if dir.join(Home::KEY_FILE).exists() {
        bail!(
            "an identity already exists in {}; refusing to overwrite it (pass another --home DIR)",
            dir.display()
        );
    }
    // `-` reads the link from stdin, keeping the secret out of the process list.
    let read;
    let link = if link == "-" {
        read = zeroize::Zeroizing::new(crate::input::stdin_all(1024 * 1024, "the backup link")?);
        read.as_str()
    } else {
        link
    };
    let home = import_bundle(dir, link)
        .await
        .with_context(|| format!("cannot import the backup into {}", dir.display()))?;
    let client = Client::open_with(home, options).await?;
    let system = client.system();
    let process = base64url_encode(client.process().as_bytes());
    let servers = client.servers().await?;
    let gathered = client.pull(system, &[]).await?;
    let mut text = format!(
        "imported identity {system} into {}\nnew process: {process}\n",
        dir.display()
    );
    if servers.is_empty() {
        text.push_str("servers: none in the backup; add one with `agora server add URL`\n");
    } else {
        text.push_str(&format!(
            "pulled {} event(s) of its history from {}\n",
            gathered.value,
            answered_text(&gathered.answered)
        ));
    }
    text.push_str(&failure_lines(&gathered.failed));
    let json = json!({
        "system": system.to_string(),
        "process": process,
        "home": dir,
        "servers": servers,
        "pulled": gathered.value,
        "answered": gathered.answered,
        "failed": failures_json(&gathered.failed),
    });
    Ok(Output::new(text, json).reached(crate::output::Reach::of_gathered(&gathered)))
}
