//! `prepare_batch`: each bad event of a batch is refused with a reason naming the problem,
//! while the valid events around it pass, in batch order.

use agora_protocol::author::{Author, Draft};
use agora_protocol::{content, wire};
use agora_store::{IngestLimits, prepare_batch};
use bytes::Bytes;

use crate::conformance::support::author;

/// What `prepare_batch` must answer for one event.
enum Expect {
    Pass,
    /// Refused, with a reason containing this text.
    Refuse(&'static str),
}

/// Runs one batch of (description, event, expectation) and checks every answer.
fn check(cases: Vec<(&str, wire::SignedEvent, Expect)>, limits: IngestLimits) {
    let batch = cases.iter().map(|(_, signed, _)| signed.clone()).collect();
    let results = prepare_batch(batch, limits);
    assert_eq!(results.len(), cases.len());
    for ((what, signed, expect), result) in cases.iter().zip(results) {
        match (expect, result) {
            (Expect::Pass, Ok(verified)) => {
                assert_eq!(verified.event_bytes(), &signed.event, "{what}: bytes kept");
            }
            (Expect::Refuse(needle), Err(reason)) => {
                assert!(
                    reason.contains(needle),
                    "{what}: reason {reason:?} should name {needle:?}"
                );
            }
            (Expect::Pass, Err(reason)) => panic!("{what}: refused with {reason:?}"),
            (Expect::Refuse(needle), Ok(_)) => panic!("{what}: passed, expected {needle:?}"),
        }
    }
}

fn post(author: &mut Author, text: &str) -> wire::SignedEvent {
    author.post(text, 100).expect("post").to_signed()
}

fn post_without_content(author: &mut Author) -> wire::SignedEvent {
    let draft = Draft {
        content_type: content::POST,
        content: prost::Message::encode_to_vec(&wire::Post {
            content: None,
            image: None,
        }),
        ..Draft::default()
    };
    author.publish(draft, 100).expect("publish").to_signed()
}

fn blob_section(author: &mut Author, bytes: usize) -> wire::SignedEvent {
    let draft = Draft {
        content_type: content::BLOB_SECTION,
        content: vec![7; bytes],
        ..Draft::default()
    };
    author.publish(draft, 100).expect("publish").to_signed()
}

fn with_flipped_signature(mut signed: wire::SignedEvent) -> wire::SignedEvent {
    let mut signature = signed.signature.to_vec();
    signature[0] ^= 1;
    signed.signature = signature.into();
    signed
}

#[test]
fn bad_events_are_refused_by_name_and_valid_ones_pass() {
    let mut alice = author(1, 1);
    let mut mallory = author(9, 9);
    let limits = IngestLimits {
        event_bytes_max: 20_000,
        post_text_bytes_max: 10_000,
    };
    let target = alice.post("to delete", 100).expect("post");
    let delete = alice.delete(&target, 110).expect("delete");
    let delete_of_delete = alice.delete(&delete, 120).expect("delete").to_signed();
    let mut forged = post(&mut mallory, "what mallory signed");
    forged.event = post(&mut mallory, "what mallory claims").event;
    let mut short_signature = post(&mut alice, "short signature");
    short_signature.signature = Bytes::from_static(&[1; 10]);

    check(
        vec![
            ("valid post", post(&mut alice, "hello"), Expect::Pass),
            (
                "bad signature",
                with_flipped_signature(post(&mut alice, "tampered")),
                Expect::Refuse("signature does not verify"),
            ),
            (
                "bytes not signed",
                forged,
                Expect::Refuse("signature does not verify"),
            ),
            (
                "short signature",
                short_signature,
                Expect::Refuse("signature must be 64 bytes"),
            ),
            (
                "blob under limit",
                blob_section(&mut alice, 19_000),
                Expect::Pass,
            ),
            (
                "oversized event",
                blob_section(&mut alice, 30_000),
                Expect::Refuse("over the limit of 20000"),
            ),
            (
                "post of 10 000 bytes",
                post(&mut alice, &"a".repeat(10_000)),
                Expect::Pass,
            ),
            (
                "post of 10 001 bytes",
                post(&mut alice, &"a".repeat(10_001)),
                Expect::Refuse("post text is 10001 bytes"),
            ),
            (
                "post of 3 334 three-byte characters",
                post(&mut alice, &"€".repeat(3_334)),
                Expect::Refuse("post text is 10002 bytes"),
            ),
            (
                "post without content",
                post_without_content(&mut alice),
                Expect::Refuse("no content"),
            ),
            (
                "delete of a delete",
                delete_of_delete,
                Expect::Refuse("cannot target another delete"),
            ),
            ("valid delete", delete.to_signed(), Expect::Pass),
            ("valid last post", post(&mut alice, "bye"), Expect::Pass),
        ],
        limits,
    );
}

#[test]
fn default_limits_pass_a_full_blob_section_and_refuse_long_posts() {
    let mut alice = author(1, 1);
    check(
        vec![
            (
                "512 KiB blob section",
                blob_section(&mut alice, 512 * 1024),
                Expect::Pass,
            ),
            (
                "post of 10 001 bytes",
                post(&mut alice, &"a".repeat(10_001)),
                Expect::Refuse("over the limit of 10000"),
            ),
            ("valid post", post(&mut alice, "hello"), Expect::Pass),
        ],
        IngestLimits::default(),
    );
}
