//! Response bodies every route module builds the same way: a protobuf message with the
//! reference's content type and cache policy, or a plain-text message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;

/// A 200 with `message` encoded as protobuf (`application/octet-stream`, as official clients
/// expect) and, when given, the route's `cache-control` policy (spec section 4.2).
pub(crate) fn protobuf(message: &impl Message, cache_control: Option<&'static str>) -> Response {
    let mut response = (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        message.encode_to_vec(),
    )
        .into_response();
    if let Some(cache_control) = cache_control {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        );
    }
    response
}

/// `status` with a UTF-8 plain-text `body`.
pub(crate) fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}
