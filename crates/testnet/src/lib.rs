//! Dev-only test network: real `agora serve` instances on port 0, each with its own temporary
//! data directory, for integration tests that need one or several servers; servers that lie
//! (`lying`) or answer anything at all (`hostile`); and the mutations property tests feed
//! parsers (`arbitrary`).

pub mod arbitrary;
pub mod hostile;
pub mod lying;
pub mod properties;
mod served;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agora_server::{Server, ServerConfig};
use agora_store::sqlite::{SqliteOptions, SqliteStore};

/// One running server and the directory that holds its store.
#[derive(Debug)]
pub struct TestServer {
    server: Option<Server>,
    config: ServerConfig,
    /// Where the server listens, or listened before it was stopped.
    address: SocketAddr,
    /// Kept so the directory lives (and is removed) with the server.
    data_dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server with default limits on a fresh store.
    pub async fn start() -> Self {
        Self::start_with(ServerConfig::default()).await
    }

    /// Starts a server with `config` (its listen address is replaced by 127.0.0.1:0).
    pub async fn start_with(config: ServerConfig) -> Self {
        let data_dir = tempfile::tempdir().expect("temporary data directory");
        let config = ServerConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            ..config
        };
        let server = serve(&config, data_dir.path()).await;
        Self {
            address: server.local_addr(),
            server: Some(server),
            config,
            data_dir,
        }
    }

    pub fn url(&self) -> String {
        self.server.as_ref().expect("server is running").url()
    }

    /// The address the server listens on, or listened on before it was stopped.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Stops the server gracefully, then starts a new one on the same store (new port).
    pub async fn restart(&mut self) {
        self.stop().await;
        let server = serve(&self.config, self.data_dir.path()).await;
        self.address = server.local_addr();
        self.server = Some(server);
    }

    /// Stops the server if it runs, then starts it again on the same store and the same address,
    /// so the links and SERVER events that name it reach it again: a server that was down and
    /// came back.
    pub async fn resume(&mut self) {
        self.stop().await;
        down().remove(&self.address);
        let config = ServerConfig {
            listen: self.address,
            ..self.config.clone()
        };
        self.server = Some(serve_again(&config, self.data_dir.path()).await);
    }

    /// Stops the server gracefully, keeping its store for a later `restart`. Its address stays
    /// down: no server this process starts later takes it (see [`is_down`]).
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("server shuts down cleanly");
            down().insert(self.address);
        }
    }

    pub fn data_path(&self) -> PathBuf {
        self.data_dir.path().join(SqliteStore::FILE_NAME)
    }
}

/// Starts a server on a free loopback port that no stopped server of this process had.
async fn serve(config: &ServerConfig, data_dir: &Path) -> Server {
    loop {
        let config = ServerConfig {
            listen: fresh_address(),
            ..config.clone()
        };
        let store = SqliteStore::open(data_dir, SqliteOptions::default()).expect("store opens");
        match Server::bind(config, store).await {
            Ok(server) => return server,
            // Taken in the moment between the probe and the bind: another one.
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(error) => panic!("server binds: {error}"),
        }
    }
}

/// The addresses of this process's stopped servers. Links, hints and SERVER events still name
/// them, and a test that stops a server counts on its address refusing connections: a server
/// started later on the same port (the kernel hands out a freed port again) would answer for
/// one that is down.
fn down() -> std::sync::MutexGuard<'static, std::collections::HashSet<SocketAddr>> {
    static DOWN: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<SocketAddr>>> =
        std::sync::OnceLock::new();
    DOWN.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether `address` is one a stopped server of this process listened on.
pub(crate) fn is_down(address: SocketAddr) -> bool {
    down().contains(&address)
}

/// A free loopback address that is not [`is_down`]: probes are held while they land on a down
/// one, so the next probe gets another port.
fn fresh_address() -> SocketAddr {
    let mut held = Vec::new();
    loop {
        let probe = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("a free loopback port");
        let address = probe.local_addr().expect("a bound address");
        if !is_down(address) {
            return address;
        }
        held.push(probe);
    }
}

/// How long [`TestServer::resume`] waits for its old address to be free again.
const REBIND_WAIT: Duration = Duration::from_secs(10);

/// Binds `config.listen` again, retrying while the address is still in use.
async fn serve_again(config: &ServerConfig, data_dir: &Path) -> Server {
    let deadline = tokio::time::Instant::now() + REBIND_WAIT;
    loop {
        let store = SqliteStore::open(data_dir, SqliteOptions::default()).expect("store opens");
        match Server::bind(config.clone(), store).await {
            Ok(server) => return server,
            Err(error)
                if error.kind() == std::io::ErrorKind::AddrInUse
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("server binds {} again: {error}", config.listen),
        }
    }
}
