//! The reading commands: `agora profile`, `agora feed`, `agora show` and `agora image`. The feed
//! reads only the local store, so it works offline; `show` asks servers first and says which
//! answered; `image` writes a post's image or an avatar after checking every section event.

use std::path::PathBuf;

use agora_client::{
    Client, ClientError, FeedPost, Gathered, ImageError, ImageInfo, PostView, Profile,
    post_manifest, post_view, reply_target,
};
use agora_protocol::{Pointer, PublicKey};
use anyhow::Context as _;
use serde_json::{Value, json};

use crate::names;
use crate::output::{
    Output, Reach, answered_text, failure_lines, failures_json, fit, image_json, local_time,
    shown_event, wrapped,
};
use crate::user::{HomeArgs, event_link, image_error, person, published, read_image_file};

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
    /// Show this person's profile instead of yours: a link, @handle or key.
    #[arg(conflicts_with_all = ["name", "description", "avatar"], allow_hyphen_values = true)]
    pub person: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// Someone (a link, @handle or key: their profile and posts) or a post (its short form
    /// KEY/CLOCK or its link: the post, its replies and counts).
    #[arg(allow_hyphen_values = true)]
    pub target: String,
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
    /// A post with an image (KEY/CLOCK or its link), or someone (link, @handle or key: their
    /// avatar, largest size).
    #[arg(allow_hyphen_values = true)]
    pub target: String,
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
    let Some(text) = args.person else {
        return profile_output(client, client.identity()).await;
    };
    let named = names::identity(client, &text).await?;
    let system = client.learn_identity(named.system, &named.hints).await?;
    let pulled = client.pull_identity(system, &named.hints).await?;
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
    let mut output = published(client, "profile updated", &pointer).await?;
    let shown = profile_output(client, client.identity()).await?;
    for key in ["username", "description", "avatar"] {
        output.json[key] = shown.json[key].clone();
    }
    Ok(output)
}

/// A system's profile as the local store knows it: name, description and avatar sizes.
async fn profile_output(client: &Client, system: PublicKey) -> anyhow::Result<Output> {
    let profile: Profile = client.profile(system).await?;
    let mut text = String::new();
    if let Some(name) = &profile.username {
        text.push_str(&fit(&format!("username:    {name}")));
        text.push('\n');
    }
    text.push_str(&format!("key:         {system}\n"));
    if let Some(description) = &profile.description {
        text.push_str("description:\n");
        text.push_str(&wrapped(description, "  "));
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
            "avatar:      {} {}\n             (save it: `agora image {} --out FILE`)\n",
            sizes.join(", "),
            images[0].mime,
            system.abbreviation()
        ));
    }
    let json = json!({
        "system": system.to_string(),
        "username": profile.username,
        "description": profile.description,
        "avatar": avatar.map(|_| images.iter().map(image_json).collect::<Vec<_>>()),
    });
    Ok(Output::new(text, json))
}

/// The newest posts of this identity and everyone it follows, from the local store.
pub async fn feed(client: &Client, limit: usize) -> anyhow::Result<Output> {
    let posts = client.home_feed(limit).await?;
    let mut text = String::new();
    let mut json = Vec::new();
    for item in &posts {
        let line = PostLine::of(client, item).await?;
        text.push_str(&line.text(""));
        json.push(line.json());
    }
    if posts.is_empty() {
        text.push_str("no posts yet: follow someone (`agora follow @handle`), then `agora sync`\n");
    }
    Ok(Output::new(text, json!({"posts": json})))
}

/// Shows someone's profile and posts, or a post with its replies and counts.
pub async fn show(client: &Client, args: &ShowArgs) -> anyhow::Result<Output> {
    let text = args.target.trim();
    if names::names_event(text) {
        return show_event(client, text, args).await;
    }
    let named = names::identity(client, text).await?;
    show_system(client, named.system, &named.hints).await
}

/// Writes a post's image, or a system's largest avatar, to `--out`; every section event is
/// verified, and the system is pulled first when the local store lacks any of them.
pub async fn image(client: &Client, args: &ImageArgs) -> anyhow::Result<Output> {
    let target = args.target.trim();
    let (system, hints, manifest) = if names::names_event(target) {
        let subject = names::event(client, target).await?;
        let event = client
            .load(&subject)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{target} was deleted by its author"))?;
        let Some(manifest) = post_manifest(&event) else {
            crate::output::bad_input!("{target} is not a post with an image");
        };
        (
            subject.system,
            client.servers_of(subject.system).await?,
            manifest,
        )
    } else {
        let named = names::identity(client, target).await?;
        let system = named.system;
        let pulled = client.pull(system, &named.hints).await?;
        let bundle = client.avatar(system).await?;
        let largest = bundle
            .into_iter()
            .flat_map(|bundle| bundle.image_manifests)
            .max_by_key(|manifest| manifest.width.saturating_mul(manifest.height));
        let Some(manifest) = largest else {
            crate::output::bad_input!(
                "{target} has no avatar (servers answered: {})",
                answered_text(&pulled.answered)
            );
        };
        (system, named.hints, manifest)
    };
    let bytes = match client.image_bytes(system, &manifest).await {
        Err(ClientError::Image(ImageError::Incomplete { .. })) => {
            // The sections are not all held yet: fetch the author's events, then try again.
            client.pull(system, &hints).await?;
            client.image_bytes(system, &manifest).await
        }
        other => other,
    }
    .with_context(|| format!("cannot get the image of {target}"))?;
    std::fs::write(&args.out, &bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let info = ImageInfo::of(&manifest);
    Ok(Output::new(
        format!(
            "wrote {} ({}x{} {}, {} bytes)\n",
            args.out.display(),
            info.width,
            info.height,
            info.mime,
            bytes.len()
        ),
        json!({"file": args.out, "image": image_json(&info)}),
    ))
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
        output.text.push_str(&line.text(""));
        posts.push(line.json());
    }
    output.json["posts"] = Value::Array(posts);
    add_pull_warning(&mut output, &pulled);
    Ok(output)
}

async fn show_event(client: &Client, text: &str, args: &ShowArgs) -> anyhow::Result<Output> {
    let replies_max = args.limit;
    let subject = names::event(client, text).await?;
    let system = subject.system;
    // The author's newest events carry any edit of the post.
    let mut servers = client.servers_of(system).await?;
    let pulled = client.pull(system, &servers).await?;
    let event = client
        .load(&subject)
        .await?
        .ok_or_else(|| anyhow::anyhow!("{text} was deleted by its author"))?;
    let Some(post) = post_view(&event) else {
        crate::output::bad_input!(
            "{text} is not a post (content type {})",
            event.content_type()
        );
    };
    let post = client.current(post).await;
    servers.extend(pulled.answered.iter().cloned());
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
    let mut out = line.text("");
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
        out.push_str(&line.text("    "));
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
            let time = at.map_or("?".to_owned(), local_time);
            let what = if number == 0 { "original" } else { "edit" };
            out.push_str(&format!("  {what}  {time}\n"));
            out.push_str(&wrapped(&version.text, "    "));
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
    let reach = Reach::of_gathered(&stats);
    Ok(Output::new(out, json).reached(reach))
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
    output.reach = output.reach.and(Reach::of_gathered(pulled));
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

/// One printed post: its author, time, text and where it belongs.
struct PostLine {
    /// The person: the identity, whichever of its devices signed the post.
    system: PublicKey,
    /// The device key that signed it, when it is not the identity's root key.
    device: Option<PublicKey>,
    username: Option<String>,
    unix_milliseconds: Option<u64>,
    text: String,
    pointer: Pointer,
    link: String,
    /// The post it replies to, its link, and its author's name when known here.
    reply_to: Option<(Pointer, String, Option<String>)>,
    topic: Option<String>,
    image: Option<ImageInfo>,
    /// When the text is an edit's, the edit's time.
    edited_ms: Option<u64>,
}

impl PostLine {
    async fn of(client: &Client, item: &FeedPost) -> anyhow::Result<Self> {
        let reply_to = match &item.reply_to {
            Some(pointer) => {
                let author = client.identity_of(pointer.system).await?;
                let name = client.profile(author).await?.username;
                Some((*pointer, event_link(client, pointer).await?, name))
            }
            None => None,
        };
        let signer = item.post.pointer.system;
        Ok(Self {
            system: item.identity,
            device: (signer != item.identity).then_some(signer),
            username: item.username.clone(),
            unix_milliseconds: item.post.unix_milliseconds,
            text: item.post.text.clone(),
            pointer: item.post.pointer,
            link: event_link(client, &item.post.pointer).await?,
            reply_to,
            topic: item.post.topic.clone(),
            image: item.post.image.clone(),
            edited_ms: item.post.edited_ms,
        })
    }

    /// The post as a person reads it, every line within the output width and indented by
    /// `indent`: a header (who, when, its short form, its topic), what it replies to, the
    /// wrapped text, its image.
    fn text(&self, indent: &str) -> String {
        let author = person(&self.system, self.username.as_deref());
        let time = self.unix_milliseconds.map_or("?".to_owned(), local_time);
        let edited = if self.edited_ms.is_some() {
            " (edited)"
        } else {
            ""
        };
        let topic = self
            .topic
            .as_ref()
            .map(|topic| format!("  #{topic}"))
            .unwrap_or_default();
        let mut text = String::new();
        if crate::output::long() {
            text.push_str(&format!("{indent}{author}  {time}{edited}{topic}\n"));
            text.push_str(&format!("{indent}  {}\n", self.link));
        } else {
            let short = shown_event(&self.pointer, &self.link);
            text.push_str(&fit(&format!(
                "{indent}{short}  {author}  {time}{edited}{topic}"
            )));
            text.push('\n');
        }
        if let Some((pointer, link, name)) = &self.reply_to {
            let whose = name.as_deref().unwrap_or("someone");
            text.push_str(&fit(&format!(
                "{indent}  ↳ reply to {whose}'s {}",
                shown_event(pointer, link)
            )));
            text.push('\n');
        }
        text.push_str(&wrapped(&self.text, &format!("{indent}  ")));
        if let Some(image) = &self.image {
            text.push_str(&fit(&format!(
                "{indent}  image: {}x{} {}, {} bytes (`agora image {} --out FILE`)",
                image.width,
                image.height,
                image.mime,
                image.byte_count,
                crate::output::short_event(&self.pointer)
            )));
            text.push('\n');
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
            "event": crate::output::short_event(&self.pointer),
            "topic": self.topic,
        });
        if let Some((_, link, _)) = &self.reply_to {
            json["reply_to"] = Value::from(link.as_str());
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

async fn reply_to_of(client: &Client, post: &PostView) -> anyhow::Result<Option<Pointer>> {
    Ok(client
        .load(&post.pointer)
        .await?
        .as_ref()
        .and_then(reply_target))
}
