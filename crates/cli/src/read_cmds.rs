//! The reading commands: `agora profile`, `agora feed` and `agora show`. The feed reads only the
//! local store, so it works offline; `show` asks servers first and says which answered.

use agora_client::{Client, FeedPost, Gathered, PostView, Profile, post_view, reply_target};
use agora_protocol::encoding::base64url_encode;
use agora_protocol::links::Link;
use agora_protocol::{Pointer, PublicKey};
use serde_json::{Value, json};

use crate::output::{Output, failures_json};
use crate::user::{HomeArgs, parse_link, published, resolve_event};

/// Posts `agora show` prints for a system link.
const SHOW_POSTS_MAX: usize = 20;

#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// Publish this username.
    #[arg(long)]
    pub name: Option<String>,
    /// Publish this description.
    #[arg(long)]
    pub description: Option<String>,
    /// Show the profile of this link's system instead of your own.
    #[arg(conflicts_with_all = ["name", "description"])]
    pub link: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct FeedArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// Most posts to print.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// Sets the profile when flags are given, else shows a profile (another's after pulling it).
pub async fn profile(client: &Client, args: ProfileArgs) -> anyhow::Result<Output> {
    if args.name.is_some() || args.description.is_some() {
        return set_profile(client, args.name.as_deref(), args.description.as_deref()).await;
    }
    let Some(link) = args.link else {
        let profile = client.profile(client.system()).await?;
        return Ok(profile_output(client.system(), &profile));
    };
    let (system, hints) = link_system(&link)?;
    let pulled = client.pull(system, &hints).await?;
    let mut output = profile_output(system, &client.profile(system).await?);
    add_pull_warning(&mut output, &pulled);
    Ok(output)
}

async fn set_profile(
    client: &Client,
    name: Option<&str>,
    description: Option<&str>,
) -> anyhow::Result<Output> {
    let mut last = None;
    if let Some(name) = name {
        last = Some(client.set_username(name).await?);
    }
    if let Some(description) = description {
        last = Some(client.set_description(description).await?);
    }
    let pointer = last.expect("a flag was given");
    let mut output = published(client, "profile updated:", &pointer).await?;
    let profile = client.profile(client.system()).await?;
    output.json["username"] = json!(profile.username);
    output.json["description"] = json!(profile.description);
    Ok(output)
}

fn profile_output(system: PublicKey, profile: &Profile) -> Output {
    let mut text = format!("system:      {system}\n");
    if let Some(name) = &profile.username {
        text.push_str(&format!("username:    {name}\n"));
    }
    if let Some(description) = &profile.description {
        text.push_str(&format!("description: {description}\n"));
    }
    let json = json!({
        "system": system.to_string(),
        "username": profile.username,
        "description": profile.description,
    });
    Output { text, json }
}

/// The newest posts of this identity and everyone it follows, from the local store.
pub async fn feed(client: &Client, limit: usize) -> anyhow::Result<Output> {
    let posts = client.home_feed(limit).await?;
    let mut text = String::new();
    let mut json = Vec::new();
    for item in &posts {
        let line = PostLine::of(client, item).await?;
        text.push_str(&line.text());
        json.push(line.json());
    }
    if posts.is_empty() {
        text.push_str("no posts yet: follow someone with `agora follow LINK`, then `agora sync`\n");
    }
    Ok(Output {
        text,
        json: Value::Array(json),
    })
}

/// Shows a system link's profile and posts, or an event link's post with replies and counts.
pub async fn show(client: &Client, text: &str) -> anyhow::Result<Output> {
    match parse_link(text)? {
        Link::System { system, servers } => show_system(client, system, &servers).await,
        Link::Event {
            system, servers, ..
        } => show_event(client, text, system, servers).await,
    }
}

async fn show_system(
    client: &Client,
    system: PublicKey,
    hints: &[String],
) -> anyhow::Result<Output> {
    let pulled = client.pull(system, hints).await?;
    let mut output = profile_output(system, &client.profile(system).await?);
    let username = client.profile(system).await?.username;
    let mut posts = Vec::new();
    for post in client.posts(system).await?.into_iter().take(SHOW_POSTS_MAX) {
        let item = FeedPost {
            username: username.clone(),
            reply_to: reply_to_of(client, &post).await?,
            post,
        };
        let line = PostLine::of(client, &item).await?;
        output.text.push_str(&line.text());
        posts.push(line.json());
    }
    output.json["posts"] = Value::Array(posts);
    add_pull_warning(&mut output, &pulled);
    Ok(output)
}

async fn show_event(
    client: &Client,
    text: &str,
    system: PublicKey,
    mut servers: Vec<String>,
) -> anyhow::Result<Output> {
    let subject = resolve_event(client, text).await?;
    let event = client
        .load(&subject)
        .await?
        .ok_or_else(|| anyhow::anyhow!("event {text} was deleted"))?;
    let post = post_view(&event).ok_or_else(|| {
        anyhow::anyhow!("event {text} is not a post (type {})", event.content_type())
    })?;
    servers.extend(client.servers_of(system).await?);
    let stats = client.post_stats(&subject, &servers).await;
    let item = FeedPost {
        username: client.profile(system).await?.username,
        reply_to: reply_target(&event),
        post,
    };
    let line = PostLine::of(client, &item).await?;
    let mut out = line.text();
    out.push_str(&format!(
        "likes: {}  dislikes: {}  replies: {}\n",
        stats.value.likes, stats.value.dislikes, stats.value.replies
    ));
    let mut replies = Vec::new();
    for reply in &stats.value.reply_events {
        let Some(post) = post_view(reply) else {
            continue;
        };
        let item = FeedPost {
            username: client.profile(*reply.system()).await?.username,
            reply_to: reply_target(reply),
            post,
        };
        let line = PostLine::of(client, &item).await?;
        out.push_str(&format!(
            "  reply from {}",
            line.text().replace("\n  ", "\n    ")
        ));
        replies.push(line.json());
    }
    out.push_str(&answered_text(&stats));
    let json = json!({
        "post": line.json(),
        "likes": stats.value.likes,
        "dislikes": stats.value.dislikes,
        "replies": stats.value.replies,
        "reply_posts": replies,
        "answered": stats.answered,
        "failed": failures_json(&stats.failed),
    });
    Ok(Output { text: out, json })
}

fn answered_text<T>(gathered: &Gathered<T>) -> String {
    let answered = if gathered.answered.is_empty() {
        "no server".to_owned()
    } else {
        gathered.answered.join(", ")
    };
    let mut text = format!("answered: {answered}\n");
    for failure in &gathered.failed {
        text.push_str(&format!("  FAILED {failure}\n"));
    }
    text
}

/// Names every server that failed or misbehaved during a pull, and says when the local store is
/// all there is to show.
fn add_pull_warning(output: &mut Output, pulled: &Gathered<usize>) {
    output.json["answered"] = json!(pulled.answered);
    output.json["failed"] = failures_json(&pulled.failed);
    if pulled.answered.is_empty() && !pulled.failed.is_empty() {
        let names: Vec<&str> = pulled.failed.iter().map(|f| f.server.as_str()).collect();
        output.text.push_str(&format!(
            "warning: no server answered ({}); showing the local store only\n",
            names.join(", ")
        ));
    } else if pulled.answered.is_empty() {
        output
            .text
            .push_str("warning: no server known for this system; showing the local store only\n");
    }
    for failure in &pulled.failed {
        output.text.push_str(&format!("  FAILED {failure}\n"));
    }
}

/// One printed post: its author, time, text and links.
struct PostLine {
    system: PublicKey,
    username: Option<String>,
    unix_milliseconds: Option<u64>,
    text: String,
    link: String,
    reply_to: Option<String>,
}

impl PostLine {
    async fn of(client: &Client, item: &FeedPost) -> anyhow::Result<Self> {
        let reply_to = match &item.reply_to {
            Some(pointer) => Some(event_link(client, pointer).await?),
            None => None,
        };
        Ok(Self {
            system: item.post.pointer.system,
            username: item.username.clone(),
            unix_milliseconds: item.post.unix_milliseconds,
            text: item.post.text.clone(),
            link: event_link(client, &item.post.pointer).await?,
            reply_to,
        })
    }

    fn text(&self) -> String {
        let author = self
            .username
            .clone()
            .unwrap_or_else(|| short_key(&self.system));
        let time = self.unix_milliseconds.map_or("?".to_owned(), utc_time);
        format!("{author}  {time}  {}\n  {}\n", self.text, self.link)
    }

    fn json(&self) -> Value {
        let mut json = json!({
            "system": self.system.to_string(),
            "username": self.username,
            "unix_milliseconds": self.unix_milliseconds,
            "text": self.text,
            "link": self.link,
        });
        if let Some(reply_to) = &self.reply_to {
            json["reply_to"] = Value::from(reply_to.as_str());
        }
        json
    }
}

/// An event link with the author's known servers as hints.
async fn event_link(client: &Client, pointer: &Pointer) -> anyhow::Result<String> {
    Ok(Link::Event {
        system: pointer.system,
        process: pointer.process,
        logical_clock: pointer.logical_clock,
        servers: client.servers_of(pointer.system).await?,
    }
    .to_url())
}

async fn reply_to_of(client: &Client, post: &PostView) -> anyhow::Result<Option<Pointer>> {
    Ok(client
        .load(&post.pointer)
        .await?
        .as_ref()
        .and_then(reply_target))
}

fn link_system(text: &str) -> anyhow::Result<(PublicKey, Vec<String>)> {
    Ok(match parse_link(text)? {
        Link::System { system, servers }
        | Link::Event {
            system, servers, ..
        } => (system, servers),
    })
}

/// The first characters of the raw key: enough to tell people apart in a list.
pub(crate) fn short_key(system: &PublicKey) -> String {
    base64url_encode(system.as_bytes())
        .chars()
        .take(10)
        .collect()
}

/// `YYYY-MM-DD HH:MM UTC`, from Unix milliseconds (civil-from-days, proleptic Gregorian).
pub(crate) fn utc_time(unix_milliseconds: u64) -> String {
    let seconds = unix_milliseconds / 1000;
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        of_day / 3600,
        of_day % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_in_utc() {
        assert_eq!(utc_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(utc_time(1_700_000_000_000), "2023-11-14 22:13 UTC");
    }
}
