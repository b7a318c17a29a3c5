//! Moderation over HTTP: a real server with a local labeler (rules file), real signed posts, and
//! `moderation_filters` on the read routes (spec section 7).

use std::sync::Arc;

use agora_protocol::encoding::base64url_encode;
use agora_protocol::{VerifiedEvent, content, wire};
use agora_server::{Server, ServerConfig};
use agora_store::moderation::Labeler;
use agora_store::sqlite::{SqliteOptions, SqliteStore};
use prost::Message as _;

use crate::support::{Http, author};

const RULES: &str = "# local rules\nspam 2 buy now\nhate 3 /gr+r/\n";

/// A server on a fresh store, with a labeler loaded from a rules file when `rules` is given.
struct Moderated {
    server: Server,
    _dir: tempfile::TempDir,
}

impl Moderated {
    async fn start(rules: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let labeler = rules.map(|rules| {
            let path = dir.path().join("rules.txt");
            std::fs::write(&path, rules).expect("write rules");
            Arc::new(Labeler::load(&path).expect("rules load"))
        });
        let store = SqliteStore::open(
            &dir.path().join("data"),
            SqliteOptions {
                labeler,
                ..SqliteOptions::default()
            },
        )
        .expect("store");
        let config = ServerConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            ..ServerConfig::default()
        };
        let server = Server::bind(config, store).await.expect("bind");
        Self { server, _dir: dir }
    }

    fn http(&self) -> Http {
        Http::new(self.server.url())
    }
}

/// `&moderation_filters=…` for (name, max_level, strict) triples.
fn filters(list: &[(&str, i64, bool)]) -> String {
    let json: Vec<serde_json::Value> = list
        .iter()
        .map(|(name, max_level, strict)| {
            serde_json::json!({"name": name, "max_level": max_level, "strict_mode": strict})
        })
        .collect();
    let text = serde_json::Value::Array(json).to_string();
    let encoded: String = text
        .bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    format!("&moderation_filters={encoded}")
}

fn post_texts(events: &[wire::SignedEvent]) -> Vec<String> {
    events
        .iter()
        .map(|signed| {
            let event = VerifiedEvent::verify(signed).expect("served events verify");
            wire::Post::decode(event.event().content.clone())
                .expect("post")
                .content
                .unwrap_or_default()
        })
        .collect()
}

fn tags(signed: &wire::SignedEvent) -> Vec<(String, u32)> {
    signed
        .moderation_tags
        .iter()
        .map(|tag| (tag.name.clone(), tag.level))
        .collect()
}

#[tokio::test]
async fn a_matching_post_is_served_with_the_servers_tags_and_still_verifies() {
    let server = Moderated::start(Some(RULES)).await;
    let http = server.http();
    let mut alice = author(1);
    let post = alice.post("Please BUY NOW", 1_000).expect("sign");
    let mut signed = post.to_signed();
    // The author claims a clean bill; the server keeps its own opinion.
    signed.moderation_tags = vec![wire::ModerationTag {
        name: "spam".into(),
        level: 0,
    }];
    let answer = http
        .post_raw(
            "/events",
            wire::Events {
                events: vec![signed],
            }
            .encode_to_vec(),
        )
        .await;
    assert!(answer.status.is_success(), "{}", answer.text());

    let page = http
        .index(
            &alice.system(),
            content::POST,
            &filters(&[("spam", 3, false)]),
        )
        .await;
    let events = http.events(&alice, 1, 1).await;

    assert_eq!(post_texts(&page.events), ["Please BUY NOW"]);
    let expected = vec![("hate".to_owned(), 0), ("spam".to_owned(), 2)];
    assert_eq!(tags(&page.events[0]), expected);
    assert_eq!(
        tags(&events[0]),
        expected,
        "GET /events serves the tags too"
    );
    assert_eq!(
        page.events[0].event,
        post.to_signed().event,
        "signed bytes unchanged"
    );
    VerifiedEvent::verify(&page.events[0]).expect("signature still verifies");
}

#[tokio::test]
async fn max_level_hides_or_shows_on_query_index_and_events() {
    let server = Moderated::start(Some(RULES)).await;
    let http = server.http();
    let mut alice = author(1);
    let spam = alice.post("buy now", 1_000).expect("sign");
    let calm = alice.post("hello", 2_000).expect("sign");
    http.publish(&[&spam, &calm]).await;
    let ranges = wire::RangesForSystem {
        ranges_for_processes: vec![wire::RangesForProcess {
            process: Some(alice.process().to_wire()),
            ranges: vec![wire::Range { low: 1, high: 2 }],
        }],
    };
    let events_path = |extra: &str| {
        format!(
            "/events?system={}&ranges={}{extra}",
            alice.system().to_query_param(),
            base64url_encode(&ranges.encode_to_vec())
        )
    };

    let below = http
        .index(
            &alice.system(),
            content::POST,
            &filters(&[("spam", 1, false)]),
        )
        .await;
    let at = http
        .index(
            &alice.system(),
            content::POST,
            &filters(&[("spam", 2, false)]),
        )
        .await;
    let events_below: wire::Events = http
        .get(&events_path(&filters(&[("spam", 1, false)])))
        .await
        .decode();
    let events_plain: wire::Events = http.get(&events_path("")).await.decode();

    assert_eq!(post_texts(&below.events), ["hello"]);
    assert_eq!(post_texts(&at.events), ["hello", "buy now"]);
    assert_eq!(post_texts(&events_below.events), ["hello"]);
    assert_eq!(
        post_texts(&events_plain.events),
        ["buy now", "hello"],
        "GET /events adds no default filters"
    );
}

#[tokio::test]
async fn default_filters_apply_to_categories_the_rules_name() {
    let server = Moderated::start(Some(RULES)).await;
    let http = server.http();
    let mut alice = author(1);
    let angry = alice.post("grrr", 1_000).expect("sign");
    let calm = alice.post("hello", 2_000).expect("sign");
    http.publish(&[&angry, &calm]).await;

    let defaults = http.index(&alice.system(), content::POST, "").await;
    let lenient = http
        .index(
            &alice.system(),
            content::POST,
            &filters(&[("hate", 3, true)]),
        )
        .await;

    assert_eq!(
        post_texts(&defaults.events),
        ["hello"],
        "hate ≤ 2 by default"
    );
    assert_eq!(post_texts(&lenient.events), ["hello", "grrr"]);
}

#[tokio::test]
async fn strict_mode_hides_posts_the_labeler_has_no_tag_for() {
    let server = Moderated::start(Some(RULES)).await;
    let http = server.http();
    let mut alice = author(1);
    let calm = alice.post("hello", 1_000).expect("sign");
    let follow = alice
        .follow(&author(2).system(), true, 2_000)
        .expect("sign");
    http.publish(&[&calm, &follow]).await;
    let strict = filters(&[("violence", 3, true)]);
    let lenient = filters(&[("violence", 0, false)]);

    let hidden = http.index(&alice.system(), content::POST, &strict).await;
    let shown = http.index(&alice.system(), content::POST, &lenient).await;
    let follows = http.index(&alice.system(), content::FOLLOW, &strict).await;

    assert!(hidden.events.is_empty());
    assert_eq!(post_texts(&shown.events), ["hello"]);
    assert_eq!(follows.events.len(), 1, "a follow is never moderated");
}

#[tokio::test]
async fn topic_pages_are_filtered_and_replies_are_not() {
    let server = Moderated::start(Some(RULES)).await;
    let http = server.http();
    let mut alice = author(1);
    let parent = alice.post("hello", 1_000).expect("sign");
    let reply = alice
        .reply("buy now", &parent.pointer(), 2_000)
        .expect("sign");
    let topical = alice.topic_post("buy now", "deals", 3_000).expect("sign");
    http.publish(&[&parent, &reply, &topical]).await;
    let request = |reference: wire::Reference| wire::QueryReferencesRequest {
        reference: Some(reference),
        request_events: Some(wire::QueryReferencesRequestEvents::default()),
        ..Default::default()
    };
    let get = async |request: wire::QueryReferencesRequest| -> wire::QueryReferencesResponse {
        http.get(&format!(
            "/query_references?query={}{}",
            base64url_encode(&request.encode_to_vec()),
            filters(&[("spam", 1, false)])
        ))
        .await
        .decode()
    };

    let topic = get(request(wire::Reference {
        reference_type: content::REFERENCE_BYTES,
        reference: b"deals".to_vec().into(),
    }))
    .await;
    let replies = get(request(agora_protocol::author::pointer_reference(
        &parent.pointer(),
    )))
    .await;

    assert!(topic.items.is_empty(), "bytes subject: filtered");
    assert_eq!(replies.items.len(), 1, "pointer subject: not filtered");
}

#[tokio::test]
async fn without_a_rules_file_filters_change_nothing_and_no_tags_are_served() {
    let server = Moderated::start(None).await;
    let http = server.http();
    let mut alice = author(1);
    let spam = alice.post("buy now", 1_000).expect("sign");
    http.publish(&[&spam]).await;

    let page = http
        .index(
            &alice.system(),
            content::POST,
            &filters(&[("spam", 0, true), ("violence", 0, true)]),
        )
        .await;

    assert_eq!(post_texts(&page.events), ["buy now"]);
    assert!(page.events[0].moderation_tags.is_empty());
}

#[tokio::test]
async fn search_and_explore_hide_what_the_filters_name() {
    let server = Moderated::start(Some(RULES)).await;
    let http = server.http();
    let mut alice = author(1);
    let spam = alice.post("buy now deals", 1_000).expect("sign");
    let calm = alice.post("hello deals", 2_000).expect("sign");
    http.publish(&[&spam, &calm]).await;
    let page = async |path: String| -> Vec<String> {
        let page: wire::ResultEventsAndRelatedEventsAndCursor = http.get(&path).await.decode();
        let events = page.result_events.unwrap_or_default().events;
        let mut texts = post_texts(&events);
        texts.sort();
        texts
    };
    let strict = filters(&[("spam", 1, false)]);
    let lenient = filters(&[("spam", 2, false)]);

    assert_eq!(
        page(format!("/search?search=deals{strict}")).await,
        ["hello deals"]
    );
    assert_eq!(
        page(format!("/search?search=deals{lenient}")).await,
        ["buy now deals", "hello deals"]
    );
    assert_eq!(
        page(format!("/explore?limit=10{strict}")).await,
        ["hello deals"]
    );
    assert_eq!(
        page("/explore?limit=10".to_owned()).await,
        ["buy now deals", "hello deals"]
    );
}
