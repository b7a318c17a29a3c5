//! Discovery: full-text search over live posts and current profiles (with typo tolerance and
//! stable paging), explore, trending topics and recommended profiles, and that curation and
//! every removal path take events out of all of them at once (spec sections 6.5 to 6.8).

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use agora_protocol::author::{Author, Draft};
use agora_protocol::{VerifiedEvent, content, wire};
use agora_store::{
    CensorTarget, CensorshipKind, ExploreCursor, SearchCursor, SearchKind, SearchPage, SearchQuery,
    Store, TopicCount, TrendingQuery,
};
use prost::Message as _;

use super::support::*;

const HOUR_MS: u64 = 60 * 60 * 1000;
const DAY_MS: u64 = 24 * HOUR_MS;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

async fn search<S: Store>(
    store: &S,
    text: &str,
    kind: SearchKind,
    cursor: Option<SearchCursor>,
    limit: usize,
) -> SearchPage {
    store
        .search(SearchQuery {
            text: text.to_owned(),
            kind,
            cursor,
            limit,
        })
        .await
        .expect("search")
}

/// What a user sees of each result: the post text, or `type:value` for profile fields.
fn shown(events: &[wire::SignedEvent]) -> Vec<String> {
    events
        .iter()
        .map(|signed| {
            let event = VerifiedEvent::verify(signed).expect("served events verify");
            match event.content_type() {
                content::POST => wire::Post::decode(event.event().content.clone())
                    .expect("post body")
                    .content
                    .unwrap_or_default(),
                other => {
                    let value = &event.event().lww_element.as_ref().expect("lww").value;
                    format!("{other}:{}", String::from_utf8_lossy(value))
                }
            }
        })
        .collect()
}

async fn messages<S: Store>(store: &S, text: &str) -> Vec<String> {
    let mut found = shown(
        &search(store, text, SearchKind::Messages, None, 100)
            .await
            .events,
    );
    found.sort();
    found
}

async fn profiles<S: Store>(store: &S, text: &str) -> Vec<String> {
    let mut found = shown(
        &search(store, text, SearchKind::Profiles, None, 100)
            .await
            .events,
    );
    found.sort();
    found
}

/// Every page of a messages search, `limit` at a time, until the empty page official clients
/// stop on; `between` runs after the first page.
async fn all_pages<S: Store>(
    store: &S,
    text: &str,
    limit: usize,
    mut between: impl AsyncFnMut(),
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = None;
    for page_number in 0.. {
        assert!(page_number < 100, "paging never ended");
        let page = search(store, text, SearchKind::Messages, cursor, limit).await;
        assert!(page.events.len() <= limit, "page larger than the limit");
        if page.events.is_empty() {
            break;
        }
        seen.extend(shown(&page.events));
        cursor = Some(SearchCursor::decode(&page.cursor).expect("cursor decodes"));
        if page_number == 0 {
            between().await;
        }
    }
    seen
}

async fn explore_all<S: Store>(store: &S, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.explore(cursor, limit).await.expect("explore");
        if page.events.is_empty() {
            assert!(page.cursor.is_none(), "an empty page has no cursor");
            break;
        }
        seen.extend(shown(&page.events));
        let bytes = page.cursor.expect("a non-empty page has a cursor");
        cursor = Some(ExploreCursor::decode(&bytes).expect("16-byte cursor"));
    }
    seen
}

async fn trending<S: Store>(
    store: &S,
    prefix: Option<&str>,
    window_ms: u64,
    limit: usize,
) -> Vec<(String, u64)> {
    let topics = store
        .trending_topics(TrendingQuery {
            prefix: prefix.map(str::to_owned),
            since_ms: (now_ms() - window_ms) as i64,
            limit,
        })
        .await
        .expect("trending");
    topics
        .into_iter()
        .map(|TopicCount { topic, count }| (topic, count))
        .collect()
}

fn post(author: &mut Author, text: &str, ms: u64) -> VerifiedEvent {
    author.post(text, ms).expect("sign")
}

pub async fn search_finds_posts_by_word_and_by_one_typo<S: Store>(store: S) {
    let (mut alice, mut bob) = (author(1, 1), author(2, 2));
    let elephant = post(&mut alice, "The quick brown Elephant", 100);
    let turtle = post(&mut bob, "a slow turtle", 200);
    let name = alice
        .set_element(content::USERNAME, b"elephant lover", 300)
        .expect("sign");
    let about = alice
        .set_element(content::DESCRIPTION, b"elephant keeper", 400)
        .expect("sign");
    ingest_new(&store, [&elephant, &turtle, &name, &about]).await;

    let want = ["The quick brown Elephant"];
    assert_eq!(
        messages(&store, "elephant").await,
        want,
        "posts only, never the username or description"
    );
    // Deletion, substitution, insertion, and a transposition (one edit).
    for typo in ["elepant", "elephent", "eleephant", "ELEPHNAT"] {
        assert_eq!(messages(&store, typo).await, want, "{typo}");
    }
    assert_eq!(
        messages(&store, "turtle, elephant!").await,
        ["The quick brown Elephant", "a slow turtle"]
    );
    assert!(messages(&store, "giraffe").await.is_empty());
    assert!(messages(&store, "tortoise").await.is_empty());
    assert!(messages(&store, "  ?! ").await.is_empty());
}

pub async fn search_ranks_more_exact_terms_first<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let both = post(&mut alice, "rust async runtime", 100);
    let one = post(&mut alice, "rust borrow checker", 200);
    let typo = post(&mut alice, "rusty nail", 300);
    ingest_new(&store, [&both, &one, &typo]).await;

    let page = search(&store, "rust runtime", SearchKind::Messages, None, 10).await;
    assert_eq!(
        shown(&page.events),
        ["rust async runtime", "rust borrow checker", "rusty nail"],
        "both terms, then one exact term, then a longer form of one"
    );
}

/// What a search shows, in the order it ranks them.
async fn ranked<S: Store>(store: &S, text: &str, kind: SearchKind) -> Vec<String> {
    shown(&search(store, text, kind, None, 100).await.events)
}

/// An exact match ranks above a longer form of the word, which ranks above a typo, however new
/// each post is; and one exact term outweighs typos of two.
pub async fn search_ranks_exact_over_word_forms_over_typos<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let exact = post(&mut alice, "a walrus on the ice", 100);
    let form = post(&mut alice, "two walruses on the ice", 200);
    let typo = post(&mut alice, "a walrsu on the ice", 300);
    let both_typos = post(&mut alice, "wlarus sightng", 400);
    ingest_new(&store, [&exact, &form, &typo, &both_typos]).await;

    assert_eq!(
        ranked(&store, "walrus", SearchKind::Messages).await,
        [
            "a walrus on the ice",
            "two walruses on the ice",
            "wlarus sightng",
            "a walrsu on the ice"
        ],
        "exact, then the word form, then the typos newest first"
    );
    assert_eq!(
        ranked(&store, "Walrus sighting", SearchKind::Messages).await,
        [
            "a walrus on the ice",
            "wlarus sightng",
            "two walruses on the ice",
            "a walrsu on the ice"
        ],
        "one exact term over a typo of each of two, which tie with a word form (newest first)"
    );
    // Every kind of match, one per page: the cursor moves from one kind to the next.
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = search(&store, "walrus", SearchKind::Messages, cursor, 1).await;
        if page.events.is_empty() {
            break;
        }
        seen.extend(shown(&page.events));
        cursor = Some(SearchCursor::decode(&page.cursor).expect("cursor decodes"));
    }
    assert_eq!(seen, ranked(&store, "walrus", SearchKind::Messages).await);

    let (mut bob, mut carol, mut dave) = (author(2, 2), author(3, 3), author(4, 4));
    let profiles = [
        bob.set_element(content::USERNAME, b"Walrsu", 100),
        carol.set_element(content::USERNAME, b"Walruses Fan", 100),
        dave.set_element(content::USERNAME, b"Walrus", 100),
    ]
    .map(|event| event.expect("sign"));
    ingest_new(&store, &profiles).await;
    assert_eq!(
        ranked(&store, "walrus", SearchKind::Profiles).await,
        ["5:Walrus", "5:Walruses Fan", "5:Walrsu"],
        "profiles rank alike"
    );
}

/// A query word finds the longer forms of it (`walrus`, `walruses`), ranked below the word
/// itself, and paging through a long stream of both neither skips nor repeats.
pub async fn search_finds_word_forms<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut first = Vec::new();
    for n in 0..30 {
        let text = if n % 3 == 0 {
            format!("walrus {n}")
        } else {
            format!("Walruses {n}!")
        };
        first.push(post(&mut alice, &text, 1_000 + n));
    }
    first.push(post(&mut alice, "running late", 2_000));
    first.push(post(&mut alice, "a walrusesque tale", 2_001));
    ingest_new(&store, &first).await;

    assert_eq!(messages(&store, "run").await, ["running late"]);
    assert!(
        messages(&store, "ru").await.is_empty(),
        "two letters are no word"
    );
    let store_ref = &store;
    let mut later = author(2, 2);
    let seen = all_pages(&store, "walrus", 4, async || {
        let newer = post(&mut later, "walrus late", 9_000);
        ingest_new(store_ref, [&newer]).await;
    })
    .await;
    let exact: Vec<String> = (0..30)
        .rev()
        .filter(|n| n % 3 == 0)
        .map(|n| format!("walrus {n}"))
        .collect();
    let forms: Vec<String> = (0..30)
        .rev()
        .filter(|n| n % 3 != 0)
        .map(|n| format!("Walruses {n}!"))
        .collect();
    assert_eq!(
        seen,
        [exact, forms].concat(),
        "the word newest first, then its forms newest first, each once; too long a form is not one"
    );
}

/// Two swapped neighbouring letters are one typo, so a six-letter word finds its match.
pub async fn search_counts_swapped_letters_as_one_typo<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let walrus = post(&mut alice, "The walrus naps", 100);
    let name = alice
        .set_element(content::USERNAME, b"Walrus Keeper", 200)
        .expect("sign");
    ingest_new(&store, [&walrus, &name]).await;

    for swapped in ["wlarus", "walrsu", "WALURS"] {
        assert_eq!(
            messages(&store, swapped).await,
            ["The walrus naps"],
            "{swapped}"
        );
        assert_eq!(
            profiles(&store, swapped).await,
            ["5:Walrus Keeper"],
            "{swapped}"
        );
    }
    assert!(
        messages(&store, "awlrus").await.is_empty(),
        "typos keep the first letter"
    );
}

/// A profile hit is the event of the field that matched: the description when only it matched,
/// the username when it matched, both (best first) when both did.
pub async fn profile_search_returns_the_matching_fields_event<S: Store>(store: S) {
    let (mut alice, mut bob, mut carol) = (author(1, 1), author(2, 2), author(3, 3));
    let events = [
        alice.set_element(content::USERNAME, b"Ferdinand", 100),
        alice.set_element(content::DESCRIPTION, b"keeps walruses at the zoo", 100),
        bob.set_element(content::USERNAME, b"Walrsu Bob", 100),
        bob.set_element(content::DESCRIPTION, b"a walrus whisperer", 100),
        carol.set_element(content::USERNAME, b"Zoo Carol", 100),
        carol.set_element(content::DESCRIPTION, b"zoo keeper by trade", 100),
    ]
    .map(|event| event.expect("sign"));
    ingest_new(&store, &events).await;

    assert_eq!(
        ranked(&store, "zoo", SearchKind::Profiles).await,
        [
            "5:Zoo Carol",
            "6:zoo keeper by trade",
            "6:keeps walruses at the zoo"
        ],
        "both fields, the username first on a tie; the description alone"
    );
    assert_eq!(
        ranked(&store, "ferdinand", SearchKind::Profiles).await,
        ["5:Ferdinand"]
    );
    assert_eq!(
        ranked(&store, "walrus", SearchKind::Profiles).await,
        [
            "6:a walrus whisperer",
            "5:Walrsu Bob",
            "6:keeps walruses at the zoo"
        ],
        "the better matching field first"
    );
}

pub async fn search_pages_neither_skip_nor_repeat_while_posts_arrive<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let first: Vec<VerifiedEvent> = (0..25)
        .map(|n| {
            let extra = if n % 3 == 0 { " zebra" } else { "" };
            post(&mut alice, &format!("harbor number {n}{extra}"), 1_000 + n)
        })
        .collect();
    ingest_new(&store, &first).await;
    let want: HashSet<String> = shown(
        &first
            .iter()
            .map(VerifiedEvent::to_signed)
            .collect::<Vec<_>>(),
    )
    .into_iter()
    .collect();

    // The late posts score below the first page, so only the pinned id keeps them out of the
    // pages still to come.
    let store_ref = &store;
    let mut later = author(2, 2);
    let seen = all_pages(&store, "harbor zebra", 7, async || {
        let newer: Vec<VerifiedEvent> = (0..5)
            .map(|n| post(&mut later, &format!("harbor late {n}"), 5_000 + n))
            .collect();
        ingest_new(store_ref, &newer).await;
    })
    .await;

    assert_eq!(seen.len(), 25, "each result once: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), want);
    assert!(
        seen[..9].iter().all(|text| text.ends_with("zebra")),
        "the nine posts with both words come first: {seen:?}"
    );
    let fresh = all_pages(&store, "harbor zebra", 7, async || {}).await;
    assert_eq!(fresh.len(), 30, "a new search sees the posts that arrived");
}

pub async fn one_word_search_pages_newest_first_past_many_matches<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let first: Vec<VerifiedEvent> = (0..150)
        .map(|n| post(&mut alice, &format!("kraken {n}"), 1_000 + n))
        .collect();
    ingest_new(&store, &first).await;
    let hidden = &first[70];
    store
        .censor(
            CensorTarget::Event {
                system: alice.system(),
                process: alice.process(),
                logical_clock: hidden.logical_clock(),
            },
            CensorshipKind::DoNotRecommend,
        )
        .await
        .expect("censor");

    let store_ref = &store;
    let mut later = author(2, 2);
    let seen = all_pages(&store, "KRAKEN", 40, async || {
        let newer = post(&mut later, "kraken late", 9_000);
        ingest_new(store_ref, [&newer]).await;
    })
    .await;

    let want: Vec<String> = (0..150)
        .rev()
        .filter(|&n| n != 70)
        .map(|n| format!("kraken {n}"))
        .collect();
    assert_eq!(
        seen, want,
        "every match once, newest first, the curated one left out"
    );
}

pub async fn removed_posts_leave_search_explore_and_trending_at_once<S: Store>(store: S) {
    let now = now_ms();
    let (mut alice, mut bob) = (author(1, 1), author(2, 2));
    let volcano = alice
        .topic_post("volcano erupts", "news", now - HOUR_MS)
        .expect("sign");
    let refused = bob
        .topic_post("volcano calm", "news", now - HOUR_MS)
        .expect("sign");
    ingest_new(&store, [&volcano, &refused]).await;
    assert_eq!(
        messages(&store, "volcano").await,
        ["volcano calm", "volcano erupts"]
    );
    assert_eq!(
        trending(&store, None, DAY_MS, 10).await,
        [("news".into(), 2)]
    );

    let delete = alice.delete(&volcano, now).expect("sign");
    ingest_new(&store, [&delete]).await;
    assert_eq!(messages(&store, "volcano").await, ["volcano calm"]);
    assert_eq!(messages(&store, "erupts").await, Vec::<String>::new());
    assert_eq!(explore_all(&store, 10).await, ["volcano calm"]);
    assert_eq!(
        trending(&store, None, DAY_MS, 10).await,
        [("news".into(), 1)]
    );

    // Another removal path: refusing storage deletes the rows without a DELETE event.
    store
        .censor(
            CensorTarget::Event {
                system: bob.system(),
                process: bob.process(),
                logical_clock: refused.logical_clock(),
            },
            CensorshipKind::RefuseStorage,
        )
        .await
        .expect("censor");
    assert!(messages(&store, "volcano").await.is_empty());
    assert!(explore_all(&store, 10).await.is_empty());
    assert!(trending(&store, None, DAY_MS, 10).await.is_empty());
}

pub async fn profile_search_finds_only_current_values<S: Store>(store: S) {
    let (mut alice, mut bob) = (author(1, 1), author(2, 2));
    let old_name = alice
        .set_element(content::USERNAME, b"Margarethe", 100)
        .expect("sign");
    let new_name = alice
        .set_element(content::USERNAME, b"Wilhelmina", 200)
        .expect("sign");
    let about = alice
        .set_element(content::DESCRIPTION, b"gardener and beekeeper", 150)
        .expect("sign");
    let bob_name = bob
        .set_element(content::USERNAME, b"Gardener Bob", 100)
        .expect("sign");
    let bob_post = post(&mut bob, "Wilhelmina is a fine name", 100);
    // The newer name arrives first: the winner is by LWW time, not arrival.
    ingest_new(&store, [&new_name, &old_name, &about, &bob_name, &bob_post]).await;

    assert!(
        profiles(&store, "Margarethe").await.is_empty(),
        "a former name"
    );
    assert_eq!(
        profiles(&store, "wilhelmina").await,
        ["5:Wilhelmina"],
        "the identity's current username, not bob's post"
    );
    assert_eq!(
        profiles(&store, "gardener").await,
        ["5:Gardener Bob", "6:gardener and beekeeper"],
        "each identity by the field that matched"
    );
    assert_eq!(profiles(&store, "Wilhelmyna").await.len(), 1, "a typo");
    assert_eq!(
        messages(&store, "Wilhelmina").await,
        ["Wilhelmina is a fine name"]
    );

    // Deleting the winning name brings the former one back.
    let delete = alice.delete(&new_name, 300).expect("sign");
    ingest_new(&store, [&delete]).await;
    assert_eq!(profiles(&store, "margarethe").await, ["5:Margarethe"]);
    assert!(profiles(&store, "wilhelmina").await.is_empty());
}

pub async fn explore_is_newest_first_with_an_exact_cursor<S: Store>(store: S) {
    let (mut alice, mut bob) = (author(1, 1), author(2, 2));
    let mut events = Vec::new();
    for n in 0..6 {
        events.push(post(&mut alice, &format!("alice {n}"), 1_000 + n * 10));
        // Bob posts in the same milliseconds, so page boundaries fall inside one millisecond.
        events.push(post(&mut bob, &format!("bob {n}"), 1_000 + n * 10));
    }
    let name = alice
        .set_element(content::USERNAME, b"not a post", 9_000)
        .expect("sign");
    events.push(name);
    ingest_new(&store, &events).await;

    let seen = explore_all(&store, 5).await;
    let mut want = Vec::new();
    for n in (0..6).rev() {
        want.push(format!("bob {n}"));
        want.push(format!("alice {n}"));
    }
    assert_eq!(
        seen, want,
        "newest first, later arrival first within a millisecond"
    );
}

pub async fn explore_orders_far_future_posts_by_arrival<S: Store>(store: S) {
    let (mut alice, mut bob) = (author(1, 1), author(2, 2));
    let year_3000 = 32_503_680_000_000;
    let pinned = post(&mut alice, "from the future", year_3000);
    ingest_new(&store, [&pinned]).await;
    let honest = post(&mut bob, "posted just now", now_ms());
    ingest_new(&store, [&honest]).await;
    let skewed = post(&mut bob, "clock a little fast", now_ms() + 60_000);
    ingest_new(&store, [&skewed]).await;

    assert_eq!(
        explore_all(&store, 10).await,
        ["clock a little fast", "posted just now", "from the future"]
    );
}

pub async fn trending_counts_topics_over_windows_with_a_prefix<S: Store>(store: S) {
    let now = now_ms();
    let mut alice = author(1, 1);
    let mut events = Vec::new();
    let mut topic = |topic: &str, ms: u64| alice.topic_post("on topic", topic, ms).expect("sign");
    for _ in 0..3 {
        events.push(topic("rust", now - HOUR_MS));
    }
    events.push(topic("rust", now - 3 * DAY_MS));
    events.push(topic("ruby", now - 2 * HOUR_MS));
    events.push(topic("ruby", now - 2 * HOUR_MS));
    events.push(topic("python", now - 2 * HOUR_MS));
    events.push(topic("python", now - 2 * HOUR_MS));
    events.push(topic("go", now - 40 * DAY_MS));
    let binary = alice
        .publish(
            Draft {
                content_type: content::POST,
                content: wire::Post {
                    content: Some("binary topic".into()),
                    image: None,
                }
                .encode_to_vec(),
                references: vec![wire::Reference {
                    reference_type: content::REFERENCE_BYTES,
                    reference: vec![0xff, 0xfe].into(),
                }],
                ..Draft::default()
            },
            now,
        )
        .expect("sign");
    events.push(binary);
    ingest_new(&store, &events).await;

    let pairs = |list: &[(&str, u64)]| -> Vec<(String, u64)> {
        list.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
    };
    assert_eq!(
        trending(&store, None, DAY_MS, 10).await,
        pairs(&[("rust", 3), ("python", 2), ("ruby", 2)]),
        "count desc, ties by topic, non-UTF-8 topics skipped"
    );
    assert_eq!(
        trending(&store, None, 7 * DAY_MS, 10).await,
        pairs(&[("rust", 4), ("python", 2), ("ruby", 2)])
    );
    assert_eq!(
        trending(&store, Some("ru"), 7 * DAY_MS, 10).await,
        pairs(&[("rust", 4), ("ruby", 2)])
    );
    assert_eq!(
        trending(&store, Some("/RU"), 7 * DAY_MS, 1).await,
        pairs(&[("rust", 4)])
    );
    assert!(
        trending(&store, Some("go"), 30 * DAY_MS, 10)
            .await
            .is_empty()
    );
}

pub async fn recommended_profiles_are_distinct_live_and_not_curated<S: Store>(store: S) {
    let mut authors: Vec<Author> = (1..=6).map(|n| author(n, n)).collect();
    let posts: Vec<VerifiedEvent> = authors
        .iter_mut()
        .map(|author| post(author, "hello", 100))
        .collect();
    ingest_new(&store, &posts).await;
    let gone = authors[0].delete(&posts[0], 200).expect("sign");
    ingest_new(&store, [&gone]).await;
    store
        .censor(
            CensorTarget::System(authors[1].system()),
            CensorshipKind::DoNotRecommend,
        )
        .await
        .expect("censor");
    let name_only = author(9, 9)
        .set_element(content::USERNAME, b"no posts", 100)
        .expect("sign");
    ingest_new(&store, [&name_only]).await;

    let want: HashSet<_> = authors[2..].iter().map(Author::system).collect();
    for _ in 0..5 {
        let systems = store.recommended_profiles(10).await.expect("recommended");
        let distinct: HashSet<_> = systems.iter().copied().collect();
        assert_eq!(distinct.len(), systems.len(), "distinct: {systems:?}");
        assert_eq!(distinct, want);
    }
    let two = store.recommended_profiles(2).await.expect("recommended");
    assert_eq!(two.len(), 2);
    assert!(two.iter().all(|system| want.contains(system)));
}

pub async fn curated_events_and_systems_are_left_out<S: Store>(store: S) {
    let now = now_ms();
    let (mut alice, mut bob, mut carol) = (author(1, 1), author(2, 2), author(3, 3));
    let a = alice.topic_post("secret alpha", "t", now).expect("sign");
    let b = bob.topic_post("secret beta", "t", now).expect("sign");
    let c = carol.topic_post("secret gamma", "t", now).expect("sign");
    let bob_name = bob
        .set_element(content::USERNAME, b"secret bob", 100)
        .expect("sign");
    ingest_new(&store, [&a, &b, &c, &bob_name]).await;
    store
        .censor(
            CensorTarget::Event {
                system: alice.system(),
                process: alice.process(),
                logical_clock: a.logical_clock(),
            },
            CensorshipKind::DoNotRecommend,
        )
        .await
        .expect("censor");
    store
        .censor(
            CensorTarget::System(bob.system()),
            CensorshipKind::DoNotRecommend,
        )
        .await
        .expect("censor");

    assert_eq!(messages(&store, "secret").await, ["secret gamma"]);
    assert!(profiles(&store, "secret").await.is_empty());
    assert_eq!(explore_all(&store, 10).await, ["secret gamma"]);
    assert_eq!(trending(&store, None, DAY_MS, 10).await, [("t".into(), 1)]);
    let recommended = store.recommended_profiles(10).await.expect("recommended");
    assert!(recommended.contains(&carol.system()));
    assert!(!recommended.contains(&bob.system()), "bob is curated out");
}

pub async fn typo_search_ignores_accents<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let school = post(&mut alice, "Une École magnifique", 100);
    ingest_new(&store, [&school]).await;

    let want = ["Une École magnifique"];
    assert_eq!(messages(&store, "ecole").await, want, "exact, unaccented");
    assert_eq!(
        messages(&store, "ecolle").await,
        want,
        "an unaccented typo of an accented word"
    );
    assert_eq!(messages(&store, "écolle").await, want, "an accented typo");
    assert_eq!(messages(&store, "ÉCOLE").await, want);
}

/// A word indexed with an accent is the same typo neighbour before and after another post adds
/// its unaccented spelling, so a document's score, and its place in the pages, does not change.
pub async fn search_pages_with_accents_neither_skip_nor_repeat<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let accented = post(&mut alice, "harbor cafés", 100);
    let mut first = vec![accented];
    for n in 0..5 {
        first.push(post(&mut alice, &format!("harbor walk {n}"), 200 + n));
    }
    ingest_new(&store, &first).await;
    let mut want: Vec<String> = shown(
        &first
            .iter()
            .map(VerifiedEvent::to_signed)
            .collect::<Vec<_>>(),
    );
    want.sort();

    let store_ref = &store;
    let mut later = author(2, 2);
    let mut seen = all_pages(&store, "harbor cafe", 2, async || {
        let neighbour = post(&mut later, "cafes are nice", 1_000);
        ingest_new(store_ref, [&neighbour]).await;
    })
    .await;
    assert_eq!(
        seen.first().map(String::as_str),
        Some("harbor cafés"),
        "the typo match of both terms ranks first: {seen:?}"
    );
    seen.sort();
    assert_eq!(seen, want, "each result once");
}

/// A profile document rewritten after a search's first page (here, renamed) leaves that
/// search's remaining pages instead of showing again under its new score.
pub async fn profile_pages_survive_a_rename<S: Store>(store: S) {
    let mut authors: Vec<Author> = (1..=5).map(|n| author(n, n)).collect();
    let names: Vec<VerifiedEvent> = authors
        .iter_mut()
        .enumerate()
        .map(|(n, author)| {
            let name = if n < 3 {
                format!("Wilhelm Zebra {n}")
            } else {
                format!("Wilhelm {n}")
            };
            author
                .set_element(content::USERNAME, name.as_bytes(), 100)
                .expect("sign")
        })
        .collect();
    ingest_new(&store, &names).await;

    let mut seen = Vec::new();
    let mut cursor = None;
    for page_number in 0..20 {
        let page = search(&store, "wilhelm zebra", SearchKind::Profiles, cursor, 1).await;
        if page.events.is_empty() {
            break;
        }
        seen.extend(shown(&page.events));
        cursor = Some(SearchCursor::decode(&page.cursor).expect("cursor decodes"));
        if page_number == 0 {
            // The first result loses a term, so a same-id document would rank below the cursor.
            let rename = authors[2]
                .set_element(content::USERNAME, b"Wilhelm Renamed", 200)
                .expect("sign");
            ingest_new(&store, [&rename]).await;
        }
    }
    assert_eq!(
        seen,
        [
            "5:Wilhelm Zebra 2",
            "5:Wilhelm Zebra 1",
            "5:Wilhelm Zebra 0",
            "5:Wilhelm 4",
            "5:Wilhelm 3"
        ],
        "each identity once, best first"
    );
    assert_eq!(
        profiles(&store, "renamed").await,
        ["5:Wilhelm Renamed"],
        "a new search finds the new name"
    );
}

pub async fn recommended_profiles_need_a_post_not_curated_out<S: Store>(store: S) {
    let (mut alice, mut bob) = (author(1, 1), author(2, 2));
    let hidden = post(&mut alice, "hidden", 100);
    let also_hidden = post(&mut alice, "also hidden", 200);
    let bob_post = post(&mut bob, "shown", 100);
    ingest_new(&store, [&hidden, &also_hidden, &bob_post]).await;
    for event in [&hidden, &also_hidden] {
        store
            .censor(
                CensorTarget::Event {
                    system: alice.system(),
                    process: alice.process(),
                    logical_clock: event.logical_clock(),
                },
                CensorshipKind::DoNotRecommend,
            )
            .await
            .expect("censor");
    }
    for _ in 0..5 {
        let systems = store.recommended_profiles(10).await.expect("recommended");
        assert_eq!(systems, [bob.system()], "alice's every post is curated out");
    }
    let shown_again = post(&mut alice, "visible", 300);
    ingest_new(&store, [&shown_again]).await;
    let systems: HashSet<_> = store
        .recommended_profiles(10)
        .await
        .expect("recommended")
        .into_iter()
        .collect();
    assert_eq!(systems, HashSet::from([alice.system(), bob.system()]));
}
