//! `agora admin`: operator curation, opening the server's store directly (its data directory,
//! or its PostgreSQL database with `--database-url`), and `migrate`, which copies a data
//! directory's store into PostgreSQL. Safe while `agora serve` runs on the same store: writes
//! are serialized (SQLite's WAL, the PostgreSQL engine's write lock), each change is one
//! transaction, and servers read the censorship tables at every ingest, so a change takes
//! effect at once without a restart.

use std::path::PathBuf;

use agora_protocol::encoding::base64url_encode;
use agora_protocol::links::{Link, LinkError};
use agora_store::postgres::{PgOptions, PgStore};
use agora_store::sqlite::{SqliteOptions, SqliteStore};
use agora_store::{CensorTarget, Censorship, CensorshipKind, Store};
use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::output::Output;

#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// Directory of the server's store [default: the same as `agora serve`].
    #[arg(long, env = "AGORA_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// The server's PostgreSQL database instead of a data directory (as `agora serve`).
    #[arg(
        long,
        env = "AGORA_DATABASE_URL",
        global = true,
        hide_env_values = true,
        conflicts_with = "data_dir"
    )]
    database_url: Option<String>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AdminCommand {
    /// Censor an identity or a post, given its link (`polycentric://…` or a web URL ending in
    /// one). do-not-recommend keeps it stored and served but out of search, explore, trending
    /// and recommendations; refuse-storage deletes it from this server and refuses it from now on.
    #[command(after_help = "Example:\n  agora admin censor polycentric://… --kind refuse-storage")]
    Censor {
        /// A system (identity) or event (post) link.
        link: String,
        /// How strongly: do-not-recommend or refuse-storage.
        #[arg(long, value_enum)]
        kind: KindArg,
    },
    /// Lift the censorship of an identity or a post. What refuse-storage deleted comes back only
    /// when someone publishes it again.
    #[command(after_help = "Example:\n  agora admin uncensor polycentric://…")]
    Uncensor {
        /// The link given to `censor` (as `agora admin list` prints it).
        link: String,
    },
    /// List every censorship in force.
    #[command(after_help = "Example:\n  agora admin list --data-dir /var/lib/agora")]
    List,
    /// Copy a data directory's store into an empty PostgreSQL database, then check the copy,
    /// so the server can move to several nodes over that database. Stop `agora serve` first.
    #[command(
        after_help = "Example:\n  agora admin migrate --data-dir /var/lib/agora --to postgres://agora@db/agora"
    )]
    Migrate {
        /// The PostgreSQL database to copy into (it must hold no events).
        #[arg(long)]
        to: String,
    },
}

/// `--kind` values.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum KindArg {
    DoNotRecommend,
    RefuseStorage,
}

impl From<KindArg> for CensorshipKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::DoNotRecommend => Self::DoNotRecommend,
            KindArg::RefuseStorage => Self::RefuseStorage,
        }
    }
}

pub async fn run(args: AdminArgs, json: bool) -> anyhow::Result<()> {
    if let AdminCommand::Migrate { to } = &args.command {
        let data_dir = match &args.data_dir {
            Some(dir) => dir.clone(),
            None => crate::serve::default_data_dir()?,
        };
        return migrate(&open(&data_dir)?, to, json).await;
    }
    match &args.database_url {
        Some(url) => {
            let place = agora_store::postgres::describe(url);
            let store = PgStore::open(PgOptions {
                connections_max: 2,
                ..PgOptions::new(url.clone())
            })
            .await
            .with_context(|| format!("opening the store in {place}"))?;
            curate(store, args.command, json).await
        }
        None => {
            let data_dir = match args.data_dir {
                Some(dir) => dir,
                None => crate::serve::default_data_dir()?,
            };
            curate(open(&data_dir)?, args.command, json).await
        }
    }
}

/// `agora admin migrate`: copies, checks, and says what moved.
async fn migrate(source: &SqliteStore, url: &str, json: bool) -> anyhow::Result<()> {
    let place = agora_store::postgres::describe(url);
    let target = PgStore::open(PgOptions::new(url.to_owned()))
        .await
        .with_context(|| format!("opening {place}"))?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64);
    let copied = agora_store::migrate::sqlite_to_postgres(source, &target, now_ms, |events| {
        if events % 100_000 == 0 && events > 0 {
            eprintln!("copied {events} events");
        }
    })
    .await
    .with_context(|| format!("copying into {place}"))?;
    Output::new(
        format!(
            "copied {} events of {} identities, {} handles, {} censorships and {} spent \
             challenges into {place}, and checked the copy\n",
            copied.events,
            copied.systems,
            copied.handles,
            copied.censorships,
            copied.spent_challenges
        ),
        json!({
            "events": copied.events,
            "identities": copied.systems,
            "handles": copied.handles,
            "censorships": copied.censorships,
            "spent_challenges": copied.spent_challenges,
        }),
    )
    .print(json);
    Ok(())
}

/// The curation commands, on either engine.
async fn curate<S: Store>(store: S, command: AdminCommand, json: bool) -> anyhow::Result<()> {
    let output = match command {
        AdminCommand::Censor { link, kind } => {
            let target = parse_target(&link)?;
            let kind = CensorshipKind::from(kind);
            let outcome = store.censor(target.clone(), kind).await?;
            let text = if outcome.changed {
                format!(
                    "censored {}: {}; {} stored event(s) removed\n",
                    describe(&target),
                    outcome.kind,
                    outcome.events_removed
                )
            } else {
                format!(
                    "{} is already censored: {} stays in force\n",
                    describe(&target),
                    outcome.kind
                )
            };
            Output::new(
                text,
                json!({
                    "target": target_json(&target),
                    "kind": outcome.kind.as_str(),
                    "changed": outcome.changed,
                    "events_removed": outcome.events_removed,
                }),
            )
        }
        AdminCommand::Uncensor { link } => {
            let target = parse_target(&link)?;
            let lifted = store.uncensor(target.clone()).await?;
            let text = match lifted {
                Some(kind) => format!("lifted {kind} from {}\n", describe(&target)),
                None => format!("{} was not censored: nothing to lift\n", describe(&target)),
            };
            Output::new(
                text,
                json!({
                    "target": target_json(&target),
                    "lifted": lifted.map(CensorshipKind::as_str),
                }),
            )
        }
        AdminCommand::List => {
            let list = store.censorships().await?;
            let censorships: Vec<serde_json::Value> = list.iter().map(censorship_json).collect();
            Output::new(list_text(&list), json!({"censorships": censorships}))
        }
        AdminCommand::Migrate { .. } => unreachable!("handled before a store is opened"),
    };
    output.print(json);
    Ok(())
}

/// Opens an existing store; a directory without one is a mistake worth naming, not a new store.
fn open(data_dir: &std::path::Path) -> anyhow::Result<SqliteStore> {
    let file = data_dir.join(SqliteStore::FILE_NAME);
    if !file.is_file() {
        bail!(
            "no Agora store in {}: pass the server's --data-dir (or AGORA_DATA_DIR)",
            data_dir.display()
        );
    }
    // A short-lived tool needs little page cache and no parallel readers.
    let options = SqliteOptions {
        readers_max: 1,
        writer_cache_kib: 8 * 1024,
        reader_cache_kib: 8 * 1024,
        ..SqliteOptions::default()
    };
    SqliteStore::open(data_dir, options)
        .with_context(|| format!("opening the store in {}", data_dir.display()))
}

fn parse_target(link: &str) -> anyhow::Result<CensorTarget> {
    match CensorTarget::from_link(link) {
        Ok(target) => Ok(target),
        Err(LinkError::UrlType(url_type)) => {
            bail!("link type {url_type} cannot be censored: give an identity (1) or post (2) link")
        }
        Err(error) => bail!("{link:?} is not an identity or post link: {error}"),
    }
}

/// The link that names a target, for `list` output and `uncensor`.
fn target_link(target: &CensorTarget) -> String {
    match target {
        CensorTarget::System(system) => Link::System {
            system: *system,
            servers: Vec::new(),
        },
        CensorTarget::Event {
            system,
            process,
            logical_clock,
        } => Link::Event {
            system: *system,
            process: *process,
            logical_clock: *logical_clock,
            servers: Vec::new(),
        },
    }
    .to_url()
}

fn describe(target: &CensorTarget) -> String {
    match target {
        CensorTarget::System(system) => {
            format!("identity {}", base64url_encode(system.as_bytes()))
        }
        CensorTarget::Event {
            system,
            process,
            logical_clock,
        } => format!(
            "post {} of identity {} (process {})",
            logical_clock,
            base64url_encode(system.as_bytes()),
            base64url_encode(process.as_bytes())
        ),
    }
}

fn target_json(target: &CensorTarget) -> Value {
    match target {
        CensorTarget::System(system) => json!({
            "type": "system",
            "system": base64url_encode(system.as_bytes()),
            "link": target_link(target),
        }),
        CensorTarget::Event {
            system,
            process,
            logical_clock,
        } => json!({
            "type": "event",
            "system": base64url_encode(system.as_bytes()),
            "process": base64url_encode(process.as_bytes()),
            "logical_clock": logical_clock,
            "link": target_link(target),
        }),
    }
}

fn censorship_json(censorship: &Censorship) -> Value {
    json!({
        "target": target_json(&censorship.target),
        "kind": censorship.kind.as_str(),
        "created_ms": censorship.created_ms,
    })
}

fn list_text(list: &[Censorship]) -> String {
    if list.is_empty() {
        return "nothing is censored\n".to_owned();
    }
    let mut text = String::new();
    for censorship in list {
        text.push_str(&format!(
            "{}  {}  {}\n  {}\n",
            crate::output::local_time(censorship.created_ms),
            censorship.kind,
            describe(&censorship.target),
            target_link(&censorship.target)
        ));
    }
    text
}
