//! The commands a person uses: one identity in a home directory, publishing to its servers and
//! syncing with them through `agora-client`.

use std::path::{Path, PathBuf};

use agora_client::{Client, ClientError, ClientOptions, Home, post_view};
use agora_protocol::encoding::base64url_encode;
use agora_protocol::links::Link;
use agora_protocol::{Pointer, PublicKey};
use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::names;
use crate::output::{
    Output, Reach, bad_input, pull_json, pull_text, push_json, push_text, shown_event,
};

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
    /// Seconds one request to a server may take before that server counts as failed; servers
    /// are asked at once, so a dead one costs this once.
    #[arg(
        long,
        env = "AGORA_TIMEOUT_SECS",
        value_name = "SECS",
        default_value_t = 10
    )]
    timeout: u64,
}

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Create a new identity in the home directory.
    #[command(after_help = "Example:\n  agora init --name alice")]
    Init {
        #[command(flatten)]
        home: HomeArgs,
        /// Publish this username with the new identity.
        #[arg(long)]
        name: Option<String>,
    },
    /// Show the identity: its key, this device's process, its servers.
    #[command(after_help = "Example:\n  agora whoami")]
    Whoami(HomeArgs),
    /// Print the identity's `polycentric://` link, with its servers as hints.
    #[command(after_help = "Example:\n  agora link")]
    Link(HomeArgs),
    /// Manage the servers the identity publishes to.
    #[command(after_help = "Example:\n  agora server add https://my.server")]
    Server {
        #[command(subcommand)]
        action: ServerAction,
    },
    /// Publish a post and send it to every server.
    #[command(
        after_help = "Examples:\n  agora post \"hello\"\n  agora post \"me too\" --reply-to kXq3abcd/5\n  \
                      agora post \"new release\" --topic rust --image shot.png"
    )]
    Post {
        #[command(flatten)]
        home: HomeArgs,
        text: String,
        /// Reply to this post (its short form KEY/CLOCK or its link).
        #[arg(long, value_name = "POST")]
        reply_to: Option<String>,
        /// Post in this topic.
        #[arg(long)]
        topic: Option<String>,
        /// Attach this image (PNG, JPEG, GIF or WebP); it is published as PNG, scaled down to
        /// fit 1000×1000.
        #[arg(long, value_name = "FILE")]
        image: Option<PathBuf>,
    },
    /// Follow someone: a link, @handle or key.
    #[command(after_help = "Examples:\n  agora follow @alice\n  agora follow polycentric://…")]
    Follow(PersonArgs),
    /// Stop following someone.
    #[command(after_help = "Example:\n  agora unfollow @alice")]
    Unfollow(PersonArgs),
    /// Block someone: their posts, replies and profile are left out of your feed, reply
    /// lists, search and explore (a BLOCK event, as official clients write it).
    #[command(after_help = "Example:\n  agora block @spammer")]
    Block(PersonArgs),
    /// Stop blocking someone.
    #[command(after_help = "Example:\n  agora unblock @alice")]
    Unblock(PersonArgs),
    /// List the identities you block.
    #[command(after_help = "Example:\n  agora blocked")]
    Blocked(HomeArgs),
    /// List the identities you follow.
    #[command(after_help = "Example:\n  agora following")]
    Following(HomeArgs),
    /// List who follows you (or someone else), as your servers know it.
    #[command(after_help = "Examples:\n  agora followers\n  agora followers @alice")]
    Followers {
        #[command(flatten)]
        home: HomeArgs,
        /// Whose followers: a link, @handle or key [default: yours].
        #[arg(allow_hyphen_values = true)]
        person: Option<String>,
    },
    /// Like a post.
    #[command(after_help = "Example:\n  agora like kXq3abcd/5")]
    Like(PostArgs),
    /// Dislike a post.
    #[command(after_help = "Example:\n  agora dislike kXq3abcd/5")]
    Dislike(PostArgs),
    /// Withdraw a like or dislike.
    #[command(after_help = "Example:\n  agora unlike kXq3abcd/5")]
    Unlike(PostArgs),
    /// Delete one of your own posts (or other events).
    #[command(after_help = "Example:\n  agora delete kXq3abcd/5")]
    Delete(PostArgs),
    /// Give one of your posts new text; readers show the latest and can list every version
    /// (`agora show POST --history`). Official clients keep showing the original.
    #[command(after_help = "Example:\n  agora edit kXq3abcd/5 \"hello, world\"")]
    Edit {
        #[command(flatten)]
        home: HomeArgs,
        /// The post: its short form KEY/CLOCK or its link.
        #[arg(allow_hyphen_values = true)]
        post: String,
        /// The new text.
        text: String,
    },
    /// The posts of everyone you follow (and yours), live from all their servers, each once.
    #[command(after_help = "Example:\n  agora watch")]
    Watch(crate::watch_cmd::WatchArgs),
    /// Send your events to your servers and fetch yours and every followed identity's, asking
    /// every server at once.
    #[command(after_help = "Example:\n  agora sync")]
    Sync(SyncArgs),
    /// Set your username, description or avatar, or show a profile (yours, or someone's).
    #[command(
        after_help = "Examples:\n  agora profile --name alice --description \"walrus fan\"\n  \
                      agora profile @bob"
    )]
    Profile(crate::read_cmds::ProfileArgs),
    /// The newest posts of everyone you follow and your own, from the local store.
    #[command(after_help = "Example:\n  agora feed --limit 50")]
    Feed(crate::read_cmds::FeedArgs),
    /// Show someone's profile and posts, or a post with its replies and counts.
    #[command(after_help = "Examples:\n  agora show @alice\n  agora show kXq3abcd/5 --history")]
    Show(crate::read_cmds::ShowArgs),
    /// Save a post's image or someone's avatar to a file.
    #[command(after_help = "Examples:\n  agora image kXq3abcd/5 --out cat.png\n  \
                            agora image @alice --out alice.png")]
    Image(crate::read_cmds::ImageArgs),
    /// Search every one of your servers for posts (or, with --profiles, people).
    #[command(after_help = "Examples:\n  agora search walrus\n  agora search --profiles alice")]
    Search(crate::discover_cmds::SearchArgs),
    /// Recent posts of everyone on your servers, newest first.
    #[command(after_help = "Example:\n  agora explore --limit 10")]
    Explore(crate::discover_cmds::ExploreArgs),
    /// The most used topics on your servers.
    #[command(after_help = "Example:\n  agora trending --range 7d")]
    Trending(crate::discover_cmds::TrendingArgs),
    /// Profiles your servers recommend.
    #[command(after_help = "Example:\n  agora recommend")]
    Recommend(crate::discover_cmds::RecommendArgs),
    /// Print the identity's backup link (it contains the SECRET key).
    #[command(after_help = "Example:\n  agora export > backup.txt && chmod 600 backup.txt")]
    Export(HomeArgs),
    /// Create the identity of a backup link in the home directory, then pull its history.
    #[command(after_help = "Example:\n  agora import - < backup.txt")]
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
    /// Add a server (it must answer as a Polycentric server) and send it everything.
    #[command(after_help = "Examples:\n  agora server add https://my.server\n  \
                      agora server add https://down.example --force")]
    Add {
        #[command(flatten)]
        server: ServerUrlArgs,
        /// Add it even when it does not answer now (it gets everything on a later sync).
        #[arg(long)]
        force: bool,
    },
    /// Remove a server.
    #[command(after_help = "Example:\n  agora server remove https://my.server")]
    Remove(ServerUrlArgs),
    /// List the identity's servers, whether each answers now, and its version.
    #[command(after_help = "Example:\n  agora server list")]
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
pub struct PersonArgs {
    #[command(flatten)]
    home: HomeArgs,
    /// Who: a `polycentric://` link, a @handle, a key as `agora whoami` prints it, or its first
    /// 8 characters.
    #[arg(allow_hyphen_values = true)]
    person: String,
}

#[derive(Debug, clap::Args)]
pub struct PostArgs {
    #[command(flatten)]
    home: HomeArgs,
    /// Which post: its short form KEY/CLOCK (as `agora feed` prints it) or its link.
    #[arg(allow_hyphen_values = true)]
    post: String,
}

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub home: HomeArgs,
    /// Offer again the events servers refused for good (after an operator lifted a curation).
    #[arg(long)]
    pub retry_refused: bool,
}

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
        UserCommand::Follow(args) => follow(&open(&args.home).await?, &args.person, true).await?,
        UserCommand::Unfollow(args) => {
            follow(&open(&args.home).await?, &args.person, false).await?
        }
        UserCommand::Block(args) => block(&open(&args.home).await?, &args.person, true).await?,
        UserCommand::Unblock(args) => block(&open(&args.home).await?, &args.person, false).await?,
        UserCommand::Blocked(home) => {
            let client = open(&home).await?;
            people(
                &client,
                "blocked",
                client.blocked().await?,
                "you block no one",
            )
            .await?
        }
        UserCommand::Following(home) => {
            let client = open(&home).await?;
            let none = "you follow no one yet: `agora follow @handle` (or a link or key)";
            people(&client, "following", client.following().await?, none).await?
        }
        UserCommand::Followers { home, person } => {
            followers(&open(&home).await?, person.as_deref()).await?
        }
        UserCommand::Like(args) => opinion(args, Opinion::Like).await?,
        UserCommand::Dislike(args) => opinion(args, Opinion::Dislike).await?,
        UserCommand::Unlike(args) => opinion(args, Opinion::Unlike).await?,
        UserCommand::Delete(args) => delete(&open(&args.home).await?, &args.post).await?,
        UserCommand::Edit { home, post, text } => edit(&open(&home).await?, &post, &text).await?,
        UserCommand::Watch(args) => {
            crate::watch_cmd::watch(&open(&args.home).await?, args.count, json).await?;
            return Ok(0);
        }
        UserCommand::Sync(args) => {
            let client = open(&args.home).await?;
            crate::sync_cmd::sync(&client, json, args.retry_refused).await?
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
    Ok(output.reach.exit_status())
}

impl HomeArgs {
    /// How the client reaches servers: the extra trusted roots of `--ca-cert`.
    pub(crate) fn client_options(&self) -> anyhow::Result<ClientOptions> {
        let mut options = ClientOptions {
            request_timeout: Some(std::time::Duration::from_secs(self.timeout.max(1))),
            ..ClientOptions::default()
        };
        if let Some(path) = &self.ca_cert {
            let pem = crate::input::read_file(path, 1024 * 1024, "the CA certificate")?;
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
        "created identity {system}\nin {}\n{}next: `agora server add URL`, then `agora post TEXT`\n",
        dir.display(),
        name.map(|name| format!("username: {name}\n"))
            .unwrap_or_default(),
    );
    let json = json!({"system": system, "home": dir, "username": name});
    Ok(Output::new(text, json))
}

async fn whoami(client: &Client) -> anyhow::Result<Output> {
    let system = client.identity().to_string();
    let process = base64url_encode(client.process().as_bytes());
    let servers = client.servers().await?;
    let username = client.profile(client.identity()).await?.username;
    let mut text = String::new();
    if let Some(name) = &username {
        text.push_str(&format!("username: {name}\n"));
    }
    text.push_str(&format!("key:      {system}\nprocess:  {process}\n"));
    let device = (!client.holds_root()).then(|| client.system().to_string());
    if let Some(device) = &device {
        text.push_str(&format!(
            "device:   {device}\n          (this home signs with a device key)\n"
        ));
    }
    text.push_str(&servers_text(&servers));
    let json = json!({
        "system": system, "process": process, "username": username, "servers": servers,
        "device": device,
    });
    Ok(Output::new(text, json))
}

async fn link(client: &Client) -> anyhow::Result<Output> {
    let link = Link::System {
        system: client.identity(),
        servers: client.servers().await?,
    }
    .to_url();
    Ok(Output::new(format!("{link}\n"), json!({"link": link})))
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
    let (client, url, added, force) = match action {
        ServerAction::List(home) => return server_list(&open(&home).await?).await,
        ServerAction::Add { server, force } => (open(&server.home).await?, server.url, true, force),
        ServerAction::Remove(args) => (open(&args.home).await?, args.url, false, false),
    };
    let lower = url.trim().to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        bad_input!("server URL {url:?} must start with http:// or https://");
    }
    let url = agora_client::normalize_server(&url);
    let known = client.servers().await?;
    let mut text = String::new();
    let mut probe_json = Value::Null;
    if added {
        if known.contains(&url) {
            bad_input!("{url} is already one of your servers (`agora server list`)");
        }
        let probe = client.probe_server(&url).await;
        match (&probe, force) {
            (Ok(version), _) => {
                text.push_str(&format!(
                    "{url} answers as a Polycentric server (version {version})\n"
                ));
                probe_json = json!({"answered": true, "version": version});
            }
            (Err(error), true) => {
                text.push_str(&format!(
                    "{url} does not answer now ({error}); added anyway (--force)\n"
                ));
                probe_json = json!({"answered": false, "error": error.to_string()});
            }
            (Err(error), false) => bad_input!(
                "{url} does not answer as a Polycentric server: {error}\n\
                 check the address, or add it anyway with `agora server add {url} --force`"
            ),
        }
        client.add_server(&url).await?;
    } else {
        if !known.contains(&url) {
            let list = if known.is_empty() {
                "you have none".to_owned()
            } else {
                format!("yours are {}", known.join(", "))
            };
            bad_input!("{url} is not one of your servers ({list})");
        }
        client.remove_server(&url).await?;
    }
    let report = client.push().await?;
    let verb = if added { "added" } else { "removed" };
    text.push_str(&format!("{verb} {url}\n{}", push_text(&report)));
    let json = json!({
        "server": url, "action": verb, "servers": client.servers().await?, "push": push_json(&report),
        "probe": probe_json,
    });
    Ok(Output::new(text, json).reached(Reach::of_push(&report)))
}

/// Each server of the identity, asked at once whether it answers and which version it runs.
async fn server_list(client: &Client) -> anyhow::Result<Output> {
    let servers = client.servers().await?;
    if servers.is_empty() {
        return Ok(Output::new(
            servers_text(&servers),
            json!({"servers": Vec::<Value>::new()}),
        ));
    }
    let probes = futures::future::join_all(
        servers
            .iter()
            .map(|server| async move { (server, client.probe_server(server).await) }),
    )
    .await;
    let width = servers.iter().map(String::len).max().unwrap_or(0);
    let mut text = String::new();
    let mut list = Vec::new();
    let mut answered = 0;
    for (server, probe) in &probes {
        match probe {
            Ok(version) => {
                answered += 1;
                text.push_str(&format!("{server:width$}  ok      version {version}\n"));
                list.push(json!({"server": server, "answered": true, "version": version}));
            }
            Err(error) => {
                text.push_str(&crate::output::fit(&format!(
                    "{server:width$}  FAILED  {error}"
                )));
                text.push('\n');
                list.push(json!({"server": server, "answered": false, "error": error.to_string()}));
            }
        }
    }
    let reach = Reach::of(answered, probes.len() - answered);
    Ok(Output::new(text, json!({"servers": list})).reached(reach))
}

/// Prints what was published (`headline`) and where it was sent.
pub(crate) async fn published(
    client: &Client,
    headline: &str,
    pointer: &Pointer,
) -> anyhow::Result<Output> {
    let link = event_link(client, pointer).await?;
    let report = client.push().await?;
    let text = format!("{headline}\n{}", push_text(&report));
    let mut json = push_json(&report);
    json["link"] = Value::from(link);
    json["event"] = Value::from(crate::output::short_event(pointer));
    Ok(Output::new(text, json).reached(Reach::of_push(&report)))
}

pub(crate) async fn event_link(client: &Client, pointer: &Pointer) -> anyhow::Result<String> {
    Ok(Link::Event {
        system: pointer.system,
        process: pointer.process,
        logical_clock: pointer.logical_clock,
        servers: client.servers_of(pointer.system).await?,
    }
    .to_url())
}

/// A post or other event as text output names it: short form, or full link with `--long`.
pub(crate) async fn shown(client: &Client, pointer: &Pointer) -> anyhow::Result<String> {
    Ok(shown_event(pointer, &event_link(client, pointer).await?))
}

/// A person as text output names them: `name (abbreviation)`, or the abbreviation alone.
pub(crate) fn person(system: &PublicKey, username: Option<&str>) -> String {
    match username {
        Some(name) => format!("{name} ({})", system.abbreviation()),
        None => system.abbreviation(),
    }
}

/// Where a post goes: in reply to a post, in a topic, or neither.
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
        Some(target) => Some(names::event(client, target).await?),
        None => None,
    };
    let pointer = match image {
        None => client.post(text, reply_to.as_ref(), reply.topic).await?,
        Some(path) => {
            let bytes = read_image_file(path)?;
            client
                .post_with_image(text, reply_to.as_ref(), reply.topic, &bytes)
                .await
                .map_err(|error| image_error(path, error))?
        }
    };
    let headline = format!("posted {}", shown(client, &pointer).await?);
    let mut output = published(client, &headline, &pointer).await?;
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

/// Largest image file `agora` reads (a bigger file is refused before it is read).
const IMAGE_FILE_BYTES_MAX: u64 = 50 * 1024 * 1024;

/// The bytes of an image file a person named, with an error that names it.
pub(crate) fn read_image_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    crate::input::read_file(path, IMAGE_FILE_BYTES_MAX, "the image file")
}

/// A client error met while using `path` as an image, naming the file when the image is at fault.
pub(crate) fn image_error(path: &Path, error: ClientError) -> anyhow::Error {
    match error {
        ClientError::Image(error) => anyhow::Error::new(crate::output::BadInput(format!(
            "cannot use {} as an image: {error}",
            path.display()
        ))),
        other => other.into(),
    }
}

async fn follow(client: &Client, text: &str, follow: bool) -> anyhow::Result<Output> {
    let named = names::identity(client, text).await?;
    // A device's key stands for the identity it belongs to.
    let system = if follow {
        client.learn_identity(named.system, &named.hints).await?
    } else {
        client.identity_of(named.system).await?
    };
    if follow && system == client.identity() {
        bad_input!("{text} is you; you see your own posts in your feed already");
    }
    let (pulled, pointer) = if follow {
        // Fetch the followed identity and its devices now, so its SERVER set is known to later
        // syncs.
        let pulled = client.pull_identity(system, &named.hints).await?;
        (Some(pulled), client.follow(&system).await?)
    } else {
        (None, client.unfollow(&system).await?)
    };
    let username = client.profile(system).await?.username;
    let verb = if follow { "followed" } else { "unfollowed" };
    let headline = format!("{verb} {}", person(&system, username.as_deref()));
    let mut output = published(client, &headline, &pointer).await?;
    output.json["system"] = Value::from(system.to_string());
    output.json["username"] = json!(username);
    if let Some(pulled) = pulled {
        output.text.push_str(&pull_text(system, &pulled));
        output.json["pull"] = pull_json(system, &pulled);
        output.reach = output.reach.and(Reach::of_gathered(&pulled));
    }
    Ok(output)
}

async fn block(client: &Client, text: &str, block: bool) -> anyhow::Result<Output> {
    let named = names::identity(client, text).await?;
    // Learn the identity and its devices, so a device's posts are hidden with the identity's.
    let system = client.learn_identity(named.system, &named.hints).await?;
    if system == client.identity() {
        bad_input!("{text} is your own identity; you cannot block yourself");
    }
    let pointer = if block {
        client.pull_identity(system, &named.hints).await?;
        client.block(&system).await?
    } else {
        client.unblock(&system).await?
    };
    let username = client.profile(system).await?.username;
    let verb = if block { "blocked" } else { "unblocked" };
    let headline = format!("{verb} {}", person(&system, username.as_deref()));
    let mut output = published(client, &headline, &pointer).await?;
    output.json["system"] = Value::from(system.to_string());
    Ok(output)
}

/// A list of people: name and key, aligned; `none` when empty.
async fn people(
    client: &Client,
    field: &str,
    systems: Vec<PublicKey>,
    none: &str,
) -> anyhow::Result<Output> {
    let mut rows = Vec::new();
    for system in systems {
        let username = client.profile(system).await?.username;
        rows.push((system, username));
    }
    Ok(Output::new(
        people_text(&rows, none),
        json!({ field: people_json(&rows) }),
    ))
}

fn people_text(rows: &[(PublicKey, Option<String>)], none: &str) -> String {
    if rows.is_empty() {
        return format!("{none}\n");
    }
    let name_width = rows
        .iter()
        .map(|(_, name)| name.as_deref().unwrap_or("(no name)").chars().count())
        .max()
        .unwrap_or(0)
        .min(30);
    rows.iter()
        .map(|(system, name)| {
            let name = name.as_deref().unwrap_or("(no name)");
            crate::output::fit(&format!("{name:name_width$}  {system}")) + "\n"
        })
        .collect()
}

fn people_json(rows: &[(PublicKey, Option<String>)]) -> Value {
    rows.iter()
        .map(|(system, username)| json!({"system": system.to_string(), "username": username}))
        .collect()
}

/// Who follows `whom` (this identity by default), as the servers of that identity know it.
async fn followers(client: &Client, whom: Option<&str>) -> anyhow::Result<Output> {
    let (system, hints) = match whom {
        None => (client.identity(), Vec::new()),
        Some(text) => {
            let named = names::identity(client, text).await?;
            let system = client.learn_identity(named.system, &named.hints).await?;
            (system, named.hints)
        }
    };
    let mut servers = hints;
    servers.extend(client.servers().await?);
    servers.extend(client.servers_of(system).await?);
    let gathered = client.followers(system, &servers).await;
    let asked: Vec<(PublicKey, Vec<String>)> = gathered
        .value
        .iter()
        .map(|follower| (*follower, gathered.answered.clone()))
        .collect();
    let profiles = client.profiles_from(asked).await;
    let rows: Vec<(PublicKey, Option<String>)> = gathered
        .value
        .iter()
        .map(|follower| {
            let username = profiles.get(follower).and_then(|p| p.username.clone());
            (*follower, username)
        })
        .collect();
    let mut text = people_text(&rows, "no followers known to your servers");
    text.push_str(&crate::output::failure_lines(&gathered.failed));
    let json = json!({
        "system": system.to_string(),
        "followers": people_json(&rows),
        "answered": gathered.answered,
        "failed": crate::output::failures_json(&gathered.failed),
    });
    Ok(Output::new(text, json).reached(Reach::of_gathered(&gathered)))
}

#[derive(Clone, Copy, Debug)]
enum Opinion {
    Like,
    Dislike,
    Unlike,
}

async fn opinion(args: PostArgs, opinion: Opinion) -> anyhow::Result<Output> {
    let client = open(&args.home).await?;
    let subject = names::event(&client, &args.post).await?;
    let (pointer, verb) = match opinion {
        Opinion::Like => (client.like(&subject).await?, "liked"),
        Opinion::Dislike => (client.dislike(&subject).await?, "disliked"),
        Opinion::Unlike => (client.unlike(&subject).await?, "withdrew your opinion on"),
    };
    let headline = format!("{verb} {}", shown(&client, &subject).await?);
    let mut output = published(&client, &headline, &pointer).await?;
    output.json["subject"] = Value::from(event_link(&client, &subject).await?);
    Ok(output)
}

async fn edit(client: &Client, target: &str, text: &str) -> anyhow::Result<Output> {
    let target = names::event(client, target).await?;
    if target.system != client.system() {
        bad_input!(
            "cannot edit {}: only its author can edit a post, and it was signed by {}, not by \
             this device",
            crate::output::short_event(&target),
            target.system
        );
    }
    let pointer = client.edit(&target, text).await?;
    let headline = format!("edited {}", shown(client, &target).await?);
    let mut output = published(client, &headline, &pointer).await?;
    output.json["post"] = Value::from(event_link(client, &target).await?);
    output.json["text"] = Value::from(text);
    Ok(output)
}

async fn delete(client: &Client, text: &str) -> anyhow::Result<Output> {
    let target = names::event(client, text).await?;
    let system = target.system;
    if system != client.system() {
        if client.members(client.identity()).await?.contains(&system) {
            bad_input!(
                "cannot delete {text}: another device of this identity ({system}) signed it; \
                 delete it from that device"
            );
        }
        bad_input!(
            "cannot delete {text}: it belongs to {system}, not to this identity; only your own \
             events can be deleted"
        );
    }
    let pointer = client.delete(&target).await?;
    let headline = format!("deleted {}", shown(client, &target).await?);
    published(client, &headline, &pointer).await
}
