//! Recovery words (docs/protocol.md, "Devices"): an identity's root key written as the 24 words
//! of a BIP-39 English mnemonic, whose last word carries a checksum, and the pairing
//! confirmation words both devices show.

use agora_protocol::devices::confirmation_indices;
use agora_protocol::{PublicKey, SecretKey};
use bip39::{Language, Mnemonic};
use zeroize::Zeroizing;

use crate::{Client, ClientError};

/// How many recovery words there are: 256 bits of key and 8 of checksum, 11 bits a word.
pub const RECOVERY_WORDS: usize = 24;

/// Why recovery words were not accepted. No variant holds the words themselves.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecoveryError {
    #[error("expected {RECOVERY_WORDS} recovery words, got {0}")]
    WordCount(usize),
    #[error(
        "word {position} ({word:?}) is not in the BIP-39 English word list{}",
        suggestion.as_ref().map(|s| format!("; did you mean {s:?}?")).unwrap_or_default()
    )]
    UnknownWord {
        position: usize,
        word: String,
        suggestion: Option<String>,
    },
    #[error(
        "the words do not check out (BIP-39 checksum): one is mistyped or out of order; \
         compare them with your copy"
    )]
    Checksum,
}

/// The root key as recovery words, space-separated.
pub fn recovery_words(secret: &SecretKey) -> Zeroizing<String> {
    // 32 bytes is a valid BIP-39 entropy length, so this cannot fail.
    let words = Mnemonic::from_entropy_in(Language::English, secret.seed())
        .map(|mnemonic| mnemonic.to_string())
        .unwrap_or_default();
    Zeroizing::new(words)
}

/// The root key that recovery words stand for. Case and extra white space do not matter.
pub fn secret_from_words(text: &str) -> Result<SecretKey, RecoveryError> {
    let lowered = Zeroizing::new(text.to_lowercase());
    let words: Vec<&str> = lowered.split_whitespace().collect();
    if words.len() != RECOVERY_WORDS {
        return Err(RecoveryError::WordCount(words.len()));
    }
    let list = Language::English.word_list();
    for (index, word) in words.iter().enumerate() {
        if list.binary_search(word).is_err() {
            return Err(RecoveryError::UnknownWord {
                position: index + 1,
                word: (*word).to_owned(),
                suggestion: closest_word(word),
            });
        }
    }
    let joined = Zeroizing::new(words.join(" "));
    let mnemonic = Mnemonic::parse_in_normalized(Language::English, &joined)
        .map_err(|_| RecoveryError::Checksum)?;
    let (entropy, length) = mnemonic.to_entropy_array();
    let entropy = Zeroizing::new(entropy);
    let seed: [u8; 32] = entropy[..length]
        .try_into()
        .map_err(|_| RecoveryError::WordCount(words.len()))?;
    let seed = Zeroizing::new(seed);
    Ok(SecretKey::from_seed(&seed))
}

/// The words both devices show while pairing `device` to `identity`.
pub fn confirmation_words(identity: &PublicKey, device: &PublicKey) -> String {
    let list = Language::English.word_list();
    confirmation_indices(identity, device)
        .iter()
        .map(|index| list[*index as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

/// A listed word one letter away from `word`, if exactly one is (the usual typo).
fn closest_word(word: &str) -> Option<String> {
    let close: Vec<&str> = Language::English
        .word_list()
        .iter()
        .copied()
        .filter(|candidate| one_edit_apart(word, candidate))
        .collect();
    match close.as_slice() {
        [only] => Some((*only).to_owned()),
        _ => None,
    }
}

fn one_edit_apart(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    match long.len() - short.len() {
        0 => short.iter().zip(long).filter(|(x, y)| x != y).count() == 1,
        1 => (0..long.len()).any(|skip| {
            long.iter()
                .enumerate()
                .filter(|(index, _)| *index != skip)
                .map(|(_, c)| c)
                .eq(short.iter())
        }),
        _ => false,
    }
}

impl Client {
    /// The identity's recovery words. Needs the root key.
    pub fn recovery_words(&self) -> Result<Zeroizing<String>, ClientError> {
        if !self.holds_root() {
            return Err(ClientError::NotRoot("show the recovery words".to_owned()));
        }
        let seed = self.secret_seed();
        Ok(recovery_words(&SecretKey::from_seed(&seed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_to_the_same_key() {
        let secret = SecretKey::generate();
        let words = recovery_words(&secret);
        assert_eq!(words.split(' ').count(), RECOVERY_WORDS);
        let back = secret_from_words(&words.to_uppercase()).expect("valid words");
        assert_eq!(back.public_key(), secret.public_key());
    }

    #[test]
    fn a_swapped_or_mistyped_word_is_caught() {
        let secret = SecretKey::from_seed(&[7; 32]);
        let words = recovery_words(&secret);
        // Another valid word in the first place: only the checksum can tell. (A fixed key, so
        // the one replacement in 256 that keeps the 8-bit checksum is not drawn by chance.)
        let mut list: Vec<&str> = words.split(' ').collect();
        assert_ne!(list[0], "zoo");
        list[0] = "zoo";
        assert_eq!(
            secret_from_words(&list.join(" ")).err(),
            Some(RecoveryError::Checksum)
        );
        let mut swapped: Vec<&str> = words.split(' ').collect();
        swapped.swap(0, 1);
        assert_ne!(swapped.join(" "), *words);
        assert_eq!(
            secret_from_words(&swapped.join(" ")).err(),
            Some(RecoveryError::Checksum)
        );

        let mut typo: Vec<String> = words.split(' ').map(str::to_owned).collect();
        let original = typo[4].clone();
        typo[4] = format!("{original}q");
        match secret_from_words(&typo.join(" ")) {
            Err(RecoveryError::UnknownWord { position, .. }) => assert_eq!(position, 5),
            other => panic!("expected an unknown word, got {other:?}"),
        }
        assert_eq!(
            secret_from_words("abandon abandon").err(),
            Some(RecoveryError::WordCount(2))
        );
    }
}
