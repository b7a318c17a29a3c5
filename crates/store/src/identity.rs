//! Values of the identity part of the store contract (handle bindings and claim queries), and
//! the handle policy both engines apply ([`decide_claim`]).

use agora_protocol::{PublicKey, wire};

/// A handle bound to a system, and whether the binding was made with a signed proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandleBinding {
    /// Spelled as it was claimed; handles are compared without regard to case.
    pub handle: String,
    pub system: PublicKey,
    /// Made by a claim signed by `system` over a server challenge. Such a binding can only be
    /// changed by another signed claim of the same system (or by removing the system: purge or
    /// refuse_storage).
    pub proven: bool,
}

/// What a claim of a handle did. Refusals change nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandleClaimOutcome {
    /// The system now holds the handle (any previous handle of the system is released). A
    /// repeat claim of the handle the system already holds is also `Bound`, and keeps the
    /// binding's proof; spelled in another case, it takes the new spelling.
    Bound,
    /// Another system holds the handle.
    Taken(PublicKey),
    /// The system's current binding was made with proof and this claim has none.
    ProvenBindingNeedsProof { current: String },
    /// An operator refused storage of the system (`refuse_storage`): it holds no handle and
    /// cannot claim one until the censorship is lifted.
    SystemRefused,
}

/// What a handle claim's decision reads from the store.
#[derive(Debug)]
pub struct HandleFacts {
    /// An operator refused storage of the claiming system.
    pub refused: bool,
    /// The binding of the claimed handle, in any case.
    pub holder: Option<HandleBinding>,
    /// The claiming system's current binding.
    pub current: Option<HandleBinding>,
}

/// What a claim of `handle` by `system` does, given what is stored: `None` to bind it (the
/// engine replaces the system's binding with this one), or the outcome that changes nothing.
pub fn decide_claim(
    system: &PublicKey,
    handle: &str,
    proven: bool,
    facts: HandleFacts,
) -> Option<HandleClaimOutcome> {
    if facts.refused {
        return Some(HandleClaimOutcome::SystemRefused);
    }
    if let Some(holder) = facts.holder {
        if holder.system != *system {
            return Some(HandleClaimOutcome::Taken(holder.system));
        }
        // Claiming the handle one already holds, spelled the same, changes nothing; a proven
        // binding stays proven even when the repeat claim is unsigned. Spelled otherwise
        // (`Alice` for `alice`) it is a change like any other, which a proven binding takes
        // only with proof.
        if holder.handle == handle && (holder.proven || !proven) {
            return Some(HandleClaimOutcome::Bound);
        }
    }
    match facts.current {
        Some(current) if current.proven && !proven => {
            Some(HandleClaimOutcome::ProvenBindingNeedsProof {
                current: current.handle,
            })
        }
        _ => None,
    }
}

/// One CLAIM event vouched for by a VOUCH event (spec section 6.4).
#[derive(Clone, Debug, PartialEq)]
pub struct VouchedClaim {
    pub claim: wire::SignedEvent,
    pub vouch: wire::SignedEvent,
}

/// How `/resolve_claim` matches a claim's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimFieldMatch {
    /// Some field's value equals this string exactly.
    AnyField(String),
    /// The claim holds every one of these (key, value) pairs.
    AllFields(Vec<(u64, String)>),
}

/// `/resolve_claim`: claims of a type matching fields, vouched for by `trust_root`.
#[derive(Clone, Debug)]
pub struct ClaimQuery {
    pub claim_type: u64,
    pub trust_root: PublicKey,
    pub fields: ClaimFieldMatch,
    /// Most (claim, vouch) pairs returned, newest vouch first.
    pub limit: usize,
}

/// `/find_claim_and_vouch`: the claim of `claiming_system` of a type holding all `fields`, with
/// the latest vouch for it by `vouching_system`.
#[derive(Clone, Debug)]
pub struct ClaimVouchQuery {
    pub claim_type: u64,
    pub claiming_system: PublicKey,
    pub vouching_system: PublicKey,
    pub fields: Vec<(u64, String)>,
}
