//! Hostile input to the client: export bundles as arbitrary text, and every answer the client
//! reads from a server (ranges, events, latest events, discovery pages, references pages,
//! handles, `/version`, the live stream) as arbitrary bytes or as a valid answer changed at
//! random, over real HTTP from a hostile server. The client never panics, refuses garbage, and
//! never takes in or shows an event that its author did not sign.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agora_client::{Bundle, Client, TimeRange, Watched};
use agora_protocol::author::Author;
use agora_protocol::encoding::{base64url_decode, base64url_encode};
use agora_protocol::links::URL_TYPE_EXPORT_BUNDLE;
use agora_protocol::{Process, PublicKey, SecretKey, VerifiedEvent, content, wire};
use agora_store::Store as _;
use agora_testnet::arbitrary::{Mutation, mutate, mutate_text, mutations};
use agora_testnet::hostile::HostileServer;
use agora_testnet::properties::run_async;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use prost::Message as _;
use reqwest::StatusCode;

use crate::publish::client_in;

/// Cases per property. A hostile-server case makes a few dozen loopback requests, about 20 ms.
const CASES: u32 = 256;

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    u64::try_from(since.as_millis()).expect("fits")
}

/// Genuinely signed events of two people, and the answers an honest server gives about them.
struct World {
    alice: PublicKey,
    bob: PublicKey,
    /// Alice's post that the others refer to.
    post: VerifiedEvent,
    /// Every event either signed, by slot.
    slots: HashSet<[u8; 56]>,
    /// Alice's clocks, all on `alice_process`.
    alice_clocks: u64,
    alice_process: Process,
    /// Per answered path, the valid answer.
    answers: Vec<(&'static str, Vec<u8>)>,
}

/// The paths the client reads, in the order of [`World::answers`].
const PATHS: [&str; 11] = [
    "/ranges",
    "/events",
    "/query_latest",
    "/search",
    "/explore",
    "/top_string_references",
    "/query_references",
    "/recommended_profiles",
    "/resolve_handle",
    "/version",
    "/stream",
];

impl World {
    /// A world whose keys depend on `seed`, so each case's events are new to the client.
    fn new(seed: u16) -> Self {
        let key = |person: u8| {
            let mut bytes = [person; 32];
            bytes[..2].copy_from_slice(&seed.to_be_bytes());
            Author::new(
                SecretKey::from_seed(&bytes),
                Process::from_bytes(&[person; 16]).expect("16"),
            )
        };
        let (mut alice, mut bob) = (key(1), key(2));
        let now = now_ms();
        let name = alice
            .set_element(content::USERNAME, b"alice", now)
            .expect("sign");
        let post = alice.post("hello fuzz", now).expect("sign");
        let topic = alice.topic_post("on topic", "/fuzz", now).expect("sign");
        let reply = bob.reply("a reply", &post.pointer(), now).expect("sign");
        let follow = bob.follow(&alice.system(), true, now).expect("sign");
        let like = bob
            .opinion(&post.pointer(), content::opinion::LIKE, now)
            .expect("sign");
        let bob_name = bob
            .set_element(content::USERNAME, b"bob", now)
            .expect("sign");
        let alice_events = [&name, &post, &topic];
        let all = [&name, &post, &topic, &reply, &follow, &like, &bob_name];
        let signed = |events: &[&VerifiedEvent]| {
            events
                .iter()
                .map(|event| event.to_signed())
                .collect::<Vec<_>>()
        };
        let page = wire::ResultEventsAndRelatedEventsAndCursor {
            result_events: Some(wire::Events {
                events: signed(&[&post, &topic, &reply]),
            }),
            related_events: Some(wire::Events::default()),
            cursor: Some(vec![1; 8].into()),
        };
        let references = wire::QueryReferencesResponse {
            items: signed(&[&reply, &follow])
                .into_iter()
                .map(|event| wire::QueryReferencesResponseEventItem {
                    event: Some(event),
                    counts: vec![0],
                })
                .collect(),
            related_events: Vec::new(),
            cursor: Some(vec![2; 16].into()),
            counts: vec![1, 0, 1],
        };
        let mut stream = String::from("event: position\nid: 1\ndata: 1\n\n");
        for (at, event) in alice_events.iter().enumerate() {
            let data = base64url_encode(&event.to_signed().encode_to_vec());
            stream.push_str(&format!("id: {}\ndata: {data}\n\n", at + 2));
        }
        let answers = vec![
            (
                "/ranges",
                wire::RangesForSystem {
                    ranges_for_processes: vec![wire::RangesForProcess {
                        process: Some(alice.process().to_wire()),
                        ranges: vec![wire::Range { low: 1, high: 3 }],
                    }],
                }
                .encode_to_vec(),
            ),
            (
                "/events",
                wire::Events {
                    events: signed(&alice_events),
                }
                .encode_to_vec(),
            ),
            (
                "/query_latest",
                wire::Events {
                    events: signed(&[&name]),
                }
                .encode_to_vec(),
            ),
            ("/search", page.encode_to_vec()),
            ("/explore", page.encode_to_vec()),
            (
                "/top_string_references",
                wire::ResultTopStringReferences {
                    buckets: vec![wire::AggregationBucket {
                        key: b"/fuzz".to_vec().into(),
                        value: 3,
                    }],
                }
                .encode_to_vec(),
            ),
            ("/query_references", references.encode_to_vec()),
            (
                "/recommended_profiles",
                wire::PublicKeys {
                    systems: vec![alice.system().to_wire(), bob.system().to_wire()],
                }
                .encode_to_vec(),
            ),
            ("/resolve_handle", alice.system().to_wire().encode_to_vec()),
            ("/version", br#"{"sha":"abc","version":"0"}"#.to_vec()),
            ("/stream", stream.into_bytes()),
        ];
        Self {
            alice: alice.system(),
            bob: bob.system(),
            post: post.clone(),
            slots: all.iter().map(|event| event.slot_key()).collect(),
            alice_clocks: alice.logical_clock(),
            alice_process: alice.process(),
            answers,
        }
    }

    fn username_of(&self, system: &PublicKey) -> Option<&'static str> {
        if *system == self.alice {
            Some("alice")
        } else if *system == self.bob {
            Some("bob")
        } else {
            None
        }
    }
}

/// How the hostile server answers one path.
#[derive(Clone, Debug)]
enum Answer {
    Valid,
    Changed(Vec<Mutation>),
    /// The valid answer of another path: a server confusing its routes.
    Other(Index),
    Garbage(Vec<u8>),
    /// For `/ranges`, any clocks of alice's process, up to all 2^64 of them; elsewhere valid.
    Advertised(Vec<(u64, u64)>),
}

fn answer() -> impl Strategy<Value = (StatusCode, Answer)> {
    let status = prop_oneof![
        8 => Just(StatusCode::OK),
        1 => prop::sample::select(vec![204u16, 301, 400, 404, 429, 500, 503])
            .prop_map(|code| StatusCode::from_u16(code).expect("a status")),
    ];
    let answer = prop_oneof![
        2 => Just(Answer::Valid),
        3 => mutations().prop_map(Answer::Changed),
        1 => any::<Index>().prop_map(Answer::Other),
        2 => vec(any::<u8>(), 0..300).prop_map(Answer::Garbage),
        1 => vec(prop_oneof![(any::<u64>(), any::<u64>()), (0u64..10, 0u64..10)], 1..4)
            .prop_map(Answer::Advertised),
    ];
    (status, answer)
}

/// One case: the world's keys, and how each path is answered.
fn cases() -> impl Strategy<Value = (u16, Vec<(StatusCode, Answer)>)> {
    (any::<u16>(), vec(answer(), PATHS.len()))
}

fn answer_bytes(world: &World, path_at: usize, answer: &Answer) -> Vec<u8> {
    let valid = |at: usize| world.answers[at].1.clone();
    match answer {
        Answer::Advertised(ranges) if PATHS[path_at] == "/ranges" => wire::RangesForSystem {
            ranges_for_processes: vec![wire::RangesForProcess {
                process: Some(world.alice_process.to_wire()),
                ranges: ranges
                    .iter()
                    .map(|&(low, high)| wire::Range { low, high })
                    .collect(),
            }],
        }
        .encode_to_vec(),
        Answer::Valid | Answer::Advertised(_) => valid(path_at),
        Answer::Changed(changes) => mutate(&valid(path_at), changes),
        Answer::Other(at) => valid(at.index(PATHS.len())),
        Answer::Garbage(bytes) => bytes.clone(),
    }
}

/// Asks the hostile servers everything the client asks servers, and checks that whatever the
/// client took in or returns was signed by its author. `garbage` also asks that nothing at all
/// came through.
async fn exercise(
    client: &Client,
    servers: &[String],
    world: &World,
    garbage: bool,
) -> Result<(), TestCaseError> {
    let one = &servers[..1];
    let alice = world.alice;

    let pulled = client
        .pull(alice, one)
        .await
        .expect("the local store works");
    let local = client.store().ranges(alice).await.expect("local ranges");
    for process_ranges in &local {
        for &(low, high) in &process_ranges.ranges {
            prop_assert!(
                low >= 1 && high <= world.alice_clocks,
                "stored {low}..={high}"
            );
        }
    }
    prop_assert!(pulled.value as u64 <= world.alice_clocks);

    let searched = client.search_posts(servers, "hello", 10).await;
    let explored = client.explore(one, 10).await;
    for found in searched.value.iter().chain(&explored.value) {
        prop_assert!(world.slots.contains(&found.item.post.pointer.slot_key()));
    }

    let profiles = client.search_profiles(one, "alice", 10).await;
    let recommended = client.recommended(one, 10).await;
    for found in profiles.value.iter().chain(&recommended.value) {
        if let Some(name) = &found.item.username {
            prop_assert_eq!(Some(name.as_str()), world.username_of(&found.item.system));
        }
    }

    client.trending(servers, TimeRange::Month, None, 10).await;
    let stats = client
        .post_stats_paged(&world.post.pointer(), one, 40)
        .await;
    for reply in &stats.value.reply_events {
        prop_assert!(world.slots.contains(&reply.slot_key()));
    }
    let followers = client.followers(alice, one).await;
    prop_assert!(
        followers
            .value
            .iter()
            .all(|follower| *follower == world.bob)
    );
    client.resolve_handle("alice", one).await;
    let _ = client.probe_server(&servers[0]).await;

    let watched = watch_once(client, &servers[0], alice).await;
    for event in &watched {
        prop_assert!(world.slots.contains(&event.slot_key()));
    }

    if garbage {
        prop_assert_eq!(pulled.value, 0);
        prop_assert!(searched.value.is_empty() && explored.value.is_empty());
        prop_assert!(profiles.value.is_empty());
        prop_assert!(stats.value.reply_events.is_empty());
        prop_assert!(followers.value.is_empty() && watched.is_empty());
    }
    Ok(())
}

/// The events one connection of a watch reports, until that connection fails or ends.
async fn watch_once(client: &Client, server: &str, system: PublicKey) -> Vec<VerifiedEvent> {
    let (sink, mut watched) = tokio::sync::mpsc::channel(16);
    let (servers, systems) = ([server.to_owned()], [system]);
    let watch = client.watch(&servers, &systems, sink);
    let read = async move {
        let mut events = Vec::new();
        while let Some(report) = watched.recv().await {
            match report {
                Watched::Event { event, .. } => events.push(*event),
                Watched::Failed { .. } => break,
                Watched::Connected { .. } => {}
            }
        }
        events
    };
    let ((), events) = tokio::time::timeout(Duration::from_secs(10), async {
        futures::join!(watch, read)
    })
    .await
    .expect("a watch of a finished stream ends");
    events
}

/// Two hostile servers (trending reads a topic's posts only where two servers name it) and a
/// client with a fresh home.
struct Hostile {
    servers: [HostileServer; 2],
    client: Client,
    _home: tempfile::TempDir,
}

async fn hostile() -> Hostile {
    let home = tempfile::tempdir().expect("home");
    Hostile {
        servers: [HostileServer::start().await, HostileServer::start().await],
        client: client_in(home.path()).await,
        _home: home,
    }
}

impl Hostile {
    fn urls(&self) -> Vec<String> {
        self.servers.iter().map(HostileServer::url).collect()
    }
}

#[test]
fn hostile_answers_are_refused_and_nothing_unsigned_gets_through() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let hostile = runtime.block_on(hostile());
    let urls = hostile.urls();
    run_async(&runtime, CASES, cases(), async |(seed, answers)| {
        let world = World::new(seed);
        for server in &hostile.servers {
            server.answer_with(StatusCode::NOT_FOUND, "no such route");
            for (at, (status, answer)) in answers.iter().enumerate() {
                server.answer_path(PATHS[at], *status, answer_bytes(&world, at, answer));
            }
        }
        exercise(&hostile.client, &urls, &world, false).await
    });
}

#[test]
fn garbage_answers_give_the_client_nothing() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let hostile = runtime.block_on(hostile());
    let urls = hostile.urls();
    let bodies = (any::<u16>(), vec(any::<u8>(), 0..400));
    run_async(&runtime, CASES, bodies, async |(seed, body)| {
        let world = World::new(seed);
        for server in &hostile.servers {
            server.answer_with(StatusCode::OK, body.clone());
        }
        exercise(&hostile.client, &urls, &world, true).await
    });
}

/// An export bundle of `secret` with `events`, as `agora export` prints it.
fn bundle_text(secret: &SecretKey, events: &[VerifiedEvent]) -> String {
    let bundle = wire::ExportBundle {
        key_pair: Some(wire::KeyPair {
            key_type: 1,
            private_key: secret.seed().to_vec().into(),
            public_key: secret.public_key().as_bytes().to_vec().into(),
        }),
        events: Some(wire::Events {
            events: events.iter().map(VerifiedEvent::to_signed).collect(),
        }),
    };
    let info = wire::UrlInfo {
        url_type: URL_TYPE_EXPORT_BUNDLE,
        body: bundle.encode_to_vec().into(),
    };
    format!("polycentric://{}", base64url_encode(&info.encode_to_vec()))
}

fn valid_bundle(seed: u8) -> String {
    let mut author = Author::new(
        SecretKey::from_seed(&[seed; 32]),
        Process::from_bytes(&[seed; 16]).expect("16"),
    );
    let server = author
        .set_member(content::SERVER, b"https://example.org", true, 1)
        .expect("sign");
    bundle_text(author.secret(), &[server])
}

/// A bundle that parsed holds only its key's SERVER events, and prints back as itself.
fn bundle_reads_back(bundle: &Bundle) -> Result<(), TestCaseError> {
    for event in &bundle.events {
        prop_assert_eq!(*event.system(), bundle.system());
        prop_assert_eq!(event.content_type(), content::SERVER);
    }
    let again = Bundle::parse(&bundle_text(&bundle.secret, &bundle.events)).expect("re-encodes");
    prop_assert_eq!(again.system(), bundle.system());
    let bytes = |bundle: &Bundle| {
        bundle
            .events
            .iter()
            .map(|event| event.event_bytes().clone())
            .collect::<Vec<_>>()
    };
    prop_assert_eq!(bytes(&again), bytes(bundle));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn arbitrary_text_is_not_an_export_bundle(
        text in prop_oneof![any::<String>(), "(polycentric://)?[A-Za-z0-9_-]{0,200}"],
    ) {
        prop_assert!(Bundle::parse(&text).is_err());
    }

    #[test]
    fn mutated_export_bundles_are_refused_or_read_back(
        seed in any::<u8>(),
        changes in mutations(),
        in_text in any::<bool>(),
    ) {
        let text = valid_bundle(seed);
        let text = if in_text {
            mutate_text(&text, &changes)
        } else {
            let bytes = base64url_decode(text.trim_start_matches("polycentric://")).expect("valid");
            base64url_encode(&mutate(&bytes, &changes))
        };
        if let Ok(bundle) = Bundle::parse(&text) {
            bundle_reads_back(&bundle)?;
        }
    }
}
