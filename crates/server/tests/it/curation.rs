//! Operator curation over HTTP: `POST /censor` and `POST /uncensor` behind the admin token,
//! refuse_storage removing and refusing an identity, do_not_recommend keeping it served.

use agora_protocol::content::{self, opinion};
use agora_protocol::links::Link;
use agora_protocol::{PublicKey, VerifiedEvent};
use agora_server::ServerConfig;
use agora_server::config::AdminToken;
use agora_testnet::TestServer;
use reqwest::StatusCode;

use crate::support::*;

const TOKEN: &str = "s3cret-operator-token";

async fn operator_server() -> TestServer {
    TestServer::start_with(ServerConfig {
        admin_token: AdminToken::new(TOKEN),
        ..ServerConfig::default()
    })
    .await
}

/// `POST path?query` with an optional `authorization` header; (status, body text).
async fn operator_post(
    base: &str,
    path_and_query: &str,
    authorization: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, String) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}{path_and_query}"))
        .body(body);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

async fn censor(base: &str, kind: &str, link: &str) -> (StatusCode, String) {
    operator_post(
        base,
        &format!("/censor?censorship_type={kind}"),
        Some(TOKEN),
        link.to_owned(),
    )
    .await
}

/// A system link in the web form the reference documents: `https://host/user/<b64>`.
fn web_system_link(system: PublicKey) -> String {
    let url = Link::System {
        system,
        servers: vec![],
    }
    .to_url();
    format!(
        "https://example.org/user/{}",
        url.trim_start_matches("polycentric://")
    )
}

fn event_link(event: &VerifiedEvent) -> String {
    Link::Event {
        system: *event.system(),
        process: *event.process(),
        logical_clock: event.logical_clock(),
        servers: vec!["https://example.org".into()],
    }
    .to_url()
}

/// [likes, dislikes, replies] of a post, as its stats line shows them.
async fn stats(http: &Http, post: &VerifiedEvent) -> Vec<u64> {
    http.references(&post_stats(post, None)).await.counts
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_routes_need_the_configured_token() {
    let mut alice = author(1);
    let link = web_system_link(alice.system());
    let post = alice.post("hello", 1_000).expect("post");

    let plain = TestServer::start().await;
    let (status, body) = censor(&plain.url(), "do_not_recommend", &link).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("--admin-token"), "{body}");

    let server = operator_server().await;
    let base = server.url();
    let http = Http::new(base.clone());
    assert_eq!(http.publish(&[&post]).await.status, StatusCode::OK);
    let path = "/censor?censorship_type=refuse_storage";
    for (authorization, problem) in [
        (None, "missing `authorization`"),
        (Some("wrong"), "wrong admin token"),
        (Some("Bearer wrong"), "wrong admin token"),
        (Some(&TOKEN[..TOKEN.len() - 1]), "wrong admin token"),
        (Some(""), "wrong admin token"),
    ] {
        let (status, body) = operator_post(&base, path, authorization, link.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{authorization:?}: {body}"
        );
        assert!(body.contains(problem), "{authorization:?}: {body}");
    }
    let (status, _) = operator_post(&base, "/uncensor", Some("wrong"), link.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        clocks(&http.events(&alice, 1, 10).await),
        [1],
        "refused requests changed nothing"
    );

    let bearer = format!("Bearer {TOKEN}");
    let (status, body) = operator_post(
        &base,
        path.replace("refuse_storage", "do_not_recommend").as_str(),
        Some(&bearer),
        link.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = operator_post(&base, path, Some(TOKEN), link.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("1 stored event(s) removed"), "{body}");
    assert_eq!(clocks(&http.events(&alice, 1, 10).await), Vec::<u64>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_censorship_type_or_link_is_400_and_changes_nothing() {
    let server = operator_server().await;
    let base = server.url();
    let http = Http::new(base.clone());
    let mut alice = author(1);
    let post = alice.post("hello", 1_000).expect("post");
    assert_eq!(http.publish(&[&post]).await.status, StatusCode::OK);
    let link = web_system_link(alice.system());

    let (status, body) = operator_post(&base, "/censor", Some(TOKEN), link.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("censorship_type"), "{body}");
    let (status, body) = censor(&base, "delete_everything", &link).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("delete_everything"), "{body}");

    let export_like = {
        // A URLInfo of type 3 (an account backup): a link, but not one that can be censored.
        use prost::Message as _;
        let info = agora_protocol::wire::UrlInfo {
            url_type: 3,
            body: vec![].into(),
        };
        format!(
            "https://example.org/x/{}",
            agora_protocol::encoding::base64url_encode(&info.encode_to_vec())
        )
    };
    for (body, problem) in [
        ("".to_owned(), "empty body"),
        ("   ".to_owned(), "empty body"),
        ("https://example.org/user/not*base64".to_owned(), "base64"),
        ("https://example.org/user/AAAA".to_owned(), "link"),
        (export_like, "Unknown URL type 3"),
    ] {
        let (status, text) = censor(&base, "refuse_storage", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}: {text}");
        assert!(text.contains(problem), "{body:?}: {text}");
    }
    let (status, text) = operator_post(
        &base,
        "/censor?censorship_type=refuse_storage",
        Some(TOKEN),
        vec![0xff, 0xfe, 0x00],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("UTF-8"), "{text}");
    let (status, text) = operator_post(&base, "/uncensor", Some(TOKEN), "nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");

    assert_eq!(clocks(&http.events(&alice, 1, 10).await), [1]);
    assert!(http.ranges(&alice.system()).await.len() == 1);
}

/// Bob likes and replies to Alice's post, and posts his own. The operator of one server refuses
/// to store Bob: that server forgets him with exact counts and refuses his events from then on,
/// while a second server that holds the same events keeps serving them.
#[tokio::test(flavor = "multi_thread")]
async fn refuse_storage_forgets_an_identity_on_this_server_only() {
    let curated = operator_server().await;
    let other = TestServer::start().await;
    let curated_http = Http::new(curated.url());
    let other_http = Http::new(other.url());
    let mut alice = author(1);
    let mut bob = author(2);
    let post = alice.post("alice's post", 1_000).expect("post");
    let like = bob
        .opinion(&post.pointer(), opinion::LIKE, 2_000)
        .expect("like");
    let reply = bob
        .reply("bob's reply", &post.pointer(), 3_000)
        .expect("reply");
    let bob_post = bob.post("bob's own post", 4_000).expect("post");
    for http in [&curated_http, &other_http] {
        let answer = http.publish(&[&post, &like, &reply, &bob_post]).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        assert_eq!(stats(http, &post).await, [1, 0, 1]);
    }

    let (status, body) = censor(
        &curated.url(),
        "refuse_storage",
        &web_system_link(bob.system()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("3 stored event(s) removed"), "{body}");

    assert_eq!(
        clocks(&curated_http.events(&bob, 1, 100).await),
        Vec::<u64>::new()
    );
    assert!(curated_http.ranges(&bob.system()).await.is_empty());
    let feed = curated_http.index(&bob.system(), content::POST, "").await;
    assert!(feed.events.is_empty(), "no feed left");
    assert_eq!(
        stats(&curated_http, &post).await,
        [0, 0, 0],
        "bob's like and reply no longer count"
    );
    assert_eq!(clocks(&curated_http.events(&alice, 1, 10).await), [1]);

    let answer = curated_http.publish(&[&like, &reply, &bob_post]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer
            .text()
            .contains("refuses to store events of this system"),
        "{}",
        answer.text()
    );
    assert_eq!(
        answer.headers.get("x-agora-rejected").map(|v| v.as_bytes()),
        Some(&b"3"[..])
    );
    // A mixed batch keeps the good events.
    let again = alice.post("still welcome", 5_000).expect("post");
    let answer = curated_http.publish(&[&again, &bob_post]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.text().contains("event 1 rejected"),
        "{}",
        answer.text()
    );
    assert_eq!(clocks(&curated_http.events(&alice, 1, 10).await), [1, 2]);

    // The other server never heard of the operator's decision.
    assert_eq!(clocks(&other_http.events(&bob, 1, 100).await), [1, 2, 3]);
    assert_eq!(stats(&other_http, &post).await, [1, 0, 1]);
}

/// The posts `/explore` recommends, as (seed byte of the author's process, clock).
async fn explored(http: &Http) -> Vec<(u8, u64)> {
    let page: agora_protocol::wire::ResultEventsAndRelatedEventsAndCursor =
        http.get("/explore?limit=100").await.decode();
    page.result_events
        .map(|events| events.events)
        .unwrap_or_default()
        .iter()
        .map(|signed| {
            let event = VerifiedEvent::verify(signed).expect("served events verify");
            (event.process().as_bytes()[0], event.logical_clock())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn do_not_recommend_keeps_serving_and_is_idempotent() {
    let server = operator_server().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let mut bob = author(2);
    let post = alice.post("borderline", 1_000).expect("post");
    let fine = bob.post("fine", 2_000).expect("post");
    assert_eq!(http.publish(&[&post, &fine]).await.status, StatusCode::OK);
    assert_eq!(explored(&http).await, [(2, 1), (1, 1)]);
    let link = event_link(&post);
    let (status, first) = censor(&server.url(), "do_not_recommend", &link).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, second) = censor(&server.url(), "do_not_recommend", &link).await;
    assert_eq!(status, StatusCode::OK, "censoring twice is fine: {second}");
    assert!(second.contains("already censored"), "{second}");

    assert_eq!(explored(&http).await, [(2, 1)], "no longer recommended");
    assert_eq!(
        clocks(&http.events(&alice, 1, 10).await),
        [1],
        "still served"
    );
    let feed = http.index(&alice.system(), content::POST, "").await;
    assert_eq!(clocks(&feed.events), [1]);
    let next = alice.post("next", 3_000).expect("post");
    assert_eq!(http.publish(&[&next]).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn uncensor_lifts_a_refused_event() {
    let server = operator_server().await;
    let base = server.url();
    let http = Http::new(base.clone());
    let mut alice = author(1);
    let post = alice.post("contested", 1_000).expect("post");
    assert_eq!(http.publish(&[&post]).await.status, StatusCode::OK);
    let link = event_link(&post);
    let (status, body) = censor(&base, "refuse_storage", &link).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = http.publish(&[&post]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.text().contains("refuses to store this event"),
        "{}",
        answer.text()
    );

    let (status, body) = operator_post(&base, "/uncensor", Some(TOKEN), link.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("lifted: refuse_storage"), "{body}");
    let (status, body) = operator_post(&base, "/uncensor", Some(TOKEN), link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("not censored"), "{body}");
    assert_eq!(http.publish(&[&post]).await.status, StatusCode::OK);
    assert_eq!(clocks(&http.events(&alice, 1, 10).await), [1]);
}
