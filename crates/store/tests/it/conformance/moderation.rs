//! Moderation: the local labeler tags posts, usernames and descriptions at ingest, reads serve
//! the server's tags beside the signed bytes, and `moderation_filters` hide what they name
//! (spec section 7). Each test opens its store through `open(labeler)`; opening again is a
//! restart, possibly with other rules.

use std::sync::Arc;

use agora_protocol::{VerifiedEvent, content, wire};
use agora_store::moderation::{Labeler, ModerationFilter, ReadFilter};
use agora_store::{
    IndexCursor, IndexPage, IndexQuery, ProcessRanges, ReferencesQuery, ReferencingEvents, Store,
    Subject,
};

use super::support::*;

/// Two categories: `hate` (a pattern) and `spam` (a phrase).
const RULES: &str = "# test rules\nhate 3 /gr+r/\nspam 2 buy now\n";

fn labeler(rules: &str) -> Option<Arc<Labeler>> {
    Some(Arc::new(Labeler::parse(rules).expect("valid rules")))
}

fn filter(name: &str, max_level: i64, strict_mode: bool) -> ModerationFilter {
    ModerationFilter {
        name: name.into(),
        max_level,
        strict_mode,
    }
}

/// The (name, level) tags served with an event, after checking the signature still verifies.
fn tags(signed: &wire::SignedEvent) -> Vec<(String, u32)> {
    VerifiedEvent::verify(signed).expect("a tagged event still verifies");
    signed
        .moderation_tags
        .iter()
        .map(|tag| (tag.name.clone(), tag.level))
        .collect()
}

fn tag_list(hate: u32, spam: u32) -> Vec<(String, u32)> {
    vec![("hate".into(), hate), ("spam".into(), spam)]
}

async fn feed<S: Store>(
    store: &S,
    author: &agora_protocol::author::Author,
    content_type: u64,
    filter: ReadFilter,
) -> IndexPage {
    store
        .index_moderated(
            IndexQuery {
                system: author.system(),
                content_type,
                cursor: IndexCursor::Start,
                limit: 100,
            },
            filter,
        )
        .await
        .expect("index")
}

fn texts(events: &[wire::SignedEvent]) -> Vec<String> {
    events
        .iter()
        .map(|signed| {
            let event = VerifiedEvent::verify(signed).expect("verifies");
            match event.content_type() {
                content::POST => {
                    use prost::Message as _;
                    wire::Post::decode(event.event().content.clone())
                        .expect("post")
                        .content
                        .unwrap_or_default()
                }
                other => format!("type {other}"),
            }
        })
        .collect()
}

pub async fn labeled_events_carry_a_tag_per_category_and_still_verify<S: Store>(
    open: impl Fn(Option<Arc<Labeler>>) -> S,
) {
    let store = open(labeler(RULES));
    let mut alice = author(1, 1);
    let spam = alice.post("Buy NOW, friends", 1_000).expect("sign");
    let calm = alice.post("buying nowhere", 2_000).expect("sign");
    let name = alice
        .set_element(content::USERNAME, b"grrr", 3_000)
        .expect("sign");
    let follow = alice
        .follow(&author(2, 2).system(), true, 4_000)
        .expect("sign");
    ingest_new(&store, [&spam, &calm, &name, &follow]).await;

    let posts = feed(&store, &alice, content::POST, ReadFilter::default()).await;
    let names = store
        .latest(alice.system(), vec![content::USERNAME, content::FOLLOW])
        .await
        .expect("latest");

    assert_eq!(texts(&posts.events), ["buying nowhere", "Buy NOW, friends"]);
    assert_eq!(tags(&posts.events[0]), tag_list(0, 0));
    assert_eq!(tags(&posts.events[1]), tag_list(0, 2));
    let name_tags: Vec<_> = names.iter().map(tags).collect();
    assert!(name_tags.contains(&tag_list(3, 0)), "{name_tags:?}");
    assert!(
        name_tags.contains(&vec![]),
        "a follow is not moderated: {name_tags:?}"
    );
}

pub async fn filters_hide_above_max_level_and_strict_hides_unknown_names<S: Store>(
    open: impl Fn(Option<Arc<Labeler>>) -> S,
) {
    let store = open(labeler(RULES));
    let mut alice = author(1, 1);
    let spam = alice.post("buy now", 1_000).expect("sign");
    let calm = alice.post("hello", 2_000).expect("sign");
    let hate = alice.post("grrr", 3_000).expect("sign");
    let follow = alice
        .follow(&author(2, 2).system(), true, 4_000)
        .expect("sign");
    ingest_new(&store, [&spam, &calm, &hate, &follow]).await;
    let posts = async |filter| texts(&feed(&store, &alice, content::POST, filter).await.events);

    assert_eq!(
        posts(ReadFilter::supplied(vec![filter("spam", 1, false)])).await,
        ["grrr", "hello"]
    );
    assert_eq!(
        posts(ReadFilter::supplied(vec![filter("spam", 2, false)])).await,
        ["grrr", "hello", "buy now"]
    );
    // The default hate ≤ 2 (strict) applies to a category the rules name; the defaults for
    // `violence` and `sexual`, which the rules do not name, are not added (they would hide all).
    assert_eq!(
        posts(ReadFilter::with_defaults(vec![])).await,
        ["hello", "buy now"]
    );
    // A client's own filter for a name replaces that name's default.
    assert_eq!(
        posts(ReadFilter::with_defaults(vec![filter("hate", 3, true)])).await,
        ["grrr", "hello", "buy now"]
    );
    // The labeler knows nothing of `violence`: a strict filter on it hides every post, and
    // nothing of a type that is not moderated.
    let strict = || ReadFilter::supplied(vec![filter("violence", 3, true)]);
    assert!(posts(strict()).await.is_empty());
    assert_eq!(
        feed(&store, &alice, content::FOLLOW, strict())
            .await
            .events
            .len(),
        1
    );
}

pub async fn filtered_pages_lose_nothing_and_repeat_nothing<S: Store>(
    open: impl Fn(Option<Arc<Labeler>>) -> S,
) {
    let store = open(labeler(RULES));
    let mut alice = author(1, 1);
    let events: Vec<VerifiedEvent> = (0..12u64)
        .map(|n| {
            let text = if n % 3 == 0 {
                format!("buy now {n}")
            } else {
                format!("post {n}")
            };
            alice.post(&text, 1_000 + n / 2).expect("sign")
        })
        .collect();
    ingest_new(&store, &events).await;
    let no_spam = || ReadFilter::supplied(vec![filter("spam", 0, false)]);

    let mut seen = Vec::new();
    let mut cursor = IndexCursor::Start;
    loop {
        let page = store
            .index_moderated(
                IndexQuery {
                    system: alice.system(),
                    content_type: content::POST,
                    cursor,
                    limit: 3,
                },
                no_spam(),
            )
            .await
            .expect("index");
        for event in &page.proof {
            assert_eq!(tags(event), tag_list(0, 0), "proof events are filtered too");
        }
        seen.extend(texts(&page.events));
        match page.next {
            Some(next) => cursor = IndexCursor::decode(&next).expect("cursor"),
            None => break,
        }
    }

    let expected: Vec<String> = (0..12u64)
        .rev()
        .filter(|n| n % 3 != 0)
        .map(|n| format!("post {n}"))
        .collect();
    assert_eq!(seen, expected);
}

pub async fn without_a_labeler_there_are_no_tags_and_filters_hide_nothing<S: Store>(
    open: impl Fn(Option<Arc<Labeler>>) -> S,
) {
    let store = open(None);
    let mut alice = author(1, 1);
    let spam = alice.post("buy now", 1_000).expect("sign");
    ingest_new(&store, [&spam]).await;

    let page = feed(
        &store,
        &alice,
        content::POST,
        ReadFilter::with_defaults(vec![filter("spam", 0, true), filter("x", 0, true)]),
    )
    .await;

    assert_eq!(texts(&page.events), ["buy now"]);
    assert!(tags(&page.events[0]).is_empty());
}

pub async fn stored_events_follow_the_rules_after_a_restart<S: Store>(
    open: impl Fn(Option<Arc<Labeler>>) -> S,
) {
    let mut alice = author(1, 1);
    let spam = alice.post("buy now", 1_000).expect("sign");
    let store = open(None);
    ingest_new(&store, [&spam]).await;
    drop(store);

    let store = open(labeler(RULES));
    let page = feed(&store, &alice, content::POST, ReadFilter::default()).await;
    assert_eq!(
        tags(&page.events[0]),
        tag_list(0, 2),
        "labeled when rules arrive"
    );
    drop(store);

    let store = open(labeler("spam 1 buy now\n"));
    let page = feed(&store, &alice, content::POST, ReadFilter::default()).await;
    assert_eq!(
        tags(&page.events[0]),
        vec![("spam".to_owned(), 1)],
        "relabeled when the rules change"
    );
    let hidden = feed(
        &store,
        &alice,
        content::POST,
        ReadFilter::supplied(vec![filter("spam", 0, false)]),
    )
    .await;
    assert!(hidden.events.is_empty());
}

pub async fn topic_feeds_are_filtered_but_replies_and_plain_reads_are_not<S: Store>(
    open: impl Fn(Option<Arc<Labeler>>) -> S,
) {
    let store = open(labeler(RULES));
    let mut alice = author(1, 1);
    let parent = alice.post("hello", 1_000).expect("sign");
    let reply = alice
        .reply("buy now", &parent.pointer(), 2_000)
        .expect("sign");
    let topical = alice.topic_post("buy now", "deals", 3_000).expect("sign");
    ingest_new(&store, [&parent, &reply, &topical]).await;
    let no_spam = || ReadFilter::with_defaults(vec![filter("spam", 1, false)]);
    let referencing = |subject| ReferencesQuery {
        subject,
        events: Some(ReferencingEvents {
            from_type: None,
            counts: Vec::new(),
        }),
        counts: Vec::new(),
        cursor: None,
        page_size: 20,
    };

    let topic = store
        .references_moderated(
            referencing(Subject::Bytes(vec![b"deals".to_vec()])),
            no_spam(),
        )
        .await
        .expect("references");
    let replies = store
        .references_moderated(referencing(Subject::Pointer(parent.slot_key())), no_spam())
        .await
        .expect("references");
    let ranges = vec![ProcessRanges {
        process: process(1),
        ranges: vec![(1, 10)],
    }];
    let plain = store
        .events_in_ranges_moderated(alice.system(), ranges.clone(), 100, ReadFilter::default())
        .await
        .expect("events");
    let supplied = store
        .events_in_ranges_moderated(
            alice.system(),
            ranges,
            100,
            ReadFilter::supplied(vec![filter("spam", 1, false)]),
        )
        .await
        .expect("events");

    assert!(topic.items.is_empty(), "a bytes subject is filtered");
    assert_eq!(replies.items.len(), 1, "a pointer subject is not");
    assert_eq!(tags(&replies.items[0].0), tag_list(0, 2));
    assert_eq!(plain.len(), 3, "GET /events adds no default filters");
    assert_eq!(texts(&supplied), ["hello"]);
}

pub async fn a_deleted_post_is_gone_from_filtered_reads<S: Store>(
    open: impl Fn(Option<Arc<Labeler>>) -> S,
) {
    let store = open(labeler(RULES));
    let mut alice = author(1, 1);
    let calm = alice.post("hello", 1_000).expect("sign");
    let delete = alice.delete(&calm, 2_000).expect("sign");
    ingest_new(&store, [&calm, &delete]).await;

    let page = feed(
        &store,
        &alice,
        content::POST,
        ReadFilter::supplied(vec![filter("spam", 0, true)]),
    )
    .await;

    // Only the tombstone is left in the feed; a DELETE is never moderated.
    assert_eq!(texts(&page.events), ["type 1"]);
    assert!(tags(&page.events[0]).is_empty());
}

pub async fn posts_stored_while_rules_were_off_are_labeled_at_the_next_start<S: Store>(
    open: impl Fn(Option<Arc<Labeler>>) -> S,
) {
    let mut alice = author(1, 1);
    let first = alice.post("buy now", 1_000).expect("sign");
    let second = alice.post("buy now again", 2_000).expect("sign");
    let store = open(labeler(RULES));
    ingest_new(&store, [&first]).await;
    drop(store);
    let store = open(None);
    ingest_new(&store, [&second]).await;
    drop(store);

    let store = open(labeler(RULES));
    let page = feed(&store, &alice, content::POST, ReadFilter::default()).await;

    assert_eq!(texts(&page.events), ["buy now again", "buy now"]);
    assert_eq!(tags(&page.events[0]), tag_list(0, 2), "labeled at start");
    assert_eq!(tags(&page.events[1]), tag_list(0, 2));
}

pub async fn recommended_profiles_need_a_post_the_filters_show<S: Store>(
    open: impl Fn(Option<Arc<Labeler>>) -> S,
) {
    let store = open(labeler(RULES));
    let (mut alice, mut bob) = (author(1, 1), author(2, 2));
    let hate = alice.post("grrr", 1_000).expect("sign");
    let spam = alice.post("buy now", 2_000).expect("sign");
    let calm = bob.post("hello", 1_000).expect("sign");
    ingest_new(&store, [&hate, &spam, &calm]).await;
    let recommended = async |filter| {
        let mut systems = store
            .recommended_profiles_moderated(10, filter)
            .await
            .expect("recommended");
        systems.sort();
        systems
    };
    let mut both = vec![alice.system(), bob.system()];
    both.sort();

    let strict = ReadFilter::supplied(vec![filter("hate", 2, false), filter("spam", 1, false)]);
    assert_eq!(
        recommended(strict).await,
        [bob.system()],
        "every post of alice is hidden"
    );
    let spam_only = ReadFilter::supplied(vec![filter("spam", 1, false)]);
    assert_eq!(
        recommended(spam_only).await,
        both,
        "alice's hate post shows"
    );
    assert_eq!(recommended(ReadFilter::supplied(vec![])).await, both);
}
