//! Range arithmetic for set reconciliation (spec section 6.1): which clocks one side holds that
//! the other lacks, how to cut them into request-sized pieces, and how to walk what a peer
//! advertises without trusting its claim. Used by the client's sync and by a server's mirrors.

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

/// Cuts ranges into pieces of one process and at most `clocks_max` clocks each, all at once:
/// for ranges of stored events, such as what this side sends. What a peer advertises is read
/// with [`Walk`] instead, since a peer may claim more clocks than pieces fit in memory.
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

/// Reads what a peer advertises and this side lacks, one piece at a time, as the peer serves
/// it. Advertised clocks are only a claim: an honest server advertises slots it does not serve
/// (the tombstones of deleted events, events its operator refused), and a hostile one may
/// advertise all 2^64 clocks of a process. So a piece the peer serves nothing of makes the next
/// piece twice as wide, and a piece that served events is followed by one that starts just after
/// the highest clock served, `width_min` wide again. Every request thus either brings an event
/// of a higher clock than any before it or doubles the width: a gap of n clocks costs about
/// log2(n) requests, and a peer makes a reader ask at most about 65 times per event it serves.
#[derive(Debug)]
pub struct Walk {
    /// What is wanted, per process, sorted and disjoint.
    wanted: Vec<ProcessRanges>,
    /// The process being read, an index into `wanted`.
    process_at: usize,
    /// Its first clock not yet known to be served or absent.
    from: u64,
    /// Clocks in the next piece.
    width: u64,
    /// The width of a piece after one that served events, and the narrowest.
    width_min: u64,
}

impl Walk {
    pub fn new(wanted: Vec<ProcessRanges>, width_min: u64) -> Self {
        let wanted = wanted
            .into_iter()
            .map(|process_ranges| ProcessRanges {
                process: process_ranges.process,
                ranges: crate::normalize(process_ranges.ranges),
            })
            .filter(|process_ranges| !process_ranges.ranges.is_empty())
            .collect();
        let width_min = width_min.max(1);
        Self {
            wanted,
            process_at: 0,
            from: 0,
            width: width_min,
            width_min,
        }
    }

    /// The next piece to ask for, of one process, or `None` once everything was asked.
    pub fn next_piece(&mut self) -> Option<ProcessRanges> {
        loop {
            let process_ranges = self.wanted.get(self.process_at)?;
            let ranges = take_clocks(&process_ranges.ranges, self.from, self.width);
            if !ranges.is_empty() {
                return Some(ProcessRanges {
                    process: process_ranges.process,
                    ranges,
                });
            }
            self.next_process();
        }
    }

    /// Records what the peer served for `piece` (the last [`Walk::next_piece`]): the clocks of
    /// the served events of the piece's process. Clocks outside the piece do not count.
    pub fn served(&mut self, piece: &ProcessRanges, clocks: impl IntoIterator<Item = u64>) {
        let within = |clock: &u64| {
            piece
                .ranges
                .iter()
                .any(|(low, high)| low <= clock && clock <= high)
        };
        let (resume, width) = match clocks.into_iter().filter(within).max() {
            Some(highest) => (highest.checked_add(1), self.width_min),
            None => {
                let last = piece.ranges.last().map_or(self.from, |(_, high)| *high);
                (last.checked_add(1), self.width.saturating_mul(2))
            }
        };
        match resume {
            Some(from) => {
                self.from = from;
                self.width = width;
            }
            None => self.next_process(),
        }
    }

    /// The answer to the last piece was too large to read: the next piece, from the same
    /// clock, is half as wide. `false` when it already was as narrow as a piece gets.
    pub fn too_large(&mut self) -> bool {
        if self.width <= self.width_min {
            return false;
        }
        self.width = (self.width / 2).max(self.width_min);
        true
    }

    fn next_process(&mut self) {
        self.process_at += 1;
        self.from = 0;
        self.width = self.width_min;
    }
}

/// Up to `count` clocks of sorted, disjoint `ranges`, from clock `from` on.
fn take_clocks(ranges: &[(u64, u64)], from: u64, count: u64) -> Vec<(u64, u64)> {
    let mut taken = Vec::new();
    let mut left = count;
    for &(low, high) in ranges {
        if left == 0 {
            break;
        }
        if high < from {
            continue;
        }
        let low = low.max(from);
        let take = (high - low).saturating_add(1).min(left);
        taken.push((low, low + (take - 1)));
        left -= take;
    }
    taken
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

    #[test]
    fn a_walk_widens_across_what_is_not_served_and_narrows_after_what_is() {
        let mut walk = Walk::new(vec![on(1, &[(1, u64::MAX)]), on(2, &[(5, 6)])], 20);
        let first = walk.next_piece().expect("a piece");
        assert_eq!(first, on(1, &[(1, 20)]));
        walk.served(&first, [3, 7, 900]);
        let second = walk.next_piece().expect("a piece");
        assert_eq!(
            second,
            on(1, &[(8, 27)]),
            "just after the highest clock served"
        );
        walk.served(&second, []);
        assert_eq!(walk.next_piece(), Some(on(1, &[(28, 67)])), "twice as wide");
        assert!(walk.too_large());
        assert_eq!(walk.next_piece(), Some(on(1, &[(28, 47)])));
        assert!(!walk.too_large(), "as narrow as a piece gets");
        let mut asked = 3;
        while let Some(piece) = walk.next_piece() {
            if piece.process == process(2) {
                assert_eq!(piece, on(2, &[(5, 6)]));
                break;
            }
            walk.served(&piece, []);
            asked += 1;
        }
        assert!(
            asked < 70,
            "2^64 clocks served by nobody took {asked} requests"
        );
    }
}
