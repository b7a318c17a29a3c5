//! Bad input: every malformed request gets a 4xx whose plain-text body names the problem, and
//! changes nothing. Never a 500, never the reference's bare "404".

use agora_protocol::encoding::base64url_encode;
use agora_protocol::wire;
use agora_testnet::TestServer;
use prost::Message as _;
use reqwest::StatusCode;

use crate::support::{Http, author};

async fn check(http: &Http, path: &str, status: StatusCode, message: &str) {
    let answer = http.get(path).await;
    assert_eq!(answer.status, status, "GET {path}: {}", answer.text());
    assert!(
        answer.text().contains(message),
        "GET {path}: expected {message:?} in {:?}",
        answer.text()
    );
    assert_eq!(
        answer.headers["content-type"], "text/plain; charset=utf-8",
        "GET {path}"
    );
}

#[tokio::test]
async fn malformed_query_parameters_are_named() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let system = author(1).system().to_query_param();
    let short_key = base64url_encode(
        &wire::PublicKey {
            key_type: 1,
            key: vec![1; 31].into(),
        }
        .encode_to_vec(),
    );
    let wrong_type = base64url_encode(
        &wire::PublicKey {
            key_type: 2,
            key: vec![1; 32].into(),
        }
        .encode_to_vec(),
    );
    let short_process = base64url_encode(
        &wire::RangesForSystem {
            ranges_for_processes: vec![wire::RangesForProcess {
                process: Some(wire::Process {
                    process: vec![1; 15].into(),
                }),
                ranges: vec![],
            }],
        }
        .encode_to_vec(),
    );
    let bad = StatusCode::BAD_REQUEST;
    check(&http, "/ranges", bad, "missing query parameter `system`").await;
    check(
        &http,
        "/ranges?system=%%%",
        bad,
        "invalid `system` parameter",
    )
    .await;
    check(
        &http,
        &format!("/ranges?system={short_key}"),
        bad,
        "public key must be 32 bytes, got 31",
    )
    .await;
    check(
        &http,
        &format!("/head?system={wrong_type}"),
        bad,
        "unsupported key type 2",
    )
    .await;
    check(
        &http,
        &format!("/events?system={system}"),
        bad,
        "missing query parameter `ranges`",
    )
    .await;
    check(
        &http,
        &format!("/events?system={system}&ranges=AAAA"),
        bad,
        "`ranges` is not a valid protobuf",
    )
    .await;
    check(
        &http,
        &format!("/events?system={system}&ranges={short_process}"),
        bad,
        "process must be 16 bytes, got 15",
    )
    .await;
    check(
        &http,
        &format!("/query_latest?system={system}"),
        bad,
        "missing query parameter `event_types`",
    )
    .await;
    check(
        &http,
        &format!("/query_index?system={system}"),
        bad,
        "missing query parameter `content_type`",
    )
    .await;
    check(
        &http,
        &format!("/query_index?system={system}&content_type=x"),
        bad,
        "`content_type` must be",
    )
    .await;
    check(
        &http,
        &format!("/query_index?system={system}&content_type=3&limit=-1"),
        bad,
        "`limit` must be",
    )
    .await;
    check(
        &http,
        &format!("/query_index?system={system}&content_type=3&after=soon"),
        bad,
        "`after` must be",
    )
    .await;
    check(
        &http,
        &format!("/query_index?system={system}&content_type=3&cursor=AAAA"),
        bad,
        "`cursor` must be the 32 bytes",
    )
    .await;
    check(
        &http,
        &format!("/query_index?system={system}&content_type=3&moderation_filters=[{{"),
        bad,
        "`moderation_filters` must be a JSON array",
    )
    .await;
    check(
        &http,
        "/query_references",
        bad,
        "missing query parameter `query`",
    )
    .await;
    check(
        &http,
        "/query_references?query=!!",
        bad,
        "`query` is not base64url",
    )
    .await;
    check(
        &http,
        "/nowhere",
        StatusCode::NOT_FOUND,
        "no such route: GET /nowhere",
    )
    .await;
}

#[tokio::test]
async fn malformed_references_queries_are_named() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let post = alice.post("p", 1).expect("sign");
    let query = |request: wire::QueryReferencesRequest| {
        format!(
            "/query_references?query={}",
            base64url_encode(&request.encode_to_vec())
        )
    };
    let system_ref = wire::Reference {
        reference_type: 1,
        reference: alice.system().to_wire().encode_to_vec().into(),
    };
    let pointer_ref = agora_protocol::author::pointer_reference(&post.pointer());
    let bad = StatusCode::BAD_REQUEST;

    check(
        &http,
        &query(wire::QueryReferencesRequest::default()),
        bad,
        "`query` has no reference",
    )
    .await;
    check(
        &http,
        &query(wire::QueryReferencesRequest {
            reference: Some(system_ref),
            extra_byte_references: vec![b"x".to_vec().into()],
            ..Default::default()
        }),
        bad,
        "cannot use extra_byte_references with system reference",
    )
    .await;
    let with_extra = wire::QueryReferencesRequest {
        reference: Some(pointer_ref.clone()),
        extra_byte_references: vec![b"x".to_vec().into()],
        ..Default::default()
    };
    check(
        &http,
        &query(with_extra),
        bad,
        "cannot use extra_byte_references with pointer reference",
    )
    .await;
    let bad_cursor = wire::QueryReferencesRequest {
        reference: Some(pointer_ref),
        cursor: Some(vec![1, 2, 3].into()),
        ..Default::default()
    };
    check(
        &http,
        &query(bad_cursor),
        bad,
        "cursor must be the 16 bytes",
    )
    .await;
    let unknown_type = wire::QueryReferencesRequest {
        reference: Some(wire::Reference {
            reference_type: 9,
            reference: vec![].into(),
        }),
        ..Default::default()
    };
    check(
        &http,
        &query(unknown_type),
        bad,
        "unsupported reference type 9",
    )
    .await;
}

#[tokio::test]
async fn malformed_bodies_and_events_are_named_and_change_nothing() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let good = alice.post("kept out", 1).expect("sign");

    let garbage = http.post_raw("/events", vec![0xff, 0xff, 0xff]).await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    assert!(
        garbage
            .text()
            .contains("body is not a valid Events protobuf"),
        "{}",
        garbage.text()
    );

    let mut missing_clock = good.event().clone();
    missing_clock.vector_clock = None;
    let mut missing_indices = good.event().clone();
    missing_indices.indices = None;
    let mut short_process = good.event().clone();
    short_process.process = Some(wire::Process {
        process: vec![1; 8].into(),
    });
    let mut short_key = good.event().clone();
    short_key.system = Some(wire::PublicKey {
        key_type: 1,
        key: vec![1; 20].into(),
    });
    let no_content = wire::Event {
        content: wire::Post {
            content: None,
            image: None,
        }
        .encode_to_vec()
        .into(),
        ..good.event().clone()
    };
    let sign = |event: &wire::Event| {
        let bytes = event.encode_to_vec();
        wire::SignedEvent {
            signature: alice.secret().sign(&bytes).to_vec().into(),
            event: bytes.into(),
            moderation_tags: vec![],
        }
    };
    let cases = [
        (sign(&missing_clock), "event is missing vector_clock"),
        (sign(&missing_indices), "event is missing indices"),
        (sign(&short_process), "process must be 16 bytes, got 8"),
        (sign(&short_key), "public key must be 32 bytes, got 20"),
        (sign(&no_content), "post has no content"),
        (
            wire::SignedEvent {
                signature: vec![0; 10].into(),
                ..good.to_signed()
            },
            "signature must be 64 bytes, got 10",
        ),
    ];
    for (event, reason) in cases {
        let answer = http
            .post_raw(
                "/events",
                wire::Events {
                    events: vec![event],
                }
                .encode_to_vec(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{reason}");
        assert!(
            answer.text().contains(reason),
            "expected {reason:?} in {:?}",
            answer.text()
        );
    }
    assert!(
        http.ranges(&alice.system()).await.is_empty(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn a_limit_over_the_maximum_is_cut_not_obeyed() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let posts: Vec<_> = (0..3)
        .map(|i| alice.post("p", 10 + i).expect("sign"))
        .collect();
    http.publish(&posts.iter().collect::<Vec<_>>()).await;

    let huge = http
        .index(&alice.system(), 3, "&limit=18446744073709551615")
        .await;
    assert_eq!(huge.events.len(), 3);
    let zero = http.index(&alice.system(), 3, "&limit=0").await;
    assert!(
        zero.events.is_empty(),
        "limit=0 is an empty page, not an error"
    );
}
