//! The web client (`web/`, embedded at build time by `build.rs`) served at `/`: its files by
//! path, and `index.html` for the client's own pages (`/user/…`, `/post/…`, …) when a browser
//! asks for a page. API routes are matched before this fallback and never change; a request that
//! is neither an asset nor a browser's page request still gets the plain-text 404.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// Scripts and styles only from this origin; requests to any server (the person picks them);
/// images from this page's own blobs (verified image sections) or data URLs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src *; img-src 'self' blob: data:; \
     style-src 'self' 'unsafe-inline'; script-src 'self'; worker-src 'self'; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'";

/// The embedded file served at `path`, if any (`/` is `index.html`).
fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS
        .iter()
        .find(|(route, _)| *route == path)
        .map(|(route, bytes)| (*route, *bytes))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "json" | "webmanifest" => "application/json",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// Whether a browser asks for a page (navigation), not a program for data.
fn wants_page(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// The web client's answer to a GET or HEAD no API route matched, or `None` when it has none.
pub(crate) fn respond(method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let path = uri.path();
    let (route, bytes) = asset(path).or_else(|| {
        // A client page: no file extension in its last segment, asked for by a browser.
        let last = path.rsplit('/').next().unwrap_or_default();
        (wants_page(headers) && !last.contains('.'))
            .then(|| asset("/index.html"))
            .flatten()
    })?;
    // Hashed asset names never change content; everything else is revalidated.
    let cache = if route.starts_with("/assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(route)),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        if method == Method::HEAD {
            &[][..]
        } else {
            bytes
        },
    )
        .into_response();
    if route.ends_with(".html") {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    Some(response)
}

/// Whether the web client was built into this binary (`web/dist` existed at build time).
pub fn embedded() -> bool {
    asset("/index.html").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, accept: Option<&str>) -> Option<Response> {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(
                header::ACCEPT,
                HeaderValue::from_str(accept).expect("ascii"),
            );
        }
        respond(&Method::GET, &path.parse().expect("uri"), &headers)
    }

    #[test]
    fn pages_go_to_browsers_and_everything_else_falls_through() {
        assert!(
            embedded(),
            "web/dist is committed, so the client is embedded"
        );
        let index = get("/", None).expect("the page at /");
        assert_eq!(
            index.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert!(get("/user/abc", Some("text/html,application/xhtml+xml")).is_some());
        assert!(get("/user/abc", None).is_none(), "a program gets the 404");
        assert!(get("/nowhere.txt", Some("text/html")).is_none());
        assert!(respond(&Method::POST, &"/".parse().expect("uri"), &HeaderMap::new()).is_none());
    }
}
