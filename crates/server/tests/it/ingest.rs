//! POST /events: partial acceptance, duplicates, deletes, late arrivals, counters, durability.

use agora_protocol::content::{self, opinion};
use agora_protocol::{SecretKey, wire};
use agora_server::{Limits, ServerConfig};
use agora_testnet::TestServer;
use prost::Message as _;
use reqwest::StatusCode;

use crate::support::{Http, author, clocks, post_stats, second_process};

#[tokio::test]
async fn a_batch_stores_valid_events_and_names_each_rejected_one() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let good = alice.post("hello", 1_000).expect("sign");
    let too_long = alice.post(&"x".repeat(10_001), 1_001).expect("sign");
    let also_good = alice.post("world", 1_002).expect("sign");
    let mut forged = also_good.to_signed();
    forged.signature = SecretKey::from_seed(&[9; 32])
        .sign(&forged.event)
        .to_vec()
        .into();
    let batch = wire::Events {
        events: vec![
            good.to_signed(),
            too_long.to_signed(),
            forged,
            also_good.to_signed(),
        ],
    };

    let answer = http.post_raw("/events", batch.encode_to_vec()).await;

    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.headers["x-agora-rejected"], "2");
    let text = answer.text();
    assert!(
        text.contains("event 1 rejected: post text is 10001 bytes, over the limit of 10000"),
        "{text}"
    );
    assert!(
        text.contains("event 2 rejected: signature does not verify"),
        "{text}"
    );
    assert_eq!(
        http.ranges(&alice.system()).await[0].1,
        vec![(1, 1), (3, 3)],
        "clock 2 was refused, so it is a gap"
    );
}

#[tokio::test]
async fn a_batch_of_only_bad_events_is_a_400_naming_them() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let post = alice.post("hello", 1_000).expect("sign");
    let mut tampered = post.to_signed();
    let mut bytes = tampered.event.to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    tampered.event = bytes.into();

    let answer = http
        .post_raw(
            "/events",
            wire::Events {
                events: vec![tampered],
            }
            .encode_to_vec(),
        )
        .await;

    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer
            .text()
            .contains("event 0 rejected: signature does not verify"),
        "{}",
        answer.text()
    );
    assert!(
        http.ranges(&alice.system()).await.is_empty(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn duplicates_are_accepted_once_and_counted_once() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (mut alice, mut bob) = (author(1), author(2));
    let post = alice.post("hello", 1_000).expect("sign");
    let like = bob
        .opinion(&post.pointer(), opinion::LIKE, 2_000)
        .expect("sign");

    for _ in 0..3 {
        assert_eq!(
            http.publish(&[&post, &like, &like]).await.status,
            StatusCode::OK
        );
    }

    assert_eq!(http.ranges(&alice.system()).await[0].1, vec![(1, 1)]);
    let stats = http.references(&post_stats(&post, None)).await;
    assert_eq!(stats.counts, vec![1, 0, 0], "[likes, dislikes, replies]");
}

#[tokio::test]
async fn a_delete_that_arrives_first_keeps_its_target_out_for_good() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let post = alice.post("regret", 1_000).expect("sign");
    let delete = alice.delete(&post, 2_000).expect("sign");

    assert_eq!(http.publish(&[&delete]).await.status, StatusCode::OK);
    let late = http.publish(&[&post]).await;

    assert_eq!(
        late.status,
        StatusCode::OK,
        "a late arrival is acknowledged: the tombstone stands for it"
    );
    assert_eq!(
        clocks(&http.events(&alice, 1, 10).await),
        vec![2],
        "only the DELETE is served"
    );
    assert_eq!(
        http.ranges(&alice.system()).await[0].1,
        vec![(1, 2)],
        "the deleted slot counts as held"
    );
    let feed = http.index(&alice.system(), content::POST, "").await;
    assert_eq!(
        clocks(&feed.events),
        vec![2],
        "the DELETE takes the post's place in the feed"
    );
}

#[tokio::test]
async fn deletes_from_two_devices_never_make_ranges_overlap() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (mut phone, mut laptop) = (author(1), second_process(1));
    let post = phone.post("twice deleted", 1_000).expect("sign");
    let from_phone = phone.delete(&post, 2_000).expect("sign");
    let from_laptop = laptop.delete(&post, 3_000).expect("sign");

    assert_eq!(
        http.publish(&[&post, &from_phone, &from_laptop])
            .await
            .status,
        StatusCode::OK
    );

    for (_, ranges) in http.ranges(&phone.system()).await {
        for pair in ranges.windows(2) {
            assert!(
                pair[0].1 + 1 < pair[1].0,
                "sorted, disjoint and non-adjacent: {ranges:?}"
            );
        }
    }
    let feed = http.index(&phone.system(), content::POST, "").await;
    assert_eq!(
        feed.events.len(),
        1,
        "one cell for the deleted post, not one per delete"
    );
}

#[tokio::test]
async fn like_counts_follow_the_latest_opinion_whatever_the_arrival_order() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (mut alice, mut bob, mut carol) = (author(1), author(2), author(3));
    let post = alice.post("vote on me", 1_000).expect("sign");
    let bob_like = bob
        .opinion(&post.pointer(), opinion::LIKE, 2_000)
        .expect("sign");
    let bob_dislike = bob
        .opinion(&post.pointer(), opinion::DISLIKE, 3_000)
        .expect("sign");
    let carol_like = carol
        .opinion(&post.pointer(), opinion::LIKE, 2_500)
        .expect("sign");
    let reply = carol.reply("first!", &post.pointer(), 2_600).expect("sign");

    // Bob's newer dislike arrives before his older like.
    http.publish(&[&post, &bob_dislike]).await;
    http.publish(&[&bob_like, &carol_like, &reply]).await;
    assert_eq!(
        http.references(&post_stats(&post, None)).await.counts,
        vec![1, 1, 1]
    );

    // Deleting Bob's winning dislike falls back to his earlier like; deleting the reply drops it.
    let undo = bob.delete(&bob_dislike, 4_000).expect("sign");
    let unreply = carol.delete(&reply, 4_100).expect("sign");
    http.publish(&[&undo, &unreply]).await;
    let stats = http.references(&post_stats(&post, None)).await;
    assert_eq!(stats.counts, vec![2, 0, 0]);
    assert!(
        stats.items.is_empty(),
        "the deleted reply is no longer listed"
    );
}

#[tokio::test]
async fn every_acknowledged_event_survives_a_restart() {
    let mut server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut authors: Vec<_> = (1..=8).map(author).collect();
    let mut publishes = Vec::new();
    for author in &mut authors {
        let events: Vec<_> = (0..50)
            .map(|i| author.post(&format!("post {i}"), 1_000 + i).expect("sign"))
            .collect();
        let http = Http::new(http.base.clone());
        publishes.push(tokio::spawn(async move {
            for chunk in events.chunks(10) {
                let refs: Vec<_> = chunk.iter().collect();
                assert_eq!(http.publish(&refs).await.status, StatusCode::OK);
            }
        }));
    }
    for publish in publishes {
        publish.await.expect("publisher");
    }

    server.restart().await;

    let http = Http::new(server.url());
    for author in &authors {
        assert_eq!(http.ranges(&author.system()).await[0].1, vec![(1, 50)]);
        assert_eq!(http.events(author, 1, 50).await.len(), 50);
    }
}

#[tokio::test]
async fn batch_and_body_limits_are_enforced_with_413() {
    let mut limits = Limits {
        events_per_batch_max: 3,
        body_bytes_max: 64 * 1024,
        ..Limits::default()
    };
    limits.ingest.event_bytes_max = 2_000;
    let server = TestServer::start_with(ServerConfig {
        limits,
        ..ServerConfig::default()
    })
    .await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let posts: Vec<_> = (0..4)
        .map(|i| alice.post("p", 1_000 + i).expect("sign"))
        .collect();

    let too_many = http.publish(&posts.iter().collect::<Vec<_>>()).await;
    assert_eq!(too_many.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        too_many
            .text()
            .contains("batch has 4 events, over the limit of 3"),
        "{}",
        too_many.text()
    );

    let too_big = http.post_raw("/events", vec![0; 65 * 1024]).await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);

    let mut bob = author(2);
    let big = bob
        .publish(
            agora_protocol::author::Draft {
                content_type: 8,
                content: vec![7; 3_000],
                ..Default::default()
            },
            5,
        )
        .expect("sign");
    let answer = http.publish(&[&big]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.text().contains("over the limit of 2000"),
        "{}",
        answer.text()
    );
    assert!(
        http.ranges(&alice.system()).await.is_empty()
            && http.ranges(&bob.system()).await.is_empty()
    );
}

#[tokio::test]
async fn unknown_content_types_are_stored_and_served_verbatim() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut grayjay = author(4);
    let custom = grayjay
        .publish(
            agora_protocol::author::Draft {
                content_type: 21,
                content: b"opaque".to_vec(),
                ..Default::default()
            },
            7,
        )
        .expect("sign");
    assert_eq!(http.publish(&[&custom]).await.status, StatusCode::OK);
    let served = http.events(&grayjay, 1, 1).await;
    assert_eq!(served[0].event, custom.event_bytes().clone());
    assert_eq!(served[0].signature.as_ref(), custom.signature());
}
