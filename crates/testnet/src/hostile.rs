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

use crate::served::Served;

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
    served: Served,
    /// Shared with the handler: the next answers change as soon as it is set.
    answer: Answer,
}

impl HostileServer {
    /// Starts a server that answers 200 with an empty body until told otherwise.
    pub async fn start() -> Self {
        let answer: Answer = Arc::default();
        let app = axum::Router::new()
            .fallback(respond)
            .with_state(Arc::clone(&answer));
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            served: Served::start(app, address, "hostile server").await,
            answer,
        }
    }

    pub fn url(&self) -> String {
        self.served.url.clone()
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
        self.served.stop().await;
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
