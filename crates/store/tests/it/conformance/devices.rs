//! Device revocations (docs/protocol.md, "Devices"): a store refuses a revoked device's events
//! outside the bounds whichever order they arrive in, drops what a late revocation does not
//! keep with everything derived from it, and never lets the key be authorized again.

use agora_protocol::content;
use agora_protocol::devices::{acceptance_draft, authorization_draft, revocation_draft};
use agora_store::{IngestOutcome, Store};

use super::support::*;

pub async fn revoked_device_events_are_refused_and_late_ones_dropped<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut phone = author(2, 2);
    let accept = phone
        .publish(acceptance_draft(&alice.system()), 100)
        .expect("accept");
    let authorize = alice
        .publish(authorization_draft(&accept, "phone"), 101)
        .expect("authorize");
    let kept = phone.post("kept", 102).expect("post");
    let late = phone.post("late", 103).expect("post");
    let like = phone
        .opinion(&kept.pointer(), content::opinion::LIKE, 104)
        .expect("like");
    ingest_new(&store, [&accept, &authorize, &kept, &late, &like]).await;
    assert_eq!(like_count(&store, &kept).await, 1);

    // Arriving after the events it cuts off, the revocation removes them and what they gave.
    let revoke = alice
        .publish(revocation_draft(&accept, &[(phone.process(), 2)]), 105)
        .expect("revoke");
    ingest_new(&store, [&revoke]).await;
    assert_eq!(served(&store, phone.system()).await, [(2, 1), (2, 2)]);
    assert_eq!(like_count(&store, &kept).await, 0);

    // From now on: refused, with the reason; and so is authorizing the key again.
    let outcomes = ingest(&store, [&late]).await;
    assert!(
        matches!(&outcomes[0], IngestOutcome::Rejected(reason) if reason.to_string().contains("was revoked")),
        "{outcomes:?}"
    );
    let again = alice
        .publish(authorization_draft(&accept, "back"), 106)
        .expect("authorize");
    let outcomes = ingest(&store, [&again]).await;
    assert!(
        matches!(&outcomes[0], IngestOutcome::Rejected(reason) if reason.to_string().contains("never authorized again")),
        "{outcomes:?}"
    );
    // Another process of the device, which the revocation does not list, keeps nothing.
    let mut other = author(2, 3);
    let elsewhere = other.post("elsewhere", 107).expect("post");
    assert!(matches!(
        &ingest(&store, [&elsewhere]).await[0],
        IngestOutcome::Rejected(_)
    ));
    assert_eq!(served(&store, phone.system()).await, [(2, 1), (2, 2)]);
}

pub async fn a_revocation_in_the_same_batch_applies_to_the_events_after_it<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut phone = author(2, 2);
    let accept = phone
        .publish(acceptance_draft(&alice.system()), 100)
        .expect("accept");
    let revoke = alice
        .publish(revocation_draft(&accept, &[(phone.process(), 1)]), 101)
        .expect("revoke");
    let post = phone.post("after", 102).expect("post");
    let outcomes = ingest(&store, [&accept, &revoke, &post]).await;
    assert_eq!(outcomes[0], IngestOutcome::Stored);
    assert_eq!(outcomes[1], IngestOutcome::Stored);
    assert!(
        matches!(&outcomes[2], IngestOutcome::Rejected(_)),
        "{outcomes:?}"
    );
    assert_eq!(served(&store, phone.system()).await, [(2, 1)]);
}

/// The identity's own events arrive in any order across its processes: an authorization signed
/// before the revocation is stored even when the revocation came first, so every store ends with
/// the same history; one signed after is refused.
pub async fn an_authorization_older_than_the_revocation_is_stored_whatever_the_order<S: Store>(
    store: S,
) {
    let mut alice = author(1, 1);
    let mut rescue = author(1, 5);
    let mut phone = author(2, 2);
    let accept = phone
        .publish(acceptance_draft(&alice.system()), 100)
        .expect("accept");
    let authorize = alice
        .publish(authorization_draft(&accept, "phone"), 101)
        .expect("authorize");
    let revoke = rescue
        .publish(revocation_draft(&accept, &[(phone.process(), 1)]), 105)
        .expect("revoke");
    ingest_new(&store, [&accept, &revoke, &authorize]).await;
    let after = rescue
        .publish(authorization_draft(&accept, "back"), 106)
        .expect("authorize");
    assert!(matches!(
        &ingest(&store, [&after]).await[0],
        IngestOutcome::Rejected(reason) if reason.to_string().contains("never authorized again")
    ));
}

async fn like_count<S: Store>(store: &S, post: &agora_protocol::VerifiedEvent) -> u64 {
    counts(store, post).await.likes
}
