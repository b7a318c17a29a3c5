//! Arbitrary input over real HTTP: the query parameters of every GET route and the bodies of
//! `POST /events`, as garbage or as valid values changed at random, are answered 2xx or 4xx and
//! never 5xx, every 4xx names its reason in plain text, and the server answers as before
//! afterwards.

use agora_protocol::author::{Author, post_stats_request};
use agora_protocol::encoding::{base64_any_decode, base64url_encode};
use agora_protocol::{Process, SecretKey, VerifiedEvent, content, wire};
use agora_server::ServerConfig;
use agora_server::ratelimit::RateLimits;
use agora_testnet::TestServer;
use agora_testnet::arbitrary::{Mutation, mutate, mutate_text, mutations};
use agora_testnet::properties::run_async;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use prost::Message;
use reqwest::StatusCode;

use crate::support::{Http, author};

/// Requests per property: each is one round trip to a loopback server, a few milliseconds.
const CASES: u32 = 256;

/// Each GET route and the query parameters it reads. `/stream` is answered as soon as its
/// parameters are read; the test reads only the status.
const ROUTES: [(&str, &[&str]); 17] = [
    ("/events", &["system", "ranges", "moderation_filters"]),
    ("/head", &["system", "moderation_filters"]),
    ("/ranges", &["system"]),
    (
        "/query_latest",
        &["system", "event_types", "moderation_filters"],
    ),
    (
        "/query_index",
        &[
            "system",
            "content_type",
            "after",
            "limit",
            "cursor",
            "moderation_filters",
        ],
    ),
    ("/query_references", &["query", "moderation_filters"]),
    ("/resolve_handle", &["handle"]),
    ("/resolve_claim", &["query"]),
    ("/find_claim_and_vouch", &["query"]),
    (
        "/search",
        &[
            "search",
            "search_type",
            "limit",
            "cursor",
            "moderation_filters",
        ],
    ),
    ("/explore", &["limit", "cursor", "moderation_filters"]),
    ("/top_string_references", &["query", "time_range", "limit"]),
    ("/recommended_profiles", &["limit", "moderation_filters"]),
    (
        "/stream",
        &["systems", "content_types", "references", "after"],
    ),
    ("/challenge", &[]),
    ("/mirrors", &[]),
    ("/version", &[]),
];

/// Most parameters one route reads.
const PARAMS_MAX: usize = 6;

/// One parameter's value in a request.
#[derive(Clone, Debug)]
enum Value {
    Absent,
    /// One of the valid values of the parameter.
    Valid(Index),
    /// A valid value with its text changed.
    ChangedText(Index, Vec<Mutation>),
    /// A valid base64 value with the bytes it encodes changed.
    ChangedBytes(Index, Vec<Mutation>),
    Arbitrary(String),
}

fn value() -> impl Strategy<Value = Value> {
    // Mostly valid, so that a request often gets past its other parameters to the one that is
    // not.
    prop_oneof![
        1 => Just(Value::Absent),
        8 => any::<Index>().prop_map(Value::Valid),
        1 => (any::<Index>(), mutations()).prop_map(|(at, changes)| Value::ChangedText(at, changes)),
        2 => (any::<Index>(), mutations()).prop_map(|(at, changes)| Value::ChangedBytes(at, changes)),
        1 => prop_oneof![any::<String>(), "[ -~]{0,60}"].prop_map(Value::Arbitrary),
    ]
}

/// A GET request: a route with its parameters, or with an arbitrary raw query string.
#[derive(Clone, Debug)]
struct Get {
    route: Index,
    values: Vec<Value>,
    raw_query: Option<String>,
}

fn gets() -> impl Strategy<Value = Get> {
    (
        any::<Index>(),
        vec(value(), PARAMS_MAX),
        proptest::option::weighted(0.1, "[ -~]{0,80}"),
    )
        .prop_map(|(route, values, raw_query)| Get {
            route,
            values,
            raw_query,
        })
}

/// The valid values of each parameter, read from a server holding a small social graph.
struct Valid(Vec<(&'static str, Vec<String>)>);

impl Valid {
    fn of(&self, name: &str) -> &[String] {
        self.0
            .iter()
            .find(|(known, _)| *known == name)
            .map_or(&[], |(_, values)| values.as_slice())
    }

    /// The text a request sends for `value` of parameter `name`, or none.
    fn text(&self, name: &str, value: &Value) -> Option<String> {
        let valid = self.of(name);
        let pick = |at: &Index| valid[at.index(valid.len())].clone();
        match value {
            Value::Absent => None,
            Value::Valid(at) => Some(pick(at)),
            Value::ChangedText(at, changes) => Some(mutate_text(&pick(at), changes)),
            Value::ChangedBytes(at, changes) => {
                let text = pick(at);
                Some(match base64_any_decode(&text) {
                    Ok(bytes) => base64url_encode(&mutate(&bytes, changes)),
                    Err(_) => mutate_text(&text, changes),
                })
            }
            Value::Arbitrary(text) => Some(text.clone()),
        }
    }
}

fn b64(message: &impl Message) -> String {
    base64url_encode(&message.encode_to_vec())
}

/// Publishes posts, a reply, a like, a username, a topic post and a delete by one author, and
/// reads back the cursors the paged routes return.
async fn seed(http: &Http) -> (Author, Valid) {
    let mut alice = author(1);
    let post = alice.post("hello fuzzing world", 10).expect("sign");
    let reply = alice.reply("a reply", &post.pointer(), 11).expect("sign");
    let like = alice
        .opinion(&post.pointer(), content::opinion::LIKE, 12)
        .expect("sign");
    let name = alice
        .set_element(content::USERNAME, b"alice", 13)
        .expect("sign");
    let topic = alice.topic_post("on topic", "/fuzz", 14).expect("sign");
    let doomed = alice.post("deleted", 15).expect("sign");
    let delete = alice.delete(&doomed, 16).expect("sign");
    let events = [&post, &reply, &like, &name, &topic, &doomed, &delete];
    assert_eq!(http.publish(&events).await.status, StatusCode::OK);

    let system = alice.system();
    let index: wire::QueryIndexResponse = http
        .get(&format!(
            "/query_index?system={}&content_type=3&limit=1",
            system.to_query_param()
        ))
        .await
        .decode();
    let search: wire::ResultEventsAndRelatedEventsAndCursor =
        http.get("/search?search=hello&limit=1").await.decode();
    let explore: wire::ResultEventsAndRelatedEventsAndCursor =
        http.get("/explore?limit=1").await.decode();
    let cursors = [index.cursor, search.cursor, explore.cursor]
        .into_iter()
        .flatten()
        .map(|cursor| base64url_encode(&cursor))
        .collect();
    let ranges = wire::RangesForSystem {
        ranges_for_processes: vec![wire::RangesForProcess {
            process: Some(alice.process().to_wire()),
            ranges: vec![
                wire::Range { low: 1, high: 5 },
                wire::Range { low: 7, high: 7 },
            ],
        }],
    };
    let pointer = agora_protocol::author::pointer_reference(&post.pointer());
    let topic_reference = wire::Reference {
        reference_type: content::REFERENCE_BYTES,
        reference: b"/fuzz".to_vec().into(),
    };
    let references = wire::QueryReferencesRequest {
        reference: Some(topic_reference.clone()),
        extra_byte_references: vec![b"/other".to_vec().into()],
        ..Default::default()
    };
    let claims = wire::QueryClaimToSystemRequest {
        claim_type: 1,
        trust_root: Some(system.to_wire()),
        query: Some(wire::query_claim_to_system_request::Query::MatchAnyField(
            "alice".into(),
        )),
    };
    let vouch = wire::FindClaimAndVouchRequest {
        vouching_system: Some(system.to_wire()),
        claiming_system: Some(system.to_wire()),
        fields: Vec::new(),
        claim_type: 1,
    };
    let valid = Valid(vec![
        ("system", vec![system.to_query_param()]),
        ("ranges", vec![b64(&ranges)]),
        (
            "event_types",
            vec![b64(&wire::RepeatedUInt64 {
                numbers: vec![3, 5, 14],
            })],
        ),
        ("content_type", vec!["3".into(), "14".into()]),
        ("after", vec!["0".into(), "13".into()]),
        ("limit", vec!["0".into(), "2".into(), u64::MAX.to_string()]),
        ("cursor", cursors),
        (
            "query",
            vec![
                b64(&post_stats_request(&post.pointer())),
                b64(&references),
                b64(&claims),
                b64(&vouch),
                "/fu".into(),
            ],
        ),
        (
            "moderation_filters",
            vec![r#"[{"name":"hate","max_level":1,"strict_mode":true}]"#.into()],
        ),
        ("search", vec!["hello".into(), "alice".into()]),
        ("search_type", vec!["messages".into(), "profiles".into()]),
        ("time_range", vec!["12h".into(), "30d".into()]),
        ("handle", vec!["alice".into()]),
        ("systems", vec![system.to_query_param()]),
        ("content_types", vec!["3,5".into()]),
        ("references", vec![b64(&pointer), b64(&topic_reference)]),
    ]);
    (alice, valid)
}

/// A server without rate limits, so every request reaches its handler.
async fn unlimited_server() -> TestServer {
    TestServer::start_with(ServerConfig {
        rate_limits: RateLimits {
            enabled: false,
            ..RateLimits::default()
        },
        ..ServerConfig::default()
    })
    .await
}

/// Checks one answer: never a 5xx, and every 4xx says why in plain text.
async fn check_answer(what: &str, response: reqwest::Response) -> Result<(), TestCaseError> {
    let status = response.status();
    prop_assert!(
        status.is_success() || status.is_client_error(),
        "{what} answered {status}"
    );
    if status.is_client_error() {
        let plain = response
            .headers()
            .get("content-type")
            .is_some_and(|value| value.as_bytes().starts_with(b"text/plain"));
        prop_assert!(plain, "{what}: a {status} that is not plain text");
        let body = response.text().await.unwrap_or_default();
        prop_assert!(
            !body.trim().is_empty(),
            "{what}: a {status} without a reason"
        );
    }
    Ok(())
}

async fn get(
    http: &reqwest::Client,
    base: &str,
    valid: &Valid,
    request: &Get,
) -> Result<(), TestCaseError> {
    let (route, names) = ROUTES[request.route.index(ROUTES.len())];
    let builder = match &request.raw_query {
        Some(raw) => http.get(format!("{base}{route}?{raw}")),
        None => {
            let params: Vec<(&str, String)> = names
                .iter()
                .zip(&request.values)
                .filter_map(|(name, value)| Some((*name, valid.text(name, value)?)))
                .collect();
            http.get(format!("{base}{route}")).query(&params)
        }
    };
    let request = match builder.build() {
        Ok(request) => request,
        // Not a URL reqwest can send: nothing reached the server.
        Err(_) => return Ok(()),
    };
    let what = format!("GET {}", request.url());
    let response = http
        .execute(request)
        .await
        .map_err(|error| TestCaseError::fail(format!("{what}: no answer: {error}")))?;
    check_answer(&what, response).await
}

#[test]
fn arbitrary_query_parameters_never_get_a_server_error() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(unlimited_server());
    let http = Http::new(server.url());
    let (alice, valid) = runtime.block_on(seed(&http));
    let ranges_before = runtime.block_on(http.ranges(&alice.system()));
    let client = reqwest::Client::new();
    let base = server.url();

    run_async(&runtime, CASES, gets(), async |request| {
        get(&client, &base, &valid, &request).await
    });

    let ranges_after = runtime.block_on(http.ranges(&alice.system()));
    assert_eq!(
        ranges_after, ranges_before,
        "the server still answers, unchanged"
    );
    let health = runtime.block_on(http.get("/health"));
    assert_eq!(health.status, StatusCode::OK);
}

/// The keys hostile events are signed with: never alice's, so her events stay as they were.
fn hostile_author(seed: u8) -> SecretKey {
    SecretKey::from_seed(&[50 + seed % 4; 32])
}

/// An event with a valid structure and signature and arbitrary content: it gets past
/// verification into the content rules and the store's ingest.
fn signed_arbitrary() -> impl Strategy<Value = wire::SignedEvent> {
    (
        any::<u8>(),
        prop_oneof![0u64..20, 1000u64..1004, any::<u64>()],
        prop_oneof![1u64..50, any::<u64>()],
        vec(any::<u8>(), 0..200),
        proptest::option::of(vec(any::<u8>(), 0..40)),
        vec((1u64..4, vec(any::<u8>(), 0..80)), 0..3),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(seed, content_type, clock, body, value, references, ms)| {
            let secret = hostile_author(seed);
            let event = wire::Event {
                system: Some(secret.public_key().to_wire()),
                process: Some(Process::from_bytes(&[seed; 16]).expect("16").to_wire()),
                logical_clock: clock,
                content_type,
                content: body.into(),
                vector_clock: Some(wire::VectorClock::default()),
                indices: Some(wire::Indices::default()),
                lww_element: value.clone().map(|value| wire::LwwElement {
                    value: value.into(),
                    unix_milliseconds: ms.unwrap_or(1),
                }),
                lww_element_set: value.map(|value| wire::LwwElementSet {
                    operation: 0,
                    value: value.into(),
                    unix_milliseconds: ms.unwrap_or(1),
                }),
                references: references
                    .into_iter()
                    .map(|(reference_type, reference)| wire::Reference {
                        reference_type,
                        reference: reference.into(),
                    })
                    .collect(),
                unix_milliseconds: ms,
            };
            let bytes = event.encode_to_vec();
            wire::SignedEvent {
                signature: secret.sign(&bytes).to_vec().into(),
                event: bytes.into(),
                moderation_tags: Vec::new(),
            }
        })
}

/// A batch body: arbitrary bytes, a valid batch changed at random, or a batch of validly signed
/// events with arbitrary content.
fn bodies(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..600),
        mutations().prop_map(move |changes| mutate(&valid, &changes)),
        vec(signed_arbitrary(), 1..6).prop_map(|events| wire::Events { events }.encode_to_vec()),
    ]
}

#[test]
fn arbitrary_event_batches_never_get_a_server_error() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(unlimited_server());
    let http = Http::new(server.url());
    let (alice, _) = runtime.block_on(seed(&http));
    let ranges_before = runtime.block_on(http.ranges(&alice.system()));
    let mut bob = author(2);
    let valid: Vec<VerifiedEvent> = (0..3)
        .map(|at| bob.post("a batch", 20 + at).expect("sign"))
        .collect();
    let valid = wire::Events {
        events: valid.iter().map(VerifiedEvent::to_signed).collect(),
    }
    .encode_to_vec();
    let client = reqwest::Client::new();
    let url = format!("{}/events", server.url());

    run_async(&runtime, CASES, bodies(valid), async |body| {
        let response = client.post(&url).body(body).send().await;
        let response =
            response.map_err(|error| TestCaseError::fail(format!("no answer: {error}")))?;
        check_answer("POST /events", response).await
    });

    let ranges_after = runtime.block_on(http.ranges(&alice.system()));
    assert_eq!(
        ranges_after, ranges_before,
        "the server still answers, unchanged"
    );
    for seed in 0..4 {
        let system = hostile_author(seed).public_key();
        for (process, ranges) in runtime.block_on(http.ranges(&system)) {
            let author = Author::new(
                hostile_author(seed),
                Process::from_bytes(&process).expect("16"),
            );
            for (low, high) in ranges {
                let served = runtime.block_on(http.events(&author, low, high));
                crate::support::clocks(&served);
            }
        }
    }
}
