//! `agora watch`: the posts of this identity and everyone it follows, live from all their
//! servers (`GET /stream`), verified and each shown once, until interrupted or `--count`.

use agora_client::{Client, Watched};
use agora_protocol::links::Link;
use agora_protocol::{PublicKey, VerifiedEvent, content};
use anyhow::bail;
use serde_json::json;
use tokio::sync::mpsc;

use crate::user::HomeArgs;

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// Stop after this many posts [default: watch until interrupted].
    #[arg(long)]
    pub count: Option<usize>,
}

/// Watches until `count` posts were shown or the person interrupts; stderr says which servers
/// are connected and which failed.
pub async fn watch(client: &Client, count: Option<usize>, json: bool) -> anyhow::Result<()> {
    let (systems, servers) = watched(client).await?;
    if servers.is_empty() {
        bail!("no servers to watch: add one with `agora server add URL`");
    }
    eprintln!(
        "watching {} key(s) on {} server(s); Ctrl-C stops",
        systems.len(),
        servers.len()
    );
    let (sink, mut watched_events) = mpsc::channel(64);
    let watching = client.watch(&servers, &systems, sink);
    let showing = async {
        let mut shown = 0;
        while let Some(watched) = watched_events.recv().await {
            match watched {
                Watched::Connected { server } => eprintln!("connected to {server}"),
                Watched::Failed { failure, dropped } => eprintln!(
                    "FAILED {failure}{}",
                    if dropped {
                        " (dropped: it served an invalid event)"
                    } else {
                        " (retrying)"
                    }
                ),
                Watched::Event { server, event } => {
                    if show(client, &server, &event, json).await? {
                        shown += 1;
                        if count.is_some_and(|count| shown >= count) {
                            return Ok(());
                        }
                    }
                }
            }
        }
        anyhow::Ok(())
    };
    tokio::select! {
        () = watching => Ok(()),
        shown = showing => shown,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// The keys to watch (this identity's and each followed identity's, devices included, without
/// the blocked) and the servers they publish to.
async fn watched(client: &Client) -> anyhow::Result<(Vec<PublicKey>, Vec<String>)> {
    let blocked = client.blocked().await?;
    let mut identities = vec![client.identity()];
    identities.extend(client.following().await?);
    identities.retain(|identity| !blocked.contains(identity));
    let mut systems = Vec::new();
    let mut servers = client.servers().await?;
    for identity in identities {
        systems.extend(client.members(identity).await?);
        servers.extend(client.servers_of(identity).await?);
    }
    systems.sort_unstable();
    systems.dedup();
    servers.sort_unstable();
    servers.dedup();
    Ok((systems, servers))
}

/// Prints a post (other events are stored, not shown); whether it printed one.
async fn show(
    client: &Client,
    server: &str,
    event: &VerifiedEvent,
    json: bool,
) -> anyhow::Result<bool> {
    let Some(post) = agora_client::post_view(event) else {
        return Ok(false);
    };
    if event.content_type() != content::POST {
        return Ok(false);
    }
    let identity = client.identity_of(*event.system()).await?;
    let username = client.profile(identity).await?.username;
    let link = Link::Event {
        system: post.pointer.system,
        process: post.pointer.process,
        logical_clock: post.pointer.logical_clock,
        servers: vec![server.to_owned()],
    }
    .to_url();
    if json {
        let mut line = json!({
            "system": identity.to_string(),
            "username": username,
            "unix_milliseconds": post.unix_milliseconds,
            "text": post.text,
            "link": link,
            "server": server,
        });
        if identity != *event.system() {
            line["device"] = json!(event.system().to_string());
        }
        crate::output::emit(&format!("{line}\n"))?;
    } else {
        let author = crate::user::person(&identity, username.as_deref());
        let time = post
            .unix_milliseconds
            .map_or("?".to_owned(), crate::output::local_time);
        let short = crate::output::shown_event(&post.pointer, &link);
        let mut text = crate::output::fit(&format!("{short}  {author}  {time}")) + "\n";
        text.push_str(&crate::output::wrapped(&post.text, "  "));
        text.push_str(&crate::output::fit(&format!("  from: {server}")));
        text.push('\n');
        crate::output::emit(&text)?;
    }
    Ok(true)
}
