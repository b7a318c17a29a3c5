//! The read routes: head, latest, index paging and proof, references paging, version, health,
//! CORS, and tags stripped from what authors send.

use agora_protocol::content::{self, opinion};
use agora_protocol::encoding::base64url_encode;
use agora_protocol::{VerifiedEvent, wire};
use agora_testnet::TestServer;
use prost::Message as _;
use reqwest::StatusCode;

use crate::support::{Http, author, clocks, post_stats, second_process};

#[tokio::test]
async fn head_returns_each_process_newest_and_its_system_processes_event() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (mut phone, mut laptop) = (author(1), second_process(1));
    let processes = wire::SystemProcesses {
        processes: vec![laptop.process().to_wire()],
    };
    let listing = phone
        .publish(
            agora_protocol::author::Draft {
                content_type: content::SYSTEM_PROCESSES,
                content: processes.encode_to_vec(),
                ..Default::default()
            },
            1_000,
        )
        .expect("sign");
    let phone_post = phone.post("from phone", 1_001).expect("sign");
    let laptop_post = laptop.post("from laptop", 1_002).expect("sign");
    http.publish(&[&listing, &phone_post, &laptop_post]).await;

    let head: wire::Events = http
        .get(&format!("/head?system={}", phone.system().to_query_param()))
        .await
        .decode();

    let mut got: Vec<_> = head
        .events
        .iter()
        .map(|e| VerifiedEvent::verify(e).expect("valid"))
        .collect();
    got.sort_by_key(|e| (e.process().as_bytes().to_vec(), e.logical_clock()));
    let mut want = [&listing, &phone_post, &laptop_post];
    want.sort_by_key(|e| (e.process().as_bytes().to_vec(), e.logical_clock()));
    let got_pointers: Vec<_> = got.iter().map(|e| e.pointer()).collect();
    let want_pointers: Vec<_> = want.iter().map(|e| e.pointer()).collect();
    assert_eq!(
        got_pointers, want_pointers,
        "both heads, plus the SYSTEM_PROCESSES the phone's head points to"
    );
}

#[tokio::test]
async fn query_latest_returns_the_newest_of_each_type_per_process() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let old_name = alice
        .set_element(content::USERNAME, b"al", 1_000)
        .expect("sign");
    let name = alice
        .set_element(content::USERNAME, b"alice", 2_000)
        .expect("sign");
    let about = alice
        .set_element(content::DESCRIPTION, b"hi", 2_001)
        .expect("sign");
    http.publish(&[&old_name, &name, &about]).await;
    let types = wire::RepeatedUInt64 {
        numbers: vec![content::USERNAME, content::DESCRIPTION, content::AVATAR],
    };
    let path = format!(
        "/query_latest?system={}&event_types={}",
        alice.system().to_query_param(),
        base64url_encode(&types.encode_to_vec())
    );

    let latest: wire::Events = http.get(&path).await.decode();

    let mut got = clocks(&latest.events);
    got.sort_unstable();
    assert_eq!(
        got,
        vec![2, 3],
        "the newer username and the description; no avatar exists"
    );
}

#[tokio::test]
async fn index_pages_with_after_lose_nothing_when_a_millisecond_spans_pages() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    // Nine posts; posts 3..=7 share one millisecond, so a page of 4 ends inside it.
    let times = [
        1_000, 1_001, 1_002, 1_005, 1_005, 1_005, 1_005, 1_005, 1_009,
    ];
    let posts: Vec<_> = times
        .iter()
        .map(|&ms| alice.post("p", ms).expect("sign"))
        .collect();
    http.publish(&posts.iter().collect::<Vec<_>>()).await;

    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = http
            .index(&alice.system(), content::POST, &format!("&limit=4{after}"))
            .await;
        if page.events.is_empty() {
            break;
        }
        let events: Vec<_> = page
            .events
            .iter()
            .map(|e| VerifiedEvent::verify(e).expect("valid"))
            .collect();
        let positions: Vec<_> = events
            .iter()
            .map(|e| {
                (
                    e.unix_milliseconds(),
                    *e.process().as_bytes(),
                    e.logical_clock(),
                )
            })
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] > w[1]),
            "strictly newest first: {positions:?}"
        );
        seen.extend(events.iter().map(VerifiedEvent::logical_clock));
        after = format!(
            "&after={}",
            events
                .last()
                .and_then(VerifiedEvent::unix_milliseconds)
                .expect("time")
        );
    }

    seen.sort_unstable();
    assert_eq!(seen, (1..=9).collect::<Vec<_>>(), "every post exactly once");
}

#[tokio::test]
async fn index_pages_with_agora_cursor_are_exact_and_proof_covers_other_processes() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (mut phone, mut laptop) = (author(1), second_process(1));
    let mut all = Vec::new();
    for i in 0..6 {
        all.push(phone.post("phone", 1_000 + i * 10).expect("sign"));
        all.push(laptop.post("laptop", 1_005 + i * 10).expect("sign"));
    }
    http.publish(&all.iter().collect::<Vec<_>>()).await;

    let first = http.index(&phone.system(), content::POST, "&limit=3").await;
    assert_eq!(first.events.len(), 3);
    assert!(
        !first.proof.is_empty(),
        "the other process's neighbouring events prove nothing was skipped"
    );
    let cursor = base64url_encode(first.cursor.as_ref().expect("a full page returns a cursor"));
    let second = http
        .index(
            &phone.system(),
            content::POST,
            &format!("&limit=100&cursor={cursor}"),
        )
        .await;

    let mut seen: Vec<_> = first
        .events
        .iter()
        .chain(&second.events)
        .map(|e| VerifiedEvent::verify(e).expect("valid").pointer())
        .collect();
    assert_eq!(seen.len(), 12);
    seen.sort_by_key(|p| (*p.process.as_bytes(), p.logical_clock));
    seen.dedup();
    assert_eq!(seen.len(), 12, "no repeats");
    assert!(second.cursor.is_none(), "the last page is not full");
}

#[tokio::test]
async fn references_page_through_many_replies_ranked_by_likes() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (mut alice, mut bob) = (author(1), author(2));
    let post = alice.post("discuss", 1_000).expect("sign");
    let replies: Vec<_> = (0..45)
        .map(|i| {
            bob.reply(&format!("reply {i}"), &post.pointer(), 2_000 + i)
                .expect("sign")
        })
        .collect();
    let mut fans: Vec<_> = (10..13).map(author).collect();
    let likes: Vec<_> = fans
        .iter_mut()
        .map(|fan| {
            fan.opinion(&replies[7].pointer(), opinion::LIKE, 9_000)
                .expect("sign")
        })
        .collect();
    let mut batch: Vec<_> = vec![&post];
    batch.extend(&replies);
    batch.extend(&likes);
    assert_eq!(http.publish(&batch).await.status, StatusCode::OK);

    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = http.references(&post_stats(&post, cursor)).await;
        assert_eq!(page.counts, vec![0, 0, 45]);
        cursor = page.cursor.clone().map(|c| c.to_vec());
        pages.push(page);
        if cursor.is_none() {
            break;
        }
    }

    assert_eq!(
        pages.iter().map(|p| p.items.len()).collect::<Vec<_>>(),
        vec![20, 20, 5]
    );
    let items: Vec<_> = pages.iter().flat_map(|p| &p.items).collect();
    let first = VerifiedEvent::verify(items[0].event.as_ref().expect("event")).expect("valid");
    assert_eq!(
        first.pointer(),
        replies[7].pointer(),
        "the liked reply ranks first"
    );
    assert_eq!(items[0].counts, vec![3], "with its own like count");
    let mut clocks: Vec<_> = items
        .iter()
        .map(|i| {
            VerifiedEvent::verify(i.event.as_ref().expect("event"))
                .expect("valid")
                .logical_clock()
        })
        .collect();
    clocks.sort_unstable();
    assert_eq!(
        clocks,
        (1..=45).collect::<Vec<_>>(),
        "every reply exactly once"
    );
}

#[tokio::test]
async fn topic_references_union_extra_byte_subjects() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let a = alice.topic_post("on rust", "rust", 1_000).expect("sign");
    let b = alice.topic_post("on Rust", "Rust", 1_001).expect("sign");
    let c = alice.topic_post("on go", "go", 1_002).expect("sign");
    http.publish(&[&a, &b, &c]).await;
    let request = wire::QueryReferencesRequest {
        reference: Some(wire::Reference {
            reference_type: 3,
            reference: b"rust".to_vec().into(),
        }),
        request_events: Some(wire::QueryReferencesRequestEvents::default()),
        count_references: vec![wire::QueryReferencesRequestCountReferences { from_type: None }],
        extra_byte_references: vec![b"Rust".to_vec().into()],
        ..Default::default()
    };

    let page = http.references(&request).await;

    assert_eq!(page.counts, vec![2]);
    assert_eq!(page.items.len(), 2);
}

#[tokio::test]
async fn moderation_tags_sent_by_an_author_are_not_stored() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let post = alice.post("self-approved", 1_000).expect("sign");
    let mut signed = post.to_signed();
    signed.moderation_tags = vec![wire::ModerationTag {
        name: "approved".into(),
        level: 0,
    }];
    http.post_raw(
        "/events",
        wire::Events {
            events: vec![signed],
        }
        .encode_to_vec(),
    )
    .await;

    let served = http.events(&alice, 1, 1).await;

    assert_eq!(served.len(), 1);
    assert!(
        served[0].moderation_tags.is_empty(),
        "tags are the server's to set, not the author's"
    );
}

#[tokio::test]
async fn version_health_and_cors_answer_as_the_reference_does() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());

    let version: serde_json::Value =
        serde_json::from_slice(&http.get("/version").await.body).expect("json");
    assert!(version["sha"].is_string());
    let health = http.get("/health").await;
    assert_eq!(health.status, StatusCode::OK);
    let health: serde_json::Value = serde_json::from_slice(&health.body).expect("json");
    assert_eq!(health["status"], "ok");
    assert!(
        http.get("/version")
            .await
            .headers
            .get("access-control-allow-origin")
            .is_none(),
        "no Origin, no CORS"
    );

    let client = reqwest::Client::new();
    let preflight = client
        .request(reqwest::Method::OPTIONS, format!("{}/events", server.url()))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status(), StatusCode::OK);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(
        preflight.headers()["access-control-allow-headers"],
        "content-type, x-polycentric-user-agent"
    );
}

#[tokio::test]
async fn binary_parameters_are_accepted_padded_and_unpadded() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let posts: Vec<_> = (0..3)
        .map(|i| alice.post("p", 10 + i).expect("sign"))
        .collect();
    http.publish(&posts.iter().collect::<Vec<_>>()).await;
    let ranges = wire::RangesForSystem {
        ranges_for_processes: vec![wire::RangesForProcess {
            process: Some(alice.process().to_wire()),
            ranges: vec![wire::Range { low: 1, high: 3 }],
        }],
    };
    let unpadded = base64url_encode(&ranges.encode_to_vec());
    let padding = "=".repeat((4 - unpadded.len() % 4) % 4);
    assert!(
        !padding.is_empty(),
        "this request must need padding to test both forms"
    );
    let system = alice.system().to_query_param();

    for encoded in [
        unpadded.clone(),
        format!("{unpadded}{}", padding.replace('=', "%3D")),
    ] {
        let events: wire::Events = http
            .get(&format!("/events?system={system}&ranges={encoded}"))
            .await
            .decode();
        assert_eq!(clocks(&events.events), vec![1, 2, 3], "ranges={encoded}");
    }
}
