//! Arbitrary input to every parser of untrusted bytes in the protocol crate: signed events,
//! references, DELETE bodies, the content rules (device statements and edits included), share
//! links and key texts. Each must answer garbage with an error, never panic, and read a mutated
//! valid input either as an error or as a value that encodes back to what it read.

use agora_protocol::author::{Author, Draft, pointer_reference};
use agora_protocol::content::{self, POST_TEXT_BYTES_MAX};
use agora_protocol::links::Link;
use agora_protocol::{Process, encoding};
use agora_protocol::{PublicKey, Reference, SecretKey, VerifiedEvent, devices, edits, wire};
use proptest::collection::vec;
use proptest::prelude::*;
use prost::Message as _;

/// Cases per property: enough to reach the branches of each parser, few enough that the whole
/// file runs in a second or two.
const CASES: u32 = 256;

// The testnet's mutations, by source: this crate cannot depend on the testnet, which depends
// on it.
#[path = "../../../testnet/src/arbitrary.rs"]
mod arbitrary;
use arbitrary::{mutate, mutate_text, mutations};

fn author(seed: u8) -> Author {
    Author::new(
        SecretKey::from_seed(&[seed; 32]),
        Process::from_bytes(&[seed; 16]).expect("16"),
    )
}

/// The kinds of valid event the mutations start from: one of each body the protocol reads.
const SAMPLE_KINDS: usize = 10;

/// A valid event of kind `kind`, and the key that signed it.
fn sample(kind: usize, text: &str) -> (SecretKey, VerifiedEvent) {
    let mut identity = author(1);
    let mut device = author(2);
    let post = identity.post("the post", 10).expect("sign");
    let accept = device
        .publish(devices::acceptance_draft(&identity.system()), 11)
        .expect("sign");
    let (signer, event) = match kind {
        0 => (&mut identity, post_draft(text)),
        1 => (&mut identity, reply_draft(text, &post)),
        2 => (&mut identity, delete_draft(&post)),
        3 => (&mut identity, element(content::USERNAME, text)),
        4 => (&mut identity, opinion_draft(&post)),
        5 => (&mut device, devices::acceptance_draft(&identity.system())),
        6 => (&mut identity, devices::authorization_draft(&accept, text)),
        7 => (
            &mut identity,
            devices::revocation_draft(&accept, &[(device.process(), 3)]),
        ),
        8 => (&mut identity, edits::edit_draft(&post.pointer(), text)),
        _ => (&mut identity, follow_draft(&device.system())),
    };
    let secret = SecretKey::from_seed(signer.secret().seed());
    let event = signer.publish(event, 12).expect("sign");
    (secret, event)
}

fn post_draft(text: &str) -> Draft {
    Draft {
        content_type: content::POST,
        content: wire::Post {
            content: Some(text.to_owned()),
            image: None,
        }
        .encode_to_vec(),
        ..Draft::default()
    }
}

fn reply_draft(text: &str, parent: &VerifiedEvent) -> Draft {
    Draft {
        references: vec![pointer_reference(&parent.pointer())],
        ..post_draft(text)
    }
}

fn delete_draft(target: &VerifiedEvent) -> Draft {
    let delete = wire::Delete {
        process: Some(target.process().to_wire()),
        logical_clock: target.logical_clock(),
        indices: target.event().indices.clone(),
        unix_milliseconds: target.unix_milliseconds(),
        content_type: target.content_type(),
    };
    Draft {
        content_type: content::DELETE,
        content: delete.encode_to_vec(),
        ..Draft::default()
    }
}

fn element(content_type: u64, text: &str) -> Draft {
    Draft {
        content_type,
        lww_element: Some(wire::LwwElement {
            value: text.as_bytes().to_vec().into(),
            unix_milliseconds: 12,
        }),
        ..Draft::default()
    }
}

fn opinion_draft(subject: &VerifiedEvent) -> Draft {
    Draft {
        references: vec![pointer_reference(&subject.pointer())],
        ..element(content::OPINION, "\u{1}")
    }
}

fn follow_draft(system: &PublicKey) -> Draft {
    Draft {
        content_type: content::FOLLOW,
        lww_element_set: Some(wire::LwwElementSet {
            operation: wire::lww_element_set::Operation::Add.into(),
            value: system.to_wire().encode_to_vec().into(),
            unix_milliseconds: 12,
        }),
        ..Draft::default()
    }
}

fn samples() -> impl Strategy<Value = (SecretKey, VerifiedEvent)> {
    (0..SAMPLE_KINDS, "[a-z ]{0,24}").prop_map(|(kind, text)| sample(kind, &text))
}

/// Signs `event` as is: content the author never checked, as a hostile publisher sends it.
fn signed(secret: &SecretKey, event: &wire::Event) -> VerifiedEvent {
    VerifiedEvent::sign(secret, event).expect("structure is valid; only content changed")
}

/// The content types whose bodies the content rules read.
fn checked_types() -> impl Strategy<Value = u64> {
    prop::sample::select(vec![
        content::DELETE,
        content::POST,
        content::USERNAME,
        content::DESCRIPTION,
        content::STORE,
        content::OPINION,
        content::SERVER,
        content::AUTHORITY,
        content::CLAIM,
        content::DEVICE_ACCEPT,
        content::DEVICE_AUTHORIZE,
        content::DEVICE_REVOKE,
        content::POST_EDIT,
        77,
    ])
}

fn references() -> impl Strategy<Value = Vec<wire::Reference>> {
    let pointer = pointer_reference(&sample(0, "target").1.pointer());
    let one = prop_oneof![
        Just(pointer),
        vec(any::<u8>(), 0..40).prop_map(|bytes| wire::Reference {
            reference_type: content::REFERENCE_BYTES,
            reference: bytes.into(),
        }),
    ];
    vec(one, 0..3)
}

/// What every accepted body must also satisfy: the narrower readers agree with the rules, so a
/// value the rules let in is one every later reader can use.
fn check_agrees(event: &VerifiedEvent) -> Result<(), TestCaseError> {
    let checked = content::check(event, POST_TEXT_BYTES_MAX);
    let delete = event.delete_body();
    if event.content_type() != content::DELETE {
        prop_assert_eq!(delete, Ok(None));
    } else if checked.is_ok() {
        let body = delete.expect("an accepted DELETE has a readable body");
        prop_assert!(body.is_some());
    }
    let Err(reason) = checked else {
        return accepted_reads_back(event);
    };
    prop_assert!(!reason.is_empty());
    Ok(())
}

/// An accepted event reads back whole, and the parsed device statements encode back to
/// statements that read the same.
fn accepted_reads_back(event: &VerifiedEvent) -> Result<(), TestCaseError> {
    match event.content_type() {
        content::POST => {
            let post = wire::Post::decode(event.event().content.clone()).expect("post body");
            prop_assert!(post.content.expect("text").len() <= POST_TEXT_BYTES_MAX);
        }
        content::POST_EDIT => {
            prop_assert!(edits::edit_target(event).is_some());
            prop_assert!(edits::edit_text(event).is_some());
        }
        content::DEVICE_AUTHORIZE => {
            let read = devices::authorization(event).expect("accepted");
            prop_assert_eq!(read.identity, *event.system());
            let again = devices::authorization_draft(&read.acceptance, &read.name);
            let again = resign(event, again.content);
            let again = devices::authorization(&again).expect("re-encoded");
            prop_assert_eq!((again.device, again.name), (read.device, read.name));
        }
        content::DEVICE_REVOKE => {
            let read = devices::revocation(event).expect("accepted");
            let again = devices::revocation_draft(&read.acceptance, &read.bounds);
            let again = resign(event, again.content);
            let again = devices::revocation(&again).expect("re-encoded");
            prop_assert_eq!((again.device, again.bounds), (read.device, read.bounds));
        }
        _ => {}
    }
    Ok(())
}

/// `event` with `content`, signed again by the same key (every signer here has seed 1 or 2).
fn resign(event: &VerifiedEvent, content: Vec<u8>) -> VerifiedEvent {
    let secret = [1u8, 2]
        .into_iter()
        .map(|seed| SecretKey::from_seed(&[seed; 32]))
        .find(|secret| secret.public_key() == *event.system())
        .expect("a signer of the samples");
    let mut wire = event.event().clone();
    wire.content = content.into();
    signed(&secret, &wire)
}

fn base64_alphabet(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_' | '=')
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn arbitrary_bytes_never_verify(bytes in vec(any::<u8>(), 0..600)) {
        prop_assert!(VerifiedEvent::verify_bytes(&bytes).is_err());
    }

    #[test]
    fn arbitrary_event_bytes_never_verify_under_any_signature(
        event in vec(any::<u8>(), 0..600),
        signature in prop_oneof![vec(any::<u8>(), 64), vec(any::<u8>(), 0..80)],
    ) {
        let signed = wire::SignedEvent {
            signature: signature.into(),
            event: event.into(),
            moderation_tags: Vec::new(),
        };
        prop_assert!(VerifiedEvent::verify(&signed).is_err());
    }

    #[test]
    fn mutated_event_bytes_never_verify((_, event) in samples(), changes in mutations()) {
        let signed = event.to_signed();
        let bytes = mutate(&signed.event, &changes);
        let tampered = wire::SignedEvent { event: bytes.clone().into(), ..signed.clone() };
        let result = VerifiedEvent::verify(&tampered);
        if bytes == signed.event {
            prop_assert!(result.is_ok());
        } else {
            prop_assert!(result.is_err(), "a changed event verified");
        }
    }

    #[test]
    fn mutated_signed_events_verify_only_as_what_was_signed(
        (_, event) in samples(),
        changes in mutations(),
    ) {
        let bytes = mutate(&event.to_signed().encode_to_vec(), &changes);
        if let Ok(read) = VerifiedEvent::verify_bytes(&bytes) {
            prop_assert_eq!(read.event_bytes(), event.event_bytes());
            prop_assert_eq!(read.signature(), event.signature());
            let again = VerifiedEvent::verify_bytes(&read.to_signed().encode_to_vec())
                .expect("re-encodes");
            prop_assert_eq!(again.event_bytes(), event.event_bytes());
        }
    }

    #[test]
    fn content_rules_name_what_is_wrong_with_arbitrary_bodies(
        content_type in checked_types(),
        body in vec(any::<u8>(), 0..300),
        value in proptest::option::of(vec(any::<u8>(), 0..40)),
        references in references(),
    ) {
        let secret = SecretKey::from_seed(&[1; 32]);
        let mut event = sample(0, "x").1.event().clone();
        event.content_type = content_type;
        event.content = body.into();
        event.references = references;
        event.lww_element = value.clone().map(|value| wire::LwwElement {
            value: value.into(),
            unix_milliseconds: 1,
        });
        event.lww_element_set = value.map(|value| wire::LwwElementSet {
            operation: 0,
            value: value.into(),
            unix_milliseconds: 1,
        });
        let event = signed(&secret, &event);
        check_agrees(&event)?;
        if matches!(content_type, content::DEVICE_AUTHORIZE | content::DEVICE_REVOKE) {
            // Arbitrary bytes cannot hold the device's signed acceptance.
            prop_assert!(content::check(&event, POST_TEXT_BYTES_MAX).is_err());
        }
    }

    #[test]
    fn content_rules_read_mutated_bodies_cleanly(
        (secret, event) in samples(),
        changes in mutations(),
    ) {
        prop_assert_eq!(content::check(&event, POST_TEXT_BYTES_MAX), Ok(()));
        let mut wire = event.event().clone();
        wire.content = mutate(&wire.content, &changes).into();
        check_agrees(&signed(&secret, &wire))?;
    }

    #[test]
    fn arbitrary_references_parse_or_are_named(
        reference_type in 0u64..6,
        bytes in vec(any::<u8>(), 0..120),
    ) {
        let wire = wire::Reference { reference_type, reference: bytes.clone().into() };
        match Reference::parse(&wire) {
            Ok(Reference::Bytes(read)) => {
                prop_assert_eq!(reference_type, content::REFERENCE_BYTES);
                prop_assert_eq!(read.to_vec(), bytes);
            }
            Ok(other) => prop_assert!(false, "garbage parsed as {other:?}"),
            Err(reason) => {
                prop_assert!(!reason.is_empty());
                prop_assert_ne!(reference_type, content::REFERENCE_BYTES);
            }
        }
    }

    #[test]
    fn mutated_references_parse_to_what_they_encode(
        (_, event) in samples(),
        as_system in any::<bool>(),
        changes in mutations(),
    ) {
        let valid = if as_system {
            wire::Reference {
                reference_type: content::REFERENCE_SYSTEM,
                reference: event.system().to_wire().encode_to_vec().into(),
            }
        } else {
            pointer_reference(&event.pointer())
        };
        let wire = wire::Reference {
            reference: mutate(&valid.reference, &changes).into(),
            ..valid
        };
        let again = match Reference::parse(&wire) {
            Ok(Reference::System(system)) => wire::Reference {
                reference_type: content::REFERENCE_SYSTEM,
                reference: system.to_wire().encode_to_vec().into(),
            },
            Ok(Reference::Pointer(pointer)) => pointer_reference(&pointer),
            Ok(Reference::Bytes(_)) => unreachable!("the type was kept"),
            Err(reason) => {
                prop_assert!(!reason.is_empty());
                return Ok(());
            }
        };
        prop_assert_eq!(Reference::parse(&again), Reference::parse(&wire));
    }

    #[test]
    fn arbitrary_text_is_not_a_link(text in any::<String>()) {
        prop_assert!(Link::parse(&text).is_err());
    }

    #[test]
    fn arbitrary_base64url_is_not_a_link(text in "(polycentric://)?[A-Za-z0-9_-]{0,160}") {
        prop_assert!(Link::parse(&text).is_err());
    }

    #[test]
    fn mutated_links_read_as_what_they_encode(
        (_, event) in samples(),
        as_event in any::<bool>(),
        servers in vec("[a-z:/.0-9]{0,20}", 0..3),
        changes in mutations(),
        in_text in any::<bool>(),
    ) {
        let link = if as_event {
            Link::Event {
                system: *event.system(),
                process: *event.process(),
                logical_clock: event.logical_clock(),
                servers,
            }
        } else {
            Link::System { system: *event.system(), servers }
        };
        let url = link.to_url();
        let text = if in_text {
            mutate_text(&url, &changes)
        } else {
            let encoded = url.trim_start_matches("polycentric://");
            let bytes = encoding::base64url_decode(encoded).expect("valid");
            encoding::base64url_encode(&mutate(&bytes, &changes))
        };
        if let Ok(read) = Link::parse(&text) {
            prop_assert_eq!(Link::parse(&read.to_url()).expect("re-encodes"), read);
        }
    }

    #[test]
    fn key_texts_are_keys_that_print_back_or_errors(text in any::<String>()) {
        let garbage = text.trim().chars().any(|c| !base64_alphabet(c));
        for read in [PublicKey::parse_text(&text), PublicKey::from_query_param(&text)] {
            match read {
                Ok(key) => {
                    prop_assert!(!garbage);
                    prop_assert_eq!(PublicKey::parse_text(&key.to_string()), Ok(key));
                    prop_assert_eq!(PublicKey::from_query_param(&key.to_query_param()), Ok(key));
                }
                Err(error) => prop_assert!(!error.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn mutated_key_texts_are_keys_that_print_back_or_errors(
        (_, event) in samples(),
        form in 0usize..3,
        changes in mutations(),
    ) {
        let system = event.system();
        let text = match form {
            0 => system.to_string(),
            1 => system.to_query_param(),
            _ => encoding::base64_standard_encode(&system.to_wire().encode_to_vec()),
        };
        let text = mutate_text(&text, &changes);
        for key in [PublicKey::parse_text(&text), PublicKey::from_query_param(&text)]
            .into_iter()
            .flatten()
        {
            prop_assert_eq!(PublicKey::parse_text(&key.to_string()), Ok(key));
            prop_assert_eq!(PublicKey::from_query_param(&key.to_query_param()), Ok(key));
        }
    }
}
