//! The commands a person uses: one identity in a home directory, publishing to its servers and
//! syncing with them through `agora-client`.

use std::path::{Path, PathBuf};

use agora_client::{Client, ClientError, ClientOptions, Home, SyncReport, post_view};
use agora_protocol::encoding::base64_standard_encode;
use agora_protocol::links::Link;
use agora_protocol::{Pointer, PublicKey};
use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::output::{Output, pull_json, pull_text, push_json, push_text};

/// Where the identity lives; every user command takes it.
#[derive(Debug, clap::Args)]
pub struct HomeArgs {
    /// Directory of the identity [default: $XDG_DATA_HOME/agora/home, or
    /// ~/.local/share/agora/home].
    #[arg(long, env = "AGORA_HOME")]
    home: Option<PathBuf>,
    /// Also trust the PEM certificate(s) in FILE as roots for https:// servers, besides the
    /// built-in Mozilla roots (for a private or self-signed server).
    #[arg(long, env = "AGORA_CA_CERT", value_name = "FILE")]
    ca_cert: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Create a new identity in the home directory.
    Init {
        #[command(flatten)]
        home: HomeArgs,
        /// Publish this username with the new identity.
        #[arg(long)]
        name: Option<String>,
    },
    /// Show the identity: its system key, this device's process, its servers.
    Whoami(HomeArgs),
    /// Print the identity's `polycentric://` link, with its servers as hints.
    Link(HomeArgs),
    /// Manage the servers the identity publishes to.
    Server {
        #[command(subcommand)]
        action: ServerAction,
    },
    /// Publish a post and send it to every server.
    Post {
        #[command(flatten)]
        home: HomeArgs,
        text: String,
        /// Reply to this event link.
        #[arg(long)]
        reply_to: Option<String>,
        /// Post in this topic.
        #[arg(long)]
        topic: Option<String>,
        /// Attach this image (PNG, JPEG, GIF or WebP); it is published as PNG, scaled down to
        /// fit 1000×1000.
        #[arg(long, value_name = "FILE")]
        image: Option<PathBuf>,
    },
    /// Follow the system of a link (`agora link` prints one).
    Follow(LinkArgs),
    /// Stop following the system of a link.
    Unfollow(LinkArgs),
    /// Block the identity of a link: its posts, replies and profile are left out of your feed,
    /// reply lists, search and explore (a BLOCK event, as official clients write it).
    Block(LinkArgs),
    /// Stop blocking the identity of a link.
    Unblock(LinkArgs),
    /// List the identities you block.
    Blocked(HomeArgs),
    /// Like an event.
    Like(LinkArgs),
    /// Dislike an event.
    Dislike(LinkArgs),
    /// Withdraw a like or dislike.
    Unlike(LinkArgs),
    /// Delete one of your own events.
    Delete(LinkArgs),
    /// Give one of your posts new text; readers show the latest and can list every version
    /// (`agora show LINK --history`). Official clients keep showing the original.
    Edit {
        #[command(flatten)]
        home: HomeArgs,
        /// The post's event link.
        link: String,
        /// The new text.
        text: String,
    },
    /// The posts of everyone you follow (and yours), live from all their servers, each once.
    Watch(crate::watch_cmd::WatchArgs),
    /// Send your events to your servers and fetch yours and every followed system's.
    ///
    /// Exit status 0 when at least one server answered (failed ones are named), 3 when none did.
    Sync(HomeArgs),
    /// Set your username or description, or show a profile (yours, or a link's).
    Profile(crate::read_cmds::ProfileArgs),
    /// The newest posts of everyone you follow and your own, from the local store.
    Feed(crate::read_cmds::FeedArgs),
    /// Show a system link's profile and posts, or an event link's post, replies and counts.
    Show(crate::read_cmds::ShowArgs),
    /// Save a post's image (event link) or a profile's avatar (system link) to a file.
    Image(crate::read_cmds::ImageArgs),
    /// Search every one of your servers for posts (or, with --profiles, people).
    Search(crate::discover_cmds::SearchArgs),
    /// Recent posts of everyone on your servers, newest first.
    Explore(crate::discover_cmds::ExploreArgs),
    /// The most used topics on your servers.
    Trending(crate::discover_cmds::TrendingArgs),
    /// Profiles your servers recommend.
    Recommend(crate::discover_cmds::RecommendArgs),
    /// Print the identity's backup link (it contains the SECRET key).
    Export(HomeArgs),
    /// Create the identity of a backup link in the home directory, then pull its history.
    Import {
        #[command(flatten)]
        home: HomeArgs,
        /// The `polycentric://` backup link `agora export` (or an official client) prints; `-`
        /// reads it from stdin.
        link: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum ServerAction {
    /// Add a server and send it everything.
    Add(ServerUrlArgs),
    /// Remove a server.
    Remove(ServerUrlArgs),
    /// List the identity's servers.
    List(HomeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServerUrlArgs {
    #[command(flatten)]
    home: HomeArgs,
    /// The server's base URL, e.g. https://srv1-prod.polycentric.io
    url: String,
}

#[derive(Debug, clap::Args)]
pub struct LinkArgs {
    #[command(flatten)]
    home: HomeArgs,
    /// A `polycentric://` link.
    link: String,
}

/// Exit status of `agora sync` when no server answered at all (1 is any other error, 2 a
/// command-line mistake).
pub const EXIT_NO_SERVER_ANSWERED: u8 = 3;

/// Runs one user command, prints its output, and returns the process exit status.
pub async fn run(command: UserCommand, json: bool) -> anyhow::Result<u8> {
    let output = match command {
        UserCommand::Init { home, name } => init(&home.dir()?, name.as_deref()).await?,
        UserCommand::Whoami(home) => whoami(&open(&home).await?).await?,
        UserCommand::Link(home) => link(&open(&home).await?).await?,
        UserCommand::Server { action } => server(action).await?,
        UserCommand::Post {
            home,
            text,
            reply_to,
            topic,
            image,
        } => {
            let reply = Reply {
                to: reply_to.as_deref(),
                topic: topic.as_deref(),
            };
            post(&open(&home).await?, &text, reply, image.as_deref()).await?
        }
        UserCommand::Follow(args) => follow(&open(&args.home).await?, &args.link, true).await?,
        UserCommand::Unfollow(args) => follow(&open(&args.home).await?, &args.link, false).await?,
        UserCommand::Block(args) => block(&open(&args.home).await?, &args.link, true).await?,
        UserCommand::Unblock(args) => block(&open(&args.home).await?, &args.link, false).await?,
        UserCommand::Blocked(home) => blocked(&open(&home).await?).await?,
        UserCommand::Like(args) => opinion(args, Opinion::Like).await?,
        UserCommand::Dislike(args) => opinion(args, Opinion::Dislike).await?,
        UserCommand::Unlike(args) => opinion(args, Opinion::Unlike).await?,
        UserCommand::Delete(args) => delete(&open(&args.home).await?, &args.link).await?,
        UserCommand::Edit { home, link, text } => edit(&open(&home).await?, &link, &text).await?,
        UserCommand::Watch(args) => {
            crate::watch_cmd::watch(&open(&args.home).await?, args.count, json).await?;
            return Ok(0);
        }
        UserCommand::Sync(home) => {
            let (output, answered) = crate::sync_cmd::sync(&open(&home).await?, json).await?;
            output.print(json);
            return Ok(if answered { 0 } else { EXIT_NO_SERVER_ANSWERED });
        }
        UserCommand::Profile(args) => {
            crate::read_cmds::profile(&open(&args.home).await?, args).await?
        }
        UserCommand::Feed(args) => {
            crate::read_cmds::feed(&open(&args.home).await?, args.limit).await?
        }
        UserCommand::Show(args) => crate::read_cmds::show(&open(&args.home).await?, &args).await?,
        UserCommand::Image(args) => {
            crate::read_cmds::image(&open(&args.home).await?, &args).await?
        }
        UserCommand::Search(args) => {
            crate::discover_cmds::search(&open(&args.home).await?, args).await?
        }
        UserCommand::Explore(args) => {
            crate::discover_cmds::explore(&open(&args.home).await?, args).await?
        }
        UserCommand::Trending(args) => {
            crate::discover_cmds::trending(&open(&args.home).await?, args).await?
        }
        UserCommand::Recommend(args) => {
            crate::discover_cmds::recommend(&open(&args.home).await?, args).await?
        }
        UserCommand::Export(home) => crate::export_cmd::export(&open(&home).await?).await?,
        UserCommand::Import { home, link } => crate::export_cmd::import(&home, &link).await?,
    };
    output.print(json);
    Ok(0)
}

impl HomeArgs {
    /// How the client reaches servers: the extra trusted roots of `--ca-cert`.
    pub(crate) fn client_options(&self) -> anyhow::Result<ClientOptions> {
        let mut options = ClientOptions::default();
        if let Some(path) = &self.ca_cert {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read the CA certificate {}", path.display()))?;
            options.ca_certificates_pem.push(pem);
        }
        Ok(options)
    }

    pub(crate) fn dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.home {
            return Ok(dir.clone());
        }
        if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|value| !value.is_empty()) {
            return Ok(PathBuf::from(data).join("agora/home"));
        }
        let home = std::env::var_os("HOME")
            .context("neither AGORA_HOME, XDG_DATA_HOME nor HOME is set; pass --home DIR")?;
        Ok(PathBuf::from(home).join(".local/share/agora/home"))
    }
}

/// Opens the identity, saying how to create one when there is none.
pub(crate) async fn open(args: &HomeArgs) -> anyhow::Result<Client> {
    let dir = args.dir()?;
    if !dir.join(Home::KEY_FILE).exists() {
        bail!(
            "no identity in {}: run `agora init` first (or pass --home DIR)",
            dir.display()
        );
    }
    let options = args.client_options()?;
    let home = Home::open(&dir)
        .with_context(|| format!("cannot open the identity in {}", dir.display()))?;
    let opened = Client::open_with(home, options).await;
    opened.map_err(|error| match (error, &args.ca_cert) {
        (ClientError::CaCertificate(reason), Some(path)) => {
            anyhow::anyhow!("cannot use the CA certificate {}: {reason}", path.display())
        }
        (other, _) => other.into(),
    })
}

async fn init(dir: &Path, name: Option<&str>) -> anyhow::Result<Output> {
    let home = Home::init(dir)?;
    let client = Client::open(home).await?;
    if let Some(name) = name {
        client.set_username(name).await?;
    }
    let system = client.system().to_string();
    let text = format!(
        "created identity {system} in {}\n{}next: `agora server add URL`, then `agora post TEXT`\n",
        dir.display(),
        name.map(|name| format!("username: {name}\n"))
            .unwrap_or_default(),
    );
    let json = json!({"system": system, "home": dir, "username": name});
    Ok(Output { text, json })
}

async fn whoami(client: &Client) -> anyhow::Result<Output> {
    let system = client.identity().to_string();
    let process = base64_standard_encode(client.process().as_bytes());
    let servers = client.servers().await?;
    let username = client.profile(client.identity()).await?.username;
    let mut text = format!("system:   {system}\nprocess:  {process}\n");
    let device = (!client.holds_root()).then(|| client.system().to_string());
    if let Some(device) = &device {
        text.push_str(&format!(
            "device:   {device} (this home signs with a device key)\n"
        ));
    }
    if let Some(name) = &username {
        text.push_str(&format!("username: {name}\n"));
    }
    text.push_str(&servers_text(&servers));
    let json = json!({
        "system": system, "process": process, "username": username, "servers": servers,
        "device": device,
    });
    Ok(Output { text, json })
}

async fn link(client: &Client) -> anyhow::Result<Output> {
    let link = Link::System {
        system: client.identity(),
        servers: client.servers().await?,
    }
    .to_url();
    Ok(Output {
        text: format!("{link}\n"),
        json: json!({"link": link}),
    })
}

fn servers_text(servers: &[String]) -> String {
    if servers.is_empty() {
        return "servers:  none; add one with `agora server add URL`\n".to_owned();
    }
    let mut text = "servers:\n".to_owned();
    for server in servers {
        text.push_str(&format!("  {server}\n"));
    }
    text
}

async fn server(action: ServerAction) -> anyhow::Result<Output> {
    let (client, url, added) = match action {
        ServerAction::List(home) => {
            let servers = open(&home).await?.servers().await?;
            let json = json!({"servers": servers});
            return Ok(Output {
                text: servers_text(&servers),
                json,
            });
        }
        ServerAction::Add(args) => (open(&args.home).await?, args.url, true),
        ServerAction::Remove(args) => (open(&args.home).await?, args.url, false),
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("server URL {url:?} must start with http:// or https://");
    }
    if added {
        client.add_server(&url).await?;
    } else {
        client.remove_server(&url).await?;
    }
    let report = client.push().await?;
    let verb = if added { "added" } else { "removed" };
    let text = format!("{verb} {url}\n{}", push_text(&report));
    let json = json!({
        "server": url, "action": verb, "servers": client.servers().await?, "push": push_json(&report),
    });
    Ok(Output { text, json })
}

/// Prints a newly published event's link and where it was sent.
pub(crate) async fn published(
    client: &Client,
    what: &str,
    pointer: &Pointer,
) -> anyhow::Result<Output> {
    let link = event_link(client, pointer).await?;
    let report = client.push().await?;
    Ok(published_output(what, &link, &report))
}

fn published_output(what: &str, link: &str, report: &SyncReport) -> Output {
    let text = format!("{what} {link}\n{}", push_text(report));
    let mut json = push_json(report);
    json["link"] = Value::from(link);
    Output { text, json }
}

async fn event_link(client: &Client, pointer: &Pointer) -> anyhow::Result<String> {
    Ok(Link::Event {
        system: pointer.system,
        process: pointer.process,
        logical_clock: pointer.logical_clock,
        servers: client.servers().await?,
    }
    .to_url())
}

/// Where a post goes: in reply to an event link, in a topic, or neither.
#[derive(Clone, Copy, Debug)]
struct Reply<'a> {
    to: Option<&'a str>,
    topic: Option<&'a str>,
}

async fn post(
    client: &Client,
    text: &str,
    reply: Reply<'_>,
    image: Option<&Path>,
) -> anyhow::Result<Output> {
    let reply_to = match reply.to {
        Some(link) => Some(resolve_event(client, link).await?),
        None => None,
    };
    let Some(path) = image else {
        let pointer = client.post(text, reply_to.as_ref(), reply.topic).await?;
        return published(client, "posted", &pointer).await;
    };
    let bytes = read_image_file(path)?;
    let pointer = client
        .post_with_image(text, reply_to.as_ref(), reply.topic, &bytes)
        .await
        .map_err(|error| image_error(path, error))?;
    let mut output = published(client, "posted", &pointer).await?;
    let view = client.load(&pointer).await?.as_ref().and_then(post_view);
    if let Some(image) = view.and_then(|view| view.image) {
        output.text.push_str(&format!(
            "  image: {}x{} {}, {} bytes\n",
            image.width, image.height, image.mime, image.byte_count
        ));
        output.json["image"] = crate::output::image_json(&image);
    }
    Ok(output)
}

/// The bytes of an image file a person named, with an error that names it.
pub(crate) fn read_image_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read the image file {}", path.display()))
}

/// A client error met while using `path` as an image, naming the file when the image is at fault.
pub(crate) fn image_error(path: &Path, error: ClientError) -> anyhow::Error {
    match error {
        ClientError::Image(error) => {
            anyhow::anyhow!("cannot use {} as an image: {error}", path.display())
        }
        other => other.into(),
    }
}

pub(crate) fn parse_link(text: &str) -> anyhow::Result<Link> {
    Link::parse(text).with_context(|| {
        format!("cannot read link {text:?}: expected a polycentric:// link, as `agora link` or `agora post` print")
    })
}

/// The system of a system link, or of an event link, and the servers the link names.
pub(crate) fn link_system(text: &str) -> anyhow::Result<(PublicKey, Vec<String>)> {
    Ok(match parse_link(text)? {
        Link::System { system, servers }
        | Link::Event {
            system, servers, ..
        } => (system, servers),
    })
}

/// The full pointer (with digest) of an event link: from the local store, or pulled from the
/// link's servers and the author's known servers when not held yet.
pub(crate) async fn resolve_event(client: &Client, text: &str) -> anyhow::Result<Pointer> {
    let Link::Event {
        system,
        process,
        logical_clock,
        servers,
    } = parse_link(text)?
    else {
        bail!("{text:?} is a system link; this needs an event link, as `agora post` prints");
    };
    let slot = Pointer {
        system,
        process,
        logical_clock,
        digest: None,
    };
    if let Some(event) = client.load(&slot).await? {
        return Ok(event.pointer());
    }
    let gathered = client.pull(system, &servers).await?;
    if let Some(event) = client.load(&slot).await? {
        return Ok(event.pointer());
    }
    let failures: Vec<String> = gathered.failed.iter().map(ToString::to_string).collect();
    bail!(
        "event {text} is not in the local store and no server had it (asked: {}; failed: {}); \
         check the link or try again later",
        gathered.answered.join(", "),
        failures.join("; ")
    )
}

async fn follow(client: &Client, text: &str, follow: bool) -> anyhow::Result<Output> {
    let (linked, hints) = link_system(text)?;
    // A device's link stands for the identity it belongs to.
    let system = if follow {
        client.learn_identity(linked, &hints).await?
    } else {
        client.identity_of(linked).await?
    };
    let (pulled, pointer) = if follow {
        // Fetch the followed identity and its devices now, so its SERVER set is known to later
        // syncs.
        let pulled = client.pull_identity(system, &hints).await?;
        (Some(pulled), client.follow(&system).await?)
    } else {
        (None, client.unfollow(&system).await?)
    };
    let verb = if follow { "followed" } else { "unfollowed" };
    let mut output = published(client, &format!("{verb} {system}:"), &pointer).await?;
    output.json["system"] = Value::from(system.to_string());
    if let Some(pulled) = pulled {
        output.text.push_str(&pull_text(system, &pulled));
        output.json["pull"] = pull_json(system, &pulled);
    }
    Ok(output)
}

async fn block(client: &Client, text: &str, block: bool) -> anyhow::Result<Output> {
    let (linked, hints) = link_system(text)?;
    // Learn the identity and its devices, so a device's posts are hidden with the identity's.
    let system = client.learn_identity(linked, &hints).await?;
    if system == client.identity() {
        bail!("{text} is your own identity; you cannot block yourself");
    }
    let pointer = if block {
        client.pull_identity(system, &hints).await?;
        client.block(&system).await?
    } else {
        client.unblock(&system).await?
    };
    let verb = if block { "blocked" } else { "unblocked" };
    let mut output = published(client, &format!("{verb} {system}:"), &pointer).await?;
    output.json["system"] = Value::from(system.to_string());
    Ok(output)
}

async fn blocked(client: &Client) -> anyhow::Result<Output> {
    let mut text = String::new();
    let mut list = Vec::new();
    for system in client.blocked().await? {
        let username = client.profile(system).await?.username;
        text.push_str(&format!(
            "{}  {system}\n",
            username.as_deref().unwrap_or("(no name)")
        ));
        list.push(json!({"system": system.to_string(), "username": username}));
    }
    if list.is_empty() {
        text.push_str("you block no one\n");
    }
    Ok(Output {
        text,
        json: json!({"blocked": list}),
    })
}

#[derive(Clone, Copy, Debug)]
enum Opinion {
    Like,
    Dislike,
    Unlike,
}

async fn opinion(args: LinkArgs, opinion: Opinion) -> anyhow::Result<Output> {
    let client = open(&args.home).await?;
    let subject = resolve_event(&client, &args.link).await?;
    let (pointer, verb) = match opinion {
        Opinion::Like => (client.like(&subject).await?, "liked"),
        Opinion::Dislike => (client.dislike(&subject).await?, "disliked"),
        Opinion::Unlike => (client.unlike(&subject).await?, "withdrew opinion on"),
    };
    let subject_link = event_link(&client, &subject).await?;
    let mut output = published(&client, &format!("{verb} {subject_link}:"), &pointer).await?;
    output.json["subject"] = Value::from(subject_link);
    Ok(output)
}

async fn edit(client: &Client, link: &str, text: &str) -> anyhow::Result<Output> {
    let (system, _) = link_system(link)?;
    if system != client.system() {
        bail!(
            "cannot edit {link}: only its author can edit a post, and it was signed by {system}, \
             not by this device"
        );
    }
    let target = resolve_event(client, link).await?;
    let pointer = client.edit(&target, text).await?;
    let mut output = published(client, &format!("edited {link}:"), &pointer).await?;
    output.json["post"] = Value::from(link);
    output.json["text"] = Value::from(text);
    Ok(output)
}

async fn delete(client: &Client, text: &str) -> anyhow::Result<Output> {
    let (system, _) = link_system(text)?;
    if system != client.system() {
        if client.members(client.identity()).await?.contains(&system) {
            bail!(
                "cannot delete {text}: another device of this identity ({system}) signed it; \
                 delete it from that device"
            );
        }
        bail!(
            "cannot delete {text}: it belongs to {system}, not to this identity; only your own events can be deleted"
        );
    }
    let target = resolve_event(client, text).await?;
    let pointer = client.delete(&target).await?;
    published(client, &format!("deleted {text}:"), &pointer).await
}
