//! Range arithmetic for set reconciliation (spec section 6.1): which clocks one side holds that
//! the other lacks, and how to cut them into request-sized pieces. Used by the client's sync and
//! by a server's mirrors.

use std::collections::BTreeMap;

use agora_protocol::Process;

use crate::ProcessRanges;

/// Per process, the clocks in `have` that are not in `minus`. Input ranges need not be sorted
/// or disjoint (a server may send anything); the output is sorted and disjoint.
pub fn subtract(have: &[ProcessRanges], minus: &[ProcessRanges]) -> Vec<ProcessRanges> {
    let mut removed: BTreeMap<Process, Vec<(u64, u64)>> = BTreeMap::new();
    for process_ranges in minus {
        removed
            .entry(process_ranges.process)
            .or_default()
            .extend(&process_ranges.ranges);
    }
    let mut result = Vec::new();
    for process_ranges in have {
        let minus = crate::normalize(removed.remove(&process_ranges.process).unwrap_or_default());
        let left = subtract_one(&crate::normalize(process_ranges.ranges.clone()), &minus);
        if !left.is_empty() {
            result.push(ProcessRanges {
                process: process_ranges.process,
                ranges: left,
            });
        }
    }
    result
}

/// `have − minus` for sorted, disjoint inputs.
fn subtract_one(have: &[(u64, u64)], minus: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut result = Vec::new();
    for &(low, high) in have {
        // The first clock of (low, high) not yet kept or cut; `None` once all are.
        let mut next = Some(low);
        for &(cut_low, cut_high) in minus {
            let Some(start) = next else { break };
            if cut_high < start || cut_low > high {
                continue;
            }
            if cut_low > start {
                result.push((start, cut_low - 1));
            }
            next = (cut_high < high).then(|| cut_high + 1);
        }
        if let Some(start) = next {
            result.push((start, high));
        }
    }
    result
}

/// Cuts ranges into pieces of one process and at most `clocks_max` clocks each.
pub fn chunks(ranges: &[ProcessRanges], clocks_max: u64) -> Vec<ProcessRanges> {
    let mut pieces = Vec::new();
    for process_ranges in ranges {
        let mut current: Vec<(u64, u64)> = Vec::new();
        let mut count = 0;
        for &(low, high) in &process_ranges.ranges {
            let mut low = low;
            while low <= high {
                let take = (high - low).saturating_add(1).min(clocks_max - count);
                current.push((low, low + take - 1));
                count += take;
                if count == clocks_max {
                    pieces.push(piece(process_ranges.process, &mut current));
                    count = 0;
                }
                match (low + take - 1).checked_add(1) {
                    Some(next) => low = next,
                    None => break,
                }
            }
        }
        if !current.is_empty() {
            pieces.push(piece(process_ranges.process, &mut current));
        }
    }
    pieces
}

fn piece(process: Process, ranges: &mut Vec<(u64, u64)>) -> ProcessRanges {
    ProcessRanges {
        process,
        ranges: std::mem::take(ranges),
    }
}

/// How many clocks the ranges cover.
pub fn clock_count(ranges: &[ProcessRanges]) -> u64 {
    ranges
        .iter()
        .flat_map(|process_ranges| &process_ranges.ranges)
        .map(|(low, high)| (high - low).saturating_add(1))
        .fold(0, u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(byte: u8) -> Process {
        Process::from_bytes(&[byte; 16]).expect("16")
    }

    fn on(byte: u8, ranges: &[(u64, u64)]) -> ProcessRanges {
        ProcessRanges {
            process: process(byte),
            ranges: ranges.to_vec(),
        }
    }

    fn check(have: &[(u64, u64)], minus: &[(u64, u64)], expected: &[(u64, u64)]) {
        let result = subtract(&[on(1, have)], &[on(1, minus), on(2, &[(1, 100)])]);
        let got: Vec<(u64, u64)> = result.into_iter().flat_map(|p| p.ranges).collect();
        assert_eq!(got, expected, "{have:?} - {minus:?}");
    }

    #[test]
    fn subtract_cuts_out_every_overlap() {
        check(&[(1, 10)], &[], &[(1, 10)]);
        check(&[(1, 10)], &[(1, 10)], &[]);
        check(&[(1, 10)], &[(3, 4), (8, 8)], &[(1, 2), (5, 7), (9, 10)]);
        check(&[(1, 10)], &[(0, 5)], &[(6, 10)]);
        check(&[(1, 10)], &[(5, 20)], &[(1, 4)]);
        check(&[(1, 3), (7, 9)], &[(2, 8)], &[(1, 1), (9, 9)]);
        check(&[(5, 5)], &[(1, 4), (6, 9)], &[(5, 5)]);
        check(
            &[(1, 10)],
            &[(8, 9), (2, 3), (3, 5)],
            &[(1, 1), (6, 7), (10, 10)],
        );
        check(&[(1, 10)], &[(9, 2)], &[(1, 10)]);
        check(&[(0, u64::MAX)], &[(0, u64::MAX)], &[]);
        check(&[(1, u64::MAX)], &[(5, u64::MAX)], &[(1, 4)]);
    }

    #[test]
    fn subtract_keeps_processes_the_other_side_lacks() {
        let result = subtract(&[on(3, &[(1, 2)])], &[on(1, &[(1, 2)])]);
        assert_eq!(result, vec![on(3, &[(1, 2)])]);
    }

    #[test]
    fn chunks_hold_one_process_and_at_most_the_limit() {
        let pieces = chunks(&[on(1, &[(1, 3), (5, 9)]), on(2, &[(1, 1)])], 4);
        assert_eq!(
            pieces,
            vec![on(1, &[(1, 3), (5, 5)]), on(1, &[(6, 9)]), on(2, &[(1, 1)]),]
        );
        assert_eq!(clock_count(&pieces), 9);
    }
}
