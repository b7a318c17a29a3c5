//! The discovery commands: `agora search`, `agora explore`, `agora trending` and `agora
//! recommend`. Each asks all of the identity's servers at once and prints every result with the
//! servers that returned it; a server that failed is named on stderr and in `failed`. With
//! `--json` each prints `{"results": [{…, "servers": [...]}], "failed": [{"server", "error"}]}`.

use agora_client::{Client, FeedPost, Found, FoundProfile, Gathered, TimeRange, Topic};
use agora_protocol::links::Link;
use agora_protocol::{Pointer, PublicKey};
use serde_json::{Value, json};

use crate::output::{
    Output, Reach, bad_input, failures_json, fit, local_time, shown_event, wrapped,
};
use crate::user::{HomeArgs, person};

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// The words to look for.
    pub text: String,
    /// Find people by username or description instead of posts.
    #[arg(long)]
    pub profiles: bool,
    /// Most results to print (each server is asked for this many).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, clap::Args)]
pub struct ExploreArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// Most posts to print (each server is asked for this many).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, clap::Args)]
pub struct TrendingArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// The window to count posts in: 12h, 1d, 7d or 30d.
    #[arg(long, default_value = "30d")]
    pub range: TimeRange,
    /// Only topics starting with this text.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Most topics to print (servers return at most 10 each).
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
}

#[derive(Debug, clap::Args)]
pub struct RecommendArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// Most profiles to print.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
}

/// `agora search TEXT [--profiles]`.
pub async fn search(client: &Client, args: SearchArgs) -> anyhow::Result<Output> {
    let servers = servers_to_ask(client).await?;
    if args.profiles {
        let found = client
            .search_profiles(&servers, &args.text, args.limit)
            .await;
        return Ok(profiles_output(found, "no profiles matched"));
    }
    let found = client.search_posts(&servers, &args.text, args.limit).await;
    Ok(posts_output(found, "no posts matched"))
}

/// `agora explore`.
pub async fn explore(client: &Client, args: ExploreArgs) -> anyhow::Result<Output> {
    let servers = servers_to_ask(client).await?;
    let found = client.explore(&servers, args.limit).await;
    Ok(posts_output(found, "no posts on these servers yet"))
}

/// `agora trending [--range R] [--prefix P]`.
pub async fn trending(client: &Client, args: TrendingArgs) -> anyhow::Result<Output> {
    let servers = servers_to_ask(client).await?;
    let found = client
        .trending(&servers, args.range, args.prefix.as_deref(), args.limit)
        .await;
    let mut text = String::new();
    let mut results = Vec::new();
    for Found { item, servers } in &found.value {
        let Topic { topic, count } = item;
        text.push_str(&fit(&format!("#{topic}  {count} post(s)")));
        text.push('\n');
        text.push_str(&from_line(servers));
        results.push(json!({"topic": topic, "count": count, "servers": servers}));
    }
    Ok(finish(text, results, &found, "no trending topics"))
}

/// `agora recommend`.
pub async fn recommend(client: &Client, args: RecommendArgs) -> anyhow::Result<Output> {
    let servers = servers_to_ask(client).await?;
    let found = client.recommended(&servers, args.limit).await;
    Ok(profiles_output(found, "no profiles recommended"))
}

/// The identity's servers; discovery needs at least one.
async fn servers_to_ask(client: &Client) -> anyhow::Result<Vec<String>> {
    let servers = client.servers().await?;
    if servers.is_empty() {
        bad_input!("no servers to ask: add one with `agora server add URL`");
    }
    Ok(servers)
}

fn posts_output(found: Gathered<Vec<Found<FeedPost>>>, none: &str) -> Output {
    let mut text = String::new();
    let mut results = Vec::new();
    for Found { item, servers } in &found.value {
        let link = event_link(&item.post.pointer, servers);
        let author = person(&item.identity, item.username.as_deref());
        let time = item
            .post
            .unix_milliseconds
            .map_or("?".to_owned(), local_time);
        let edited = if item.post.edited_ms.is_some() {
            " (edited)"
        } else {
            ""
        };
        let topic = item
            .post
            .topic
            .as_ref()
            .map(|topic| format!("  #{topic}"))
            .unwrap_or_default();
        let short = shown_event(&item.post.pointer, &link);
        text.push_str(&fit(&format!("{short}  {author}  {time}{edited}{topic}")));
        text.push('\n');
        if let Some(reply_to) = &item.reply_to {
            let parent = shown_event(reply_to, &event_link(reply_to, servers));
            text.push_str(&fit(&format!("  ↳ reply to {parent}")));
            text.push('\n');
        }
        text.push_str(&wrapped(&item.post.text, "  "));
        text.push_str(&from_line(servers));
        let mut json = json!({
            "system": item.identity.to_string(),
            "username": item.username,
            "unix_milliseconds": item.post.unix_milliseconds,
            "text": item.post.text,
            "link": link,
            "event": crate::output::short_event(&item.post.pointer),
            "topic": item.post.topic,
        });
        if item.post.pointer.system != item.identity {
            json["device"] = Value::from(item.post.pointer.system.to_string());
        }
        if let Some(edited_ms) = item.post.edited_ms {
            json["edited_ms"] = Value::from(edited_ms);
        }
        if let Some(reply_to) = &item.reply_to {
            json["reply_to"] = Value::from(event_link(reply_to, servers));
        }
        json["servers"] = json!(servers);
        results.push(json);
    }
    finish(text, results, &found, none)
}

fn profiles_output(found: Gathered<Vec<Found<FoundProfile>>>, none: &str) -> Output {
    let mut text = String::new();
    let mut results = Vec::new();
    for Found { item, servers } in &found.value {
        let link = system_link(item.system, servers);
        let name = item.username.as_deref().unwrap_or("(no username)");
        text.push_str(&fit(&format!("{name}  {}", item.system)));
        text.push('\n');
        if let Some(description) = &item.description {
            text.push_str(&wrapped(description, "  "));
        }
        if crate::output::long() {
            text.push_str(&format!("  {link}\n"));
        }
        text.push_str(&from_line(servers));
        results.push(json!({
            "system": item.system.to_string(),
            "username": item.username,
            "description": item.description,
            "link": link,
            "servers": servers,
        }));
    }
    finish(text, results, &found, none)
}

/// `  from: SERVER, …`: which servers returned a result, cut to the output width.
fn from_line(servers: &[String]) -> String {
    fit(&format!("  from: {}", servers.join(", "))) + "\n"
}

/// The printed result: the text lines (or `none`), the failed servers named on stderr, and the
/// JSON object `{"results", "failed"}`; the exit status says whether servers failed.
fn finish<T>(mut text: String, results: Vec<Value>, found: &Gathered<T>, none: &str) -> Output {
    for failure in &found.failed {
        eprintln!("warning: {failure}");
    }
    if found.answered.is_empty() {
        text.push_str("no server answered\n");
    } else if results.is_empty() {
        text.push_str(&fit(&format!(
            "{none} (asked {})",
            found.answered.join(", ")
        )));
        text.push('\n');
    }
    let json = json!({"results": results, "failed": failures_json(&found.failed)});
    Output::new(text, json).reached(Reach::of_gathered(found))
}

/// An event link whose hints are the servers that returned it.
fn event_link(pointer: &Pointer, servers: &[String]) -> String {
    Link::Event {
        system: pointer.system,
        process: pointer.process,
        logical_clock: pointer.logical_clock,
        servers: servers.to_vec(),
    }
    .to_url()
}

fn system_link(system: PublicKey, servers: &[String]) -> String {
    Link::System {
        system,
        servers: servers.to_vec(),
    }
    .to_url()
}
