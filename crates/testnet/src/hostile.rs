//! A hostile server for tests: [`HostileServer`] answers every request, whatever its method and
//! query, with the status and body it was last told to for its path (or for every path), so a
//! client's readers of server answers can be fed arbitrary bytes over real HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// What requests are answered with: per path, else the default.
#[derive(Debug, Default)]
struct Answers {
    default: (StatusCode, Bytes),
    by_path: HashMap<String, (StatusCode, Bytes)>,
}

type Answer = Arc<Mutex<Answers>>;

/// A running hostile server on 127.0.0.1:0.
#[derive(Debug)]
pub struct HostileServer {
    url: String,
    /// Shared with the handler: the next answers change as soon as it is set.
    answer: Answer,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl HostileServer {
    /// Starts a server that answers 200 with an empty body until told otherwise.
    pub async fn start() -> Self {
        let answer: Answer = Arc::default();
        let app = axum::Router::new()
            .fallback(respond)
            .with_state(Arc::clone(&answer));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("hostile server binds");
        let address = listener.local_addr().expect("hostile server address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .expect("hostile server serves");
        });
        Self {
            url: format!("http://{address}"),
            answer,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Every request from now on is answered with `status` and `body`, whatever its path.
    pub fn answer_with(&self, status: StatusCode, body: impl Into<Bytes>) {
        *self.lock() = Answers {
            default: (status, body.into()),
            by_path: HashMap::new(),
        };
    }

    /// Requests for `path` (e.g. `/ranges`) from now on are answered with `status` and `body`.
    pub fn answer_path(&self, path: &str, status: StatusCode, body: impl Into<Bytes>) {
        self.lock()
            .by_path
            .insert(path.to_owned(), (status, body.into()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Answers> {
        self.answer.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("hostile server task");
        }
    }
}

async fn respond(State(answer): State<Answer>, request: Request) -> Response {
    let (status, body) = {
        let answers = answer.lock().unwrap_or_else(|p| p.into_inner());
        answers
            .by_path
            .get(request.uri().path())
            .unwrap_or(&answers.default)
            .clone()
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::from(body))
        .expect("a plain response")
}
