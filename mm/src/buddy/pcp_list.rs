//! One per-CPU list (`per_cpu_pages.lists[pindex]`): the blocks of one order in list order, head first, each
//! with the migratetype of the list it was put on (`get_pcppage_migratetype`).
//!
//! # Invariants
//! - every entry is a block pfn aligned to the list's order, with its migratetype in the bits from `MT_SHIFT`.

use ::alloc::collections::VecDeque;

/// Where an entry keeps its migratetype (pfns stay below 2^52).
const MT_SHIFT: u32 = 56;
const PFN_MASK: u64 = (1 << MT_SHIFT) - 1;

/// See the module documentation.
#[derive(Clone, Debug)]
pub(super) struct PcpList {
    blocks: VecDeque<u64>,
}

impl PcpList {
    pub(super) fn new() -> PcpList {
        PcpList { blocks: VecDeque::new() }
    }

    #[inline(always)]
    pub(super) fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// `list_add` (a free): `pfn` becomes the head.
    #[inline(always)]
    pub(super) fn push_front(&mut self, pfn: u64, mt: u64) {
        self.blocks.push_front(pfn | mt << MT_SHIFT);
    }

    /// `list_add_tail` (a refill): `pfn` becomes the last block.
    #[inline(always)]
    pub(super) fn push_back(&mut self, pfn: u64, mt: u64) {
        self.blocks.push_back(pfn | mt << MT_SHIFT);
    }

    /// Takes the head block (an allocation): `(pfn, migratetype)`.
    #[inline(always)]
    pub(super) fn pop_front(&mut self) -> Option<(u64, u64)> {
        self.blocks.pop_front().map(|e| (e & PFN_MASK, e >> MT_SHIFT))
    }

    /// Takes the last block, the oldest (a bulk free): `(pfn, migratetype)`.
    #[inline(always)]
    pub(super) fn pop_back(&mut self) -> Option<(u64, u64)> {
        self.blocks.pop_back().map(|e| (e & PFN_MASK, e >> MT_SHIFT))
    }

    /// The block `k` places before the last one, if there is one (what a bulk free will take `k` steps later).
    #[inline(always)]
    pub(super) fn from_back(&self, k: u64) -> Option<u64> {
        let i = self.blocks.len().checked_sub(1 + k as usize)?;
        self.blocks.get(i).map(|e| e & PFN_MASK)
    }

    /// Makes room for `n` more blocks (before a refill).
    #[inline]
    pub(super) fn reserve(&mut self, n: usize) {
        self.blocks.reserve(n);
    }

    /// The blocks, head first: `(pfn, migratetype)`.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.blocks.iter().map(|e| (e & PFN_MASK, e >> MT_SHIFT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::alloc::vec::Vec;

    #[test]
    fn list_order_and_migratetypes() {
        let mut l = PcpList::new();
        for pfn in [10, 12, 14, 20] {
            l.push_back(pfn, 1);
        }
        l.push_front(8, 1);
        l.push_front(6, 0);
        l.push_back(22, 2);
        let all: Vec<_> = l.iter().collect();
        assert_eq!(all, [(6, 0), (8, 1), (10, 1), (12, 1), (14, 1), (20, 1), (22, 2)]);
        assert_eq!(l.from_back(0), Some(22));
        assert_eq!(l.from_back(3), Some(12));
        assert_eq!(l.from_back(7), None);
        assert_eq!(l.pop_front(), Some((6, 0)));
        assert_eq!(l.pop_back(), Some((22, 2)));
        assert_eq!(l.pop_back(), Some((20, 1)));
        assert_eq!(l.iter().collect::<Vec<_>>(), [(8, 1), (10, 1), (12, 1), (14, 1)]);
        while l.pop_back().is_some() {}
        assert!(l.is_empty());
    }
}
