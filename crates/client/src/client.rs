//! Publishing: the identity's process resumed from the local store, signing each new event with
//! the current time and ingesting it locally before anything is sent anywhere.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agora_protocol::author::{Author, Draft, pointer_reference};
use agora_protocol::content::{self, REFERENCE_BYTES, opinion};
use agora_protocol::{Pointer, Process, PublicKey, VerifiedEvent, wire};
use agora_store::sqlite::SqliteStore;
use agora_store::{IngestOutcome, ProcessRanges, Store as _};
use prost::Message as _;

use crate::{ClientError, Home};

/// How long one HTTP request to a server may take before that server counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a live stream may stay silent before it counts as failed: three server heartbeats.
pub const STREAM_READ_TIMEOUT: Duration = Duration::from_secs(45);

/// An opened identity: publishes its own events and syncs with servers.
#[derive(Debug)]
pub struct Client {
    system: PublicKey,
    /// The identity this client publishes for: `system` itself, or the identity `system` is a
    /// device of (docs/protocol.md, "Devices").
    identity: PublicKey,
    /// The local, offline-first copy of every event this client has seen or written.
    pub(crate) store: SqliteStore,
    /// This device's process; behind a lock so concurrent publishes get consecutive clocks.
    publisher: Mutex<Publisher>,
    /// One connection pool for every server, with a bounded time per request.
    pub(crate) http: reqwest::Client,
    /// For live streams, which last: a bounded time to connect and between two reads (the
    /// server's heartbeats keep an idle stream under it), none for the whole response.
    pub(crate) stream_http: reqwest::Client,
    /// Servers that did not answer earlier in this run: not asked again (see
    /// [`crate::ServerError::Unreachable`]).
    pub(crate) unreachable: crate::remote::Unreachable,
    /// Events servers refused for good, never offered to them again.
    pub(crate) refusals: crate::refusals::Refusals,
}

/// The author plus the time of its last event, so this process's times never go backwards and
/// two LWW writes from one device are always ordered (same-millisecond writes would tie).
#[derive(Debug)]
struct Publisher {
    author: Author,
    last_ms: u64,
}

/// How the client reaches servers, beyond its defaults.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// PEM certificates trusted as roots for HTTPS servers, besides the built-in webpki
    /// (Mozilla) roots: for a private or self-signed server. Empty by default.
    pub ca_certificates_pem: Vec<Vec<u8>>,
    /// How long one request (and one connection attempt) may take before its server counts as
    /// failed; [`REQUEST_TIMEOUT`] when unset.
    pub request_timeout: Option<Duration>,
}

impl Client {
    /// Opens the client for `home`, resuming its process where the local store says it stopped.
    pub async fn open(home: Home) -> Result<Self, ClientError> {
        Self::open_with(home, ClientOptions::default()).await
    }

    /// As [`Client::open`], with extra options such as more trusted roots.
    pub async fn open_with(home: Home, options: ClientOptions) -> Result<Self, ClientError> {
        let http = http_client(&options)?
            .timeout(options.request_timeout.unwrap_or(REQUEST_TIMEOUT))
            .build()
            .map_err(ClientError::Http)?;
        let stream_http = http_client(&options)?
            .read_timeout(STREAM_READ_TIMEOUT)
            .build()
            .map_err(ClientError::Http)?;
        let (dir, secret, process, device_of, store) = home.into_parts();
        let refusals = crate::refusals::Refusals::load(dir.join(crate::refusals::Refusals::FILE))?;
        let system = secret.public_key();
        let identity = device_of.unwrap_or(system);
        let resumed = resume(&store, system, process).await?;
        let author = Author::resume(secret, process, resumed.clock, resumed.indices);
        Ok(Self {
            system,
            identity,
            store,
            publisher: Mutex::new(Publisher {
                author,
                last_ms: resumed.last_ms,
            }),
            http,
            stream_http,
            unreachable: Default::default(),
            refusals,
        })
    }

    /// The key this client signs with (a device key, or the identity's root key).
    pub fn system(&self) -> PublicKey {
        self.system
    }

    /// The identity this client publishes for: what links, follows and profiles name.
    pub fn identity(&self) -> PublicKey {
        self.identity
    }

    /// Whether this client holds the identity's root key (it may authorize and revoke devices).
    pub fn holds_root(&self) -> bool {
        self.system == self.identity
    }

    pub fn process(&self) -> Process {
        self.publisher().author.process()
    }

    /// The identity's secret seed, for an export bundle.
    pub(crate) fn secret_seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(*self.publisher().author.secret().seed())
    }

    /// The clock of this process's last event (0 before the first).
    pub fn logical_clock(&self) -> u64 {
        self.publisher().author.logical_clock()
    }

    pub fn store(&self) -> &SqliteStore {
        &self.store
    }

    /// A post, optionally replying to an event and optionally in a topic.
    pub async fn post(
        &self,
        text: &str,
        reply_to: Option<&Pointer>,
        topic: Option<&str>,
    ) -> Result<Pointer, ClientError> {
        self.post_manifest(text, reply_to, topic, None).await
    }

    /// A post with an image from any supported format: the image is scaled to fit 1000×1000,
    /// published as PNG blob sections first, then the post carrying its manifest.
    pub async fn post_with_image(
        &self,
        text: &str,
        reply_to: Option<&Pointer>,
        topic: Option<&str>,
        image: &[u8],
    ) -> Result<Pointer, ClientError> {
        check_post_text(text)?;
        let png = crate::images::post_image(image)?;
        let manifest = self.publish_png(&png).await?;
        self.post_manifest(text, reply_to, topic, Some(manifest))
            .await
    }

    async fn post_manifest(
        &self,
        text: &str,
        reply_to: Option<&Pointer>,
        topic: Option<&str>,
        image: Option<wire::ImageManifest>,
    ) -> Result<Pointer, ClientError> {
        check_post_text(text)?;
        let post = wire::Post {
            content: Some(text.to_owned()),
            image,
        };
        let topic = topic.map(|topic| wire::Reference {
            reference_type: REFERENCE_BYTES,
            reference: topic.as_bytes().to_vec().into(),
        });
        let draft = Draft {
            content_type: content::POST,
            content: post.encode_to_vec(),
            references: reply_to
                .map(pointer_reference)
                .into_iter()
                .chain(topic)
                .collect(),
            ..Draft::default()
        };
        self.publish(|author, ms| author.publish(draft, ms)).await
    }

    pub async fn set_username(&self, name: &str) -> Result<Pointer, ClientError> {
        self.set_element(content::USERNAME, name.as_bytes()).await
    }

    pub async fn set_description(&self, description: &str) -> Result<Pointer, ClientError> {
        self.set_element(content::DESCRIPTION, description.as_bytes())
            .await
    }

    pub async fn follow(&self, system: &PublicKey) -> Result<Pointer, ClientError> {
        self.publish(|author, ms| author.follow(system, true, ms))
            .await
    }

    /// Blocks an identity: its posts, replies and profiles are left out of every feed, reply
    /// list and discovery result this client shows.
    pub async fn block(&self, system: &PublicKey) -> Result<Pointer, ClientError> {
        self.publish(|author, ms| author.block(system, true, ms))
            .await
    }

    pub async fn unblock(&self, system: &PublicKey) -> Result<Pointer, ClientError> {
        self.publish(|author, ms| author.block(system, false, ms))
            .await
    }

    pub async fn unfollow(&self, system: &PublicKey) -> Result<Pointer, ClientError> {
        self.publish(|author, ms| author.follow(system, false, ms))
            .await
    }

    pub async fn like(&self, subject: &Pointer) -> Result<Pointer, ClientError> {
        self.opinion(subject, opinion::LIKE).await
    }

    pub async fn dislike(&self, subject: &Pointer) -> Result<Pointer, ClientError> {
        self.opinion(subject, opinion::DISLIKE).await
    }

    /// Withdraws a like or dislike: the neutral opinion `[3]`.
    pub async fn unlike(&self, subject: &Pointer) -> Result<Pointer, ClientError> {
        self.opinion(subject, opinion::NEUTRAL).await
    }

    /// Adds a server to this identity's SERVER set: every later push goes there too.
    pub async fn add_server(&self, url: &str) -> Result<Pointer, ClientError> {
        let url = normalize_server(url);
        self.publish(|author, ms| author.set_member(content::SERVER, url.as_bytes(), true, ms))
            .await
    }

    pub async fn remove_server(&self, url: &str) -> Result<Pointer, ClientError> {
        let url = normalize_server(url);
        self.publish(|author, ms| author.set_member(content::SERVER, url.as_bytes(), false, ms))
            .await
    }

    /// Deletes one of this identity's events, which must be in the local store (its type, time
    /// and indices are copied into the DELETE, spec section 3.5).
    pub async fn delete(&self, target: &Pointer) -> Result<Pointer, ClientError> {
        if target.system != self.system {
            return Err(ClientError::NotOwn(Box::new(*target)));
        }
        let event = self
            .load(target)
            .await?
            .ok_or_else(|| ClientError::NotFound(Box::new(*target)))?;
        if event.content_type() == content::DELETE {
            return Err(ClientError::DeleteOfDelete(Box::new(*target)));
        }
        self.publish(|author, ms| author.delete(&event, ms)).await
    }

    /// The event stored locally at `pointer`'s slot, if any (a deleted slot has none).
    pub async fn load(&self, pointer: &Pointer) -> Result<Option<VerifiedEvent>, ClientError> {
        let ranges = vec![ProcessRanges {
            process: pointer.process,
            ranges: vec![(pointer.logical_clock, pointer.logical_clock)],
        }];
        let found = self
            .store
            .events_in_ranges(pointer.system, ranges, 1)
            .await?;
        found
            .first()
            .map(|signed| VerifiedEvent::verify(signed).map_err(stored_corrupt))
            .transpose()
    }

    /// Whether `server` answers as a Polycentric server now: its version, or why not.
    pub async fn probe_server(&self, server: &str) -> Result<String, crate::ServerError> {
        self.remote(&normalize_server(server)).version().await
    }

    /// The processes of `system` the local store holds events of.
    pub async fn processes_of(&self, system: PublicKey) -> Result<Vec<Process>, ClientError> {
        let ranges = self.store.ranges(system).await?;
        Ok(ranges.into_iter().map(|held| held.process).collect())
    }

    /// Whether the local store holds `pointer`'s slot only as its author's deletion.
    pub async fn is_deleted(&self, pointer: &Pointer) -> Result<bool, ClientError> {
        if self.load(pointer).await?.is_some() {
            return Ok(false);
        }
        let ranges = self.store.ranges(pointer.system).await?;
        let clock = pointer.logical_clock;
        Ok(ranges.iter().any(|held| {
            held.process == pointer.process
                && held
                    .ranges
                    .iter()
                    .any(|&(low, high)| low <= clock && clock <= high)
        }))
    }

    pub(crate) async fn set_element(
        &self,
        content_type: u64,
        value: &[u8],
    ) -> Result<Pointer, ClientError> {
        self.publish(|author, ms| author.set_element(content_type, value, ms))
            .await
    }

    async fn opinion(&self, subject: &Pointer, value: &[u8]) -> Result<Pointer, ClientError> {
        self.publish(|author, ms| author.opinion(subject, value, ms))
            .await
    }

    /// Signs one event now, under the lock, then stores it locally.
    pub(crate) async fn publish<F>(&self, sign: F) -> Result<Pointer, ClientError>
    where
        F: FnOnce(&mut Author, u64) -> Result<VerifiedEvent, agora_protocol::EventError>,
    {
        let event = {
            let mut publisher = self.publisher();
            let ms = now_ms().max(publisher.last_ms + 1);
            let event = sign(&mut publisher.author, ms)?;
            publisher.last_ms = ms;
            event
        };
        let pointer = event.pointer();
        let outcome = self.store.ingest(vec![event]).await?;
        match outcome.into_iter().next() {
            Some(IngestOutcome::Rejected(reason)) => Err(ClientError::Refused(reason.to_string())),
            Some(_) => Ok(pointer),
            None => Err(ClientError::Refused("no outcome for the event".into())),
        }
    }

    fn publisher(&self) -> MutexGuard<'_, Publisher> {
        // Poisoning needs a panic while signing; the author's state is still consistent then.
        self.publisher
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn check_post_text(text: &str) -> Result<(), ClientError> {
    if text.len() > content::POST_TEXT_BYTES_MAX {
        return Err(ClientError::PostTooLong(text.len()));
    }
    Ok(())
}

/// A connection pool for every server: a bounded time to connect, rustls with the webpki roots
/// plus any extra roots of `options`. The caller sets the time a response may take.
fn http_client(options: &ClientOptions) -> Result<reqwest::ClientBuilder, ClientError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(options.request_timeout.unwrap_or(REQUEST_TIMEOUT))
        .use_rustls_tls();
    for pem in &options.ca_certificates_pem {
        let certificates = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|error| ClientError::CaCertificate(error.to_string()))?;
        if certificates.is_empty() {
            return Err(ClientError::CaCertificate(
                "no PEM certificate found".to_owned(),
            ));
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    Ok(builder)
}

/// Server URLs are kept without a trailing slash and with the scheme and host in lower case
/// (`HTTP://Example.org/` is `http://example.org`), so the same server is one set member. The
/// path keeps its case.
pub fn normalize_server(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    format!(
        "{}://{}{path}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    )
}

/// `servers` normalized, in order, without blanks or repeats, so no server is asked twice.
pub(crate) fn distinct_servers(servers: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    servers
        .iter()
        .map(|server| normalize_server(server))
        .filter(|server| !server.is_empty() && seen.insert(server.clone()))
        .collect()
}

pub(crate) fn stored_corrupt(error: agora_protocol::EventError) -> ClientError {
    ClientError::Store(agora_store::StoreError::Corrupt(error.to_string()))
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// Where a process stopped: its last clock, its index table and its last event time.
struct Resumed {
    clock: u64,
    indices: Vec<wire::Index>,
    last_ms: u64,
}

/// Reads this process's state back from the local store: the highest held clock, and the index
/// table of its head event extended with the head itself (what `Author` would hold).
async fn resume(
    store: &SqliteStore,
    system: PublicKey,
    process: Process,
) -> Result<Resumed, ClientError> {
    let held_clock = store
        .ranges(system)
        .await?
        .into_iter()
        .find(|ranges| ranges.process == process)
        .and_then(|ranges| ranges.ranges.last().map(|&(_, high)| high))
        .unwrap_or(0);
    let head = store
        .head(system)
        .await?
        .iter()
        .map(|signed| VerifiedEvent::verify(signed).map_err(stored_corrupt))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|event| *event.process() == process)
        .max_by_key(VerifiedEvent::logical_clock);
    let Some(head) = head else {
        return Ok(Resumed {
            clock: held_clock,
            indices: Vec::new(),
            last_ms: 0,
        });
    };
    // FIXME(client issue): if another process deleted this one's newest event, the head is an
    // older event and the index table misses the deleted event's type; the clock stays right.
    Ok(Resumed {
        clock: held_clock.max(head.logical_clock()),
        indices: indices_after(&head),
        last_ms: head.unix_milliseconds().unwrap_or(0),
    })
}

/// The index table after `event`: its own indices, with its type now pointing at it.
fn indices_after(event: &VerifiedEvent) -> Vec<wire::Index> {
    let mut indices = event
        .event()
        .indices
        .as_ref()
        .map(|indices| indices.indices.clone())
        .unwrap_or_default();
    match indices
        .iter_mut()
        .find(|index| index.index_type == event.content_type())
    {
        Some(index) => index.logical_clock = event.logical_clock(),
        None => indices.push(wire::Index {
            index_type: event.content_type(),
            logical_clock: event.logical_clock(),
        }),
    }
    indices
}
