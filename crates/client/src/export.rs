//! Account backup (spec section 2.6): an `ExportBundle` holding the identity's key pair and the
//! SERVER set events in effect, shown as `polycentric://` + base64url of `URLInfo{3, bundle}`.
//!
//! Importing one creates a new home with that key and a NEW process (a process is never shared
//! between devices), and stores the bundled SERVER events so the identity knows its servers;
//! pulling the identity's history from them is the caller's next step.

use std::collections::BTreeMap;
use std::path::Path;

use agora_protocol::crdt::{SetOperation, lww_set_replaces};
use agora_protocol::encoding::{base64url_decode, base64url_encode};
use agora_protocol::links::URL_TYPE_EXPORT_BUNDLE;
use agora_protocol::{PublicKey, SecretKey, VerifiedEvent, content, wire};
use agora_store::{IndexCursor, IndexQuery, IngestOutcome, Store as _};
use prost::Message as _;
use zeroize::Zeroizing;

use crate::client::stored_corrupt;
use crate::{Client, ClientError, Home};

const SCHEME: &str = "polycentric://";
/// `KeyPair.key_type` of Ed25519, the only key type.
const KEY_TYPE_ED25519: u64 = 1;
/// SERVER events read per page from the local store.
const PAGE_EVENTS: usize = 500;

/// Why an export bundle could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("not a valid export bundle: {0}")]
    Invalid(String),
    #[error(transparent)]
    Client(#[from] ClientError),
}

fn invalid(reason: impl Into<String>) -> BundleError {
    BundleError::Invalid(reason.into())
}

/// A checked export bundle: the secret key and the bundled events, each verified and signed by
/// the key's own system.
#[derive(Debug)]
pub struct Bundle {
    pub secret: SecretKey,
    pub events: Vec<VerifiedEvent>,
}

impl Bundle {
    pub fn system(&self) -> PublicKey {
        self.secret.public_key()
    }

    /// Reads `polycentric://<b64>` or a bare `<b64>`, checking that the public key belongs to the
    /// seed and that every bundled event is a SERVER event signed by that system.
    pub fn parse(text: &str) -> Result<Self, BundleError> {
        let text = text.trim();
        let encoded = text.strip_prefix(SCHEME).unwrap_or(text);
        let bytes = base64url_decode(encoded).map_err(|error| invalid(error.to_string()))?;
        let info = wire::UrlInfo::decode(bytes.as_slice())
            .map_err(|error| invalid(format!("not a URLInfo: {error}")))?;
        if info.url_type != URL_TYPE_EXPORT_BUNDLE {
            return Err(invalid(format!(
                "link type is {}, not {URL_TYPE_EXPORT_BUNDLE} (export bundle); \
                 `agora export` prints one",
                info.url_type
            )));
        }
        let bundle = wire::ExportBundle::decode(info.body)
            .map_err(|error| invalid(format!("not an ExportBundle: {error}")))?;
        let key_pair = bundle.key_pair.ok_or_else(|| invalid("no key pair"))?;
        if key_pair.key_type != KEY_TYPE_ED25519 {
            return Err(invalid(format!(
                "key type {} is not Ed25519 (1)",
                key_pair.key_type
            )));
        }
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(key_pair.private_key.as_ref().try_into().map_err(|_| {
                invalid(format!(
                    "private key must be 32 bytes, got {}",
                    key_pair.private_key.len()
                ))
            })?);
        let secret = SecretKey::from_seed(&seed);
        let system = secret.public_key();
        if key_pair.public_key.as_ref() != system.as_bytes() {
            return Err(invalid("the public key does not belong to the private key"));
        }
        let events = bundle
            .events
            .map(|events| events.events)
            .unwrap_or_default()
            .iter()
            .map(|signed| {
                let event = VerifiedEvent::verify(signed)
                    .map_err(|error| invalid(format!("bundled event: {error}")))?;
                if *event.system() != system {
                    return Err(invalid("a bundled event is signed by another system"));
                }
                if event.content_type() != content::SERVER {
                    return Err(invalid(format!(
                        "a bundled event has type {}, not SERVER ({})",
                        event.content_type(),
                        content::SERVER
                    )));
                }
                Ok(event)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { secret, events })
    }
}

impl Client {
    /// The identity's backup link. It contains the SECRET key: whoever holds it is this identity.
    pub async fn export_bundle(&self) -> Result<String, ClientError> {
        let seed = self.secret_seed();
        let bundle = wire::ExportBundle {
            key_pair: Some(wire::KeyPair {
                key_type: KEY_TYPE_ED25519,
                private_key: seed.to_vec().into(),
                public_key: self.system().as_bytes().to_vec().into(),
            }),
            events: Some(wire::Events {
                events: self
                    .server_adds()
                    .await?
                    .iter()
                    .map(VerifiedEvent::to_signed)
                    .collect(),
            }),
        };
        let info = wire::UrlInfo {
            url_type: URL_TYPE_EXPORT_BUNDLE,
            body: bundle.encode_to_vec().into(),
        };
        let bytes = Zeroizing::new(info.encode_to_vec());
        Ok(format!("{SCHEME}{}", base64url_encode(&bytes)))
    }

    /// The signed SERVER set events in effect: per server, the winning operation when an ADD.
    async fn server_adds(&self) -> Result<Vec<VerifiedEvent>, ClientError> {
        let mut winners: BTreeMap<Vec<u8>, ((u64, SetOperation), VerifiedEvent)> = BTreeMap::new();
        let mut cursor = IndexCursor::Start;
        loop {
            let page = self
                .store
                .index(IndexQuery {
                    system: self.system(),
                    content_type: content::SERVER,
                    cursor,
                    limit: PAGE_EVENTS,
                })
                .await?;
            for signed in &page.events {
                let event = VerifiedEvent::verify(signed).map_err(stored_corrupt)?;
                let Some(element) = event.event().lww_element_set.as_ref() else {
                    continue; // a deleted event's slot
                };
                let operation = match element.operation() {
                    wire::lww_element_set::Operation::Add => SetOperation::Add,
                    wire::lww_element_set::Operation::Remove => SetOperation::Remove,
                };
                let candidate = (element.unix_milliseconds, operation);
                let value = element.value.to_vec();
                match winners.get(&value) {
                    Some((current, _)) if !lww_set_replaces(candidate, *current) => {}
                    _ => {
                        winners.insert(value, (candidate, event));
                    }
                }
            }
            match page.next.as_deref().and_then(IndexCursor::decode) {
                Some(next) => cursor = next,
                None => break,
            }
        }
        Ok(winners
            .into_values()
            .filter(|((_, operation), _)| *operation == SetOperation::Add)
            .map(|(_, event)| event)
            .collect())
    }
}

/// Creates a new identity in `dir` from an export bundle, with a new random process, and stores
/// the bundled SERVER events. Refuses when `dir` already holds an identity.
pub async fn import_bundle(dir: &Path, text: &str) -> Result<Home, BundleError> {
    let bundle = Bundle::parse(text)?;
    let home = Home::import(dir, bundle.secret)?;
    let outcomes = home
        .store()
        .ingest(bundle.events)
        .await
        .map_err(ClientError::from)?;
    for outcome in outcomes {
        if let IngestOutcome::Rejected(reason) = outcome {
            return Err(ClientError::Refused(reason.to_string()).into());
        }
    }
    Ok(home)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn export_then_import_keeps_the_key_and_servers_with_a_new_process() {
        let first = tempfile::tempdir().expect("tempdir");
        let client = Client::open(Home::init(first.path()).expect("home"))
            .await
            .expect("client");
        client.add_server("http://a.example").await.expect("add");
        client.add_server("http://b.example").await.expect("add");
        client
            .remove_server("http://b.example")
            .await
            .expect("remove");
        let link = client.export_bundle().await.expect("export");
        assert!(link.starts_with(SCHEME), "{link}");

        let bundle = Bundle::parse(&link).expect("parses");
        assert_eq!(bundle.system(), client.system());
        assert_eq!(bundle.events.len(), 1, "only the winning ADD is bundled");

        let second = tempfile::tempdir().expect("tempdir");
        let bare = link.strip_prefix(SCHEME).expect("scheme");
        let home = import_bundle(second.path(), bare).await.expect("import");
        assert_ne!(home.process(), client.process());
        let imported = Client::open(home).await.expect("client");
        assert_eq!(imported.system(), client.system());
        assert_eq!(
            imported.servers().await.expect("servers"),
            ["http://a.example"]
        );
        assert_eq!(imported.logical_clock(), 0, "the new process starts fresh");

        let again = import_bundle(second.path(), &link).await;
        assert!(matches!(
            again,
            Err(BundleError::Client(ClientError::IdentityExists { .. }))
        ));
    }

    #[test]
    fn a_key_pair_that_does_not_match_is_refused() {
        let bundle = wire::ExportBundle {
            key_pair: Some(wire::KeyPair {
                key_type: KEY_TYPE_ED25519,
                private_key: vec![1; 32].into(),
                public_key: SecretKey::from_seed(&[2; 32])
                    .public_key()
                    .as_bytes()
                    .to_vec()
                    .into(),
            }),
            events: None,
        };
        let info = wire::UrlInfo {
            url_type: URL_TYPE_EXPORT_BUNDLE,
            body: bundle.encode_to_vec().into(),
        };
        let link = format!("{SCHEME}{}", base64url_encode(&info.encode_to_vec()));
        let error = Bundle::parse(&link).expect_err("mismatched key pair");
        assert!(error.to_string().contains("does not belong"), "{error}");
        assert!(Bundle::parse("polycentric://AAAA").is_err());
    }
}
