//! Share links: `URLInfo` wrapped as `polycentric://` + base64url (spec section 2.5).

use prost::Message as _;

use crate::encoding::{base64url_decode, base64url_encode};
use crate::keys::{KeyError, Process, PublicKey};
use crate::wire;

pub const URL_TYPE_SYSTEM: u64 = 1;
pub const URL_TYPE_EVENT: u64 = 2;
pub const URL_TYPE_EXPORT_BUNDLE: u64 = 3;
pub const URL_TYPE_DATA: u64 = 4;

const SCHEME: &str = "polycentric://";

/// Why a link could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("link is not base64url: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("link is not a URLInfo: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("unknown link type {0}")]
    UrlType(u64),
    #[error("link: {0}")]
    Key(#[from] KeyError),
}

/// A parsed system or event link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    System {
        system: PublicKey,
        servers: Vec<String>,
    },
    Event {
        system: PublicKey,
        process: Process,
        logical_clock: u64,
        servers: Vec<String>,
    },
}

impl Link {
    /// Reads `polycentric://<b64>`, a bare `<b64>`, or any URL whose last path segment is one.
    pub fn parse(text: &str) -> Result<Self, LinkError> {
        let text = text.trim();
        let encoded = text.strip_prefix(SCHEME).unwrap_or(text);
        let encoded = encoded
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(encoded);
        let info = wire::UrlInfo::decode(base64url_decode(encoded)?.as_slice())?;
        match info.url_type {
            URL_TYPE_SYSTEM => {
                let link = wire::UrlInfoSystemLink::decode(info.body)?;
                let system = link
                    .system
                    .as_ref()
                    .ok_or(KeyError::Missing("link system"))?;
                Ok(Self::System {
                    system: system.try_into()?,
                    servers: link.servers,
                })
            }
            URL_TYPE_EVENT => {
                let link = wire::UrlInfoEventLink::decode(info.body)?;
                let system = link
                    .system
                    .as_ref()
                    .ok_or(KeyError::Missing("link system"))?;
                let process = link
                    .process
                    .as_ref()
                    .ok_or(KeyError::Missing("link process"))?;
                Ok(Self::Event {
                    system: system.try_into()?,
                    process: process.try_into()?,
                    logical_clock: link.logical_clock,
                    servers: link.servers,
                })
            }
            other => Err(LinkError::UrlType(other)),
        }
    }

    /// The `polycentric://` form official clients share.
    pub fn to_url(&self) -> String {
        let info = match self {
            Self::System { system, servers } => wire::UrlInfo {
                url_type: URL_TYPE_SYSTEM,
                body: wire::UrlInfoSystemLink {
                    system: Some(system.to_wire()),
                    servers: servers.clone(),
                }
                .encode_to_vec()
                .into(),
            },
            Self::Event {
                system,
                process,
                logical_clock,
                servers,
            } => wire::UrlInfo {
                url_type: URL_TYPE_EVENT,
                body: wire::UrlInfoEventLink {
                    system: Some(system.to_wire()),
                    process: Some(process.to_wire()),
                    logical_clock: *logical_clock,
                    servers: servers.clone(),
                }
                .encode_to_vec()
                .into(),
            },
        };
        format!("{SCHEME}{}", base64url_encode(&info.encode_to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    #[test]
    fn links_round_trip_in_every_accepted_form() {
        let system = SecretKey::from_seed(&[3; 32]).public_key();
        let link = Link::Event {
            system,
            process: Process::from_bytes(&[4; 16]).expect("16"),
            logical_clock: 9,
            servers: vec!["http://127.0.0.1:8081".into()],
        };
        let url = link.to_url();
        assert_eq!(Link::parse(&url).expect("scheme form"), link);
        let bare = url.trim_start_matches(SCHEME);
        assert_eq!(Link::parse(bare).expect("bare"), link);
        assert_eq!(
            Link::parse(&format!("https://host/post/{bare}")).expect("web"),
            link
        );
    }
}
