//! The Agora HTTP server: the Polycentric routes over any [`agora_store::Store`].
//!
//! A server is a value: [`Server::bind`] (port 0 in tests), [`Server::local_addr`], then
//! [`Server::shutdown`], which finishes the requests in flight. [`router`] is separate from
//! serving so handlers can be exercised without a socket.

pub mod budget;
pub mod config;
pub mod connections;
mod curation;
mod discovery;
pub mod error;
pub mod identity;
pub mod live;
pub mod mirror;
pub mod observe;
mod params;
pub mod ratelimit;
mod respond;
mod routes;
mod tail;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;

use agora_store::Store;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{Limits, ServerConfig};

/// What every handler shares.
#[derive(Debug)]
pub struct AppState<S> {
    pub store: S,
    pub config: ServerConfig,
    /// Issues `/challenge`s and spends them once (purge, signed handle claims).
    pub challenges: identity::ChallengeKeeper,
    /// Commit notifications and open subscriptions of `/stream`; shared with the [`Server`],
    /// which ends every subscription when it shuts down.
    pub live: Arc<live::Live>,
    /// What each configured mirror has done, for `GET /mirrors`.
    pub mirrors: mirror::Mirrors,
    /// Request counts and latencies, ingest outcomes, for `GET /metrics`.
    pub metrics: observe::Metrics,
    /// The rate limits' buckets.
    pub limiter: ratelimit::Limiter,
    /// The memory request bodies may take at once (`budget.rs`).
    pub body_budget: budget::BodyBudget,
}

impl<S: Store> AppState<S> {
    /// The state of a server over `store`; challenges use the store's key unless `config`
    /// sets one.
    pub fn new(store: S, config: ServerConfig) -> Self {
        let challenges = identity::ChallengeKeeper::new(&config.identity, store.challenge_key());
        let limiter = ratelimit::Limiter::new(config.rate_limits.clone());
        let body_budget = budget::BodyBudget::new(config.limits.body_budget_bytes);
        Self {
            store,
            config,
            challenges,
            live: Arc::default(),
            mirrors: mirror::Mirrors::default(),
            metrics: observe::Metrics::new(),
            limiter,
            body_budget,
        }
    }
}

/// All routes, with CORS, body limits and the plain-text fallback.
pub fn router<S: Store>(state: Arc<AppState<S>>) -> Router {
    let body_bytes_max = state.config.limits.body_bytes_max;
    let limits = state.config.connections;
    Router::new()
        .route(
            "/events",
            post(routes::post_events::<S>).get(routes::get_events::<S>),
        )
        .route("/head", get(routes::head::<S>))
        .route("/ranges", get(routes::ranges::<S>))
        .route("/query_latest", get(routes::query_latest::<S>))
        .route("/query_index", get(routes::query_index::<S>))
        .route("/query_references", get(routes::query_references::<S>))
        .route("/challenge", get(identity::challenge::<S>))
        .route("/purge", post(identity::purge::<S>))
        .route("/claim_handle", post(identity::claim_handle::<S>))
        .route("/release_handle", post(identity::release_handle::<S>))
        .route("/resolve_handle", get(identity::resolve_handle::<S>))
        .route("/resolve_claim", get(identity::resolve_claim::<S>))
        .route(
            "/find_claim_and_vouch",
            get(identity::find_claim_and_vouch::<S>),
        )
        .route("/search", get(discovery::search::<S>))
        .route("/explore", get(discovery::explore::<S>))
        .route(
            "/top_string_references",
            get(discovery::top_string_references::<S>),
        )
        .route(
            "/recommended_profiles",
            get(discovery::recommended_profiles::<S>),
        )
        .route("/censor", post(curation::censor::<S>))
        .route("/uncensor", post(curation::uncensor::<S>))
        .route("/mirrors", get(mirror::statuses::<S>))
        .route("/version", get(routes::version))
        .route("/health", get(routes::health::<S>))
        .route("/metrics", get(observe::metrics::<S>))
        // Every route above must answer within the request deadline; a live stream lasts.
        .route_layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .route("/stream", get(live::stream::<S>))
        .fallback(fallback::<S>)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            limits.body_read_timeout,
        ))
        .layer(DefaultBodyLimit::max(body_bytes_max))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            budget::reserve::<S>,
        ))
        .layer(middleware::from_fn(cors))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            ratelimit::limit::<S>,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            observe::observe::<S>,
        ))
        .with_state(state)
}

/// The web client's files and pages when it is on (`ServerConfig::web_client`), else the 404.
async fn fallback<S: Store>(
    axum::extract::State(state): axum::extract::State<Arc<AppState<S>>>,
    method: Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Response {
    if state.config.web_client
        && let Some(response) = web::respond(&method, &uri, &headers)
    {
        return response;
    }
    not_found(method, uri).await
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    let message = format!("no such route: {method} {}", uri.path());
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    let message = format!("method {method} is not allowed on {}", uri.path());
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

/// CORS as the reference server does it (spec section 4.1): echo any `Origin`, allow GET and
/// POST with the two headers official clients send, answer every preflight with 200.
async fn cors(request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::OK.into_response()
    } else {
        next.run(request).await
    };
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type, x-polycentric-user-agent"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("300"),
        );
        headers.insert(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    /// Tells the serving task to stop accepting and drain.
    stop: oneshot::Sender<()>,
    /// Ends the live subscriptions, which would otherwise keep shutdown waiting forever.
    live: Arc<live::Live>,
    /// The serving task; it ends once every request in flight has been answered.
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Binds `config.listen` and starts serving.
    pub async fn bind<S: Store>(config: ServerConfig, store: S) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let local_addr = listener.local_addr()?;
        let limits = config.connections;
        let state = Arc::new(AppState::new(store, config));
        let live = Arc::clone(&state.live);
        mirror::start(&state);
        tail::start(&state);
        ratelimit::start_forgetting(&state);
        let app = router(state);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(connections::serve(listener, app, limits, stopped));
        tracing::info!(%local_addr, "listening");
        Ok(Self {
            local_addr,
            stop,
            live,
            task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The base URL clients use, e.g. `http://127.0.0.1:8081`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Stops accepting connections and waits until every request in flight is answered.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.live.close();
        let _ = self.stop.send(());
        self.task.await.map_err(std::io::Error::other)?
    }
}
