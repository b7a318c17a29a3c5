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

/// The held clocks of system `$1` (stored events and deletion tombstones) as ranges, in one
/// statement that both engines run: consecutive clocks form an island whose clock minus its rank
/// within the process is constant, so the database returns one row per range instead of one per
/// clock. `dense_rank` gives a clock that is both stored and deleted one rank. Rows:
/// (process, low, high), in process and clock order.
pub(crate) const HELD_RANGES_SQL: &str = "
    SELECT process, min(clock), max(clock)
    FROM (SELECT process, clock,
                 clock - dense_rank() OVER (PARTITION BY process ORDER BY clock) AS island
          FROM (SELECT process, logical_clock AS clock FROM events WHERE system = $1
                UNION ALL
                SELECT process, logical_clock FROM deletions WHERE system = $1) AS held
         ) AS numbered
    GROUP BY process, island
    ORDER BY process, 2";

/// Groups the rows of [`HELD_RANGES_SQL`] by process.
pub(crate) fn from_held_rows(
    rows: impl IntoIterator<Item = (Vec<u8>, i64, i64)>,
) -> Result<Vec<ProcessRanges>, crate::StoreError> {
    let mut result: Vec<ProcessRanges> = Vec::new();
    for (process, low, high) in rows {
        let range = (low as u64, high as u64);
        match result.last_mut() {
            Some(last) if last.process.as_bytes()[..] == process[..] => last.ranges.push(range),
            _ => result.push(ProcessRanges {
                process: Process::from_bytes(&process)
                    .map_err(|error| crate::StoreError::Corrupt(error.to_string()))?,
                ranges: vec![range],
            }),
        }
    }
    Ok(result)
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
