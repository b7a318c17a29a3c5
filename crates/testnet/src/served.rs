//! A router served on loopback until stopped: what the lying and hostile servers share.

use std::net::SocketAddr;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running router and how to stop it.
#[derive(Debug)]
pub(crate) struct Served {
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Served {
    /// Serves `app` on `address` (port 0 picks one); `what` names the server in panics.
    pub async fn start(app: axum::Router, address: SocketAddr, what: &'static str) -> Self {
        // With port 0, a port a stopped test server had is held aside and another taken.
        let mut down = Vec::new();
        let listener = loop {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .unwrap_or_else(|error| panic!("{what} binds {address}: {error}"));
            let bound = listener.local_addr().expect("a bound address");
            if address.port() != 0 || !crate::is_down(bound) {
                break listener;
            }
            down.push(listener);
        };
        drop(down);
        let address = listener.local_addr().expect("a bound address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap_or_else(|error| panic!("{what} serves: {error}"));
        });
        Self {
            url: format!("http://{address}"),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops accepting, finishes what is in flight, and waits for the task.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }
}
