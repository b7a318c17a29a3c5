//! Held clocks as ranges: the one place that normalizes them and converts them to and from the
//! wire, for the server, the engines and the client alike.

use agora_protocol::encoding::base64url_encode;
use agora_protocol::{Process, PublicKey, wire};
use prost::Message as _;

/// The held clocks of one process, as inclusive (low, high) ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessRanges {
    pub process: Process,
    pub ranges: Vec<(u64, u64)>,
}

impl ProcessRanges {
    /// The path and query of `GET /events` for `system`'s clocks in `self`, as a client or a
    /// mirror asks a server.
    pub fn events_path(&self, system: &PublicKey) -> String {
        let request = Self::to_wire(std::slice::from_ref(self));
        format!(
            "/events?system={}&ranges={}",
            system.to_query_param(),
            base64url_encode(&request.encode_to_vec())
        )
    }

    /// The `RangesForSystem` message for a list of processes' ranges.
    pub fn to_wire(list: &[ProcessRanges]) -> wire::RangesForSystem {
        wire::RangesForSystem {
            ranges_for_processes: list
                .iter()
                .map(|for_process| wire::RangesForProcess {
                    process: Some(for_process.process.to_wire()),
                    ranges: for_process
                        .ranges
                        .iter()
                        .map(|&(low, high)| wire::Range { low, high })
                        .collect(),
                })
                .collect(),
        }
    }

    /// Reads a received `RangesForSystem`; the error names what is wrong with it.
    pub fn from_wire(message: &wire::RangesForSystem) -> Result<Vec<ProcessRanges>, String> {
        message
            .ranges_for_processes
            .iter()
            .map(|for_process| {
                let process = for_process
                    .process
                    .as_ref()
                    .ok_or("an entry has no process")?;
                Ok(ProcessRanges {
                    process: Process::try_from(process).map_err(|error| error.to_string())?,
                    ranges: for_process
                        .ranges
                        .iter()
                        .map(|range| (range.low, range.high))
                        .collect(),
                })
            })
            .collect()
    }
}

/// The clocks of system `$1`'s stored events, in (process, clock) order: an index range, read
/// in index order. Both engines run it, then [`HELD_DELETED_SQL`], then [`from_held_clocks`].
/// (Grouping the clocks into ranges in SQL, by clock minus rank, was measured slower on both
/// engines: 6× on SQLite and half the throughput on PostgreSQL at 1,000 events per identity.)
pub(crate) const HELD_STORED_SQL: &str =
    "SELECT process, logical_clock FROM events WHERE system = $1 ORDER BY process, logical_clock";

/// The clocks of system `$1`'s deletion tombstones, in (process, clock) order.
pub(crate) const HELD_DELETED_SQL: &str = "SELECT process, logical_clock FROM deletions WHERE system = $1 ORDER BY process, logical_clock";

/// The ranges of held clocks, from the rows of [`HELD_STORED_SQL`] and [`HELD_DELETED_SQL`]:
/// both are sorted, so merging them needs no sort.
pub(crate) fn from_held_clocks(
    stored: Vec<(Vec<u8>, i64)>,
    deleted: Vec<(Vec<u8>, i64)>,
) -> Result<Vec<ProcessRanges>, crate::StoreError> {
    let mut result: Vec<ProcessRanges> = Vec::new();
    for (process, clock) in merge_sorted(stored, deleted) {
        let clock = clock as u64;
        match result.last_mut() {
            Some(last) if last.process.as_bytes()[..] == process[..] => {
                match last.ranges.last_mut() {
                    Some(range) if range.1.saturating_add(1) >= clock => {
                        range.1 = range.1.max(clock)
                    }
                    _ => last.ranges.push((clock, clock)),
                }
            }
            _ => result.push(ProcessRanges {
                process: Process::from_bytes(&process)
                    .map_err(|error| crate::StoreError::Corrupt(error.to_string()))?,
                ranges: vec![(clock, clock)],
            }),
        }
    }
    Ok(result)
}

/// Merges two sorted lists into one sorted list (duplicates kept; the caller collapses them).
fn merge_sorted<T: Ord>(left: Vec<T>, right: Vec<T>) -> Vec<T> {
    let mut merged = Vec::with_capacity(left.len() + right.len());
    let (mut left, mut right) = (left.into_iter().peekable(), right.into_iter().peekable());
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (Some(l), Some(r)) => l <= r,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return merged,
        };
        merged.extend(if take_left { left.next() } else { right.next() });
    }
}

/// Sorts ranges, drops inverted ones, and merges overlapping or adjacent ones.
pub fn normalize(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.retain(|(low, high)| low <= high);
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (low, high) in ranges {
        match merged.last_mut() {
            Some(last) if low <= last.1.saturating_add(1) => last.1 = last.1.max(high),
            _ => merged.push((low, high)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_merges_overlaps_and_neighbours_and_drops_inverted() {
        assert_eq!(
            normalize(vec![(5, 9), (1, 3), (9, 12), (20, 10), (4, 4)]),
            vec![(1, 12)]
        );
        assert_eq!(normalize(vec![(30, 31), (1, 1)]), vec![(1, 1), (30, 31)]);
    }

    #[test]
    fn wire_round_trip_and_a_short_process_is_named() {
        let process = Process::from_bytes(&[3; 16]).expect("16");
        let list = vec![ProcessRanges {
            process,
            ranges: vec![(1, 4), (9, 9)],
        }];
        assert_eq!(
            ProcessRanges::from_wire(&ProcessRanges::to_wire(&list)),
            Ok(list)
        );
        let short = wire::RangesForSystem {
            ranges_for_processes: vec![wire::RangesForProcess {
                process: Some(wire::Process {
                    process: vec![1; 15].into(),
                }),
                ranges: vec![],
            }],
        };
        assert_eq!(
            ProcessRanges::from_wire(&short),
            Err("process must be 16 bytes, got 15".into())
        );
    }
}
