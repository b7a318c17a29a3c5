//! The reading commands: `agora profile`, `agora feed`, `agora show` and `agora image`. The feed
//! reads only the local store, so it works offline; `show` asks servers first and says which
//! answered; `image` writes a post's image or an avatar after checking every section event.

use std::path::PathBuf;

use agora_client::{
    Client, ClientError, FeedPost, Gathered, ImageError, ImageInfo, PostView, Profile,
    post_manifest, post_view, reply_target,
};
use agora_protocol::encoding::base64url_encode;
use agora_protocol::links::Link;
use agora_protocol::{Pointer, PublicKey};
use anyhow::Context as _;
use serde_json::{Value, json};

use crate::output::{Output, answered_text, failure_lines, failures_json, image_json};
use crate::user::{
    HomeArgs, image_error, link_system, parse_link, published, read_image_file, resolve_event,
};

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
    /// Publish this image (PNG, JPEG, GIF or WebP) as your avatar: 256, 128 and 32 px squares,
    /// center-cropped, as the official web client publishes them.
    #[arg(long, value_name = "FILE")]
    pub avatar: Option<PathBuf>,
    /// Show the profile of this link's system instead of your own.
    #[arg(conflicts_with_all = ["name", "description", "avatar"])]
    pub link: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// A `polycentric://` link: a system's (profile and posts) or an event's (post and replies).
    pub link: String,
    /// Most replies to list for a post; the count of the others is printed.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// For a post: also list every version it had (the original, then each edit).
    #[arg(long)]
    pub history: bool,
}

#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// An event link of a post with an image, or a system link (its avatar, largest size).
    pub link: String,
    /// Where to write the PNG.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
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
    if args.name.is_some() || args.description.is_some() || args.avatar.is_some() {
        return set_profile(client, &args).await;
    }
    let Some(link) = args.link else {
        return profile_output(client, client.identity()).await;
    };
    let (linked, hints) = link_system(&link)?;
    let system = client.learn_identity(linked, &hints).await?;
    let pulled = client.pull_identity(system, &hints).await?;
    let mut output = profile_output(client, system).await?;
    add_pull_warning(&mut output, &pulled);
    Ok(output)
}

async fn set_profile(client: &Client, args: &ProfileArgs) -> anyhow::Result<Output> {
    let mut last = None;
    if let Some(path) = &args.avatar {
        let bytes = read_image_file(path)?;
        let set = client.set_avatar(&bytes).await;
        last = Some(set.map_err(|error| image_error(path, error))?);
    }
    if let Some(name) = &args.name {
        last = Some(client.set_username(name).await?);
    }
    if let Some(description) = &args.description {
        last = Some(client.set_description(description).await?);
    }
    let pointer = last.ok_or_else(|| anyhow::anyhow!("nothing to set"))?;
    let mut output = published(client, "profile updated:", &pointer).await?;
    let shown = profile_output(client, client.identity()).await?;
    for key in ["username", "description", "avatar"] {
        output.json[key] = shown.json[key].clone();
    }
    Ok(output)
}

/// A system's profile as the local store knows it: name, description and avatar sizes.
async fn profile_output(client: &Client, system: PublicKey) -> anyhow::Result<Output> {
    let profile: Profile = client.profile(system).await?;
    let mut text = format!("system:      {system}\n");
    if let Some(name) = &profile.username {
        text.push_str(&format!("username:    {name}\n"));
    }
    if let Some(description) = &profile.description {
        text.push_str(&format!("description: {description}\n"));
    }
    let avatar = client.avatar(system).await?;
    let images: Vec<ImageInfo> = avatar
        .iter()
        .flat_map(|bundle| bundle.image_manifests.iter().map(ImageInfo::of))
        .collect();
    if !images.is_empty() {
        let sizes: Vec<String> = images
            .iter()
            .map(|image| format!("{}x{}", image.width, image.height))
            .collect();
        text.push_str(&format!(
            "avatar:      {} {} (save it with `agora image {} --out FILE`)\n",
            sizes.join(", "),
            images[0].mime,
            system_link(client, system).await?
        ));
    }
    let json = json!({
        "system": system.to_string(),
        "username": profile.username,
        "description": profile.description,
        "avatar": avatar.map(|_| images.iter().map(image_json).collect::<Vec<_>>()),
    });
    Ok(Output { text, json })
}

async fn system_link(client: &Client, system: PublicKey) -> anyhow::Result<String> {
    Ok(Link::System {
        system,
        servers: client.servers_of(system).await?,
    }
    .to_url())
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
pub async fn show(client: &Client, args: &ShowArgs) -> anyhow::Result<Output> {
    let text = args.link.as_str();
    match parse_link(text)? {
        Link::System { system, servers } => show_system(client, system, &servers).await,
        Link::Event {
            system, servers, ..
        } => show_event(client, text, (system, servers), args).await,
    }
}

/// Writes a post's image, or a system's largest avatar, to `--out`; every section event is
/// verified, and the system is pulled first when the local store lacks any of them.
pub async fn image(client: &Client, args: &ImageArgs) -> anyhow::Result<Output> {
    let (system, hints, manifest) = match parse_link(&args.link)? {
        Link::Event {
            system, servers, ..
        } => {
            let subject = resolve_event(client, &args.link).await?;
            let event = client
                .load(&subject)
                .await?
                .ok_or_else(|| anyhow::anyhow!("event {} was deleted", args.link))?;
            let manifest = post_manifest(&event).ok_or_else(|| {
                anyhow::anyhow!("event {} is not a post with an image", args.link)
            })?;
            (system, servers, manifest)
        }
        Link::System { system, servers } => {
            let pulled = client.pull(system, &servers).await?;
            let bundle = client.avatar(system).await?;
            let largest = bundle
                .into_iter()
                .flat_map(|bundle| bundle.image_manifests)
                .max_by_key(|manifest| manifest.width.saturating_mul(manifest.height));
            let manifest = largest.ok_or_else(|| {
                anyhow::anyhow!(
                    "{system} has no avatar (servers answered: {})",
                    answered_text(&pulled.answered)
                )
            })?;
            (system, servers, manifest)
        }
    };
    let bytes = match client.image_bytes(system, &manifest).await {
        Err(ClientError::Image(ImageError::Incomplete { .. })) => {
            // The sections are not all held yet: fetch the author's events, then try again.
            client.pull(system, &hints).await?;
            client.image_bytes(system, &manifest).await
        }
        other => other,
    }
    .with_context(|| format!("cannot get the image of {}", args.link))?;
    std::fs::write(&args.out, &bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let info = ImageInfo::of(&manifest);
    Ok(Output {
        text: format!(
            "wrote {} ({}x{} {}, {} bytes)\n",
            args.out.display(),
            info.width,
            info.height,
            info.mime,
            bytes.len()
        ),
        json: json!({"file": args.out, "image": image_json(&info)}),
    })
}

async fn show_system(
    client: &Client,
    linked: PublicKey,
    hints: &[String],
) -> anyhow::Result<Output> {
    let system = client.learn_identity(linked, hints).await?;
    let pulled = client.pull_identity(system, hints).await?;
    let mut output = profile_output(client, system).await?;
    let username = client.profile(system).await?.username;
    let mut all = Vec::new();
    for member in client.members(system).await? {
        all.extend(client.posts(member).await?);
    }
    all.sort_by_key(|post| std::cmp::Reverse(post.unix_milliseconds));
    let mut posts = Vec::new();
    for post in all.into_iter().take(SHOW_POSTS_MAX) {
        let item = FeedPost {
            identity: system,
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
    (system, mut servers): (PublicKey, Vec<String>),
    args: &ShowArgs,
) -> anyhow::Result<Output> {
    let replies_max = args.limit;
    // The author's newest events carry any edit of the post (and the post, when not held yet,
    // so resolving it below needs no second pull).
    let mut hints = servers.clone();
    hints.extend(client.servers_of(system).await?);
    client.pull(system, &hints).await?;
    let subject = resolve_event(client, text).await?;
    let event = client
        .load(&subject)
        .await?
        .ok_or_else(|| anyhow::anyhow!("event {text} was deleted"))?;
    let post = post_view(&event).ok_or_else(|| {
        anyhow::anyhow!("event {text} is not a post (type {})", event.content_type())
    })?;
    let post = client.current(post).await;
    servers.extend(client.servers_of(system).await?);
    let stats = client
        .post_stats_paged(&subject, &servers, replies_max)
        .await;
    let item = FeedPost {
        identity: client.learn_identity(system, &servers).await?,
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
    let listed = stats.value.reply_events.len().min(replies_max);
    for reply in &stats.value.reply_events[..listed] {
        let Some(post) = post_view(reply) else {
            continue;
        };
        let item = FeedPost {
            identity: client.learn_identity(*reply.system(), &servers).await?,
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
    let more = (stats.value.replies as usize).saturating_sub(listed);
    if more > 0 {
        out.push_str(&format!(
            "  … {more} more repl{} (raise --limit to list them)\n",
            if more == 1 { "y" } else { "ies" }
        ));
    }
    out.push_str(&answered_lines(&stats));
    let mut history = Vec::new();
    if args.history {
        out.push_str("history:\n");
        for (number, version) in client.history(&subject).await?.iter().enumerate() {
            let at = version.edited_ms.or(version.unix_milliseconds);
            let time = at.map_or("?".to_owned(), utc_time);
            let what = if number == 0 { "original" } else { "edit" };
            out.push_str(&format!("  {what}  {time}  {}\n", version.text));
            history
                .push(json!({"text": version.text, "unix_milliseconds": at, "edit": number > 0}));
        }
    }
    let json = json!({
        "history": history,
        "more_replies": more,
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

/// `answered: …` and a line per failed server.
fn answered_lines<T>(gathered: &Gathered<T>) -> String {
    format!(
        "answered: {}\n{}",
        answered_text(&gathered.answered),
        failure_lines(&gathered.failed)
    )
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
    output.text.push_str(&failure_lines(&pulled.failed));
}

/// One printed post: its author, time, text and links.
struct PostLine {
    /// The person: the identity, whichever of its devices signed the post.
    system: PublicKey,
    /// The device key that signed it, when it is not the identity's root key.
    device: Option<PublicKey>,
    username: Option<String>,
    unix_milliseconds: Option<u64>,
    text: String,
    link: String,
    reply_to: Option<String>,
    image: Option<ImageInfo>,
    /// When the text is an edit's, the edit's time.
    edited_ms: Option<u64>,
}

impl PostLine {
    async fn of(client: &Client, item: &FeedPost) -> anyhow::Result<Self> {
        let reply_to = match &item.reply_to {
            Some(pointer) => Some(event_link(client, pointer).await?),
            None => None,
        };
        let signer = item.post.pointer.system;
        Ok(Self {
            system: item.identity,
            device: (signer != item.identity).then_some(signer),
            username: item.username.clone(),
            unix_milliseconds: item.post.unix_milliseconds,
            text: item.post.text.clone(),
            link: event_link(client, &item.post.pointer).await?,
            reply_to,
            image: item.post.image.clone(),
            edited_ms: item.post.edited_ms,
        })
    }

    fn text(&self) -> String {
        let author = self
            .username
            .clone()
            .unwrap_or_else(|| short_key(&self.system));
        let time = self.unix_milliseconds.map_or("?".to_owned(), utc_time);
        let edited = if self.edited_ms.is_some() {
            " (edited)"
        } else {
            ""
        };
        let mut text = format!("{author}  {time}  {}{edited}\n  {}\n", self.text, self.link);
        if let Some(image) = &self.image {
            text.push_str(&format!(
                "  image: {}x{} {}, {} bytes (save it with `agora image LINK --out FILE`)\n",
                image.width, image.height, image.mime, image.byte_count
            ));
        }
        text
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
        if let Some(image) = &self.image {
            json["image"] = image_json(image);
        }
        if let Some(device) = &self.device {
            json["device"] = Value::from(device.to_string());
        }
        if let Some(edited_ms) = self.edited_ms {
            json["edited_ms"] = Value::from(edited_ms);
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
