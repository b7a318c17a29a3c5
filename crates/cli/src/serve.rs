//! `agora serve`: a server on the embedded store, or on a PostgreSQL database that several
//! nodes share, configured by flags or environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use agora_server::config::{AdminToken, HandlePolicy, IdentityConfig};
use agora_server::connections::ConnectionLimits;
use agora_server::live::StreamConfig;
use agora_server::mirror::{MirrorConfig, MirrorPolicy};
use agora_server::ratelimit::{Rate, RateLimits};
use agora_server::{Limits, Server, ServerConfig};
use agora_store::Store;
use agora_store::postgres::{PgOptions, PgStore};
use agora_store::sqlite::{SqliteOptions, SqliteStore};
use anyhow::Context as _;

/// `--listen`: an address, a host name with a port, or `:PORT` on the loopback interface.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs as _;
    let text = text.trim();
    let port_only = text.strip_prefix(':').unwrap_or(text);
    if let Ok(port) = port_only.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    let mut resolved: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|error| format!("{text:?} is not HOST:PORT, IP:PORT or :PORT ({error})"))?
        .collect();
    resolved.sort_by_key(|address| !address.is_ipv4());
    resolved
        .first()
        .copied()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on: IP:PORT, HOST:PORT (e.g. localhost:8081), or :PORT for
    /// 127.0.0.1:PORT (`:0` picks a free port); 0.0.0.0:PORT listens on every interface.
    #[arg(long, env = "AGORA_LISTEN", default_value = "127.0.0.1:8081", value_parser = parse_listen)]
    listen: SocketAddr,
    /// Directory of the embedded store [default: $XDG_DATA_HOME/agora/server, or
    /// ~/.local/share/agora/server].
    #[arg(long, env = "AGORA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL database to keep the store in instead of the data directory, shared by
    /// every node given the same URL: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (a
    /// `?options=-c%20search_path%3DSCHEMA` suffix picks a schema).
    #[arg(
        long,
        env = "AGORA_DATABASE_URL",
        hide_env_values = true,
        conflicts_with = "data_dir"
    )]
    database_url: Option<String>,
    /// Largest request body, in bytes.
    #[arg(long, env = "AGORA_BODY_BYTES_MAX", default_value_t = Limits::default().body_bytes_max)]
    body_bytes_max: usize,
    /// Most bytes of request bodies held at once over all requests; a request waits for its
    /// share (503 when none frees within the body timeout).
    #[arg(long, env = "AGORA_BODY_BUDGET_BYTES", default_value_t = Limits::default().body_budget_bytes)]
    body_budget_bytes: u64,
    /// Most events in one POST /events.
    #[arg(long, env = "AGORA_EVENTS_PER_BATCH_MAX", default_value_t = Limits::default().events_per_batch_max)]
    events_per_batch_max: usize,
    /// Largest serialized event, in bytes.
    #[arg(long, env = "AGORA_EVENT_BYTES_MAX", default_value_t = Limits::default().ingest.event_bytes_max)]
    event_bytes_max: usize,
    /// Largest post text, in UTF-8 bytes.
    #[arg(long, env = "AGORA_POST_TEXT_BYTES_MAX", default_value_t = Limits::default().ingest.post_text_bytes_max)]
    post_text_bytes_max: usize,
    /// Largest page a `limit` query parameter may ask for (larger values are cut to it).
    #[arg(long, env = "AGORA_QUERY_LIMIT_MAX", default_value_t = Limits::default().query_limit_max)]
    query_limit_max: usize,
    /// Local labeler rules (`CATEGORY LEVEL WORD-or-/REGEX/` per line): posts, usernames and
    /// descriptions are tagged at ingest and `moderation_filters` apply. Without it moderation
    /// is off.
    #[arg(long, env = "AGORA_LABELER_RULES")]
    labeler_rules: Option<PathBuf>,
    /// Who may claim a handle without proof: `open` (unsigned claims, as official clients send,
    /// bind free handles and move unproven bindings) or `proof` (every claim must be signed).
    #[arg(long, env = "AGORA_HANDLE_POLICY", value_enum, default_value_t = HandlePolicyArg::Open)]
    handle_policy: HandlePolicyArg,
    /// HMAC key for /challenge [default: the store's own random key, kept across restarts and
    /// shared by every node over the store].
    #[arg(long, env = "AGORA_CHALLENGE_KEY", hide_env_values = true)]
    challenge_key: Option<String>,
    /// Seconds a challenge (for purge and signed handle claims) stays valid.
    #[arg(long, env = "AGORA_CHALLENGE_LIFETIME_SECS", default_value_t = 300)]
    challenge_lifetime_secs: u64,
    /// Operator token for POST /censor and /uncensor: the `authorization` header must equal it
    /// (optionally after `Bearer `). Without a token those routes answer 403. Prefer the
    /// environment variable or --admin-token-file: command lines are visible to other users.
    #[arg(
        long,
        env = "AGORA_ADMIN_TOKEN",
        hide_env_values = true,
        conflicts_with = "admin_token_file"
    )]
    admin_token: Option<String>,
    /// File holding the operator token (surrounding whitespace is ignored).
    #[arg(long, env = "AGORA_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
    /// Most open live subscriptions (GET /stream) from one client address; one more: 429.
    #[arg(long, env = "AGORA_STREAM_SUBSCRIPTIONS_PER_ADDRESS_MAX", default_value_t = StreamConfig::default().subscriptions_per_address_max)]
    stream_subscriptions_per_address_max: usize,
    /// Seconds between heartbeats (a comment line) on an idle live subscription.
    #[arg(long, env = "AGORA_STREAM_HEARTBEAT_SECS", default_value_t = StreamConfig::default().heartbeat.as_secs())]
    stream_heartbeat_secs: u64,
    /// Seconds a live subscriber may leave events unread before it is dropped (it resumes from
    /// the last position it received).
    #[arg(long, env = "AGORA_STREAM_SLOW_CONSUMER_SECS", default_value_t = StreamConfig::default().slow_consumer_timeout.as_secs())]
    stream_slow_consumer_secs: u64,
    /// Seconds a client may take to send a request's head; also how long a kept-alive
    /// connection may sit idle.
    #[arg(long, env = "AGORA_HEADER_READ_TIMEOUT_SECS", default_value_t = ConnectionLimits::default().header_read_timeout.as_secs())]
    header_read_timeout_secs: u64,
    /// Longest pause, in seconds, while a client sends a request body.
    #[arg(long, env = "AGORA_BODY_READ_TIMEOUT_SECS", default_value_t = ConnectionLimits::default().body_read_timeout.as_secs())]
    body_read_timeout_secs: u64,
    /// Seconds a request may take to be answered (live streams excepted); over it: 503.
    #[arg(long, env = "AGORA_REQUEST_TIMEOUT_SECS", default_value_t = ConnectionLimits::default().request_timeout.as_secs())]
    request_timeout_secs: u64,
    /// Most open connections in all; more are closed as soon as they are accepted.
    #[arg(long, env = "AGORA_CONNECTIONS_MAX", default_value_t = ConnectionLimits::default().connections_max)]
    connections_max: usize,
    /// Most open connections from one client address.
    #[arg(long, env = "AGORA_CONNECTIONS_PER_ADDRESS_MAX", default_value_t = ConnectionLimits::default().connections_per_address_max)]
    connections_per_address_max: usize,
    /// Rate limits per client address and per identity (429 with Retry-After over them):
    /// `on` or `off`.
    #[arg(long, env = "AGORA_RATE_LIMITS", value_enum, default_value_t = Switch::On)]
    rate_limits: Switch,
    /// One limit as NAME=PER_SECOND/BURST (repeatable): writes, events-per-address,
    /// events-per-identity, handles, handles-per-identity, challenges or expensive-reads, e.g.
    /// expensive-reads=50/500.
    #[arg(long = "rate-limit", env = "AGORA_RATE_LIMIT", value_delimiter = ',', value_name = "NAME=RATE/BURST", value_parser = parse_rate_limit)]
    rate_limit: Vec<(String, Rate)>,
    /// A client address never rate limited (repeatable): your own tools, a load generator.
    #[arg(
        long = "rate-limit-allow",
        env = "AGORA_RATE_LIMIT_ALLOW",
        value_delimiter = ',',
        value_name = "IP"
    )]
    rate_limit_allow: Vec<std::net::IpAddr>,
    /// A reverse proxy whose `X-Forwarded-For` names the client (repeatable); rate limits then
    /// apply to that client instead of the proxy.
    #[arg(
        long = "trusted-proxy",
        env = "AGORA_TRUSTED_PROXY",
        value_delimiter = ',',
        value_name = "IP"
    )]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Seconds requests in flight may take to finish after SIGTERM before they are cut.
    #[arg(long, env = "AGORA_SHUTDOWN_GRACE_SECS", default_value_t = ConnectionLimits::default().shutdown_grace.as_secs())]
    shutdown_grace_secs: u64,
    /// Keep copies of what the server at URL holds (repeat for several peers): everything it
    /// has, or only the identities given with --mirror-identity. See "Mirroring".
    #[arg(
        long = "mirror",
        env = "AGORA_MIRROR",
        value_delimiter = ',',
        value_name = "URL"
    )]
    mirrors: Vec<String>,
    /// Mirror only this identity (a system link; repeat for several) from every --mirror peer.
    #[arg(
        long = "mirror-identity",
        env = "AGORA_MIRROR_IDENTITY",
        value_delimiter = ',',
        value_name = "LINK",
        conflicts_with = "mirror_followed"
    )]
    mirror_identities: Vec<String>,
    /// Mirror only the identities this server's own users follow (users: identities whose
    /// servers include one of --public-url), worked out again every minute.
    #[arg(
        long = "mirror-followed",
        env = "AGORA_MIRROR_FOLLOWED",
        requires = "public_urls"
    )]
    mirror_followed: bool,
    /// The address people use for this server (repeatable), as they add it with `agora server
    /// add`; --mirror-followed finds this server's users by it.
    #[arg(
        long = "public-url",
        env = "AGORA_PUBLIC_URL",
        value_delimiter = ',',
        value_name = "URL"
    )]
    public_urls: Vec<String>,
    /// Do not serve the web client at `/` (the API routes are the same either way).
    #[arg(long, env = "AGORA_NO_WEB")]
    no_web: bool,
    /// Log lines on stderr as plain text (no colour codes unless stderr is a terminal) or as
    /// one JSON object each.
    #[arg(long, env = "AGORA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// An on/off flag value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Switch {
    On,
    Off,
}

/// Names `--rate-limit` accepts.
const RATE_LIMIT_NAMES: [&str; 7] = [
    "writes",
    "events-per-address",
    "events-per-identity",
    "handles",
    "handles-per-identity",
    "challenges",
    "expensive-reads",
];

/// `NAME=PER_SECOND/BURST`.
fn parse_rate_limit(text: &str) -> Result<(String, Rate), String> {
    let (name, rate) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=PER_SECOND/BURST"))?;
    let name = name.trim();
    if !RATE_LIMIT_NAMES.contains(&name) {
        return Err(format!(
            "no rate limit is called {name:?}; the limits are {}",
            RATE_LIMIT_NAMES.join(", ")
        ));
    }
    let (per_second, burst) = rate
        .split_once('/')
        .ok_or_else(|| format!("{rate:?} is not PER_SECOND/BURST"))?;
    let number = |text: &str| {
        text.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{text:?} is not a number above 0"))
    };
    Ok((
        name.to_owned(),
        Rate {
            per_second: number(per_second)?,
            burst: number(burst)?,
        },
    ))
}

/// `--log-format` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `--handle-policy` values (see [`HandlePolicy`]).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum HandlePolicyArg {
    Open,
    Proof,
}

impl ServeArgs {
    fn config(&self) -> anyhow::Result<ServerConfig> {
        let mut limits = Limits {
            body_bytes_max: self.body_bytes_max,
            body_budget_bytes: self.body_budget_bytes,
            events_per_batch_max: self.events_per_batch_max,
            query_limit_max: self.query_limit_max,
            ..Limits::default()
        };
        limits.ingest.event_bytes_max = self.event_bytes_max;
        limits.ingest.post_text_bytes_max = self.post_text_bytes_max;
        let identities = self
            .mirror_identities
            .iter()
            .map(|link| {
                agora_store::CensorTarget::from_link(link)
                    .map(|target| *target.system())
                    .with_context(|| format!("--mirror-identity {link:?} is not a system link"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let policy = if self.mirror_followed {
            MirrorPolicy::FollowedByUsers {
                server_urls: self.public_urls.clone(),
                refresh: Duration::from_secs(60),
            }
        } else if identities.is_empty() {
            MirrorPolicy::Everything
        } else {
            MirrorPolicy::Identities(identities)
        };
        let mut mirrors = Vec::new();
        for peer in &self.mirrors {
            if !(peer.starts_with("http://") || peer.starts_with("https://")) {
                anyhow::bail!("--mirror {peer:?} must be an http:// or https:// URL");
            }
            mirrors.push(MirrorConfig {
                peer: peer.clone(),
                policy: policy.clone(),
            });
        }
        Ok(ServerConfig {
            listen: self.listen,
            limits,
            identity: IdentityConfig {
                handle_policy: match self.handle_policy {
                    HandlePolicyArg::Open => HandlePolicy::Open,
                    HandlePolicyArg::Proof => HandlePolicy::Proof,
                },
                challenge_key: self
                    .challenge_key
                    .as_ref()
                    .map(|key| key.as_bytes().to_vec()),
                challenge_lifetime: Duration::from_secs(self.challenge_lifetime_secs),
            },
            admin_token: None,
            stream: StreamConfig {
                subscriptions_per_address_max: self.stream_subscriptions_per_address_max,
                heartbeat: Duration::from_secs(self.stream_heartbeat_secs.max(1)),
                slow_consumer_timeout: Duration::from_secs(self.stream_slow_consumer_secs.max(1)),
                ..StreamConfig::default()
            },
            mirrors,
            web_client: !self.no_web,
            rate_limits: self.rate_limits(),
            connections: ConnectionLimits {
                header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.max(1)),
                body_read_timeout: Duration::from_secs(self.body_read_timeout_secs.max(1)),
                request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
                connections_max: self.connections_max.max(1),
                connections_per_address_max: self.connections_per_address_max.max(1),
                shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            },
        })
    }

    fn rate_limits(&self) -> RateLimits {
        let mut limits = RateLimits {
            enabled: self.rate_limits == Switch::On,
            allow: self.rate_limit_allow.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
            ..RateLimits::default()
        };
        for (name, rate) in &self.rate_limit {
            let slot = match name.as_str() {
                "writes" => &mut limits.writes_per_address,
                "events-per-address" => &mut limits.events_per_address,
                "events-per-identity" => &mut limits.events_per_identity,
                "handles" => &mut limits.handles_per_address,
                "handles-per-identity" => &mut limits.handles_per_identity,
                "challenges" => &mut limits.challenges_per_address,
                _ => &mut limits.expensive_reads_per_address,
            };
            *slot = *rate;
        }
        limits
    }

    /// The operator token from --admin-token or --admin-token-file; an empty one is an error,
    /// not a disabled check.
    fn admin_token(&self) -> anyhow::Result<Option<AdminToken>> {
        let token = match (&self.admin_token, &self.admin_token_file) {
            (Some(token), _) => token.clone(),
            (None, Some(file)) => {
                let bytes = crate::input::read_file(file, 64 * 1024, "the admin token file")?;
                String::from_utf8(bytes)
                    .with_context(|| {
                        format!("the admin token file {} is not UTF-8", file.display())
                    })?
                    .trim()
                    .to_owned()
            }
            (None, None) => return Ok(None),
        };
        AdminToken::new(token)
            .map(Some)
            .context("the admin token is empty: give a non-empty token or leave it unset")
    }
}

/// The documented default data directory (also `agora admin`'s).
pub(crate) fn default_data_dir() -> anyhow::Result<PathBuf> {
    if let Some(data_home) = std::env::var_os("XDG_DATA_HOME").filter(|value| !value.is_empty()) {
        return Ok(PathBuf::from(data_home).join("agora/server"));
    }
    let home = std::env::var_os("HOME")
        .context("neither AGORA_DATA_DIR, XDG_DATA_HOME nor HOME is set; pass --data-dir")?;
    Ok(PathBuf::from(home).join(".local/share/agora/server"))
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    // A bad rules file stops the server before it opens anything, naming the line.
    let labeler = match &args.labeler_rules {
        Some(path) => Some(std::sync::Arc::new(
            agora_store::moderation::Labeler::load(path).with_context(|| {
                format!("not starting: labeler rules {} are invalid", path.display())
            })?,
        )),
        None => None,
    };
    if let Some(url) = &args.database_url {
        let place = agora_store::postgres::describe(url);
        let options = PgOptions {
            labeler,
            ..PgOptions::new(url.clone())
        };
        let store = PgStore::open(options)
            .await
            .with_context(|| format!("opening the store in {place}"))?;
        return serve(args, store, place).await;
    }
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => default_data_dir()?,
    };
    let options = SqliteOptions {
        labeler,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(&data_dir, options)
        .with_context(|| format!("opening the store in {}", data_dir.display()))?;
    serve(args, store, data_dir.display().to_string()).await
}

/// Serves `store` (kept in `place`, as the ready line names it) until SIGINT or SIGTERM.
async fn serve<S: Store>(args: ServeArgs, store: S, place: String) -> anyhow::Result<()> {
    let config = ServerConfig {
        admin_token: args.admin_token()?,
        ..args.config()?
    };
    let server = Server::bind(config, store)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let stop = shutdown_signal()?;
    // Printed on stdout so scripts (and tests) can read the address when listening on port 0.
    println!("agora serving {} (data in {place})", server.url());
    stop.await;
    tracing::info!("shutting down: finishing requests in flight");
    server.shutdown().await.context("shutting down")?;
    Ok(())
}

/// SIGINT and SIGTERM, listened for from the moment this is made, so a signal sent as soon as
/// the server says it is ready is never the default, abrupt, kind.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_takes_a_port_alone_a_host_name_or_an_address() {
        let loopback = |port| SocketAddr::from(([127, 0, 0, 1], port));
        assert_eq!(parse_listen(":0"), Ok(loopback(0)));
        assert_eq!(parse_listen(":8081"), Ok(loopback(8081)));
        assert_eq!(parse_listen("localhost:9000"), Ok(loopback(9000)));
        assert_eq!(
            parse_listen("0.0.0.0:80"),
            Ok(SocketAddr::from(([0, 0, 0, 0], 80)))
        );
        assert!(parse_listen("nowhere.invalid:80").is_err());
        assert!(parse_listen(":99999").is_err());
    }
}
