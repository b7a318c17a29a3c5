//! Clocks and times at the edge of what the store keeps (docs/protocol.md, "POST /events:
//! per-event rejections"): 2^63 - 1 round-trips through every read route and wins
//! last-writer-wins, 2^63 and more are refused by field and leave nothing behind, and query
//! parameters anywhere in the u64 range answer exactly or name themselves.

use agora_protocol::author::{Author, Draft};
use agora_protocol::content::{self, opinion};
use agora_protocol::encoding::base64url_encode;
use agora_protocol::{Process, PublicKey, SecretKey, VerifiedEvent, wire};
use agora_store::IndexCursor;
use agora_store::bounds::STORED_MAX;
use agora_testnet::TestServer;
use prost::Message as _;
use reqwest::StatusCode;

use crate::support::{Http, author, clocks, post_stats};

/// 2^63 - 1: the largest clock or time a server stores.
const TOP: u64 = STORED_MAX;

/// Process `process_byte` of the identity with seed `seed`, resumed after `clock`.
fn author_after(seed: u8, process_byte: u8, clock: u64) -> Author {
    Author::resume(
        SecretKey::from_seed(&[seed; 32]),
        Process::from_bytes(&[process_byte; 16]).expect("16"),
        clock,
        Vec::new(),
    )
}

/// `GET /events` for one range of every process in `processes`.
async fn events_in(
    http: &Http,
    system: &PublicKey,
    processes: &[Process],
    low: u64,
    high: u64,
) -> Vec<u64> {
    let ranges = wire::RangesForSystem {
        ranges_for_processes: processes
            .iter()
            .map(|process| wire::RangesForProcess {
                process: Some(process.to_wire()),
                ranges: vec![wire::Range { low, high }],
            })
            .collect(),
    };
    let path = format!(
        "/events?system={}&ranges={}",
        system.to_query_param(),
        base64url_encode(&ranges.encode_to_vec())
    );
    let events: wire::Events = http.get(&path).await.decode();
    clocks(&events.events)
}

async fn head(http: &Http, system: &PublicKey) -> Vec<u64> {
    let events: wire::Events = http
        .get(&format!("/head?system={}", system.to_query_param()))
        .await
        .decode();
    clocks(&events.events)
}

async fn latest(http: &Http, system: &PublicKey, content_type: u64) -> Vec<VerifiedEvent> {
    let types = wire::RepeatedUInt64 {
        numbers: vec![content_type],
    };
    let path = format!(
        "/query_latest?system={}&event_types={}",
        system.to_query_param(),
        base64url_encode(&types.encode_to_vec())
    );
    let events: wire::Events = http.get(&path).await.decode();
    events
        .events
        .iter()
        .map(|signed| VerifiedEvent::verify(signed).expect("served events verify"))
        .collect()
}

/// The (time, clock) of each event of a `/query_index` page of POSTs.
async fn feed(http: &Http, system: &PublicKey, extra: &str) -> Vec<(u64, u64)> {
    let page = http.index(system, content::POST, extra).await;
    page.events
        .iter()
        .map(|signed| {
            let event = VerifiedEvent::verify(signed).expect("served events verify");
            (
                event.unix_milliseconds().expect("time"),
                event.logical_clock(),
            )
        })
        .collect()
}

#[tokio::test]
async fn clocks_and_times_of_two_to_the_63_minus_one_round_trip_through_every_read() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let low = alice.post("low", 1_000).expect("sign");
    let top = author_after(1, 1, TOP - 1).post("top", TOP).expect("sign");
    let answer = http.publish(&[&low, &top]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert!(!answer.headers.contains_key("x-agora-rejected"));

    let system = alice.system();
    let process = alice.process();
    assert_eq!(
        http.ranges(&system).await,
        [(process.as_bytes().to_vec(), vec![(1, 1), (TOP, TOP)])]
    );
    assert_eq!(head(&http, &system).await, [TOP]);
    assert_eq!(
        events_in(&http, &system, &[process], 1, u64::MAX).await,
        [1, TOP]
    );
    assert_eq!(events_in(&http, &system, &[process], TOP, TOP).await, [TOP]);
    assert!(
        events_in(&http, &system, &[process], TOP + 1, u64::MAX)
            .await
            .is_empty()
    );
    let newest = latest(&http, &system, content::POST).await;
    assert_eq!(newest.len(), 1);
    assert_eq!(
        newest[0].event_bytes(),
        top.event_bytes(),
        "the exact bytes"
    );

    let both = [(TOP, TOP), (1_000, 1)];
    assert_eq!(feed(&http, &system, "").await, both);
    assert_eq!(
        feed(&http, &system, &format!("&after={TOP}")).await,
        [(1_000, 1)]
    );
    for after in [TOP + 1, u64::MAX] {
        assert_eq!(feed(&http, &system, &format!("&after={after}")).await, both);
    }
    let cursor = |ms, clock| base64url_encode(&IndexCursor::encode(ms, &process, clock));
    for (ms, clock) in [(u64::MAX, u64::MAX), (TOP, u64::MAX), (TOP, TOP + 1)] {
        let extra = format!("&cursor={}", cursor(ms, clock));
        assert_eq!(feed(&http, &system, &extra).await, both, "{ms} {clock}");
    }
    let extra = format!("&cursor={}", cursor(TOP, TOP));
    assert_eq!(feed(&http, &system, &extra).await, [(1_000, 1)]);
}

#[tokio::test]
async fn clocks_and_times_from_two_to_the_63_are_refused_by_field_and_nothing_is_stored() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let over_clock = author_after(1, 1, TOP).post("over", 1).expect("sign");
    let max_clock = author_after(1, 2, u64::MAX - 1)
        .post("max", 1)
        .expect("sign");
    let over_time = author_after(1, 3, 0).post("later", TOP + 1).expect("sign");
    let max_time = author_after(1, 4, 0)
        .post("latest", u64::MAX)
        .expect("sign");
    let draft = Draft {
        content_type: content::USERNAME,
        lww_element: Some(wire::LwwElement {
            value: b"Forever".to_vec().into(),
            unix_milliseconds: TOP + 1,
        }),
        ..Draft::default()
    };
    let over_name = author_after(1, 5, 0).publish(draft, 1_000).expect("sign");
    let refused = [&over_clock, &max_clock, &over_time, &max_time, &over_name];

    let answer = http.publish(&refused).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
    assert_eq!(answer.headers["x-agora-rejected"], "5");
    let text = answer.text();
    for line in [
        "event 0 rejected: logical_clock is 9223372036854775808, over 9223372036854775807 (2^63 - 1), the largest this server stores",
        "event 1 rejected: logical_clock is 18446744073709551615, over",
        "event 2 rejected: unix_milliseconds is 9223372036854775808, over",
        "event 3 rejected: unix_milliseconds is 18446744073709551615, over",
        "event 4 rejected: lww_element.unix_milliseconds is 9223372036854775808, over",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }

    let valid = author(1).post("valid", 1_000).expect("sign");
    let answer = http.publish(&[&valid, &over_clock]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.headers["x-agora-rejected"], "1");
    assert!(
        answer
            .text()
            .starts_with("event 1 rejected: logical_clock is")
    );

    let system = *valid.system();
    let processes: Vec<Process> = (1..=5)
        .map(|byte| Process::from_bytes(&[byte; 16]).expect("16"))
        .collect();
    assert_eq!(
        http.ranges(&system).await,
        [(vec![1; 16], vec![(1, 1)])],
        "only the valid post is held"
    );
    assert_eq!(head(&http, &system).await, [1]);
    assert_eq!(
        events_in(&http, &system, &processes, 0, u64::MAX).await,
        [1]
    );
    assert!(latest(&http, &system, content::USERNAME).await.is_empty());
    assert_eq!(feed(&http, &system, "").await, [(1_000, 1)]);
}

/// The USERNAME values of a profile search.
async fn usernames_found(http: &Http, search: &str) -> Vec<String> {
    let page: wire::ResultEventsAndRelatedEventsAndCursor = http
        .get(&format!("/search?search={search}&search_type=profiles"))
        .await
        .decode();
    page.result_events
        .map(|events| events.events)
        .unwrap_or_default()
        .iter()
        .map(|signed| VerifiedEvent::verify(signed).expect("served events verify"))
        .filter(|event| event.content_type() == content::USERNAME)
        .map(|event| {
            let element = event.event().lww_element.as_ref().expect("lww");
            String::from_utf8_lossy(&element.value).into_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_write_at_two_to_the_63_minus_one_wins_last_writer_wins() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let older = alice
        .set_element(content::USERNAME, b"Bartholomew", 1_000)
        .expect("sign");
    let edge = alice
        .set_element(content::USERNAME, b"Zebediah", TOP)
        .expect("sign");
    // From another process, later in arrival and in clock, but older by its LWW time.
    let mut laptop = author_after(1, 0xfe, 0);
    let stale = laptop
        .set_element(content::USERNAME, b"Cornelius", 2_000)
        .expect("sign");
    let answer = http.publish(&[&older, &edge]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let answer = http.publish(&[&stale]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());

    let newest = latest(&http, &alice.system(), content::USERNAME).await;
    let edge_returned = newest
        .iter()
        .find(|event| event.process() == &alice.process())
        .expect("alice's process");
    assert_eq!(edge_returned.event_bytes(), edge.event_bytes());
    let element = edge_returned.event().lww_element.as_ref().expect("lww");
    assert_eq!(element.unix_milliseconds, TOP);

    assert_eq!(
        usernames_found(&http, "zebediah").await,
        ["Zebediah"],
        "the write at 2^63 - 1 is current"
    );
    assert!(
        usernames_found(&http, "cornelius").await.is_empty(),
        "a later arrival with an older time"
    );
    assert!(usernames_found(&http, "bartholomew").await.is_empty());

    let mut bob = author(2);
    let post = bob.post("judge me", 1_000).expect("sign");
    let like = author_after(3, 1, 0)
        .opinion(&post.pointer(), opinion::LIKE, TOP)
        .expect("sign");
    let dislike = author_after(3, 2, 0)
        .opinion(&post.pointer(), opinion::DISLIKE, 5_000)
        .expect("sign");
    http.publish(&[&post, &like]).await;
    http.publish(&[&dislike]).await;
    let stats = http.references(&post_stats(&post, None)).await;
    assert_eq!(stats.counts, [1, 0, 0], "[likes, dislikes, replies]");

    // One millisecond later than the like, past what the store can order: refused, not counted.
    let draft = Draft {
        content_type: content::OPINION,
        lww_element: Some(wire::LwwElement {
            value: opinion::DISLIKE.to_vec().into(),
            unix_milliseconds: TOP + 1,
        }),
        references: vec![agora_protocol::author::pointer_reference(&post.pointer())],
        ..Draft::default()
    };
    let over = author_after(3, 3, 0).publish(draft, 6_000).expect("sign");
    let answer = http.publish(&[&over]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer
            .text()
            .contains("lww_element.unix_milliseconds is 9223372036854775808"),
        "{}",
        answer.text()
    );
    let stats = http.references(&post_stats(&post, None)).await;
    assert_eq!(stats.counts, [1, 0, 0]);
}

#[tokio::test]
async fn query_parameters_anywhere_in_u64_answer_or_name_themselves() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let post = alice.post("only", 1_000).expect("sign");
    http.publish(&[&post]).await;
    let system = alice.system().to_query_param();

    for query in [
        format!("content_type={}", u64::MAX),
        format!("content_type=3&after={}", u64::MAX),
        format!("content_type=3&limit={}", u64::MAX),
    ] {
        let answer = http
            .get(&format!("/query_index?system={system}&{query}"))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{query}: {}", answer.text());
    }
    let over = "18446744073709551616";
    for (query, name) in [
        (format!("content_type={over}"), "`content_type`"),
        (format!("content_type=3&after={over}"), "`after`"),
        (format!("content_type=3&limit={over}"), "`limit`"),
    ] {
        let answer = http
            .get(&format!("/query_index?system={system}&{query}"))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(answer.text().contains(name), "{query}: {}", answer.text());
    }

    let processes = [alice.process()];
    let system = alice.system();
    assert!(
        events_in(&http, &system, &processes, u64::MAX, u64::MAX)
            .await
            .is_empty()
    );
    assert_eq!(
        events_in(&http, &system, &processes, 0, u64::MAX).await,
        [1]
    );
    assert!(
        events_in(&http, &system, &processes, u64::MAX, 0)
            .await
            .is_empty(),
        "an inverted range holds nothing"
    );
}
