//! Last-writer-wins rules (spec section 3.3), with the spec's recommended tie-breaks.
//!
//! Implementations disagree on ties; these rules make every replica pick the same winner from
//! the same set of events, whatever order they arrived in.

use std::cmp::Ordering;

use crate::keys::Process;

/// The position of an LWW element write: its `lww_element.unix_milliseconds`, then the process
/// bytes. The greater position wins, so equal timestamps resolve the same way everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LwwStamp {
    pub unix_milliseconds: u64,
    pub process: Process,
}

/// Whether `candidate` replaces `current` as the value of an LWW element.
pub fn lww_element_replaces(candidate: &LwwStamp, current: &LwwStamp) -> bool {
    candidate > current
}

/// An LWW element set operation, as on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOperation {
    Add,
    Remove,
}

/// Whether `candidate` replaces `current` as the state of one value of an LWW element set: the
/// larger timestamp wins, and on equal timestamps ADD wins.
pub fn lww_set_replaces(candidate: (u64, SetOperation), current: (u64, SetOperation)) -> bool {
    match candidate.0.cmp(&current.0) {
        Ordering::Greater => true,
        Ordering::Less => false,
        Ordering::Equal => candidate.1 == SetOperation::Add && current.1 == SetOperation::Remove,
    }
}

/// The members of an LWW element set from its writes, in any order: per value the winning
/// operation, kept when it is an ADD. Values come out sorted.
pub fn set_members<'a>(
    writes: impl IntoIterator<Item = &'a crate::wire::LwwElementSet>,
) -> Vec<Vec<u8>> {
    let mut state: std::collections::BTreeMap<Vec<u8>, (u64, SetOperation)> =
        std::collections::BTreeMap::new();
    for write in writes {
        let operation = match write.operation() {
            crate::wire::lww_element_set::Operation::Add => SetOperation::Add,
            crate::wire::lww_element_set::Operation::Remove => SetOperation::Remove,
        };
        let candidate = (write.unix_milliseconds, operation);
        match state.get(write.value.as_ref()) {
            Some(current) if !lww_set_replaces(candidate, *current) => {}
            _ => {
                state.insert(write.value.to_vec(), candidate);
            }
        }
    }
    state
        .into_iter()
        .filter(|(_, (_, operation))| *operation == SetOperation::Add)
        .map(|(value, _)| value)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(ms: u64, process_byte: u8) -> LwwStamp {
        LwwStamp {
            unix_milliseconds: ms,
            process: Process::from_bytes(&[process_byte; 16]).expect("16"),
        }
    }

    #[test]
    fn lww_element_larger_time_then_larger_process_wins() {
        assert!(lww_element_replaces(&stamp(2, 0), &stamp(1, 9)));
        assert!(!lww_element_replaces(&stamp(1, 9), &stamp(2, 0)));
        assert!(lww_element_replaces(&stamp(5, 2), &stamp(5, 1)));
        assert!(!lww_element_replaces(&stamp(5, 1), &stamp(5, 2)));
        assert!(
            !lww_element_replaces(&stamp(5, 1), &stamp(5, 1)),
            "a write does not replace itself"
        );
    }

    #[test]
    fn lww_set_add_wins_ties() {
        use SetOperation::{Add, Remove};
        assert!(lww_set_replaces((2, Remove), (1, Add)));
        assert!(!lww_set_replaces((1, Add), (2, Remove)));
        assert!(lww_set_replaces((3, Add), (3, Remove)));
        assert!(!lww_set_replaces((3, Remove), (3, Add)));
        assert!(!lww_set_replaces((3, Add), (3, Add)));
    }
}
