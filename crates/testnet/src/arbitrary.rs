//! Hostile input for property tests: arbitrary changes to valid bytes or text, so a parser is
//! fed both garbage and inputs that get past its first checks.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

/// One change to a valid input, at a position chosen as a fraction of its length.
#[derive(Clone, Debug)]
pub enum Mutation {
    Set(Index, u8),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    Truncate(Index),
}

/// One to three changes.
pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set(at, byte)),
        (any::<Index>(), vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<Index>(), 1usize..16).prop_map(|(at, count)| Mutation::Remove(at, count)),
        any::<Index>().prop_map(Mutation::Truncate),
    ];
    vec(one, 1..4)
}

/// `bytes` with `mutations` applied in order.
pub fn mutate(bytes: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    for mutation in mutations {
        match mutation {
            Mutation::Set(at, byte) if !bytes.is_empty() => {
                let at = at.index(bytes.len());
                bytes[at] = *byte;
            }
            Mutation::Insert(at, inserted) => {
                let at = at.index(bytes.len() + 1);
                bytes.splice(at..at, inserted.iter().copied());
            }
            Mutation::Remove(at, count) if !bytes.is_empty() => {
                let at = at.index(bytes.len());
                let end = (at + count).min(bytes.len());
                bytes.drain(at..end);
            }
            Mutation::Truncate(at) => {
                let at = at.index(bytes.len() + 1);
                bytes.truncate(at);
            }
            Mutation::Set(..) | Mutation::Remove(..) => {}
        }
    }
    bytes
}

/// `text` with `mutations` applied to its UTF-8 bytes, read back lossily.
pub fn mutate_text(text: &str, mutations: &[Mutation]) -> String {
    String::from_utf8_lossy(&mutate(text.as_bytes(), mutations)).into_owned()
}
