//! Discovery across several real servers: `agora search`, `explore`, `trending` and `recommend`
//! merge every server's answer, name the servers that returned each result and the ones that
//! failed, and a server's curation hides content on that server only.

use std::path::Path;
use std::process::Command;

use agora_client::post_view;
use agora_protocol::encoding::base64url_encode;
use agora_protocol::links::Link;
use agora_protocol::{Pointer, PublicKey, VerifiedEvent, wire};
use agora_testnet::TestServer;
use agora_testnet::lying::LyingServer;
use prost::Message as _;
use serde_json::{Value, json};

use crate::support::{DEAD_SERVER, Served, agora, event_pointer, start_serving, system_of};

const TOKEN: &str = "operator-secret-token";

/// `agora serve` with an operator token (killed when dropped, so a failing test leaves no server).
fn curated_server(data_dir: &Path) -> Served {
    start_serving(
        Command::new(env!("CARGO_BIN_EXE_agora"))
            .arg("serve")
            .env("AGORA_ADMIN_TOKEN", TOKEN)
            .env("AGORA_LISTEN", "127.0.0.1:0")
            .env("AGORA_DATA_DIR", data_dir)
            .env("RUST_LOG", "warn"),
    )
}

/// A new identity in `home` named `name`, publishing to `servers`; returns its system.
async fn identity(home: &Path, name: &str, servers: &[&str]) -> PublicKey {
    agora(home, &["init", "--name", name]).await.ok();
    for server in servers {
        agora(home, &["server", "add", server, "--force"]).await;
    }
    system_of(&agora(home, &["link"]).await.ok())
}

/// Publishes a post (extra `args` such as `--topic T`) that every server took; its pointer.
async fn post(home: &Path, text: &str, args: &[&str]) -> Pointer {
    let mut all = vec!["post", text, "--json"];
    all.extend_from_slice(args);
    let posted = agora(home, &all).await.json();
    assert_eq!(posted["failed"], json!([]), "{posted}");
    event_pointer(posted["link"].as_str().expect("link"))
}

/// `agora ARGS --json` for a discovery command: the `{"results", "failed"}` object. The exit
/// status says whether a server failed: 0 none, 4 some (3 when none answered).
async fn discover(home: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let run = agora(home, &all).await;
    let found = crate::support::parse_json(&run.stdout);
    assert!(found["results"].is_array(), "{found}");
    let failed = found["failed"]
        .as_array()
        .expect("failed is an array")
        .len();
    if failed == 0 {
        assert_eq!(run.code, Some(0), "{found}");
    } else {
        assert!(matches!(run.code, Some(3 | 4)), "{:?}: {found}", run.code);
    }
    found
}

/// The servers a result with `field` equal to `value` was attributed to (`None`: not found).
fn servers_of(found: &Value, field: &str, value: &str) -> Option<Vec<String>> {
    let results = found["results"].as_array()?;
    let matching: Vec<&Value> = results.iter().filter(|r| r[field] == value).collect();
    assert!(matching.len() <= 1, "{value} appears once: {found}");
    let servers = matching.first()?["servers"].as_array()?;
    let servers: Vec<String> = servers
        .iter()
        .map(|server| server.as_str().expect("a server").to_owned())
        .collect();
    Some(servers)
}

/// `servers` in the order discovery names them: the reader's server set, which is sorted.
fn sorted(mut servers: Vec<String>) -> Option<Vec<String>> {
    servers.sort();
    Some(servers)
}

fn failed_servers(found: &Value) -> Vec<String> {
    found["failed"]
        .as_array()
        .expect("failed")
        .iter()
        .map(|failure| failure["server"].as_str().expect("server").to_owned())
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

/// `GET {server}{path_and_query}`: the body of a 200 answer.
async fn get(server: &str, path_and_query: &str) -> Vec<u8> {
    let response = reqwest::get(format!("{server}{path_and_query}"))
        .await
        .expect("request");
    assert!(
        response.status().is_success(),
        "{path_and_query}: {}",
        response.status()
    );
    response.bytes().await.expect("body").to_vec()
}

/// The post texts of a `/search` or `/explore` answer, each event verified.
async fn post_texts(server: &str, path_and_query: &str) -> Vec<String> {
    let answer =
        wire::ResultEventsAndRelatedEventsAndCursor::decode(&*get(server, path_and_query).await)
            .expect("a result page");
    answer
        .result_events
        .unwrap_or_default()
        .events
        .iter()
        .map(|signed| VerifiedEvent::verify(signed).expect("verifies"))
        .filter_map(|event| post_view(&event).map(|post| post.text))
        .collect()
}

async fn topics(server: &str) -> Vec<String> {
    let answer = wire::ResultTopStringReferences::decode(
        &*get(server, "/top_string_references?time_range=30d").await,
    )
    .expect("topics");
    answer
        .buckets
        .iter()
        .map(|bucket| String::from_utf8_lossy(&bucket.key).into_owned())
        .collect()
}

/// The events `server` serves from its sync route `GET /events` for one slot.
async fn events_at(server: &str, pointer: &Pointer) -> Vec<wire::SignedEvent> {
    let ranges = wire::RangesForSystem {
        ranges_for_processes: vec![wire::RangesForProcess {
            process: Some(pointer.process.to_wire()),
            ranges: vec![wire::Range {
                low: pointer.logical_clock,
                high: pointer.logical_clock,
            }],
        }],
    };
    let query = format!(
        "/events?system={}&ranges={}",
        pointer.system.to_query_param(),
        base64url_encode(&ranges.encode_to_vec())
    );
    wire::Events::decode(&*get(server, &query).await)
        .expect("events")
        .events
}

/// `POST /censor` on `server` with the operator token; the body is a web URL ending in `link`.
async fn censor(server: &str, kind: &str, link: &Link) -> reqwest::Response {
    let encoded = link
        .to_url()
        .trim_start_matches("polycentric://")
        .to_owned();
    let path = match link {
        Link::System { .. } => "user",
        Link::Event { .. } => "post",
    };
    reqwest::Client::new()
        .post(format!("{server}/censor?censorship_type={kind}"))
        .header("authorization", TOKEN)
        .body(format!("https://agora.example/{path}/{encoded}"))
        .send()
        .await
        .expect("censor request")
}

fn event_link(pointer: &Pointer) -> Link {
    Link::Event {
        system: pointer.system,
        process: pointer.process,
        logical_clock: pointer.logical_clock,
        servers: Vec::new(),
    }
}

/// The end-to-end test: three servers, a post curated out of A's discovery is still
/// served by A's sync routes and found through B and C; a refused identity is gone from A only.
#[tokio::test(flavor = "multi_thread")]
async fn curation_on_one_server_hides_only_there_and_the_merge_names_who_returned_what() {
    let a_dir = tempfile::tempdir().expect("tempdir");
    let server_a = curated_server(a_dir.path());
    let (server_b, server_c) = (TestServer::start().await, TestServer::start().await);
    let (a, b, c) = (server_a.url.clone(), server_b.url(), server_c.url());

    let author = tempfile::tempdir().expect("tempdir");
    identity(author.path(), "walrus author", &[&a, &b, &c]).await;
    let curated = post(
        author.path(),
        "the walrus that A curated out",
        &["--topic", "curatedtopic"],
    )
    .await;
    post(
        author.path(),
        "an ordinary walrus everyone shows",
        &["--topic", "ordinarytopic"],
    )
    .await;

    let hidden = "the walrus that A curated out";
    let shown = "an ordinary walrus everyone shows";
    for server in [&a, &b] {
        let texts = post_texts(server, "/search?search=walrus").await;
        assert!(texts.contains(&hidden.to_owned()), "{server}: {texts:?}");
    }

    // Without the operator token A refuses to curate.
    let anonymous = reqwest::Client::new()
        .post(format!("{a}/censor?censorship_type=do_not_recommend"))
        .body(format!(
            "https://agora.example/post/{}",
            event_link(&curated)
                .to_url()
                .trim_start_matches("polycentric://")
        ))
        .send()
        .await
        .expect("request");
    assert!(
        anonymous.status().is_client_error(),
        "{}",
        anonymous.status()
    );
    let answer = censor(&a, "do_not_recommend", &event_link(&curated)).await;
    assert!(answer.status().is_success(), "{}", answer.status());

    // A's discovery no longer shows it; B's does; A's sync route still serves it.
    let a_search = post_texts(&a, "/search?search=walrus").await;
    assert_eq!(a_search, strings(&[shown]), "A's search");
    let b_search = post_texts(&b, "/search?search=walrus").await;
    assert!(b_search.contains(&hidden.to_owned()), "{b_search:?}");
    let a_explore = post_texts(&a, "/explore").await;
    assert!(
        a_explore.contains(&shown.to_owned()) && !a_explore.contains(&hidden.to_owned()),
        "A's explore: {a_explore:?}"
    );
    assert!(
        post_texts(&b, "/explore")
            .await
            .contains(&hidden.to_owned())
    );
    let a_topics = topics(&a).await;
    assert!(
        a_topics.contains(&"ordinarytopic".to_owned())
            && !a_topics.contains(&"curatedtopic".to_owned()),
        "A's trending: {a_topics:?}"
    );
    assert!(topics(&b).await.contains(&"curatedtopic".to_owned()));
    for server in [&a, &b] {
        let served = events_at(server, &curated).await;
        assert_eq!(
            served.len(),
            1,
            "{server} still serves the curated post by sync"
        );
        let event = VerifiedEvent::verify(&served[0]).expect("verifies");
        assert_eq!(post_view(&event).expect("a post").text, hidden);
    }

    // The reader's merged search names B and C for the curated post, and all three for the other.
    let reader = tempfile::tempdir().expect("tempdir");
    identity(reader.path(), "reader", &[&a, &b, &c]).await;
    let found = discover(reader.path(), &["search", "walrus"]).await;
    assert_eq!(failed_servers(&found), Vec::<String>::new(), "{found}");
    assert_eq!(
        servers_of(&found, "text", hidden),
        sorted(vec![b.clone(), c.clone()])
    );
    assert_eq!(
        servers_of(&found, "text", shown),
        sorted(vec![a.clone(), b.clone(), c.clone()])
    );
    let explored = discover(reader.path(), &["explore"]).await;
    assert_eq!(
        servers_of(&explored, "text", hidden),
        sorted(vec![b.clone(), c.clone()])
    );
    let trending = discover(reader.path(), &["trending"]).await;
    assert_eq!(
        servers_of(&trending, "topic", "curatedtopic"),
        sorted(vec![b.clone(), c.clone()]),
        "{trending}"
    );
    let text = agora(reader.path(), &["search", "walrus"]).await.ok();
    assert!(
        text.contains(hidden)
            && text.contains(&format!(
                "from: {}",
                sorted(vec![b.clone(), c.clone()]).expect("two").join(", ")
            )),
        "{text}"
    );

    // refuse_storage: the spammer's events leave A, A refuses them again, B keeps serving them.
    let spammer = tempfile::tempdir().expect("tempdir");
    let spammer_system = identity(spammer.path(), "spammer", &[&a, &b]).await;
    let spam = post(spammer.path(), "buy walrus oil now", &[]).await;
    assert_eq!(events_at(&a, &spam).await.len(), 1);
    let refused = Link::System {
        system: spammer_system,
        servers: Vec::new(),
    };
    let answer = censor(&a, "refuse_storage", &refused).await;
    assert!(answer.status().is_success(), "{}", answer.status());
    assert_eq!(events_at(&a, &spam).await.len(), 0, "A dropped the events");
    assert_eq!(events_at(&b, &spam).await.len(), 1, "B still serves them");

    let republished = reqwest::Client::new()
        .post(format!("{a}/events"))
        .body(
            wire::Events {
                events: events_at(&b, &spam).await,
            }
            .encode_to_vec(),
        )
        .send()
        .await
        .expect("request");
    assert!(
        republished.status().is_client_error(),
        "{}",
        republished.status()
    );
    let reason = republished.text().await.expect("body");
    assert!(reason.contains("refuse"), "a clear reason: {reason}");
    // The spammer's client learns that A refuses these events for good: it says so once
    // and never offers them to A again, and the sync is not a failure.
    let synced = agora(spammer.path(), &["sync", "--json"]).await.json();
    assert_eq!(
        failed_servers(&synced["push"]),
        Vec::<String>::new(),
        "{synced}"
    );
    let refused: Vec<&str> = synced["push"]["refused"]
        .as_array()
        .expect("refused")
        .iter()
        .map(|refusal| refusal["server"].as_str().expect("server"))
        .collect();
    assert!(
        !refused.is_empty() && refused.iter().all(|server| *server == a),
        "{synced}"
    );
    let again = agora(spammer.path(), &["sync", "--json"]).await.json();
    assert_eq!(again["push"]["refused"], json!([]), "said once: {again}");
    assert_eq!(
        crate::support::entry(&again["push"]["sent"], "server", &a)["events"],
        0,
        "never offered again: {again}"
    );
    let found = discover(reader.path(), &["search", "oil"]).await;
    assert_eq!(
        servers_of(&found, "text", "buy walrus oil now"),
        Some(vec![b.clone()])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_is_down_is_named_and_the_others_results_are_shown() {
    let server = TestServer::start().await;
    let url = server.url();
    let author = tempfile::tempdir().expect("tempdir");
    identity(author.path(), "narwhal fan", &[&url]).await;
    post(author.path(), "narwhals are real", &["--topic", "narwhals"]).await;

    let reader = tempfile::tempdir().expect("tempdir");
    identity(reader.path(), "reader", &[&url, DEAD_SERVER]).await;
    for (args, field, value) in [
        (&["search", "narwhals"][..], "text", "narwhals are real"),
        (&["explore"][..], "text", "narwhals are real"),
        (&["trending"][..], "topic", "narwhals"),
        (
            &["search", "narwhal", "--profiles"][..],
            "username",
            "narwhal fan",
        ),
    ] {
        let found = discover(reader.path(), args).await;
        assert_eq!(
            failed_servers(&found),
            vec![DEAD_SERVER.to_owned()],
            "{found}"
        );
        assert!(
            found["failed"][0]["error"]
                .as_str()
                .is_some_and(|e| !e.is_empty()),
            "{found}"
        );
        assert_eq!(
            servers_of(&found, field, value),
            Some(vec![url.clone()]),
            "{args:?}: {found}"
        );
    }
    let recommended = discover(reader.path(), &["recommend"]).await;
    assert_eq!(failed_servers(&recommended), vec![DEAD_SERVER.to_owned()]);
    assert!(
        servers_of(&recommended, "username", "narwhal fan").is_some(),
        "{recommended}"
    );

    let run = agora(reader.path(), &["search", "narwhals"]).await;
    assert_eq!(
        run.code,
        Some(crate::support::EXIT_SOME_SERVERS_FAILED),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("narwhals are real"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains(&format!("warning: server {DEAD_SERVER}")),
        "stderr names the failed server: {}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_on_two_servers_is_one_result_naming_both() {
    let (one, two) = (TestServer::start().await, TestServer::start().await);
    let (one, two) = (one.url(), two.url());
    let author = tempfile::tempdir().expect("tempdir");
    let system = identity(author.path(), "otter", &[&one, &two]).await;
    post(author.path(), "otters hold hands", &[]).await;

    let reader = tempfile::tempdir().expect("tempdir");
    identity(reader.path(), "reader", &[&one, &two]).await;
    let found = discover(reader.path(), &["search", "otters"]).await;
    assert_eq!(
        found["results"].as_array().map(Vec::len),
        Some(1),
        "{found}"
    );
    assert_eq!(
        servers_of(&found, "text", "otters hold hands"),
        sorted(vec![one.clone(), two.clone()])
    );
    let result = &found["results"][0];
    assert_eq!(result["system"], system.to_string());
    assert_eq!(result["username"], "otter", "{found}");
    let link = Link::parse(result["link"].as_str().expect("link")).expect("a link");
    assert!(
        matches!(&link, Link::Event { servers, .. }
            if Some(servers.clone()) == sorted(vec![one.clone(), two.clone()])),
        "the link's hints are the servers that returned it: {link:?}"
    );
    let explored = discover(reader.path(), &["explore"]).await;
    assert_eq!(
        servers_of(&explored, "text", "otters hold hands"),
        sorted(vec![one.clone(), two.clone()])
    );
    let profiles = discover(reader.path(), &["search", "otter", "--profiles"]).await;
    assert_eq!(
        servers_of(&profiles, "username", "otter"),
        sorted(vec![one.clone(), two.clone()]),
        "{profiles}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_serving_a_forged_event_is_named_and_its_answer_dropped() {
    let honest = TestServer::start().await;
    let behind = TestServer::start().await;
    let mut lying = LyingServer::start(&behind.url()).await;
    let (truth, lie) = (honest.url(), lying.url());
    let author = tempfile::tempdir().expect("tempdir");
    identity(author.path(), "badger", &[&truth, &behind.url()]).await;
    post(author.path(), "badgers dig deep", &[]).await;

    let reader = tempfile::tempdir().expect("tempdir");
    identity(reader.path(), "reader", &[&lie, &truth]).await;
    for args in [&["search", "badgers"][..], &["explore"][..]] {
        let found = discover(reader.path(), args).await;
        assert_eq!(
            failed_servers(&found),
            vec![lie.clone()],
            "{args:?}: {found}"
        );
        let error = found["failed"][0]["error"].as_str().expect("error");
        assert!(error.contains("invalid event"), "{error}");
        assert_eq!(
            servers_of(&found, "text", "badgers dig deep"),
            Some(vec![truth.clone()]),
            "{found}"
        );
    }
    lying.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_without_servers_says_how_to_add_one() {
    let home = tempfile::tempdir().expect("tempdir");
    agora(home.path(), &["init"]).await.ok();
    for args in [
        &["search", "anything"][..],
        &["explore"][..],
        &["trending"][..],
        &["recommend"][..],
    ] {
        let run = agora(home.path(), args).await;
        assert!(!run.success, "{args:?}");
        assert!(
            run.stderr.contains("agora server add"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_is_named_once_the_request_times_out() {
    // Connections to this listener complete (the kernel queues them) but nothing ever answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent = format!("http://{}", silent.local_addr().expect("address"));
    let server = TestServer::start().await;
    let url = server.url();
    let author = tempfile::tempdir().expect("tempdir");
    identity(author.path(), "heron", &[&url]).await;
    post(author.path(), "herons stand still", &[]).await;

    let reader = tempfile::tempdir().expect("tempdir");
    identity(reader.path(), "reader", &[&url]).await;
    let added = agora(reader.path(), &["server", "add", &silent, "--timeout", "1"]).await;
    assert_eq!(
        added.code,
        Some(2),
        "a silent server is not added: {}",
        added.stderr
    );
    assert!(added.stderr.contains("--force"), "{}", added.stderr);
    agora(
        reader.path(),
        &["server", "add", &silent, "--force", "--timeout", "1"],
    )
    .await
    .partial();
    let found = discover(reader.path(), &["search", "herons", "--timeout", "1"]).await;
    assert_eq!(failed_servers(&found), vec![silent.clone()], "{found}");
    assert_eq!(
        servers_of(&found, "text", "herons stand still"),
        Some(vec![url.clone()])
    );
}
