//! Golden vectors: a fixed seed and fixed events produce fixed bytes, signatures and digests.
//! Ed25519 signing is deterministic, so any change in encoding or signing shows up here.

use agora_protocol::{Process, SecretKey, VerifiedEvent, content, wire};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn fixed_event(content_type: u64, content: &[u8], clock: u64) -> wire::Event {
    let secret = SecretKey::from_seed(&[0x42; 32]);
    wire::Event {
        system: Some(secret.public_key().to_wire()),
        process: Some(
            Process::from_bytes(&[0x07; 16])
                .expect("16 bytes")
                .to_wire(),
        ),
        logical_clock: clock,
        content_type,
        content: content.to_vec().into(),
        vector_clock: Some(wire::VectorClock::default()),
        indices: Some(wire::Indices::default()),
        unix_milliseconds: Some(1_700_000_000_000),
        ..Default::default()
    }
}

struct Golden {
    event_hex: &'static str,
    signature_hex: &'static str,
    digest_hex: &'static str,
}

fn check(event: &wire::Event, expected: &Golden) {
    let signed = VerifiedEvent::sign(&SecretKey::from_seed(&[0x42; 32]), event).expect("signs");
    assert_eq!(hex(signed.event_bytes()), expected.event_hex, "event bytes");
    assert_eq!(hex(signed.signature()), expected.signature_hex, "signature");
    assert_eq!(
        hex(signed.digest().as_bytes()),
        expected.digest_hex,
        "digest"
    );
}

#[test]
fn public_key_of_fixed_seed() {
    let key = SecretKey::from_seed(&[0x42; 32]).public_key();
    assert_eq!(hex(key.as_bytes()), GOLDEN_PUBLIC_KEY);
}

#[test]
fn post_event_vector() {
    let post = wire::Post {
        content: Some("hello agora".into()),
        image: None,
    };
    let event = fixed_event(content::POST, &prost::Message::encode_to_vec(&post), 1);
    check(&event, &GOLDEN_POST);
}

#[test]
fn username_event_vector() {
    let mut event = fixed_event(content::USERNAME, &[], 2);
    event.lww_element = Some(wire::LwwElement {
        value: b"alice".to_vec().into(),
        unix_milliseconds: 1_700_000_000_000,
    });
    event.indices = Some(wire::Indices {
        indices: vec![wire::Index {
            index_type: content::POST,
            logical_clock: 1,
        }],
    });
    check(&event, &GOLDEN_USERNAME);
}

const GOLDEN_PUBLIC_KEY: &str = "2152f8d19b791d24453242e15f2eab6cb7cffa7b6a5ed30097960e069881db12";
const GOLDEN_POST: Golden = Golden {
    event_hex: "0a24080112202152f8d19b791d24453242e15f2eab6cb7cffa7b6a5ed30097960e069881db1212120a1007070707070707070707070707070707180120032a0d0a0b68656c6c6f2061676f726132003a005880d095ffbc31",
    signature_hex: "1e7f1e5b72f78316c2ae353e3b4ceebe2686cd2ba80c29244b310c13f4f4d7d62ab6ec1c5c79b097fbd15984d1b2961986568dc9462e4171b048a066d1fa0404",
    digest_hex: "dfc95420af6226d40bcca50efefdc4c24509eceb389f99b5c59db8c2c531c83c",
};
const GOLDEN_USERNAME: Golden = Golden {
    event_hex: "0a24080112202152f8d19b791d24453242e15f2eab6cb7cffa7b6a5ed30097960e069881db1212120a10070707070707070707070707070707071802200532003a060a04080310014a0e0a05616c6963651080d095ffbc315880d095ffbc31",
    signature_hex: "9c2f69ab4230576f21d3bc79443178f1340f55d396cef780eea3541b3d197a9f6c7b30893cc24adb9f13b23af6588707362121ab97a7b8f2b08f1f45dbd25308",
    digest_hex: "29cefc81fe8c6c01be2631b959244eee2c63b17b985b81698494fef3a0baf578",
};
