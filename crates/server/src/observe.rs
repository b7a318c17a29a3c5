//! What an operator sees: one log line per request and the Prometheus metrics of `GET /metrics`.
//!
//! A request is logged and counted under its route (the path template, `/events`, `/search`,
//! …; `web` for the web client's pages, `other` for anything else), never its query string or
//! body, so no key, link or token reaches a log or a label. Ingest outcomes are counted by a
//! small fixed set of reasons, so a flood of odd events cannot grow the label set.

use std::sync::Arc;
use std::time::Instant;

use agora_store::{IngestOutcome, Store};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::AppState;

/// The routes requests are counted under; every other path is `web` or `other`.
const ROUTES: &[&str] = &[
    "/events",
    "/head",
    "/ranges",
    "/query_latest",
    "/query_index",
    "/query_references",
    "/challenge",
    "/purge",
    "/claim_handle",
    "/release_handle",
    "/resolve_handle",
    "/resolve_claim",
    "/find_claim_and_vouch",
    "/search",
    "/explore",
    "/top_string_references",
    "/recommended_profiles",
    "/censor",
    "/uncensor",
    "/stream",
    "/mirrors",
    "/version",
    "/health",
    "/metrics",
];

/// The server's counters, histograms and gauges, in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    ingested: IntCounterVec,
    refused: IntCounterVec,
    store_bytes: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("agora_http_requests_total", "HTTP requests answered"),
            &["route", "method", "status"],
        )
        .expect("a valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "agora_http_request_duration_seconds",
                "Time from a request's arrival to its response head",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route"],
        )
        .expect("a valid metric");
        let ingested = IntCounterVec::new(
            Opts::new(
                "agora_ingest_events_total",
                "Events received by POST /events, by outcome and, for rejections, reason",
            ),
            &["outcome", "reason"],
        )
        .expect("a valid metric");
        let refused = IntCounterVec::new(
            Opts::new(
                "agora_rate_limited_total",
                "Requests refused with 429 because a limit was reached",
            ),
            &["limit"],
        )
        .expect("a valid metric");
        let store_bytes = IntGauge::new("agora_store_bytes", "Bytes the store's files take")
            .expect("a valid metric");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(ingested.clone()),
            Box::new(refused.clone()),
            Box::new(store_bytes.clone()),
        ] {
            registry.register(collector).expect("registered once");
        }
        Self {
            registry,
            requests,
            latency,
            ingested,
            refused,
            store_bytes,
        }
    }

    /// Counts the outcomes of one `POST /events`: per-event rejections from verification
    /// (`refused`) and the store's outcomes.
    pub fn ingest(&self, refused: &[(usize, String)], outcomes: &[IngestOutcome]) {
        for (_, reason) in refused {
            self.ingested
                .with_label_values(&["rejected", reason_label(reason)])
                .inc();
        }
        for outcome in outcomes {
            let (outcome, reason) = match outcome {
                IngestOutcome::Stored => ("stored", ""),
                IngestOutcome::Rejected(rejection) => ("rejected", rejection.kind()),
                _ => ("held", ""),
            };
            self.ingested.with_label_values(&[outcome, reason]).inc();
        }
    }

    /// One request refused because `limit` was reached.
    pub fn rate_limited(&self, limit: &str) {
        self.refused.with_label_values(&[limit]).inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self, store_bytes: Option<u64>) -> String {
        if let Some(bytes) = store_bytes {
            self.store_bytes
                .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .expect("text encoding of gathered metrics");
        String::from_utf8(text).expect("the text format is UTF-8")
    }
}

/// A rejection reason as one of a few labels.
fn reason_label(reason: &str) -> &'static str {
    let reason = reason.to_ascii_lowercase();
    let has = |word: &str| reason.contains(word);
    if has("signature") {
        "signature"
    } else if has("operator") || has("refuse") || has("curation") {
        "curation"
    } else if has("revoked") || has("device") {
        "device"
    } else if has("limit") || has("bytes") || has("too large") || has("over ") {
        "size"
    } else if has("malformed") || has("missing") || has("must") || has("not a valid") {
        "malformed"
    } else {
        "other"
    }
}

/// The label a request is counted and logged under: its route, `web` for a page or file the
/// web client served, `other` for anything else.
fn route_label(path: &str, served_by_web_client: bool) -> &'static str {
    if let Some(route) = ROUTES.iter().find(|route| **route == path) {
        return route;
    }
    if served_by_web_client { "web" } else { "other" }
}

/// Logs and counts every request: method, route, status, duration and response bytes (when
/// the body's length is known up front; a live stream's is not).
pub async fn observe<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status();
    let route = route_label(&path, state.config.web_client && status.is_success());
    let bytes = http_body::Body::size_hint(response.body())
        .exact()
        .or_else(|| {
            response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse::<u64>().ok())
        });
    let metrics = &state.metrics;
    metrics
        .requests
        .with_label_values(&[route, method.as_str(), status.as_str()])
        .inc();
    metrics
        .latency
        .with_label_values(&[route])
        .observe(elapsed.as_secs_f64());
    if status == StatusCode::TOO_MANY_REQUESTS {
        metrics.rate_limited(route);
    }
    tracing::info!(
        target: "agora::request",
        method = %method,
        route,
        status = status.as_u16(),
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        bytes,
        "request"
    );
    response
}

/// `GET /metrics`: the Prometheus text format.
pub async fn metrics<S: Store>(State(state): State<Arc<AppState<S>>>) -> Response {
    let text = state.metrics.render(state.store.size_bytes());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_routes_share_one_label() {
        assert_eq!(route_label("/events", true), "/events");
        assert_eq!(
            route_label("/user/polycentric-link-with-a-key", true),
            "web"
        );
        assert_eq!(route_label("/anything?system=key", false), "other");
    }

    #[test]
    fn rejection_reasons_fall_into_a_fixed_set() {
        assert_eq!(reason_label("signature does not verify"), "signature");
        assert_eq!(
            reason_label("this server refuses to store events of this system (operator curation)"),
            "curation"
        );
        assert_eq!(reason_label("something new"), "other");
    }
}
