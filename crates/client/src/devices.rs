//! One identity on several devices (docs/protocol.md, "Devices"): the devices an identity
//! authorized, which identity a key belongs to, pairing statements, revocation, and pulling an
//! identity with all of its devices.
//!
//! Everything is computed from the local store. Revoked devices stay members: what they signed
//! up to their bound is still the identity's, and the store has already dropped the rest (it
//! applies revocations at ingest, as servers do).

use std::collections::BTreeMap;
use std::time::Duration;

use agora_protocol::author::Author;
use agora_protocol::devices::{self, Authorization, Revocation};
use agora_protocol::{Pointer, Process, PublicKey, SecretKey, VerifiedEvent, content};
use agora_store::{IngestOutcome, Store as _};

use crate::client::{distinct_servers, now_ms};
use crate::state::verify_all;
use crate::{Client, ClientError, Gathered};

/// A device of an identity, as its statements in the local store describe it.
#[derive(Clone, Debug)]
pub struct Device {
    pub key: PublicKey,
    /// The name of the latest authorization (a rename is a new authorization).
    pub name: String,
    /// When it was first authorized (the authorization's event time).
    pub authorized_ms: Option<u64>,
    /// Per process, the last clock that stays valid, when the device is revoked.
    pub revoked: Option<Vec<(Process, u64)>>,
    /// The device's own DEVICE_ACCEPT, which every authorization and revocation embeds.
    pub acceptance: VerifiedEvent,
}

/// How often a device waiting to be paired asks its servers whether it was authorized.
pub const PAIRING_POLL: Duration = Duration::from_millis(500);

impl Client {
    /// The devices `identity` authorized, revoked ones included, oldest first.
    pub async fn devices_of(&self, identity: PublicKey) -> Result<Vec<Device>, ClientError> {
        let mut authorizations: Vec<(VerifiedEvent, Authorization)> = self
            .feed(identity, content::DEVICE_AUTHORIZE)
            .await?
            .into_iter()
            .filter_map(|event| devices::authorization(&event).ok().map(|a| (event, a)))
            .collect();
        authorizations.sort_by_key(|(event, _)| event_order(event));
        let mut found: BTreeMap<PublicKey, Device> = BTreeMap::new();
        for (event, authorization) in authorizations {
            let device = found.entry(authorization.device).or_insert(Device {
                key: authorization.device,
                name: String::new(),
                authorized_ms: event.unix_milliseconds(),
                revoked: None,
                acceptance: authorization.acceptance.clone(),
            });
            device.name = authorization.name;
        }
        for revocation in self.revocations_of(identity).await? {
            if let Some(device) = found.get_mut(&revocation.device) {
                device.revoked = Some(strictest(device.revoked.take(), revocation.bounds));
            }
        }
        let mut list: Vec<Device> = found.into_values().collect();
        list.sort_by_key(|device| device.authorized_ms);
        Ok(list)
    }

    /// The systems whose events are `identity`'s: the identity itself and every device it
    /// authorized.
    pub async fn members(&self, identity: PublicKey) -> Result<Vec<PublicKey>, ClientError> {
        let mut members = vec![identity];
        members.extend(
            self.devices_of(identity)
                .await?
                .into_iter()
                .map(|device| device.key),
        );
        Ok(members)
    }

    /// The identity `system` belongs to, as far as the local store knows: the identity its
    /// acceptance names when that identity authorized it, else `system` itself. A key that only
    /// claims an identity is not taken for it.
    pub async fn identity_of(&self, system: PublicKey) -> Result<PublicKey, ClientError> {
        let latest = self
            .store
            .latest(system, vec![content::DEVICE_ACCEPT])
            .await?;
        for event in verify_all(&latest)? {
            let Ok(acceptance) = devices::acceptance(&event) else {
                continue;
            };
            let authorized = self.devices_of(acceptance.identity).await?;
            if authorized.iter().any(|device| device.key == system) {
                return Ok(acceptance.identity);
            }
        }
        Ok(system)
    }

    /// The identity `system` belongs to, asking `servers` when the local store does not know:
    /// a key with an acceptance gets its claimed identity pulled, so the claim is checked
    /// against that identity's own authorizations.
    pub async fn learn_identity(
        &self,
        system: PublicKey,
        servers: &[String],
    ) -> Result<PublicKey, ClientError> {
        let known = self.identity_of(system).await?;
        if known != system {
            return Ok(known);
        }
        let claimed = self.claimed_identity(system, servers).await;
        if let Some(identity) = claimed {
            self.pull(identity, servers).await?;
            return self.identity_of(system).await;
        }
        Ok(system)
    }

    /// The identity `system`'s acceptance on any of `servers` names, after storing it.
    async fn claimed_identity(&self, system: PublicKey, servers: &[String]) -> Option<PublicKey> {
        for server in distinct_servers(servers) {
            let Ok(events) = self
                .remote(&server)
                .latest(&system, &[content::DEVICE_ACCEPT])
                .await
            else {
                continue;
            };
            let Some(acceptance) = events
                .iter()
                .find_map(|event| devices::acceptance(event).ok())
            else {
                continue;
            };
            if self.store.ingest(events).await.is_ok() {
                return Some(acceptance.identity);
            }
        }
        None
    }

    /// This device's acceptance of its identity, publishing it first when there is none.
    pub async fn accept_identity(&self) -> Result<VerifiedEvent, ClientError> {
        if let Some(acceptance) = self.own_acceptance().await? {
            return Ok(acceptance);
        }
        let identity = self.identity();
        let pointer = self
            .publish(|author, ms| author.publish(devices::acceptance_draft(&identity), ms))
            .await?;
        self.load(&pointer)
            .await?
            .ok_or_else(|| ClientError::NotFound(Box::new(pointer)))
    }

    /// The DEVICE_ACCEPT of `device` naming this identity, from the local store.
    pub async fn acceptance_of(
        &self,
        device: PublicKey,
    ) -> Result<Option<VerifiedEvent>, ClientError> {
        let latest = self
            .store
            .latest(device, vec![content::DEVICE_ACCEPT])
            .await?;
        Ok(verify_all(&latest)?.into_iter().find(|event| {
            devices::acceptance(event).is_ok_and(|accepted| accepted.identity == self.identity())
        }))
    }

    async fn own_acceptance(&self) -> Result<Option<VerifiedEvent>, ClientError> {
        if self.holds_root() {
            return Ok(None);
        }
        self.acceptance_of(self.system()).await
    }

    /// Authorizes (or renames) the device whose acceptance is `acceptance`. Needs the root key.
    pub async fn authorize_device(
        &self,
        acceptance: &VerifiedEvent,
        name: &str,
    ) -> Result<Pointer, ClientError> {
        self.require_root("authorize a device")?;
        let accepted = devices::acceptance(acceptance).map_err(ClientError::Device)?;
        if accepted.identity != self.identity() {
            return Err(ClientError::Device(format!(
                "device {} asks to join identity {}, not this one ({})",
                accepted.device,
                accepted.identity,
                self.identity()
            )));
        }
        if let Some(device) = self.device(accepted.device).await?
            && device.revoked.is_some()
        {
            return Err(ClientError::Device(format!(
                "device {} ({}) was revoked; a revoked key is never authorized again: pair the \
                 device anew (it makes a new key)",
                device.name, device.key
            )));
        }
        self.publish(|author, ms| {
            author.publish(devices::authorization_draft(acceptance, name), ms)
        })
        .await
    }

    /// Revokes `device`: its events held locally now (pull it first) stay valid, every later
    /// one is refused. Needs the root key.
    pub async fn revoke_device(&self, device: PublicKey) -> Result<Pointer, ClientError> {
        self.require_root("revoke a device")?;
        let Some(known) = self.device(device).await? else {
            return Err(ClientError::Device(format!(
                "{device} is not a device of this identity (`agora device list` shows them)"
            )));
        };
        if known.revoked.is_some() {
            return Err(ClientError::Device(format!(
                "device {} ({device}) is already revoked",
                known.name
            )));
        }
        let bounds: Vec<(Process, u64)> = self
            .store
            .ranges(device)
            .await?
            .into_iter()
            .filter_map(|held| held.ranges.last().map(|&(_, last)| (held.process, last)))
            .collect();
        self.publish(|author, ms| {
            author.publish(devices::revocation_draft(&known.acceptance, &bounds), ms)
        })
        .await
    }

    /// Authorizes a new key of this identity that the caller made and holds (`agora recovery
    /// forget` moves its own home onto it): signs the key's acceptance with the key itself,
    /// stores it, and authorizes it. Needs the root key.
    pub async fn authorize_new_key(
        &self,
        device: &SecretKey,
        name: &str,
    ) -> Result<Pointer, ClientError> {
        self.require_root("authorize a device")?;
        let mut author = Author::new(SecretKey::from_seed(device.seed()), Process::random());
        let acceptance = author.publish(devices::acceptance_draft(&self.identity()), now_ms())?;
        let stored = self.store.ingest(vec![acceptance.clone()]).await?;
        if let Some(IngestOutcome::Rejected(reason)) = stored.into_iter().next() {
            return Err(ClientError::Refused(reason.to_string()));
        }
        self.authorize_device(&acceptance, name).await
    }

    /// One device of this identity, if it is one.
    pub async fn device(&self, key: PublicKey) -> Result<Option<Device>, ClientError> {
        Ok(self
            .devices_of(self.identity())
            .await?
            .into_iter()
            .find(|device| device.key == key))
    }

    /// Pulls `identity` and then each of its devices from the hints and every server they
    /// list. The value is how many new events were stored in all.
    pub async fn pull_identity(
        &self,
        identity: PublicKey,
        hints: &[String],
    ) -> Result<Gathered<usize>, ClientError> {
        let counted = self.pull_identity_counted(identity, hints).await?;
        Ok(Gathered {
            value: counted.value.iter().map(|(_, stored)| stored).sum(),
            answered: counted.answered,
            failed: counted.failed,
        })
    }

    /// As [`Client::pull_identity`], with how many new events each server delivered. A server
    /// that answered for one of the systems counts as answering.
    pub async fn pull_identity_counted(
        &self,
        identity: PublicKey,
        hints: &[String],
    ) -> Result<Gathered<Vec<(String, usize)>>, ClientError> {
        let mut gathered = self.pull_counted(identity, hints).await?;
        let mut candidates = hints.to_vec();
        candidates.extend(self.servers_of(identity).await?);
        for device in self.members(identity).await?.into_iter().skip(1) {
            let pulled = self.pull_counted(device, &candidates).await?;
            for (server, stored) in pulled.value {
                match gathered
                    .value
                    .iter_mut()
                    .find(|(known, _)| *known == server)
                {
                    Some((_, total)) => *total += stored,
                    None => gathered.value.push((server, stored)),
                }
            }
            merge_servers(&mut gathered.answered, pulled.answered);
            for failure in pulled.failed {
                if !gathered.failed.iter().any(|f| f.server == failure.server) {
                    gathered.failed.push(failure);
                }
            }
        }
        gathered
            .failed
            .retain(|failure| !gathered.answered.contains(&failure.server));
        Ok(gathered)
    }

    /// Waits until this device's identity has authorized it on one of `servers`, pulling the
    /// identity every [`PAIRING_POLL`], for at most `timeout`. Returns the device's name.
    pub async fn wait_for_authorization(
        &self,
        servers: &[String],
        timeout: Duration,
    ) -> Result<Option<String>, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.pull(self.identity(), servers).await?;
            if let Some(device) = self.device(self.system()).await? {
                return Ok(Some(device.name));
            }
            if tokio::time::Instant::now() + PAIRING_POLL > deadline {
                return Ok(None);
            }
            tokio::time::sleep(PAIRING_POLL).await;
        }
    }

    async fn revocations_of(&self, identity: PublicKey) -> Result<Vec<Revocation>, ClientError> {
        Ok(self
            .feed(identity, content::DEVICE_REVOKE)
            .await?
            .iter()
            .filter_map(|event| devices::revocation(event).ok())
            .collect())
    }

    fn require_root(&self, what: &str) -> Result<(), ClientError> {
        if self.holds_root() {
            return Ok(());
        }
        Err(ClientError::NotRoot(what.to_owned()))
    }
}

/// The order statements take effect in: event time, then process and clock.
fn event_order(event: &VerifiedEvent) -> (u64, [u8; 16], u64) {
    (
        event.unix_milliseconds().unwrap_or(0),
        *event.process().as_bytes(),
        event.logical_clock(),
    )
}

/// Two revocations of one device keep only what both keep.
fn strictest(
    current: Option<Vec<(Process, u64)>>,
    bounds: Vec<(Process, u64)>,
) -> Vec<(Process, u64)> {
    let Some(current) = current else {
        return bounds;
    };
    current
        .into_iter()
        .filter_map(|(process, last)| {
            bounds
                .iter()
                .find(|(other, _)| *other == process)
                .map(|&(_, other_last)| (process, last.min(other_last)))
        })
        .collect()
}

fn merge_servers(into: &mut Vec<String>, more: Vec<String>) {
    for server in more {
        if !into.contains(&server) {
            into.push(server);
        }
    }
}
