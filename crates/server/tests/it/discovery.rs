//! The discovery routes over HTTP: search (words, typos, profiles, paging), explore, trending
//! topics, recommended profiles, and the 400s that name each bad parameter.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use agora_protocol::encoding::base64url_encode;
use agora_protocol::{PublicKey, VerifiedEvent, content, wire};
use agora_testnet::TestServer;
use prost::Message as _;
use reqwest::StatusCode;

use crate::support::{Http, author};

const HOUR_MS: u64 = 60 * 60 * 1000;
const DAY_MS: u64 = 24 * HOUR_MS;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// What a user sees of each result: (content type, post text or LWW value).
fn shown(page: &wire::ResultEventsAndRelatedEventsAndCursor) -> Vec<(u64, String)> {
    page.result_events
        .as_ref()
        .map(|events| events.events.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|signed| {
            let event = VerifiedEvent::verify(signed).expect("server serves valid events");
            let text = match event.content_type() {
                content::POST => wire::Post::decode(event.event().content.clone())
                    .expect("post body")
                    .content
                    .unwrap_or_default(),
                _ => {
                    String::from_utf8_lossy(&event.event().lww_element.as_ref().expect("lww").value)
                        .into_owned()
                }
            };
            (event.content_type(), text)
        })
        .collect()
}

fn sorted(mut items: Vec<(u64, String)>) -> Vec<(u64, String)> {
    items.sort();
    items
}

fn posts(texts: &[&str]) -> Vec<(u64, String)> {
    texts
        .iter()
        .map(|text| (content::POST, (*text).to_owned()))
        .collect()
}

async fn search(http: &Http, query: &str) -> wire::ResultEventsAndRelatedEventsAndCursor {
    let answer = http.get(&format!("/search?{query}")).await;
    assert!(
        !answer.headers.contains_key("cache-control"),
        "search is not cached"
    );
    answer.decode()
}

/// Pages through a search the way official clients do: send back the cursor, base64url
/// without padding, and stop on an empty page. `between` runs after the first page.
async fn page_through(
    http: &Http,
    query: &str,
    limit: usize,
    mut between: impl AsyncFnMut(),
) -> Vec<(u64, String)> {
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for page_number in 0.. {
        assert!(page_number < 50, "paging never ended");
        let page = search(http, &format!("{query}&limit={limit}{cursor}")).await;
        let items = shown(&page);
        assert!(items.len() <= limit);
        if items.is_empty() {
            break;
        }
        seen.extend(items);
        let bytes = page.cursor.expect("search always returns a cursor");
        cursor = format!("&cursor={}", base64url_encode(&bytes));
        if page_number == 0 {
            between().await;
        }
    }
    seen
}

async fn explore(http: &Http, query: &str) -> (Vec<(u64, String)>, Option<bytes::Bytes>) {
    let answer = http.get(&format!("/explore?{query}")).await;
    assert_eq!(
        answer.headers["cache-control"],
        "public, s-maxage=5, max-age=5"
    );
    let page: wire::ResultEventsAndRelatedEventsAndCursor = answer.decode();
    (shown(&page), page.cursor)
}

async fn trending(http: &Http, query: &str) -> Vec<(String, i64)> {
    let result: wire::ResultTopStringReferences = http
        .get(&format!("/top_string_references?{query}"))
        .await
        .decode();
    result
        .buckets
        .into_iter()
        .map(|bucket| {
            (
                String::from_utf8(bucket.key.to_vec()).expect("plain UTF-8 topic"),
                bucket.value,
            )
        })
        .collect()
}

#[tokio::test]
async fn search_finds_posts_by_words_and_typos_but_never_profile_fields() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (mut alice, mut bob) = (author(1), author(2));
    let elephant = alice
        .post("An elephant never forgets", 1_000)
        .expect("sign");
    let turtle = bob.post("Turtles all the way down", 1_001).expect("sign");
    let name = alice
        .set_element(content::USERNAME, b"elephant", 1_002)
        .expect("sign");
    let about = alice
        .set_element(content::DESCRIPTION, b"I love every elephant", 1_003)
        .expect("sign");
    http.publish(&[&elephant, &turtle, &name, &about]).await;

    let want = posts(&["An elephant never forgets"]);
    assert_eq!(shown(&search(&http, "search=elephant").await), want);
    assert_eq!(
        shown(&search(&http, "search=elephant&search_type=messages").await),
        want
    );
    for typo in ["elepant", "elephamt", "elephaant"] {
        assert_eq!(
            shown(&search(&http, &format!("search={typo}")).await),
            want,
            "one-letter typo {typo}"
        );
    }
    assert_eq!(
        sorted(shown(&search(&http, "search=forgets%20turtles").await)),
        posts(&["An elephant never forgets", "Turtles all the way down"])
    );
    assert!(shown(&search(&http, "search=giraffe").await).is_empty());
}

#[tokio::test]
async fn profile_search_finds_the_current_name_and_not_a_former_one() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let former = alice
        .set_element(content::USERNAME, b"Bartholomew", 1_000)
        .expect("sign");
    let current = alice
        .set_element(content::USERNAME, b"Cornelius", 2_000)
        .expect("sign");
    let about = alice
        .set_element(content::DESCRIPTION, b"keeps bees", 1_500)
        .expect("sign");
    http.publish(&[&former, &current, &about]).await;

    assert!(
        shown(&search(&http, "search=Bartholomew&search_type=profiles").await).is_empty(),
        "a former name is not found"
    );
    assert_eq!(
        shown(&search(&http, "search=cornelius&search_type=profiles").await),
        [(content::USERNAME, "Cornelius".to_owned())],
        "the event of the field that matched"
    );
    assert!(
        shown(&search(&http, "search=cornelius").await).is_empty(),
        "messages search never returns usernames"
    );
}

/// A profile search answers with the event of the field that matched, as the reference server
/// does: the description when only the description matched.
#[tokio::test]
async fn profile_search_answers_with_the_matching_fields_event() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (mut alice, mut bob) = (author(1), author(2));
    let events = [
        alice.set_element(content::USERNAME, b"Cornelius", 1_000),
        alice.set_element(content::DESCRIPTION, b"keeps walruses and bees", 1_000),
        bob.set_element(content::USERNAME, b"Walrus Wendy", 1_000),
        bob.set_element(content::DESCRIPTION, b"likes fish", 1_000),
    ]
    .map(|event| event.expect("sign"));
    http.publish(&events.iter().collect::<Vec<_>>()).await;

    assert_eq!(
        shown(&search(&http, "search=bees&search_type=profiles").await),
        [(content::DESCRIPTION, "keeps walruses and bees".to_owned())]
    );
    assert_eq!(
        shown(&search(&http, "search=walrus&search_type=profiles").await),
        [
            (content::USERNAME, "Walrus Wendy".to_owned()),
            (content::DESCRIPTION, "keeps walruses and bees".to_owned())
        ],
        "the exact username, then the description holding a longer form of the word"
    );
}

/// One word finds itself, then its longer forms, then its typos (two swapped letters are one),
/// whatever the posts' ages; the order holds across pages.
#[tokio::test]
async fn search_ranks_exact_words_above_word_forms_above_typos() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let events = [
        alice.post("a walrus on the ice", 1_000),
        alice.post("two walruses on the ice", 1_001),
        alice.post("a walrsu on the ice", 1_002),
    ]
    .map(|event| event.expect("sign"));
    http.publish(&events.iter().collect::<Vec<_>>()).await;

    let want = posts(&[
        "a walrus on the ice",
        "two walruses on the ice",
        "a walrsu on the ice",
    ]);
    assert_eq!(shown(&search(&http, "search=walrus").await), want);
    assert_eq!(
        page_through(&http, "search=walrus", 1, async || {}).await,
        want
    );
    assert_eq!(
        shown(&search(&http, "search=wlarus").await),
        posts(&["a walrus on the ice"]),
        "swapped letters"
    );
    assert_eq!(
        shown(&search(&http, "search=Walrus%20ice").await)[0],
        (content::POST, "a walrus on the ice".to_owned()),
        "an exact match of both words first"
    );
}

#[tokio::test]
async fn search_paging_neither_skips_nor_repeats_while_posts_arrive() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let first: Vec<VerifiedEvent> = (0..23)
        .map(|n| {
            alice
                .post(&format!("lighthouse keeper number {n}"), 1_000 + n)
                .expect("sign")
        })
        .collect();
    http.publish(&first.iter().collect::<Vec<_>>()).await;

    // The late posts match one word of two, so they rank below every page still to come; only
    // the search pinned at its first page keeps them out.
    let mut bob = author(2);
    let seen = page_through(&http, "search=lighthouse%20keeper", 5, async || {
        let newer: Vec<VerifiedEvent> = (0..4)
            .map(|n| {
                bob.post(&format!("lighthouse late {n}"), 9_000 + n)
                    .expect("sign")
            })
            .collect();
        http.publish(&newer.iter().collect::<Vec<_>>()).await;
    })
    .await;

    let distinct: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), 23, "23 results, none repeated: {seen:?}");
    assert_eq!(distinct.len(), 23);
    assert!(
        seen.iter()
            .all(|(_, text)| text.starts_with("lighthouse keeper"))
    );
    let again = page_through(&http, "search=lighthouse%20keeper", 5, async || {}).await;
    assert_eq!(again.len(), 27, "a new search sees the new posts");
}

#[tokio::test]
async fn a_deleted_post_disappears_from_search_and_explore_at_once() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let kept = alice.post("penguin parade", 1_000).expect("sign");
    let regretted = alice.post("penguin gossip", 1_001).expect("sign");
    http.publish(&[&kept, &regretted]).await;
    assert_eq!(shown(&search(&http, "search=penguin").await).len(), 2);

    let delete = alice.delete(&regretted, 1_002).expect("sign");
    assert_eq!(http.publish(&[&delete]).await.status, StatusCode::OK);

    assert_eq!(
        shown(&search(&http, "search=penguin").await),
        posts(&["penguin parade"])
    );
    assert!(shown(&search(&http, "search=gossip").await).is_empty());
    assert_eq!(explore(&http, "").await.0, posts(&["penguin parade"]));
}

#[tokio::test]
async fn explore_is_newest_first_with_the_spec_cursor_and_demotes_future_posts() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (mut alice, mut bob) = (author(1), author(2));
    let future = bob
        .post("from the year 3000", 32_503_680_000_000)
        .expect("sign");
    http.publish(&[&future]).await;
    let now = now_ms();
    let recent: Vec<VerifiedEvent> = (0..5)
        .map(|n| alice.post(&format!("post {n}"), now + n).expect("sign"))
        .collect();
    http.publish(&recent.iter().collect::<Vec<_>>()).await;
    let name = alice
        .set_element(content::USERNAME, b"not a post", now + 10)
        .expect("sign");
    http.publish(&[&name]).await;

    let (first, cursor) = explore(&http, "limit=2").await;
    assert_eq!(first, posts(&["post 4", "post 3"]));
    let cursor = cursor.expect("a non-empty page has a cursor");
    assert_eq!(cursor.len(), 16);
    assert_eq!(
        cursor[..8],
        ((now + 3) as i64).to_le_bytes(),
        "little-endian time of the last post, then its id"
    );
    let (rest, _) = explore(
        &http,
        &format!("limit=10&cursor={}", base64url_encode(&cursor)),
    )
    .await;
    assert_eq!(
        rest,
        posts(&["post 2", "post 1", "post 0", "from the year 3000"]),
        "the far-future post is ordered by its arrival, before the others"
    );
    let (last, last_cursor) = explore(
        &http,
        &format!(
            "cursor={}",
            base64url_encode(&{
                let mut after_all = Vec::new();
                after_all.extend_from_slice(&0_i64.to_le_bytes());
                after_all.extend_from_slice(&0_i64.to_le_bytes());
                after_all
            })
        ),
    )
    .await;
    assert!(
        last.is_empty() && last_cursor.is_none(),
        "nothing before time zero"
    );
}

#[tokio::test]
async fn trending_counts_topics_over_windows_with_a_prefix() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let now = now_ms();
    let mut events = Vec::new();
    for (topic, age_ms, count) in [
        ("cycling", HOUR_MS, 3),
        ("cycling", 3 * DAY_MS, 2),
        ("cymbals", 2 * HOUR_MS, 1),
        ("chess", 20 * HOUR_MS, 2),
        ("archery", 20 * DAY_MS, 5),
    ] {
        for _ in 0..count {
            events.push(
                alice
                    .topic_post("on topic", topic, now - age_ms)
                    .expect("sign"),
            );
        }
    }
    http.publish(&events.iter().collect::<Vec<_>>()).await;
    let pairs = |list: &[(&str, i64)]| -> Vec<(String, i64)> {
        list.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
    };

    assert_eq!(
        trending(&http, "time_range=12h").await,
        pairs(&[("cycling", 3), ("cymbals", 1)])
    );
    assert_eq!(
        trending(&http, "time_range=1d").await,
        pairs(&[("cycling", 3), ("chess", 2), ("cymbals", 1)])
    );
    assert_eq!(
        trending(&http, "time_range=7d&query=cy").await,
        pairs(&[("cycling", 5), ("cymbals", 1)])
    );
    assert_eq!(
        trending(&http, "").await,
        pairs(&[("archery", 5), ("cycling", 5), ("chess", 2), ("cymbals", 1)]),
        "30 days by default; ties by topic"
    );
    assert_eq!(
        trending(&http, "limit=50").await.len(),
        4,
        "a large limit is cut to 10, not an error"
    );
    assert_eq!(trending(&http, "limit=1").await, pairs(&[("archery", 5)]));
}

#[tokio::test]
async fn recommended_profiles_are_distinct_identities_with_live_posts() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut with_posts = HashSet::new();
    for seed in 1..=4 {
        let mut someone = author(seed);
        let event = someone.post("hello", 1_000).expect("sign");
        http.publish(&[&event]).await;
        with_posts.insert(someone.system());
    }
    let mut deleted = author(5);
    let gone = deleted.post("bye", 1_000).expect("sign");
    let delete = deleted.delete(&gone, 1_001).expect("sign");
    http.publish(&[&gone, &delete]).await;
    let mut silent = author(6);
    let name = silent
        .set_element(content::USERNAME, b"lurker", 1_000)
        .expect("sign");
    http.publish(&[&name]).await;

    for _ in 0..3 {
        let answer = http.get("/recommended_profiles").await;
        assert_eq!(
            answer.headers["cache-control"],
            "public, s-maxage=5, max-age=5"
        );
        let keys: wire::PublicKeys = answer.decode();
        let systems: Vec<PublicKey> = keys
            .systems
            .iter()
            .map(|key| PublicKey::try_from(key).expect("valid key"))
            .collect();
        let distinct: HashSet<PublicKey> = systems.iter().copied().collect();
        assert_eq!(distinct.len(), systems.len(), "distinct");
        assert_eq!(
            distinct, with_posts,
            "exactly the identities with live posts"
        );
    }
}

#[tokio::test]
async fn every_bad_discovery_parameter_is_named() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let check = async |path: &str, needle: &str| {
        let answer = http.get(path).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "GET {path}: {}",
            answer.text()
        );
        assert!(
            answer.text().contains(needle),
            "GET {path}: {needle:?} not in {:?}",
            answer.text()
        );
    };
    check("/search", "`search`").await;
    check("/search?search=%20", "`search`").await;
    check(&format!("/search?search={}", "a".repeat(1_001)), "`search`").await;
    check("/search?search=x&search_type=people", "`search_type`").await;
    check("/search?search=x&limit=ten", "`limit`").await;
    check("/search?search=x&limit=-1", "`limit`").await;
    check("/search?search=x&cursor=!!", "`cursor`").await;
    check("/search?search=x&cursor=AAAAAAAAAAA", "`cursor`").await;
    check(
        "/search?search=x&moderation_filters=nope",
        "`moderation_filters`",
    )
    .await;
    check("/explore?cursor=%25%25", "`cursor`").await;
    check(
        &format!("/explore?cursor={}", base64url_encode(&[0; 8])),
        "`cursor`",
    )
    .await;
    check("/explore?limit=many", "`limit`").await;
    check(
        "/explore?moderation_filters=%5B1%5D",
        "`moderation_filters`",
    )
    .await;
    check("/top_string_references?time_range=2d", "`time_range`").await;
    check("/top_string_references?limit=x", "`limit`").await;
    check(
        &format!("/top_string_references?query={}", "q".repeat(257)),
        "`query`",
    )
    .await;
    check(
        "/recommended_profiles?moderation_filters={",
        "`moderation_filters`",
    )
    .await;
}

/// A `/purge` of `author`'s own system, signing a fresh challenge with its key.
async fn purge(http: &Http, author: &agora_protocol::author::Author) {
    let challenge: wire::HarborChallengeResponse = http.get("/challenge").await.decode();
    let bytes = wire::HarborChallengeResponseBody::decode(challenge.body.clone())
        .expect("challenge body")
        .challenge
        .to_vec();
    let request = wire::HarborValidateRequest {
        challenge: Some(challenge),
        system: Some(author.system().to_wire()),
        signature: author.secret().sign(&bytes).to_vec().into(),
    };
    let answer = http.post_raw("/purge", request.encode_to_vec()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
}

#[tokio::test]
async fn a_purged_identitys_posts_leave_search_explore_and_trending_at_once() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (mut alice, mut bob) = (author(1), author(2));
    let now = now_ms();
    let alice_post = alice
        .topic_post("walrus colony", "seals", now)
        .expect("sign");
    let bob_post = bob.topic_post("walrus tusks", "seals", now).expect("sign");
    let alice_name = alice
        .set_element(content::USERNAME, b"walrus watcher", now)
        .expect("sign");
    http.publish(&[&alice_post, &bob_post, &alice_name]).await;
    assert_eq!(shown(&search(&http, "search=walrus").await).len(), 2);
    assert_eq!(
        trending(&http, "time_range=1d").await,
        [("seals".to_owned(), 2)]
    );

    purge(&http, &alice).await;

    assert_eq!(
        shown(&search(&http, "search=walrus").await),
        posts(&["walrus tusks"])
    );
    assert!(
        shown(&search(&http, "search=walrus&search_type=profiles").await).is_empty(),
        "the purged identity's profile"
    );
    assert_eq!(explore(&http, "").await.0, posts(&["walrus tusks"]));
    assert_eq!(
        trending(&http, "time_range=1d").await,
        [("seals".to_owned(), 1)]
    );
    let recommended: wire::PublicKeys = http.get("/recommended_profiles").await.decode();
    assert_eq!(recommended.systems, [bob.system().to_wire()]);
}

/// The systems `/recommended_profiles?{query}` returns, sorted.
async fn recommended(http: &Http, query: &str) -> Vec<PublicKey> {
    let keys: wire::PublicKeys = http
        .get(&format!("/recommended_profiles?{query}"))
        .await
        .decode();
    let mut systems: Vec<PublicKey> = keys
        .systems
        .iter()
        .map(|key| PublicKey::try_from(key).expect("valid key"))
        .collect();
    systems.sort();
    systems
}

#[tokio::test]
async fn recommended_profiles_apply_moderation_filters() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let rules = dir.path().join("rules.txt");
    std::fs::write(&rules, "hate 3 /gr+r/\n").expect("write rules");
    let labeler =
        std::sync::Arc::new(agora_store::moderation::Labeler::load(&rules).expect("rules load"));
    let store = agora_store::sqlite::SqliteStore::open(
        &dir.path().join("data"),
        agora_store::sqlite::SqliteOptions {
            labeler: Some(labeler),
            ..agora_store::sqlite::SqliteOptions::default()
        },
    )
    .expect("store");
    let config = agora_server::ServerConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        ..agora_server::ServerConfig::default()
    };
    let server = agora_server::Server::bind(config, store)
        .await
        .expect("bind");
    let http = Http::new(server.url());
    let (mut angry, mut calm) = (author(1), author(2));
    let grr = angry.post("grrr", 1_000).expect("sign");
    let hello = calm.post("hello", 1_000).expect("sign");
    http.publish(&[&grr, &hello]).await;

    assert_eq!(
        recommended(&http, "").await,
        [calm.system()],
        "the default filter hate ≤ 2 hides the only post of the angry identity"
    );
    let lenient = r#"[{"name":"hate","max_level":3,"strict_mode":false}]"#;
    let encoded: String = lenient.bytes().map(|byte| format!("%{byte:02X}")).collect();
    let query = format!("moderation_filters={encoded}");
    let mut both = vec![angry.system(), calm.system()];
    both.sort();
    assert_eq!(recommended(&http, &query).await, both);
}
