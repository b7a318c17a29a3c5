//! Rate limits over real HTTP: a flood from one address gets 429 with `Retry-After` while
//! another address is served, an identity over its allowance is refused whatever address it
//! writes from, and the allow-list and a trusted proxy's `X-Forwarded-For` are honoured.

use std::net::IpAddr;

use agora_server::ServerConfig;
use agora_server::ratelimit::{Rate, RateLimits};
use agora_testnet::TestServer;
use prost::Message as _;

use crate::support::author;

/// An HTTP client whose requests come from the loopback address `from`.
fn client_from(from: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(from))
        .build()
        .expect("client")
}

fn limited_server_config() -> ServerConfig {
    ServerConfig {
        rate_limits: RateLimits {
            expensive_reads_per_address: Rate {
                per_second: 1,
                burst: 5,
            },
            events_per_identity: Rate {
                per_second: 1,
                burst: 10,
            },
            allow: vec![[127, 0, 0, 3].into()],
            trusted_proxies: vec![[127, 0, 0, 4].into()],
            ..RateLimits::default()
        },
        ..ServerConfig::default()
    }
}

#[tokio::test]
async fn a_flood_from_one_address_gets_429_while_others_are_served() {
    let server = TestServer::start_with(limited_server_config()).await;
    let search = format!("{}/search?search=walrus", server.url());
    let flooder = client_from([127, 0, 0, 2]);
    let mut refused = None;
    for _ in 0..20 {
        let answer = flooder.get(&search).send().await.expect("request");
        if answer.status() == 429 {
            refused = Some(answer);
            break;
        }
        assert_eq!(answer.status(), 200);
    }
    let refused = refused.expect("the flood is refused within 20 requests");
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=5).contains(&retry_after), "{retry_after}");
    let body = refused.text().await.expect("body");
    assert!(body.contains("expensive reads per address"), "{body}");

    // Another address, the allow-listed one, and a client named by a trusted proxy are served.
    for (from, forwarded) in [
        ([127, 0, 0, 1], None),
        ([127, 0, 0, 3], None),
        ([127, 0, 0, 4], Some("198.51.100.9")),
    ] {
        let mut request = client_from(from).get(&search);
        if let Some(client) = forwarded {
            request = request.header("x-forwarded-for", client);
        }
        assert_eq!(
            request.send().await.expect("request").status(),
            200,
            "{from:?}"
        );
    }
    // The allow-listed address is never limited.
    let allowed = client_from([127, 0, 0, 3]);
    for _ in 0..20 {
        assert_eq!(
            allowed.get(&search).send().await.expect("request").status(),
            200
        );
    }
    // The proxy's own address is not what is limited: each forwarded client has its own share.
    let proxy = client_from([127, 0, 0, 4]);
    for n in 0..10 {
        let answer = proxy
            .get(&search)
            .header("x-forwarded-for", format!("203.0.113.{n}"))
            .send()
            .await
            .expect("request");
        assert_eq!(answer.status(), 200, "forwarded client {n}");
    }
    // 429s are counted in /metrics.
    let metrics = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("agora_rate_limited_total{limit=\"/search\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_identity_over_its_allowance_is_refused_from_any_address_and_nothing_is_stored() {
    let server = TestServer::start_with(limited_server_config()).await;
    let events_url = format!("{}/events", server.url());
    let mut spammer = author(77);
    let batch = |author: &mut agora_protocol::author::Author, count: u64, at: u64| {
        let events = (0..count)
            .map(|n| {
                author
                    .post(&format!("spam {n}"), at + n)
                    .expect("sign")
                    .to_signed()
            })
            .collect();
        agora_protocol::wire::Events { events }.encode_to_vec()
    };
    let first = client_from([127, 0, 0, 5])
        .post(&events_url)
        .body(batch(&mut spammer, 10, 1_000))
        .send()
        .await
        .expect("request");
    assert_eq!(first.status(), 200, "within the burst");
    let second = client_from([127, 0, 0, 6])
        .post(&events_url)
        .body(batch(&mut spammer, 10, 2_000))
        .send()
        .await
        .expect("request");
    assert_eq!(
        second.status(),
        429,
        "the identity's allowance, from another address"
    );
    assert!(second.headers().contains_key("retry-after"));
    let ranges = reqwest::get(format!(
        "{}/ranges?system={}",
        server.url(),
        spammer.system().to_query_param()
    ))
    .await
    .expect("ranges")
    .bytes()
    .await
    .expect("body");
    let ranges = agora_protocol::wire::RangesForSystem::decode(ranges).expect("ranges");
    let held: Vec<(u64, u64)> = ranges.ranges_for_processes[0]
        .ranges
        .iter()
        .map(|range| (range.low, range.high))
        .collect();
    assert_eq!(held, [(1, 10)], "the refused batch left nothing");
    // Another identity writes meanwhile.
    let mut other = author(78);
    let answer = client_from([127, 0, 0, 6])
        .post(&events_url)
        .body(batch(&mut other, 3, 1_000))
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status(), 200);
}
