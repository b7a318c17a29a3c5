//! Sync with servers: push this identity's events to each of its servers, and pull any system's
//! events from whichever servers have them. Each server's failure is reported beside the result
//! and never stops the others.

use std::fmt;
use std::future::Future;

use agora_protocol::{Pointer, PublicKey, VerifiedEvent, content, wire};
use agora_store::{IngestOutcome, ProcessRanges, Store as _};
use futures::future::join_all;

use crate::client::{distinct_servers, normalize_server};
use crate::refusals::Refusal;
use crate::remote::{Remote, ServerError};
use crate::{Client, ClientError};
use agora_store::reconcile::{Walk, chunks, clock_count, subtract};

/// Clocks asked for in one `GET /events`, as official clients do (spec section 9.3), while a
/// server serves what it advertises; wider only across clocks it advertised and did not serve
/// (`agora_store::reconcile::Walk`).
pub const PULL_CLOCKS: u64 = 20;
/// Most clocks sent in one `POST /events`.
pub const PUSH_CLOCKS_MAX: u64 = 100;
/// Most event bytes sent in one `POST /events`, so batches of 512 KiB blob sections stay well
/// under a server's body limit (32 MiB on Agora); a larger single event is sent alone.
pub const PUSH_BYTES_MAX: usize = 8 * 1024 * 1024;

/// One server that failed, and why.
#[derive(Debug)]
pub struct ServerFailure {
    pub server: String,
    pub error: ServerError,
}

impl fmt::Display for ServerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server {}: {}", self.server, self.error)
    }
}

/// A result gathered from several servers, with which answered and which failed.
#[derive(Debug)]
pub struct Gathered<T> {
    pub value: T,
    pub answered: Vec<String>,
    pub failed: Vec<ServerFailure>,
}

impl<T> Gathered<T> {
    /// The same answered and failed servers beside another value (what was made of the answers).
    pub(crate) fn with_value<U>(self, value: U) -> Gathered<U> {
        Gathered {
            value,
            answered: self.answered,
            failed: self.failed,
        }
    }
}

/// What a push delivered to each server.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Per server that took everything it lacked: how many events it was sent.
    pub sent: Vec<(String, usize)>,
    pub failed: Vec<ServerFailure>,
    /// Events a server refused for good during this push (each is reported once: later pushes
    /// no longer offer it to that server).
    pub refused: Vec<Refusal>,
}

impl SyncReport {
    /// Events sent to `server`, or `None` when it failed or was not pushed to.
    pub fn sent_to(&self, server: &str) -> Option<usize> {
        let server = normalize_server(server);
        self.sent
            .iter()
            .find(|(url, _)| *url == server)
            .map(|&(_, events)| events)
    }
}

impl Client {
    /// Sends every server of this identity the events it lacks, all servers at once.
    pub async fn push(&self) -> Result<SyncReport, ClientError> {
        let servers = self.servers().await?;
        let pushes = servers.iter().map(|server| self.push_to_server(server));
        let mut report = SyncReport::default();
        for (outcome, refused) in join_all(pushes).await {
            match outcome {
                Ok((server, events)) => report.sent.push((server, events)),
                Err(failure) => report.failed.push(failure),
            }
            report.refused.extend(refused);
        }
        Ok(report)
    }

    /// Sends one server the events of this identity it lacks: how many it took (or why it
    /// failed), and the events it refused for good, which are recorded so no later push sends
    /// them there again.
    pub async fn push_to_server(
        &self,
        server: &str,
    ) -> (Result<(String, usize), ServerFailure>, Vec<Refusal>) {
        let server = normalize_server(server);
        let mut refused = Vec::new();
        let outcome = self.push_to(&server, &mut refused).await;
        if let Err(error) = self.refusals.record(&refused) {
            tracing::warn!(%server, %error, "cannot record refused events");
        }
        let outcome = match outcome {
            Ok(events) => Ok((server, events)),
            Err(error) => {
                tracing::warn!(%server, %error, "push failed");
                Err(ServerFailure { server, error })
            }
        };
        (outcome, refused)
    }

    /// Forgets every refusal recorded in this home, so the next push offers those events again
    /// (after an operator lifted a curation, say). Returns how many were forgotten.
    pub fn forget_refusals(&self) -> Result<usize, ClientError> {
        self.refusals.clear()
    }

    /// Sends `server` what it lacks of every system of this identity (the root key's events
    /// and every device's), so a device's pairing and a revocation reach each server.
    async fn push_to(
        &self,
        server: &str,
        refused: &mut Vec<Refusal>,
    ) -> Result<usize, ServerError> {
        let mut members = self
            .members(self.identity())
            .await
            .map_err(|error| ServerError::Local(error.to_string()))?;
        // A device waiting to be paired is not a member yet, but its request must go out.
        if !members.contains(&self.system()) {
            members.push(self.system());
        }
        let mut sent = 0;
        for system in members {
            sent += self.push_system_to(server, system, refused).await?;
        }
        Ok(sent)
    }

    async fn push_system_to(
        &self,
        server: &str,
        system: PublicKey,
        refused: &mut Vec<Refusal>,
    ) -> Result<usize, ServerError> {
        let remote = self.remote(server);
        let remote_ranges = remote.ranges(&system).await?;
        let local_ranges = self.local_ranges(system).await?;
        let refused_before = self.refusals.count_for(server) > 0;
        let mut sent = 0;
        for piece in chunks(&subtract(&local_ranges, &remote_ranges), PUSH_CLOCKS_MAX) {
            let limit = clock_count(std::slice::from_ref(&piece)) as usize;
            let mut events = self
                .store
                .events_in_ranges(system, vec![piece], limit)
                .await
                .map_err(local_failure)?;
            if refused_before {
                events.retain(|event| {
                    slot_of(event).is_none_or(|slot| !self.refusals.refused(server, &slot))
                });
            }
            for batch in byte_batches(events, PUSH_BYTES_MAX) {
                let rejected = remote.publish(batch.clone()).await?;
                sent += batch.len() - rejected.len();
                for (position, reason) in rejected {
                    let Some(slot) = slot_of(&batch[position]) else {
                        continue;
                    };
                    refused.push(Refusal {
                        server: server.to_owned(),
                        system: slot.system,
                        process: slot.process,
                        logical_clock: slot.logical_clock,
                        reason,
                    });
                }
            }
        }
        Ok(sent)
    }

    /// Fetches `system`'s events that the local store lacks from every candidate server: the
    /// hints, this identity's servers, and the servers `system` itself lists. The value is how
    /// many new events were stored.
    pub async fn pull(
        &self,
        system: PublicKey,
        hints: &[String],
    ) -> Result<Gathered<usize>, ClientError> {
        let counted = self.pull_counted(system, hints).await?;
        Ok(Gathered {
            value: counted.value.iter().map(|(_, stored)| stored).sum(),
            answered: counted.answered,
            failed: counted.failed,
        })
    }

    /// As [`Client::pull`], with how many new events each answering server delivered. Every
    /// candidate is asked at once; an event two servers deliver is stored (and counted) once.
    pub async fn pull_counted(
        &self,
        system: PublicKey,
        hints: &[String],
    ) -> Result<Gathered<Vec<(String, usize)>>, ClientError> {
        let mut candidates: Vec<String> = hints.iter().map(|hint| normalize_server(hint)).collect();
        candidates.extend(self.servers().await?);
        candidates.extend(self.servers_of(system).await?);
        dedup_in_order(&mut candidates);
        let pulls = candidates.into_iter().map(|server| async move {
            let outcome = self.pull_from(&server, system).await;
            (server, outcome)
        });
        let mut gathered = Gathered {
            value: Vec::new(),
            answered: Vec::new(),
            failed: Vec::new(),
        };
        for (server, outcome) in join_all(pulls).await {
            match outcome {
                Ok(stored) => {
                    gathered.value.push((server.clone(), stored));
                    gathered.answered.push(server);
                }
                Err(error) => {
                    tracing::warn!(%server, %error, "pull failed");
                    gathered.failed.push(ServerFailure { server, error });
                }
            }
        }
        Ok(gathered)
    }

    async fn pull_from(&self, server: &str, system: PublicKey) -> Result<usize, ServerError> {
        let remote = self.remote(server);
        let remote_ranges = remote.ranges(&system).await?;
        let local_ranges = self.local_ranges(system).await?;
        let mut stored = 0;
        let mut walk = Walk::new(subtract(&remote_ranges, &local_ranges), PULL_CLOCKS);
        while let Some(piece) = walk.next_piece() {
            let served = match remote.events(&system, &piece).await {
                Err(ServerError::TooLarge(_)) if walk.too_large() => continue,
                served => served?,
            };
            let verified = served
                .iter()
                .map(|signed| check_served(&system, signed))
                .collect::<Result<Vec<_>, _>>()?;
            let clocks = verified
                .iter()
                .filter(|event| *event.process() == piece.process)
                .map(VerifiedEvent::logical_clock);
            walk.served(&piece, clocks);
            let outcomes = self.store.ingest(verified).await.map_err(local_failure)?;
            stored += outcomes
                .iter()
                .filter(|outcome| **outcome == IngestOutcome::Stored)
                .count();
        }
        Ok(stored)
    }

    async fn local_ranges(&self, system: PublicKey) -> Result<Vec<ProcessRanges>, ServerError> {
        self.store.ranges(system).await.map_err(local_failure)
    }

    pub(crate) fn remote<'a>(&'a self, server: &'a str) -> Remote<'a> {
        Remote {
            http: &self.http,
            base: server,
            unreachable: &self.unreachable,
        }
    }

    /// Asks every one of `servers` at once (normalized, blanks and repeats dropped): `ask` gets
    /// each server's base URL. Each answer is kept beside its server in the order asked; each
    /// failure is logged as `what` and named, and never stops the others.
    pub(crate) async fn ask_each<T, F, Fut>(
        &self,
        servers: &[String],
        what: &'static str,
        ask: F,
    ) -> Gathered<Vec<(String, T)>>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, ServerError>>,
    {
        let asked = distinct_servers(servers).into_iter().map(|server| {
            let answer = ask(server.clone());
            async move { (server, answer.await) }
        });
        let mut gathered = Gathered {
            value: Vec::new(),
            answered: Vec::new(),
            failed: Vec::new(),
        };
        for (server, answer) in join_all(asked).await {
            match answer {
                Ok(value) => {
                    gathered.answered.push(server.clone());
                    gathered.value.push((server, value));
                }
                Err(error) => {
                    tracing::warn!(%server, %error, "{what} failed");
                    gathered.failed.push(ServerFailure { server, error });
                }
            }
        }
        gathered
    }
}

/// Verifies one event `server` served for `system`: the signature over its exact bytes, that it
/// belongs to `system`, and the content rules servers enforce. A failure names the server.
pub fn verify_served(
    server: &str,
    system: &PublicKey,
    signed: &wire::SignedEvent,
) -> Result<VerifiedEvent, ServerFailure> {
    check_served(system, signed).map_err(|error| ServerFailure {
        server: server.to_owned(),
        error,
    })
}

pub(crate) fn check_served(
    system: &PublicKey,
    signed: &wire::SignedEvent,
) -> Result<VerifiedEvent, ServerError> {
    let event = VerifiedEvent::verify(signed)
        .map_err(|error| ServerError::InvalidEvent(error.to_string()))?;
    if event.system() != system {
        return Err(ServerError::WrongSystem {
            asked: system.to_string(),
            served: event.system().to_string(),
        });
    }
    content::check(&event, content::POST_TEXT_BYTES_MAX).map_err(ServerError::InvalidEvent)?;
    Ok(event)
}

/// A local store failure met during sync. It is reported against the server being synced, so
/// the operation still reports what the other servers did.
fn local_failure(error: agora_store::StoreError) -> ServerError {
    ServerError::Local(error.to_string())
}

/// Cuts events into consecutive batches of at most `bytes_max` event bytes each; an event larger
/// than that forms a batch of its own.
fn byte_batches(events: Vec<wire::SignedEvent>, bytes_max: usize) -> Vec<Vec<wire::SignedEvent>> {
    let mut batches: Vec<Vec<wire::SignedEvent>> = Vec::new();
    let mut batch_bytes = 0;
    for event in events {
        let bytes = event.event.len() + event.signature.len();
        match batches.last_mut() {
            Some(batch) if batch_bytes + bytes <= bytes_max => {
                batch_bytes += bytes;
                batch.push(event);
            }
            _ => {
                batch_bytes = bytes;
                batches.push(vec![event]);
            }
        }
    }
    batches
}

/// Where a stored event sits (system, process, clock), read without checking its signature
/// again: it was verified when it was stored.
fn slot_of(signed: &wire::SignedEvent) -> Option<Pointer> {
    use prost::Message as _;
    let event = wire::Event::decode(signed.event.clone()).ok()?;
    Some(Pointer {
        system: PublicKey::try_from(event.system.as_ref()?).ok()?,
        process: agora_protocol::Process::try_from(event.process.as_ref()?).ok()?,
        logical_clock: event.logical_clock,
        digest: None,
    })
}

fn dedup_in_order(servers: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    servers.retain(|server| !server.is_empty() && seen.insert(server.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_of(bytes: usize) -> wire::SignedEvent {
        wire::SignedEvent {
            signature: vec![0; 64].into(),
            event: vec![0; bytes - 64].into(),
            moderation_tags: Vec::new(),
        }
    }

    #[test]
    fn push_batches_are_cut_by_bytes_and_keep_order() {
        let events = [300, 300, 500, 1200, 100].map(event_of).to_vec();
        let sizes: Vec<Vec<usize>> = byte_batches(events, 1000)
            .iter()
            .map(|batch| batch.iter().map(|e| e.event.len() + 64).collect())
            .collect();
        assert_eq!(sizes, [vec![300, 300], vec![500], vec![1200], vec![100]]);
        assert!(byte_batches(Vec::new(), 1000).is_empty());
    }
}
