//! `agora device pair|approve|list|revoke|rename` and `agora recovery show|restore|forget`: one
//! identity on several devices (docs/protocol.md, "Devices").
//!
//! Pairing runs across two terminals: the new device makes its own key, publishes its
//! acceptance of the identity and prints a pairing code and five confirmation words; the home
//! that holds the identity's root key approves the code, prints the same five words, and asks
//! before it signs. Only the root key authorizes and revokes; recovery words bring it back on a
//! new machine.

use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use agora_client::{Client, Device, Home, confirmation_words, secret_from_words};
use agora_protocol::links::Link;
use agora_protocol::{Process, PublicKey};
use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::output::{Output, push_json, push_text};
use crate::user::{HomeArgs, open};

#[derive(Debug, clap::Args)]
pub struct DeviceArgs {
    #[command(subcommand)]
    action: DeviceAction,
}

#[derive(Debug, clap::Subcommand)]
enum DeviceAction {
    /// Make this home a new device of an identity: prints a pairing code to approve where the
    /// root key is, then waits for the approval.
    #[command(
        after_help = "Example:\n  agora device pair polycentric://…   # then `agora device approve CODE` on the root"
    )]
    Pair(PairArgs),
    /// Authorize a new device from its pairing code (needs the identity's root key).
    #[command(after_help = "Example:\n  agora device approve CODE --name phone")]
    Approve(ApproveArgs),
    /// The identity's devices, with their state.
    #[command(after_help = "Example:\n  agora device list")]
    List(HomeArgs),
    /// Revoke a device: what it published until now stays, everything later is refused
    /// (needs the root key).
    #[command(after_help = "Example:\n  agora device revoke phone")]
    Revoke(DeviceRefArgs),
    /// Give a device another name (needs the root key).
    #[command(after_help = "Example:\n  agora device rename phone \"old phone\"")]
    Rename {
        #[command(flatten)]
        device: DeviceRefArgs,
        /// The new name (at most 64 bytes).
        name: String,
    },
}

#[derive(Debug, clap::Args)]
struct PairArgs {
    #[command(flatten)]
    home: HomeArgs,
    /// The identity's link (`agora link` prints it where the identity already is).
    link: String,
    /// How long to wait for the approval before giving up (run `pair` again to keep waiting).
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

#[derive(Debug, clap::Args)]
struct ApproveArgs {
    #[command(flatten)]
    home: HomeArgs,
    /// The pairing code the new device printed.
    #[arg(allow_hyphen_values = true)]
    code: String,
    /// The device's name in `agora device list` [default: device-N].
    #[arg(long)]
    name: Option<String>,
    /// Approve without asking whether the confirmation words match (only when you compared
    /// them another way).
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, clap::Args)]
struct DeviceRefArgs {
    #[command(flatten)]
    home: HomeArgs,
    /// The device's name or key, as `agora device list` prints them.
    #[arg(allow_hyphen_values = true)]
    device: String,
}

#[derive(Debug, clap::Args)]
pub struct RecoveryArgs {
    #[command(subcommand)]
    action: RecoveryAction,
}

#[derive(Debug, clap::Subcommand)]
enum RecoveryAction {
    /// Print the identity's 24 recovery words (they ARE the root key: keep them offline).
    #[command(after_help = "Example:\n  agora recovery show")]
    Show(HomeArgs),
    /// Take the identity back on this machine from its recovery words, then fetch it from the
    /// given servers.
    #[command(
        after_help = "Example:\n  agora recovery restore --server https://my.server --home ~/rescue   # then type the words"
    )]
    Restore {
        #[command(flatten)]
        home: HomeArgs,
        /// A server that holds the identity (repeat for several); its servers list the rest.
        #[arg(long = "server", value_name = "URL", required = true)]
        servers: Vec<String>,
        /// The words; `-` (the default) reads them from stdin, keeping them out of `ps`.
        #[arg(default_value = "-")]
        words: Vec<String>,
    },
    /// Take the root key off this home: it becomes a device of the identity, authorized with a
    /// new key of its own, and only the recovery words can authorize or revoke after that.
    #[command(after_help = "Example:\n  agora recovery forget --i-have-the-words")]
    Forget {
        #[command(flatten)]
        home: HomeArgs,
        /// Confirm that the recovery words are written down.
        #[arg(long)]
        i_have_the_words: bool,
    },
}

pub async fn run_device(args: DeviceArgs, json: bool) -> anyhow::Result<u8> {
    let output = match args.action {
        DeviceAction::Pair(args) => pair(&args, json).await?,
        DeviceAction::Approve(args) => approve(&open(&args.home).await?, &args).await?,
        DeviceAction::List(home) => list(&open(&home).await?).await?,
        DeviceAction::Revoke(args) => revoke(&open(&args.home).await?, &args.device).await?,
        DeviceAction::Rename { device, name } => {
            rename(&open(&device.home).await?, &device.device, &name).await?
        }
    };
    output.print(json);
    Ok(output.reach.exit_status())
}

pub async fn run_recovery(args: RecoveryArgs, json: bool) -> anyhow::Result<u8> {
    let output = match args.action {
        RecoveryAction::Show(home) => show_words(&open(&home).await?)?,
        RecoveryAction::Restore {
            home,
            servers,
            words,
        } => restore(&home, &servers, &words).await?,
        RecoveryAction::Forget {
            home,
            i_have_the_words,
        } => forget(&home, i_have_the_words).await?,
    };
    output.print(json);
    Ok(output.reach.exit_status())
}

/// The new device's side: its own key, its acceptance on the identity's servers, the code and
/// words, then waiting for the authorization.
async fn pair(args: &PairArgs, json: bool) -> anyhow::Result<Output> {
    let (identity, hints) = match crate::names::parse_link(&args.link)? {
        Link::System { system, servers } => (system, servers),
        Link::Event { .. } => bail!(
            "{:?} is an event link; pairing needs the identity's link, as `agora link` prints it",
            args.link
        ),
    };
    let dir = args.home.dir()?;
    let resumed = dir.join(Home::KEY_FILE).exists();
    let client = if resumed {
        let client = open(&args.home).await?;
        if client.identity() != identity || client.holds_root() {
            bail!(
                "{} already holds identity {}; pair from a new home (pass --home DIR)",
                dir.display(),
                client.identity()
            );
        }
        client
    } else {
        let home = Home::init_device(&dir, &identity)
            .with_context(|| format!("cannot create the device in {}", dir.display()))?;
        Client::open_with(home, args.home.client_options()?).await?
    };
    let pulled = client.pull(identity, &hints).await?;
    if pulled.answered.is_empty() {
        bail!(
            "no server answered for identity {identity} (asked: {}); check the link and try \
             `agora device pair` again",
            hints.join(", ")
        );
    }
    if let Some(device) = client.device(client.system()).await? {
        return paired(&client, &device.name, &hints).await;
    }
    client.accept_identity().await?;
    let report = client.push().await?;
    if report.sent.is_empty() {
        bail!(
            "no server of identity {identity} took this device's request:\n{}",
            push_text(&report)
        );
    }
    let code = client.system().to_string();
    let words = confirmation_words(&identity, &client.system());
    let started = if json {
        json!({"code": code, "confirmation": words, "identity": identity.to_string()}).to_string()
            + "\n"
    } else {
        format!(
            "pairing code: {code}\nconfirmation: {words}\non a home with the root key of \
             {identity}, run:\n  agora device approve {code}\nand check that it shows the same \
             confirmation words.\nwaiting for the approval…\n"
        )
    };
    // Nobody can read the code when stdout is closed: stop rather than wait for nothing.
    crate::output::emit(&started).context("cannot show the pairing code")?;
    let mut servers = hints.clone();
    servers.extend(client.servers().await?);
    let waited = client
        .wait_for_authorization(&servers, Duration::from_secs(args.timeout_secs))
        .await?;
    match waited {
        Some(name) => paired(&client, &name, &servers).await,
        None => bail!(
            "not approved within {} s; run the same `agora device pair` again to keep waiting",
            args.timeout_secs
        ),
    }
}

/// Fetches everything of the identity now that this device belongs to it.
async fn paired(client: &Client, name: &str, hints: &[String]) -> anyhow::Result<Output> {
    let identity = client.identity();
    let pulled = client.pull_identity(identity, hints).await?;
    let username = client.profile(identity).await?.username;
    let text = format!(
        "paired: this home is device {name:?} of {}{identity}\nfetched {} event(s) of the \
         identity and its devices\n",
        username
            .as_ref()
            .map(|name| format!("{name}, "))
            .unwrap_or_default(),
        pulled.value
    );
    let json = json!({
        "paired": true, "name": name, "identity": identity.to_string(),
        "device": client.system().to_string(), "username": username, "fetched": pulled.value,
    });
    Ok(Output::new(text, json))
}

/// The root's side: finds the device's acceptance, shows the words, asks, signs.
async fn approve(client: &Client, args: &ApproveArgs) -> anyhow::Result<Output> {
    require_root(client, "approve a device")?;
    let device = parse_key(&args.code)
        .with_context(|| format!("cannot read pairing code {:?}", args.code))?;
    let servers = client.servers().await?;
    client.pull(device, &servers).await?;
    let Some(acceptance) = client.acceptance_of(device).await? else {
        bail!(
            "no server of this identity holds a pairing request from {device} for {}: check the \
             code, and that the new device's `agora device pair` is still waiting",
            client.identity()
        );
    };
    if let Some(known) = client.device(device).await?
        && known.revoked.is_none()
    {
        bail!("{device} is already authorized, as {:?}", known.name);
    }
    let words = confirmation_words(&client.identity(), &device);
    if !args.yes {
        confirm(&words)?;
    }
    let name = match &args.name {
        Some(name) => name.clone(),
        None => format!(
            "device-{}",
            client.devices_of(client.identity()).await?.len() + 1
        ),
    };
    client.authorize_device(&acceptance, &name).await?;
    let report = client.push().await?;
    let text = format!(
        "confirmation: {words}\napproved {device} as {name:?}\n{}",
        push_text(&report)
    );
    let json = json!({
        "approved": device.to_string(), "name": name, "confirmation": words,
        "push": push_json(&report),
    });
    Ok(Output::new(text, json))
}

/// Asks on the terminal whether the words match; refuses when stdin cannot answer.
fn confirm(words: &str) -> anyhow::Result<()> {
    eprintln!("confirmation: {words}");
    eprint!("Does the new device show exactly these words? [y/N] ");
    std::io::stderr().flush().ok();
    let read = crate::input::stdin_line(1024, "the answer");
    let answer = read.as_deref().unwrap_or_default();
    if read.is_err() || answer.is_empty() && !std::io::stdin().is_terminal() {
        bail!("no answer on stdin; compare the confirmation words and answer y, or pass --yes");
    }
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("not approved: the words did not match (nothing was signed)");
    }
    Ok(())
}

async fn list(client: &Client) -> anyhow::Result<Output> {
    let identity = client.identity();
    let servers = client.servers().await?;
    let pulled = client.pull_identity(identity, &servers).await?;
    let devices = client.devices_of(identity).await?;
    let mut text = format!(
        "identity {identity}\n  root key{}\n",
        if client.holds_root() {
            " (this home)"
        } else {
            ""
        }
    );
    let mut listed = Vec::new();
    for device in &devices {
        let this = device.key == client.system();
        text.push_str(&format!(
            "  {:<16} {}  {}{}\n",
            device.name,
            device.key,
            state_text(device),
            if this { " (this home)" } else { "" }
        ));
        listed.push(device_json(device, this));
    }
    if devices.is_empty() {
        text.push_str("  no devices yet: `agora device pair LINK` on a new one\n");
    }
    if pulled.answered.is_empty() && !servers.is_empty() {
        text.push_str("  (no server answered: this is what the local store knows)\n");
    }
    let json = json!({
        "identity": identity.to_string(), "root_here": client.holds_root(), "devices": listed,
    });
    Ok(Output::new(text, json))
}

/// Refuses a command that needs the identity's root key on a device's home.
fn require_root(client: &Client, what: &str) -> anyhow::Result<()> {
    if client.holds_root() {
        return Ok(());
    }
    Err(agora_client::ClientError::NotRoot(what.to_owned()).into())
}

async fn revoke(client: &Client, reference: &str) -> anyhow::Result<Output> {
    require_root(client, "revoke a device")?;
    let servers = client.servers().await?;
    // The identity's devices and everything servers hold of them, which stays valid: fetched
    // before the bounds are set. (The root's home signs with the root key, never a device's.)
    client.pull_identity(client.identity(), &servers).await?;
    let device = find_device(client, reference).await?;
    client.revoke_device(device.key).await?;
    let report = client.push().await?;
    let revoked = client
        .device(device.key)
        .await?
        .and_then(|device| device.revoked)
        .unwrap_or_default();
    let text = format!(
        "revoked {:?} ({}): {}\n{}",
        device.name,
        device.key,
        bounds_text(&revoked),
        push_text(&report)
    );
    let json = json!({
        "revoked": device.key.to_string(), "name": device.name,
        "bounds": bounds_json(&revoked), "push": push_json(&report),
    });
    Ok(Output::new(text, json))
}

async fn rename(client: &Client, reference: &str, name: &str) -> anyhow::Result<Output> {
    require_root(client, "rename a device")?;
    let device = find_device(client, reference).await?;
    if device.revoked.is_some() {
        bail!(
            "device {:?} ({}) is revoked; it cannot be renamed",
            device.name,
            device.key
        );
    }
    client.authorize_device(&device.acceptance, name).await?;
    let report = client.push().await?;
    let text = format!(
        "renamed {:?} to {name:?}\n{}",
        device.name,
        push_text(&report)
    );
    let json = json!({
        "device": device.key.to_string(), "name": name, "push": push_json(&report),
    });
    Ok(Output::new(text, json))
}

fn show_words(client: &Client) -> anyhow::Result<Output> {
    let words = client.recovery_words()?;
    eprintln!(
        "WARNING: these words ARE the root key of {}: anyone who has them controls the identity. \
         Write them down and keep them offline.",
        client.identity()
    );
    Ok(Output::new(
        format!("{}\n", *words),
        json!({"identity": client.identity().to_string(), "words": *words}),
    ))
}

async fn restore(home: &HomeArgs, servers: &[String], words: &[String]) -> anyhow::Result<Output> {
    let dir = home.dir()?;
    if dir.join(Home::KEY_FILE).exists() {
        bail!(
            "an identity already exists in {}; restore into a new home (pass --home DIR)",
            dir.display()
        );
    }
    let text = if words == ["-"] {
        zeroize::Zeroizing::new(crate::input::stdin_line(64 * 1024, "the recovery words")?)
    } else {
        zeroize::Zeroizing::new(words.join(" "))
    };
    let secret = secret_from_words(&text).context("cannot read the recovery words")?;
    let options = home.client_options()?;
    let client = Client::open_with(Home::import(&dir, secret)?, options).await?;
    let identity = client.identity();
    let pulled = client.pull_identity(identity, servers).await?;
    if pulled.answered.is_empty() {
        eprintln!(
            "warning: no server answered; identity {identity} is restored in {} but nothing of              it was fetched: `agora sync` later",
            dir.display()
        );
    }
    // The servers given join the identity's set when it did not list them.
    let known = client.servers().await?;
    for server in servers {
        if !known.contains(&server.trim_end_matches('/').to_owned()) {
            client.add_server(server).await?;
        }
    }
    let devices = client.devices_of(identity).await?;
    let username = client.profile(identity).await?.username;
    let mut text = format!(
        "restored identity {}{identity} in {}
fetched {} event(s) from {}
",
        username
            .as_ref()
            .map(|name| format!("{name}, "))
            .unwrap_or_default(),
        dir.display(),
        pulled.value,
        crate::output::answered_text(&pulled.answered)
    );
    for device in &devices {
        text.push_str(&format!(
            "  device {:<16} {}  {}\n",
            device.name,
            device.key,
            state_text(device)
        ));
    }
    text.push_str("next: `agora device revoke NAME` for a lost device, `agora device approve CODE` for a new one\n");
    let json = json!({
        "identity": identity.to_string(), "home": dir, "username": username,
        "fetched": pulled.value,
        "devices": devices.iter().map(|device| device_json(device, false)).collect::<Vec<_>>(),
    });
    Ok(Output::new(text, json))
}

/// Demotes a root home to a device: a new device key accepted and authorized, pushed, and the
/// root key file replaced last.
async fn forget(home: &HomeArgs, confirmed: bool) -> anyhow::Result<Output> {
    if !confirmed {
        bail!(
            "this removes the root key from this home for good: only the recovery words can \
             authorize or revoke devices afterwards. Write them down (`agora recovery show`), then \
             run again with --i-have-the-words"
        );
    }
    let root = open(home).await?;
    require_root(&root, "be taken off a home")?;
    let identity = root.identity();
    let dir = home.dir()?;
    let device_secret = agora_protocol::SecretKey::generate();
    let device = device_secret.public_key();
    // The new key accepts the identity and the root authorizes it before the root key goes.
    root.authorize_new_key(&device_secret, "this home").await?;
    let report = root.push().await?;
    drop(root);
    Home::open(&dir)?.become_device(device_secret)?;
    let text = format!(
        "this home is now device \"this home\" ({device}) of {identity}; the root key is gone \
         from it\n{}",
        push_text(&report)
    );
    let json = json!({
        "identity": identity.to_string(), "device": device.to_string(),
        "push": push_json(&report),
    });
    Ok(Output::new(text, json))
}

/// A key as `whoami`, `device list` and pairing print it, or a link to it.
fn parse_key(text: &str) -> anyhow::Result<PublicKey> {
    let text = text.trim();
    if text.contains("://") {
        return match crate::names::parse_link(text)? {
            Link::System { system, .. } | Link::Event { system, .. } => Ok(system),
        };
    }
    PublicKey::parse_text(text).map_err(|error| anyhow::anyhow!("not a key: {error}"))
}

/// A device of this identity by name or key.
async fn find_device(client: &Client, reference: &str) -> anyhow::Result<Device> {
    let devices = client.devices_of(client.identity()).await?;
    let key = parse_key(reference).ok();
    if key == Some(client.identity()) {
        bail!("{reference} is the identity's root key, which cannot be revoked or renamed");
    }
    let mut matching = devices
        .into_iter()
        .filter(|device| Some(device.key) == key || device.name == reference);
    match (matching.next(), matching.next()) {
        (Some(device), None) => Ok(device),
        (Some(_), Some(_)) => bail!("several devices are named {reference:?}; name one by its key"),
        (None, _) => {
            bail!("unknown device {reference:?}: `agora device list` shows this identity's devices")
        }
    }
}

fn state_text(device: &Device) -> String {
    match &device.revoked {
        None => "active".to_owned(),
        Some(bounds) => format!("REVOKED ({})", bounds_text(bounds)),
    }
}

fn bounds_text(bounds: &[(Process, u64)]) -> String {
    if bounds.is_empty() {
        return "none of its events stay valid".to_owned();
    }
    let kept: Vec<String> = bounds
        .iter()
        .map(|(process, last)| format!("{} up to clock {last}", process_short(process)))
        .collect();
    format!("events kept: {}", kept.join(", "))
}

fn bounds_json(bounds: &[(Process, u64)]) -> Value {
    bounds
        .iter()
        .map(|(process, last)| {
            json!({"process": agora_protocol::encoding::base64_standard_encode(process.as_bytes()),
                   "last_logical_clock": last})
        })
        .collect()
}

fn process_short(process: &Process) -> String {
    let text = agora_protocol::encoding::base64_standard_encode(process.as_bytes());
    format!("process {}", &text[..8])
}

fn device_json(device: &Device, this: bool) -> Value {
    json!({
        "key": device.key.to_string(),
        "name": device.name,
        "authorized_ms": device.authorized_ms,
        "revoked": device.revoked.is_some(),
        "bounds": device.revoked.as_deref().map(bounds_json),
        "this_home": this,
    })
}
