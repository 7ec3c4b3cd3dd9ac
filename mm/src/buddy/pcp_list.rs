//! One per-CPU list (`per_cpu_pages.lists[pindex]`): the blocks of one order in list order, head first, kept as
//! runs of blocks that follow each other in memory (a refill hands out a split block's units in address order;
//! a LIFO free gives them back in reverse), so taking or adding a block is a step on a run, not a list node.
//!
//! # Invariants
//! - every run has `n >= 1` blocks, `pfn, pfn + stride, ..` in list order, all of the run's migratetype;
//! - the list's blocks are its runs' blocks in run order; `stride` is `2^order` of the list's order.

use ::alloc::collections::VecDeque;

/// `n` blocks `pfn, pfn + stride, ..` of migratetype `mt`, in list order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    pfn: u64,
    n: u32,
    mt: u8,
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub(super) struct PcpList {
    runs: VecDeque<Run>,
    stride: u64,
}

impl PcpList {
    pub(super) fn new(order: u32) -> PcpList {
        PcpList { runs: VecDeque::new(), stride: 1 << order }
    }

    #[inline(always)]
    pub(super) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// `list_add` (a free): `pfn` becomes the head.
    #[inline(always)]
    pub(super) fn push_front(&mut self, pfn: u64, mt: u64) {
        if let Some(r) = self.runs.front_mut() {
            if pfn + self.stride == r.pfn && u64::from(r.mt) == mt && r.n < u32::MAX {
                r.pfn = pfn;
                r.n += 1;
                return;
            }
        }
        self.runs.push_front(Run { pfn, n: 1, mt: mt as u8 });
    }

    /// `list_add_tail` (a refill): `pfn` becomes the last block.
    #[inline(always)]
    pub(super) fn push_back(&mut self, pfn: u64, mt: u64) {
        if let Some(r) = self.runs.back_mut() {
            if r.pfn + u64::from(r.n) * self.stride == pfn && u64::from(r.mt) == mt && r.n < u32::MAX {
                r.n += 1;
                return;
            }
        }
        self.runs.push_back(Run { pfn, n: 1, mt: mt as u8 });
    }

    /// Takes the head block (an allocation): `(pfn, migratetype)`.
    #[inline(always)]
    pub(super) fn pop_front(&mut self) -> Option<(u64, u64)> {
        let r = self.runs.front_mut()?;
        let out = (r.pfn, u64::from(r.mt));
        if r.n > 1 {
            r.pfn += self.stride;
            r.n -= 1;
        } else {
            self.runs.pop_front();
        }
        Some(out)
    }

    /// Takes the last block, the oldest (a bulk free): `(pfn, migratetype)`.
    #[inline(always)]
    pub(super) fn pop_back(&mut self) -> Option<(u64, u64)> {
        let r = self.runs.back_mut()?;
        let out = (r.pfn + u64::from(r.n - 1) * self.stride, u64::from(r.mt));
        if r.n > 1 {
            r.n -= 1;
        } else {
            self.runs.pop_back();
        }
        Some(out)
    }

    /// The block `k` places before the last one, if there is one (what a bulk free will take `k` steps later).
    #[inline(always)]
    pub(super) fn from_back(&self, mut k: u64) -> Option<u64> {
        for r in self.runs.iter().rev() {
            if k < u64::from(r.n) {
                return Some(r.pfn + (u64::from(r.n) - 1 - k) * self.stride);
            }
            k -= u64::from(r.n);
        }
        None
    }

    /// The blocks, head first: `(pfn, migratetype)`.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.runs.iter().flat_map(move |r| (0..u64::from(r.n)).map(move |i| (r.pfn + i * self.stride, u64::from(r.mt))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::alloc::vec::Vec;

    #[test]
    fn runs_keep_list_order() {
        let mut l = PcpList::new(1);
        for pfn in [10, 12, 14, 20] {
            l.push_back(pfn, 1);
        }
        l.push_front(8, 1);
        l.push_front(6, 0);
        l.push_back(22, 0);
        assert_eq!(l.runs.len(), 4, "{:?}", l.runs);
        let all: Vec<_> = l.iter().collect();
        assert_eq!(all, [(6, 0), (8, 1), (10, 1), (12, 1), (14, 1), (20, 1), (22, 0)]);
        assert_eq!(l.from_back(0), Some(22));
        assert_eq!(l.from_back(3), Some(12));
        assert_eq!(l.from_back(7), None);
        assert_eq!(l.pop_front(), Some((6, 0)));
        assert_eq!(l.pop_back(), Some((22, 0)));
        assert_eq!(l.pop_back(), Some((20, 1)));
        assert_eq!(l.pop_front(), Some((8, 1)));
        assert_eq!(l.pop_front(), Some((10, 1)));
        assert_eq!(l.iter().collect::<Vec<_>>(), [(12, 1), (14, 1)]);
        assert_eq!((l.pop_back(), l.pop_back(), l.pop_back()), (Some((14, 1)), Some((12, 1)), None));
        assert!(l.is_empty());
    }
}
