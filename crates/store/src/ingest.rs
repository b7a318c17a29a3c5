//! What ingest does with one verified event (spec section 5, with the reference server's
//! counter and range bugs fixed), decided once for every engine.
//!
//! An engine applies an event in three steps inside its write transaction:
//! 1. [`check`] needs nothing stored: it refuses values the store cannot order and malformed
//!    deletes, and names the slots and keys whose state the decision needs ([`Lookups`]);
//! 2. the engine reads those ([`Facts`]): primary-key lookups and the stored revocations;
//! 3. [`decide`] says what happens: a [`Rejection`], a duplicate, a drop for a deleted slot, or
//!    where to store it ([`Placement`]). The engine then writes the rows that keep counters,
//!    search and the rest exact.

use agora_protocol::devices::Revocation;
use agora_protocol::event::DeleteBody;
use agora_protocol::{Process, PublicKey, VerifiedEvent, content};

use crate::bounds::STORED_MAX;

/// Why ingest refused an event. `Display` is the reason a client is shown; [`Rejection::kind`]
/// is the category metrics count it under.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// A clock or time the store cannot keep in order ([`crate::bounds`]).
    #[error("{field} is {value}, over {STORED_MAX} (2^63 - 1), the largest this server stores")]
    OverBound { field: &'static str, value: u64 },
    /// The operator refused storage of the event's system (`refuse_storage`).
    #[error("this server refuses to store events of this system (operator curation)")]
    SystemRefused,
    /// The operator refused storage of this slot.
    #[error("this server refuses to store this event (operator curation)")]
    EventRefused,
    /// A removal of the system (purge, `refuse_storage`) is under way.
    #[error("this server is removing every event of this system; publish again once that is done")]
    SystemBeingRemoved,
    /// A revocation bounds the signing device, or forbids this authorization ([`crate::devices`]).
    #[error("{0}")]
    DeviceRevoked(String),
    /// An edit the rules of [`crate::edits`] refuse.
    #[error("{0}")]
    Edit(String),
    /// A DELETE whose body does not decode.
    #[error("{0}")]
    MalformedDelete(String),
    /// A DELETE of its own slot.
    #[error("a delete cannot target itself")]
    DeleteOfItself,
    /// A DELETE of a DELETE, by its body or by what the slot holds.
    #[error("a delete cannot target another delete")]
    DeleteOfDelete,
}

impl Rejection {
    /// The category of the refusal: `size`, `curation`, `device`, `edit` or `malformed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::OverBound { .. } => "size",
            Self::SystemRefused | Self::EventRefused | Self::SystemBeingRemoved => "curation",
            Self::DeviceRevoked(_) => "device",
            Self::Edit(_) => "edit",
            Self::MalformedDelete(_) | Self::DeleteOfItself | Self::DeleteOfDelete => "malformed",
        }
    }
}

/// A slot: (system, process, logical clock).
pub type Slot = (PublicKey, Process, u64);

/// What a slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotState {
    /// Nothing.
    Empty,
    /// A tombstone: the event there was deleted.
    Deleted,
    /// An event of this content type.
    Stored(u64),
}

/// Curation in force for an event's system and slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Curation {
    pub system_refused: bool,
    pub event_refused: bool,
    pub system_being_removed: bool,
}

/// The stored state [`decide`] needs, named by [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookups {
    /// The event's own slot.
    pub slot: Slot,
    /// The DELETE's parsed body, when the event is one.
    pub delete: Option<DeleteBody>,
    /// The slot a POST_EDIT refers to.
    pub edit_target: Option<Slot>,
    /// The device a DEVICE_AUTHORIZE authorizes.
    pub authorized_device: Option<PublicKey>,
}

impl Lookups {
    /// The slot the DELETE targets (always of its own system).
    pub fn delete_target(&self) -> Option<Slot> {
        self.delete
            .as_ref()
            .map(|delete| (self.slot.0, delete.process, delete.logical_clock))
    }
}

/// What the engine read for [`Lookups`].
#[derive(Clone, Debug)]
pub struct Facts {
    pub curation: Curation,
    pub slot: SlotState,
    /// The state of [`Lookups::delete_target`] (`Empty` when there is none).
    pub delete_target: SlotState,
    /// The state of [`Lookups::edit_target`] (`Empty` when there is none).
    pub edit_target: SlotState,
    /// Every stored revocation of the event's system as a device.
    pub revocations_of_system: Vec<Revocation>,
    /// Every stored revocation of [`Lookups::authorized_device`].
    pub revocations_of_authorized: Vec<Revocation>,
}

/// Where a stored event goes in its system's per-type feed: (content type, unix ms, process,
/// clock). A DELETE takes the place of what it deleted.
pub type FeedPlace = (u64, u64, Process, u64);

/// What to store for an event [`decide`] accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Its feed place; `None` for a DELETE of a slot that already had a tombstone (a repeated
    /// delete is stored, but only the first holds the tombstone and the feed place, so ranges
    /// and feeds never repeat).
    pub feed: Option<FeedPlace>,
    /// For a DELETE: the (process, clock) of its own system's slot that it deletes, whose
    /// event goes and whose tombstone it holds.
    pub deletes: Option<(Process, u64)>,
}

/// What ingest does with one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Reject(Rejection),
    /// The slot holds it already.
    Duplicate,
    /// The slot was deleted before it arrived: the tombstone stands for it.
    AlreadyDeleted,
    Store(Placement),
}

/// The checks that need nothing stored, and what [`decide`] needs read.
pub fn check(event: &VerifiedEvent) -> Result<Lookups, Rejection> {
    // First: a clock over the bound could name another slot's rows in an engine's integers.
    if let Some((field, value)) = crate::bounds::over_bound(event) {
        return Err(Rejection::OverBound { field, value });
    }
    let delete = event
        .delete_body()
        .map_err(|error| Rejection::MalformedDelete(error.to_string()))?;
    Ok(Lookups {
        slot: (*event.system(), *event.process(), event.logical_clock()),
        delete,
        edit_target: agora_protocol::edits::edit_target(event)
            .map(|target| (target.system, target.process, target.logical_clock)),
        authorized_device: crate::devices::authorized_device(event),
    })
}

/// What ingest does with `event`, given what the store holds. The order is the contract:
/// curation, then the slot's own state, then the device, edit and delete rules.
pub fn decide(event: &VerifiedEvent, lookups: &Lookups, facts: &Facts) -> Decision {
    let curation = facts.curation;
    if curation.system_refused {
        return Decision::Reject(Rejection::SystemRefused);
    }
    if curation.event_refused {
        return Decision::Reject(Rejection::EventRefused);
    }
    if curation.system_being_removed {
        return Decision::Reject(Rejection::SystemBeingRemoved);
    }
    match facts.slot {
        SlotState::Deleted => return Decision::AlreadyDeleted,
        SlotState::Stored(_) => return Decision::Duplicate,
        SlotState::Empty => {}
    }
    if let Some(reason) = crate::devices::refusal(
        event,
        &facts.revocations_of_system,
        &facts.revocations_of_authorized,
    ) {
        return Decision::Reject(Rejection::DeviceRevoked(reason));
    }
    if lookups.edit_target.is_some()
        && let Some(reason) = crate::edits::refusal(event, facts.edit_target)
    {
        return Decision::Reject(Rejection::Edit(reason));
    }
    let Some(delete) = &lookups.delete else {
        return Decision::Store(Placement {
            feed: Some((
                event.content_type(),
                event.unix_milliseconds().unwrap_or(0),
                *event.process(),
                event.logical_clock(),
            )),
            deletes: None,
        });
    };
    if delete.process == *event.process() && delete.logical_clock == event.logical_clock() {
        return Decision::Reject(Rejection::DeleteOfItself);
    }
    if delete.content_type == content::DELETE
        || facts.delete_target == SlotState::Stored(content::DELETE)
    {
        return Decision::Reject(Rejection::DeleteOfDelete);
    }
    Decision::Store(Placement {
        feed: (facts.delete_target != SlotState::Deleted).then(|| {
            (
                delete.content_type,
                delete.unix_milliseconds.unwrap_or(0),
                delete.process,
                delete.logical_clock,
            )
        }),
        deletes: Some((delete.process, delete.logical_clock)),
    })
}
