//! Text encodings of binary values (spec section 2.4).

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes as base64url without padding, the form official clients send and links use.
pub fn base64url_encode(bytes: &[u8]) -> String {
    general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url, with or without padding.
pub fn base64url_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_ANY_PADDING.decode(text)
}

/// Decodes either base64 alphabet, padded or not: the search cursor arrives in both.
pub fn base64_any_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    if text.contains(['-', '_']) {
        URL_SAFE_ANY_PADDING.decode(text)
    } else {
        STANDARD_ANY_PADDING.decode(text)
    }
}

/// Encodes as standard base64 with padding, the form of client-local keys and short log names.
pub fn base64_standard_encode(bytes: &[u8]) -> String {
    general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_decoding_accepts_padded_and_unpadded() {
        let bytes = [0xfbu8, 0xff, 0x01, 0x02];
        let unpadded = base64url_encode(&bytes);
        assert_eq!(unpadded, "-_8BAg");
        assert_eq!(base64url_decode(&unpadded).expect("unpadded"), bytes);
        assert_eq!(base64url_decode("-_8BAg==").expect("padded"), bytes);
        assert!(
            base64url_decode("+/8BAg").is_err(),
            "standard alphabet is not base64url"
        );
    }

    #[test]
    fn any_alphabet_decoding_accepts_both() {
        assert_eq!(
            base64_any_decode("-_8BAg").expect("url"),
            [0xfb, 0xff, 1, 2]
        );
        assert_eq!(
            base64_any_decode("+/8BAg==").expect("standard"),
            [0xfb, 0xff, 1, 2]
        );
    }
}
