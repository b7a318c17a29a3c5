//! Device statements over HTTP (docs/protocol.md, "Devices"): forged, annexing and replayed
//! statements are refused with their reasons, a revoked device's later events are refused at
//! ingest, and a revocation that arrives late drops what it does not keep.

use agora_protocol::author::{Author, Draft};
use agora_protocol::devices::{acceptance_draft, authorization_draft, revocation_draft};
use agora_protocol::{VerifiedEvent, content, wire};
use agora_testnet::TestServer;
use prost::Message as _;
use reqwest::StatusCode;

use crate::support::{Http, author};

/// Publishes `event` alone and returns the status and body.
async fn publish(http: &Http, event: &VerifiedEvent) -> (StatusCode, String) {
    let answer = http.publish(&[event]).await;
    (answer.status, answer.text())
}

async fn assert_refused(http: &Http, event: &VerifiedEvent, reason: &str) {
    let (status, text) = publish(http, event).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains(reason), "expected {reason:?} in {text:?}");
}

async fn assert_stored(http: &Http, event: &VerifiedEvent) {
    let (status, text) = publish(http, event).await;
    assert_eq!(status, StatusCode::OK, "{text}");
}

/// `device` accepts `identity` and `identity` authorizes it; both stored.
async fn paired(http: &Http, identity: &mut Author, device: &mut Author, ms: u64) -> VerifiedEvent {
    let accept = device
        .publish(acceptance_draft(&identity.system()), ms)
        .expect("sign");
    assert_stored(http, &accept).await;
    let authorize = identity
        .publish(authorization_draft(&accept, "phone"), ms + 1)
        .expect("sign");
    assert_stored(http, &authorize).await;
    accept
}

#[tokio::test]
async fn forged_and_annexing_statements_are_refused_with_reasons() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (mut alice, mut phone, mut mallory, mut laptop) =
        (author(1), author(2), author(3), author(4));

    // An authorization that carries no acceptance from the device.
    let bare = Draft {
        content_type: content::DEVICE_AUTHORIZE,
        content: wire::DeviceAuthorization {
            acceptance: None,
            name: "phone".into(),
        }
        .encode_to_vec(),
        ..Draft::default()
    };
    let bare = alice.publish(bare, 1_000).expect("sign");
    assert_refused(&http, &bare, "missing the device's acceptance").await;

    // An acceptance whose bytes were altered no longer verifies.
    let accept = phone
        .publish(acceptance_draft(&alice.system()), 1_001)
        .expect("sign");
    let mut altered = accept.to_signed();
    let mut bytes = altered.event.to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    altered.event = bytes.into();
    let body = wire::DeviceAuthorization {
        acceptance: Some(altered),
        name: "phone".into(),
    };
    let draft = Draft {
        content_type: content::DEVICE_AUTHORIZE,
        content: body.encode_to_vec(),
        ..Draft::default()
    };
    let tampered = alice.publish(draft, 1_002).expect("sign");
    assert_refused(&http, &tampered, "the device's acceptance does not verify").await;

    // Mallory cannot annex alice's device, nor revoke it; a key cannot accept itself.
    let annex = mallory
        .publish(authorization_draft(&accept, "mine"), 1_003)
        .expect("sign");
    assert_refused(&http, &annex, "accepted identity").await;
    let foreign_revoke = mallory
        .publish(revocation_draft(&accept, &[]), 1_004)
        .expect("sign");
    assert_refused(&http, &foreign_revoke, "accepted identity").await;
    let own = mallory
        .publish(acceptance_draft(&mallory.system()), 1_005)
        .expect("sign");
    assert_refused(&http, &own, "cannot accept its own key").await;

    // Another device of alice has no right to revoke the phone either.
    assert_stored(&http, &accept).await;
    let authorize = alice
        .publish(authorization_draft(&accept, "phone"), 1_006)
        .expect("sign");
    assert_stored(&http, &authorize).await;
    paired(&http, &mut alice, &mut laptop, 1_007).await;
    let sideways = laptop
        .publish(revocation_draft(&accept, &[]), 1_009)
        .expect("sign");
    assert_refused(&http, &sideways, "accepted identity").await;
    let still = phone.post("still alice's", 1_010).expect("sign");
    assert_stored(&http, &still).await;
}

#[tokio::test]
async fn a_revocation_is_permanent_and_replays_change_nothing() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (mut alice, mut phone) = (author(1), author(2));
    let accept = paired(&http, &mut alice, &mut phone, 1_000).await;
    let authorization = alice
        .publish(authorization_draft(&accept, "phone again"), 1_002)
        .expect("sign");
    assert_stored(&http, &authorization).await;
    let kept = phone.post("before", 1_003).expect("sign");
    assert_stored(&http, &kept).await;
    let revoke = alice
        .publish(revocation_draft(&accept, &[(phone.process(), 2)]), 1_004)
        .expect("sign");
    assert_stored(&http, &revoke).await;

    let after = phone.post("after", 1_005).expect("sign");
    assert_refused(&http, &after, "was revoked by identity").await;
    let (_, text) = publish(&http, &after).await;
    assert!(text.contains("after logical clock 2"), "{text}");

    // Replaying the old authorization is a duplicate: the device stays revoked.
    let (status, text) = publish(&http, &authorization).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_refused(&http, &after, "was revoked").await;
    // A new authorization of the revoked key is refused; so is deleting the revocation.
    let again = alice
        .publish(authorization_draft(&accept, "back"), 1_006)
        .expect("sign");
    assert_refused(&http, &again, "never authorized again").await;
    let undo = alice.delete(&revoke, 1_007).expect("sign");
    assert_refused(&http, &undo, "device statements cannot be deleted").await;
    // What the device signed within its bound is still served.
    let held = http.ranges(&phone.system()).await;
    assert_eq!(held[0].1, vec![(1, 2)], "{held:?}");
}

#[tokio::test]
async fn a_late_revocation_drops_the_events_past_its_bound() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (mut alice, mut phone) = (author(1), author(2));
    let accept = paired(&http, &mut alice, &mut phone, 1_000).await;
    let kept = phone.post("a walrus before", 1_002).expect("sign");
    let late = phone.post("a walrus after", 1_003).expect("sign");
    let like = phone
        .opinion(&kept.pointer(), content::opinion::LIKE, 1_004)
        .expect("sign");
    for event in [&kept, &late, &like] {
        assert_stored(&http, event).await;
    }
    assert_eq!(http.ranges(&phone.system()).await[0].1, vec![(1, 4)]);

    let revoke = alice
        .publish(revocation_draft(&accept, &[(phone.process(), 2)]), 1_005)
        .expect("sign");
    assert_stored(&http, &revoke).await;

    assert_eq!(
        http.ranges(&phone.system()).await[0].1,
        vec![(1, 2)],
        "the post and the like after the bound are gone"
    );
    let found: wire::Events = http
        .get("/search?search=walrus")
        .await
        .decode::<wire::ResultEventsAndRelatedEventsAndCursor>()
        .result_events
        .unwrap_or_default();
    let stats = http
        .references(&crate::support::post_stats(&kept, None))
        .await;
    assert_eq!(
        stats.counts.first(),
        Some(&0),
        "the like past the bound no longer counts"
    );
    let texts: Vec<String> = found
        .events
        .iter()
        .filter_map(|signed| VerifiedEvent::verify(signed).ok())
        .filter_map(|event| wire::Post::decode(event.event().content.clone()).ok())
        .filter_map(|post| post.content)
        .collect();
    assert_eq!(texts, vec!["a walrus before".to_owned()]);
}
