//! `agora serve`: a server on the embedded store, configured by flags or environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use agora_server::{Limits, Server, ServerConfig};
use agora_store::sqlite::{SqliteOptions, SqliteStore};
use anyhow::Context as _;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "AGORA_LISTEN", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Directory of the embedded store [default: $XDG_DATA_HOME/agora/server, or
    /// ~/.local/share/agora/server].
    #[arg(long, env = "AGORA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Largest request body, in bytes.
    #[arg(long, env = "AGORA_BODY_BYTES_MAX", default_value_t = Limits::default().body_bytes_max)]
    body_bytes_max: usize,
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
}

impl ServeArgs {
    fn config(&self) -> ServerConfig {
        let mut limits = Limits {
            body_bytes_max: self.body_bytes_max,
            events_per_batch_max: self.events_per_batch_max,
            query_limit_max: self.query_limit_max,
            ..Limits::default()
        };
        limits.ingest.event_bytes_max = self.event_bytes_max;
        limits.ingest.post_text_bytes_max = self.post_text_bytes_max;
        ServerConfig {
            listen: self.listen,
            limits,
        }
    }
}

/// The documented default data directory.
fn default_data_dir() -> anyhow::Result<PathBuf> {
    if let Some(data_home) = std::env::var_os("XDG_DATA_HOME").filter(|value| !value.is_empty()) {
        return Ok(PathBuf::from(data_home).join("agora/server"));
    }
    let home = std::env::var_os("HOME")
        .context("neither AGORA_DATA_DIR, XDG_DATA_HOME nor HOME is set; pass --data-dir")?;
    Ok(PathBuf::from(home).join(".local/share/agora/server"))
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => default_data_dir()?,
    };
    let store = SqliteStore::open(&data_dir, SqliteOptions::default())
        .with_context(|| format!("opening the store in {}", data_dir.display()))?;
    let server = Server::bind(args.config(), store)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    // Printed on stdout so scripts (and tests) can read the address when listening on port 0.
    println!(
        "agora serving {} (data in {})",
        server.url(),
        data_dir.display()
    );
    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests in flight");
    server.shutdown().await.context("shutting down")?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
