//! Accepting connections within bounds: how many at once (in all and per client address), how
//! long a client may take to send a request's head and each piece of its body, how long a
//! connection may sit idle, and how long shutdown waits for requests still in flight.
//!
//! A connection over a cap is closed as soon as it is accepted, so it never holds a file
//! descriptor for long: a client holding idle or slow connections can take at most its
//! per-address share, and each of those is closed when its timer runs out.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower::ServiceExt as _;

/// Connection bounds. `Default` is what `agora serve` runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time to send a request's head (and, between requests, time a kept-alive connection may
    /// sit idle before it is closed). Default 10 s.
    pub header_read_timeout: Duration,
    /// Longest pause while sending a request body; over it the request fails. Default 30 s.
    pub body_read_timeout: Duration,
    /// Longest a request may take to be answered (live streams excepted); over it: 503.
    /// Default 60 s.
    pub request_timeout: Duration,
    /// Most open connections in all. Default 512, well under a common 1 024 file limit.
    pub connections_max: usize,
    /// Most open connections from one client address. Default 64.
    pub connections_per_address_max: usize,
    /// After SIGTERM, how long requests in flight may finish before their connections are
    /// cut. Default 10 s.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            connections_max: 512,
            connections_per_address_max: 64,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Open connections, in all and per address.
#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// A held connection slot, given back when the connection ends.
struct Slot {
    open: Arc<Mutex<Open>>,
    address: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total -= 1;
        if let Some(count) = open.per_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.per_address.remove(&self.address);
            }
        }
    }
}

/// A slot for a connection from `address`, unless a cap is reached.
fn admit(open: &Arc<Mutex<Open>>, address: IpAddr, limits: &ConnectionLimits) -> Option<Slot> {
    let mut state = open.lock().unwrap_or_else(|p| p.into_inner());
    let from_address = state.per_address.get(&address).copied().unwrap_or(0);
    if state.total >= limits.connections_max || from_address >= limits.connections_per_address_max {
        return None;
    }
    state.total += 1;
    *state.per_address.entry(address).or_default() += 1;
    Some(Slot {
        open: Arc::clone(open),
        address,
    })
}

/// Serves `app` on `listener` until `stop` fires, then lets requests in flight finish for
/// `limits.shutdown_grace` and cuts what is left.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    stop: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    // HTTP/1.1, as the official clients and any TLS-terminating proxy in front speak it: its
    // head timer runs from the moment a connection may send a head, idle ones included.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Mutex::new(Open::default()));
    tokio::pin!(stop);
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a moment instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let Some(slot) = admit(&open, peer.ip(), &limits) else {
            tracing::debug!(%peer, "connection refused: a connection cap is reached");
            drop(socket);
            continue;
        };
        let _ = socket.set_nodelay(true);
        let service =
            app.clone()
                .map_request(move |request: hyper::Request<hyper::body::Incoming>| {
                    let mut request = request.map(axum::body::Body::new);
                    request
                        .extensions_mut()
                        .insert(ConnectInfo::<SocketAddr>(peer));
                    request
                });
        let connection =
            builder.serve_connection(TokioIo::new(socket), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?limits.shutdown_grace,
            "requests still in flight after the shutdown grace: cut"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_address_and_in_all_and_free_on_drop() {
        let limits = ConnectionLimits {
            connections_max: 3,
            connections_per_address_max: 2,
            ..ConnectionLimits::default()
        };
        let open = Arc::new(Mutex::new(Open::default()));
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let first = admit(&open, a, &limits).expect("first");
        let _second = admit(&open, a, &limits).expect("second");
        assert!(admit(&open, a, &limits).is_none(), "per address");
        let _third = admit(&open, b, &limits).expect("another address");
        assert!(admit(&open, b, &limits).is_none(), "in all");
        drop(first);
        assert!(admit(&open, a, &limits).is_some(), "a slot comes back");
    }
}
