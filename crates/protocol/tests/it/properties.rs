//! Property tests: any event signs and verifies; any change to its bytes or signature is caught.

use agora_protocol::{EventError, Process, SecretKey, VerifiedEvent, wire};
use proptest::prelude::*;
use prost::Message as _;

fn event_strategy() -> impl Strategy<Value = (u8, wire::Event)> {
    (
        any::<u8>(),
        any::<[u8; 16]>(),
        1u64..u64::MAX,
        0u64..40,
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec(any::<u64>(), 0..5),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(
            |(seed, process, clock, content_type, content, clocks, ms)| {
                let secret = SecretKey::from_seed(&[seed; 32]);
                let event = wire::Event {
                    system: Some(secret.public_key().to_wire()),
                    process: Some(Process::from_bytes(&process).expect("16").to_wire()),
                    logical_clock: clock,
                    content_type,
                    content: content.into(),
                    vector_clock: Some(wire::VectorClock {
                        logical_clocks: clocks,
                    }),
                    indices: Some(wire::Indices::default()),
                    unix_milliseconds: ms,
                    ..Default::default()
                };
                (seed, event)
            },
        )
}

proptest! {
    #[test]
    fn signed_events_round_trip_through_the_wire((seed, event) in event_strategy()) {
        let secret = SecretKey::from_seed(&[seed; 32]);
        let signed = VerifiedEvent::sign(&secret, &event).expect("signs");
        let wire_bytes = signed.to_signed().encode_to_vec();
        let again = VerifiedEvent::verify_bytes(&wire_bytes).expect("verifies");
        prop_assert_eq!(again.event_bytes(), signed.event_bytes());
        prop_assert_eq!(again.event(), &event);
        prop_assert_eq!(again.pointer(), signed.pointer());
    }

    #[test]
    fn any_flipped_bit_is_refused((seed, event) in event_strategy(), position in any::<prop::sample::Index>(), bit in 0u8..8) {
        let secret = SecretKey::from_seed(&[seed; 32]);
        let signed = VerifiedEvent::sign(&secret, &event).expect("signs").to_signed();
        let mut tampered_event = signed.event.to_vec();
        let at = position.index(tampered_event.len());
        tampered_event[at] ^= 1 << bit;
        let tampered = wire::SignedEvent { event: tampered_event.into(), ..signed.clone() };
        prop_assert!(VerifiedEvent::verify(&tampered).is_err());

        let mut tampered_signature = signed.signature.to_vec();
        let at = position.index(tampered_signature.len());
        tampered_signature[at] ^= 1 << bit;
        let tampered = wire::SignedEvent { signature: tampered_signature.into(), ..signed };
        prop_assert!(VerifiedEvent::verify(&tampered).is_err());
    }
}

#[test]
fn events_signed_by_another_key_are_refused() {
    let author = SecretKey::from_seed(&[1; 32]);
    let forger = SecretKey::from_seed(&[2; 32]);
    let event = wire::Event {
        system: Some(author.public_key().to_wire()),
        process: Some(Process::from_bytes(&[0; 16]).expect("16").to_wire()),
        logical_clock: 1,
        vector_clock: Some(wire::VectorClock::default()),
        indices: Some(wire::Indices::default()),
        ..Default::default()
    };
    let bytes = event.encode_to_vec();
    let forged = wire::SignedEvent {
        signature: forger.sign(&bytes).to_vec().into(),
        event: bytes.into(),
        moderation_tags: vec![],
    };
    assert_eq!(
        VerifiedEvent::verify(&forged).map(|_| ()),
        Err(EventError::BadSignature)
    );
}

#[test]
fn missing_vector_clock_and_indices_are_named() {
    let secret = SecretKey::from_seed(&[1; 32]);
    let mut event = wire::Event {
        system: Some(secret.public_key().to_wire()),
        process: Some(Process::from_bytes(&[0; 16]).expect("16").to_wire()),
        logical_clock: 1,
        indices: Some(wire::Indices::default()),
        ..Default::default()
    };
    let error = VerifiedEvent::sign(&secret, &event).expect_err("no vector clock");
    assert_eq!(error.to_string(), "event is missing vector_clock");
    event.vector_clock = Some(wire::VectorClock::default());
    event.indices = None;
    let error = VerifiedEvent::sign(&secret, &event).expect_err("no indices");
    assert_eq!(error.to_string(), "event is missing indices");
}
