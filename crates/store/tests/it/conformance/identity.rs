//! Handles (one per system, one system per handle, proven bindings kept) and vouched claims
//! (found with their vouches, gone as soon as the claim event goes, however it goes).

use agora_protocol::author::{Author, Draft, pointer_reference};
use agora_protocol::{PublicKey, VerifiedEvent, content, wire};
use agora_store::{
    CensorTarget, CensorshipKind, ClaimFieldMatch, ClaimQuery, ClaimVouchQuery, HandleClaimOutcome,
    Store, VouchedClaim,
};
use prost::Message as _;

use super::support::*;

async fn holder<S: Store>(store: &S, handle: &str) -> Option<(PublicKey, bool)> {
    store
        .resolve_handle(handle.to_owned())
        .await
        .expect("resolve")
        .map(|binding| (binding.system, binding.proven))
}

async fn claim<S: Store>(
    store: &S,
    who: &Author,
    handle: &str,
    proven: bool,
) -> HandleClaimOutcome {
    store
        .claim_handle(who.system(), handle.to_owned(), proven)
        .await
        .expect("claim")
}

/// The handle, spelled as stored, that `lookup` resolves to.
async fn spelled<S: Store>(store: &S, lookup: &str) -> Option<String> {
    store
        .resolve_handle(lookup.to_owned())
        .await
        .expect("resolve")
        .map(|binding| binding.handle)
}

/// `Alice` is `alice`: taken by whoever holds it in any case, found in any case, re-spelled
/// only by its holder, and a proven binding only with proof.
pub async fn handles_compare_without_regard_to_case<S: Store>(store: S) {
    let (alice, bob) = (author(1, 1), author(2, 2));
    assert_eq!(
        claim(&store, &alice, "alice", false).await,
        HandleClaimOutcome::Bound
    );
    for taken in ["Alice", "ALICE", "aLiCe"] {
        assert_eq!(
            claim(&store, &bob, taken, false).await,
            HandleClaimOutcome::Taken(alice.system()),
            "{taken}"
        );
    }
    assert_eq!(holder(&store, "ALICE").await, Some((alice.system(), false)));
    assert_eq!(spelled(&store, "ALICE").await.as_deref(), Some("alice"));

    assert_eq!(
        claim(&store, &alice, "Alice", false).await,
        HandleClaimOutcome::Bound
    );
    assert_eq!(
        spelled(&store, "alice").await.as_deref(),
        Some("Alice"),
        "re-spelled"
    );
    assert_eq!(
        claim(&store, &alice, "Alice", true).await,
        HandleClaimOutcome::Bound
    );
    assert_eq!(
        claim(&store, &alice, "ALICE", false).await,
        HandleClaimOutcome::ProvenBindingNeedsProof {
            current: "Alice".into()
        },
        "a proven binding is re-spelled only with proof"
    );
    assert_eq!(holder(&store, "alice").await, Some((alice.system(), true)));
    assert_eq!(
        claim(&store, &alice, "alice", true).await,
        HandleClaimOutcome::Bound
    );
    assert_eq!(spelled(&store, "ALICE").await.as_deref(), Some("alice"));
    assert_eq!(holder(&store, "alice").await, Some((alice.system(), true)));

    assert_eq!(
        store
            .release_handle(alice.system())
            .await
            .expect("release")
            .as_deref(),
        Some("alice")
    );
    assert_eq!(
        claim(&store, &bob, "ALICE", false).await,
        HandleClaimOutcome::Bound,
        "free again in every case"
    );
    assert_eq!(holder(&store, "alice").await, Some((bob.system(), false)));
}

pub async fn handles_bind_move_and_refuse_taken_ones<S: Store>(store: S) {
    let (alice, bob) = (author(1, 1), author(2, 2));
    assert_eq!(
        claim(&store, &alice, "alice", false).await,
        HandleClaimOutcome::Bound
    );
    assert_eq!(holder(&store, "alice").await, Some((alice.system(), false)));
    assert_eq!(
        claim(&store, &bob, "alice", false).await,
        HandleClaimOutcome::Taken(alice.system())
    );
    assert_eq!(
        claim(&store, &alice, "alice2", false).await,
        HandleClaimOutcome::Bound
    );
    assert_eq!(
        holder(&store, "alice").await,
        None,
        "the old handle is released"
    );
    assert_eq!(
        claim(&store, &bob, "alice", false).await,
        HandleClaimOutcome::Bound
    );
    assert_eq!(holder(&store, "alice").await, Some((bob.system(), false)));
    assert_eq!(
        store.release_handle(bob.system()).await.expect("release"),
        Some("alice".into())
    );
    assert_eq!(holder(&store, "alice").await, None);
    assert_eq!(
        store.release_handle(bob.system()).await.expect("release"),
        None
    );
}

pub async fn proven_bindings_change_only_with_proof<S: Store>(store: S) {
    let (alice, bob) = (author(1, 1), author(2, 2));
    assert_eq!(
        claim(&store, &alice, "alice", true).await,
        HandleClaimOutcome::Bound
    );
    assert_eq!(
        claim(&store, &alice, "elsewhere", false).await,
        HandleClaimOutcome::ProvenBindingNeedsProof {
            current: "alice".into()
        }
    );
    assert_eq!(holder(&store, "elsewhere").await, None);
    assert_eq!(
        claim(&store, &bob, "alice", true).await,
        HandleClaimOutcome::Taken(alice.system())
    );
    // A repeated unsigned claim of the same handle changes nothing, proof included.
    assert_eq!(
        claim(&store, &alice, "alice", false).await,
        HandleClaimOutcome::Bound
    );
    assert_eq!(holder(&store, "alice").await, Some((alice.system(), true)));
    assert_eq!(
        claim(&store, &alice, "elsewhere", true).await,
        HandleClaimOutcome::Bound
    );
    assert_eq!(
        holder(&store, "elsewhere").await,
        Some((alice.system(), true))
    );
    assert_eq!(holder(&store, "alice").await, None);
}

/// Removing a system (purge) releases its handle with its events; refusing storage of a system
/// releases its handle and refuses any claim until the censorship is lifted. A weaker
/// censorship (do_not_recommend) does not touch handles.
pub async fn removed_and_refused_systems_hold_no_handle<S: Store>(store: S) {
    let (alice, bob, carol) = (author(1, 1), author(2, 2), author(3, 3));
    assert_eq!(
        claim(&store, &alice, "alice", true).await,
        HandleClaimOutcome::Bound
    );
    store.remove_system(alice.system()).await.expect("remove");
    assert_eq!(holder(&store, "alice").await, None, "removal releases it");

    assert_eq!(
        claim(&store, &bob, "bob", true).await,
        HandleClaimOutcome::Bound
    );
    store
        .censor(
            CensorTarget::System(bob.system()),
            CensorshipKind::RefuseStorage,
        )
        .await
        .expect("censor");
    assert_eq!(holder(&store, "bob").await, None, "refusal releases it");
    for proven in [false, true] {
        assert_eq!(
            claim(&store, &bob, "bob", proven).await,
            HandleClaimOutcome::SystemRefused
        );
        assert_eq!(holder(&store, "bob").await, None);
    }
    store
        .uncensor(CensorTarget::System(bob.system()))
        .await
        .expect("uncensor");
    assert_eq!(
        claim(&store, &bob, "bob", false).await,
        HandleClaimOutcome::Bound
    );

    assert_eq!(
        claim(&store, &carol, "carol", false).await,
        HandleClaimOutcome::Bound
    );
    store
        .censor(
            CensorTarget::System(carol.system()),
            CensorshipKind::DoNotRecommend,
        )
        .await
        .expect("censor");
    assert_eq!(holder(&store, "carol").await, Some((carol.system(), false)));
    assert_eq!(
        claim(&store, &carol, "carol2", false).await,
        HandleClaimOutcome::Bound
    );
}

fn claim_event(author: &mut Author, fields: &[(u64, &str)], unix_ms: u64) -> VerifiedEvent {
    let claim = wire::Claim {
        claim_type: 10,
        claim_fields: fields
            .iter()
            .map(|(key, value)| wire::ClaimFieldEntry {
                key: *key,
                value: (*value).to_owned(),
            })
            .collect(),
    };
    let draft = Draft {
        content_type: content::CLAIM,
        content: claim.encode_to_vec(),
        ..Draft::default()
    };
    author.publish(draft, unix_ms).expect("sign")
}

fn vouch_event(voucher: &mut Author, claim: &VerifiedEvent, unix_ms: u64) -> VerifiedEvent {
    let draft = Draft {
        content_type: content::VOUCH,
        references: vec![pointer_reference(&claim.pointer())],
        ..Draft::default()
    };
    voucher.publish(draft, unix_ms).expect("sign")
}

async fn resolved<S: Store>(store: &S, trust_root: PublicKey, value: &str) -> Vec<VouchedClaim> {
    store
        .resolve_claims(ClaimQuery {
            claim_type: 10,
            trust_root,
            fields: ClaimFieldMatch::AnyField(value.to_owned()),
            limit: 100,
        })
        .await
        .expect("resolve")
}

async fn pair<S: Store>(
    store: &S,
    claiming: PublicKey,
    vouching: PublicKey,
) -> Option<VouchedClaim> {
    store
        .find_claim_and_vouch(ClaimVouchQuery {
            claim_type: 10,
            claiming_system: claiming,
            vouching_system: vouching,
            fields: vec![(0, "gh-alice".into())],
        })
        .await
        .expect("find")
}

pub async fn claims_resolve_through_vouches_of_the_trust_root<S: Store>(store: S) {
    let (mut alice, mut verifier, mut other) = (author(1, 1), author(7, 7), author(8, 8));
    let claim = claim_event(&mut alice, &[(0, "gh-alice")], 100);
    let older = vouch_event(&mut verifier, &claim, 200);
    let newer = vouch_event(&mut verifier, &claim, 300);
    let foreign = vouch_event(&mut other, &claim, 400);
    ingest_new(&store, [&claim, &older, &newer, &foreign]).await;

    let found = resolved(&store, verifier.system(), "gh-alice").await;
    let vouches: Vec<_> = found.iter().map(|found| found.vouch.clone()).collect();
    assert_eq!(vouches, vec![newer.to_signed(), older.to_signed()]);
    assert!(found.iter().all(|found| found.claim == claim.to_signed()));
    assert!(
        resolved(&store, verifier.system(), "gh-bob")
            .await
            .is_empty()
    );
    assert!(
        resolved(&store, author(9, 9).system(), "gh-alice")
            .await
            .is_empty()
    );

    let latest = pair(&store, alice.system(), verifier.system()).await;
    assert_eq!(latest.map(|found| found.vouch), Some(newer.to_signed()));
    assert_eq!(pair(&store, verifier.system(), alice.system()).await, None);
}

/// A claim leaves both queries when it is deleted, and when its system is removed; a vouch
/// that is deleted stops vouching.
pub async fn claims_go_with_their_events<S: Store>(store: S) {
    let (mut alice, mut bob, mut verifier) = (author(1, 1), author(2, 2), author(7, 7));
    let alice_claim = claim_event(&mut alice, &[(0, "gh-alice")], 100);
    let bob_claim = claim_event(&mut bob, &[(0, "gh-alice")], 100);
    let alice_vouch = vouch_event(&mut verifier, &alice_claim, 200);
    let bob_vouch = vouch_event(&mut verifier, &bob_claim, 300);
    ingest_new(&store, [&alice_claim, &bob_claim, &alice_vouch, &bob_vouch]).await;
    assert_eq!(
        resolved(&store, verifier.system(), "gh-alice").await.len(),
        2
    );

    let delete = alice.delete(&alice_claim, 400).expect("delete");
    ingest_new(&store, [&delete]).await;
    let left = resolved(&store, verifier.system(), "gh-alice").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].claim, bob_claim.to_signed());
    assert_eq!(pair(&store, alice.system(), verifier.system()).await, None);

    store.remove_system(bob.system()).await.expect("remove");
    assert!(
        resolved(&store, verifier.system(), "gh-alice")
            .await
            .is_empty()
    );

    let mut carol = author(3, 3);
    let carol_claim = claim_event(&mut carol, &[(0, "gh-alice")], 500);
    let carol_vouch = vouch_event(&mut verifier, &carol_claim, 600);
    ingest_new(&store, [&carol_claim, &carol_vouch]).await;
    assert_eq!(
        resolved(&store, verifier.system(), "gh-alice").await.len(),
        1
    );
    let unvouch = verifier.delete(&carol_vouch, 700).expect("delete");
    ingest_new(&store, [&unvouch]).await;
    assert!(
        resolved(&store, verifier.system(), "gh-alice")
            .await
            .is_empty()
    );
}
