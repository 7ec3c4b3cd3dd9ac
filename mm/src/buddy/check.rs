//! [`Buddy::check`], every invariant of the module documentation checked against the memmap and memblock, with
//! the error it names ([`CheckError`]); and [`Buddy::free_blocks`], the lists walked for tests and reports.

use super::free_area::head_index;
use super::{Buddy, FreeBlock, NR_MIGRATETYPES, NR_ORDERS};
use crate::consts::*;
use crate::model::Mm;
use crate::page::{zone_id_of_flags, PageType, LIST_HEAD_BIT};
use crate::zones::{ZoneType, MAX_NR_ZONES};
use ::alloc::vec;
use ::alloc::vec::Vec;
use core::fmt;

/// What [`Buddy::check`] found wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// A list link names a pfn without a struct page, a prev link disagrees, or the list does not close.
    ListBroken,
    /// A listed page is not PageBuddy with `private == order`, or is linked to another zone.
    BadFreeHead,
    /// A free block is not aligned to its order.
    Misaligned,
    /// A free block reaches outside its zone's span.
    OutsideZone,
    /// A free block holds a hole page, a reserved page or a page of another zone.
    NotFreeMemory,
    /// A free tail page has a page type or a non-zero refcount.
    BadFreeTail,
    /// Two free blocks overlap.
    Overlap,
    /// `nr_free[order]` differs from the blocks on the lists (`expected` = counted).
    NrFree,
    /// The free counter differs from the pages on the lists (`expected` = counted).
    FreePages,
    /// A list's `nonempty` bit is wrong.
    NonemptyBit,
    /// A managed page is neither free, reserved, nor in a well-formed allocated block.
    BadAllocatedBlock,
    /// A memory page is linked to a zone the allocator does not have.
    NoZone,
    /// The allocated counter differs from the allocated pages found (`expected` = found).
    Allocated,
    /// allocated + free + reserved (`found`) != present (`expected`).
    Present,
    /// allocated + free (`found`) != managed (`expected`).
    Managed,
}

/// A failed [`Buddy::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckError {
    pub kind: CheckKind,
    /// The zone (node, type) concerned.
    pub zone: (u32, ZoneType),
    /// The pfn concerned (0 for counters).
    pub pfn: u64,
    pub order: u32,
    pub expected: u64,
    pub found: u64,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "buddy check: {:?} in node {} zone {} at pfn {:#x} order {} (expected {}, found {})",
            self.kind,
            self.zone.0,
            self.zone.1.name(),
            self.pfn,
            self.order,
            self.expected,
            self.found
        )
    }
}

impl Buddy {
    /// Every free block, sorted by pfn (walks the lists; for tests and reports).
    pub fn free_blocks(&self, mm: &Mm) -> Vec<FreeBlock> {
        let mut out = self.free_blocks_in_list_order(mm);
        out.sort_unstable();
        out
    }

    /// Every free block in list order: zone by zone, order by order, migratetype by migratetype, each list from
    /// its head (what the next allocations take first).
    pub fn free_blocks_in_list_order(&self, mm: &Mm) -> Vec<FreeBlock> {
        let mut out = Vec::new();
        for (zi, z) in self.zones.iter().enumerate() {
            let area = self.areas[zi].lock();
            for order in 0..NR_ORDERS {
                for mt in 0..NR_MIGRATETYPES {
                    let code = LIST_HEAD_BIT | head_index(order, mt) as u64;
                    let mut cur = area.heads[head_index(order, mt)].next;
                    let mut steps = 0u64;
                    while cur != code && steps <= z.managed_pages {
                        out.push(FreeBlock {
                            pfn: cur,
                            order: order as u32,
                            nid: z.nid,
                            zone: z.zone_type,
                            migratetype: mt as u64,
                        });
                        match mm.sparse.pfn_to_page(cur) {
                            Some(p) => cur = p.lru_next,
                            None => break,
                        }
                        steps += 1;
                    }
                }
            }
        }
        out
    }

    /// Checks every invariant of the module documentation against the memmap and memblock of `mm`.
    /// O(free blocks + memory pages).
    pub fn check(&self, mm: &Mm) -> Result<(), CheckError> {
        // Every zone at once, in zone-id order (the documented exception to one lock at a time).
        let areas: Vec<_> = self.areas.iter().map(|a| a.lock()).collect();
        let mut blocks: Vec<(u64, u32, usize)> = Vec::new();
        for (zi, z) in self.zones.iter().enumerate() {
            let zone = (z.nid, z.zone_type);
            let err = |kind, pfn, order, expected, found| CheckError { kind, zone, pfn, order, expected, found };
            let mut free = 0;
            for order in 0..NR_ORDERS {
                let mut count = 0;
                for mt in 0..NR_MIGRATETYPES {
                    let idx = head_index(order, mt);
                    let code = LIST_HEAD_BIT | idx as u64;
                    let (mut prev, mut cur) = (code, areas[zi].heads[idx].next);
                    let o = order as u32;
                    let bit = areas[zi].nonempty[mt] & (1 << order) != 0;
                    if bit != (cur != code) {
                        return Err(err(CheckKind::NonemptyBit, 0, o, (cur != code) as u64, bit as u64));
                    }
                    while cur != code {
                        if count > z.managed_pages || cur & LIST_HEAD_BIT != 0 {
                            return Err(err(CheckKind::ListBroken, cur, o, 0, 0));
                        }
                        let Some(p) = mm.sparse.pfn_to_page(cur) else {
                            return Err(err(CheckKind::ListBroken, cur, o, 0, 0));
                        };
                        if p.lru_prev != prev {
                            return Err(err(CheckKind::ListBroken, cur, o, prev, p.lru_prev));
                        }
                        if p.is_poisoned()
                            || !p.has_type(PageType::BUDDY)
                            || p.private != order as u64
                            || zone_id_of_flags(p.flags) != zi
                        {
                            return Err(err(CheckKind::BadFreeHead, cur, o, order as u64, p.private));
                        }
                        if cur & ((1 << order) - 1) != 0 {
                            return Err(err(CheckKind::Misaligned, cur, o, 0, 0));
                        }
                        if cur < z.start_pfn || cur + (1 << order) > z.end_pfn {
                            return Err(err(CheckKind::OutsideZone, cur, o, z.start_pfn, z.end_pfn));
                        }
                        blocks.push((cur, o, zi));
                        count += 1;
                        free += 1u64 << order;
                        prev = cur;
                        cur = p.lru_next;
                    }
                    if areas[zi].heads[idx].prev != prev {
                        return Err(err(CheckKind::ListBroken, prev, o, prev, areas[zi].heads[idx].prev));
                    }
                }
                if count != areas[zi].nr_free[order] {
                    return Err(err(CheckKind::NrFree, 0, order as u32, count, areas[zi].nr_free[order]));
                }
            }
            if free != areas[zi].free_pages {
                return Err(err(CheckKind::FreePages, 0, 0, free, areas[zi].free_pages));
            }
        }
        blocks.sort_unstable();
        for w in blocks.windows(2) {
            if w[0].0 + (1 << w[0].1) > w[1].0 {
                let z = &self.zones[w[1].2];
                return Err(CheckError {
                    kind: CheckKind::Overlap,
                    zone: (z.nid, z.zone_type),
                    pfn: w[1].0,
                    order: w[1].1,
                    expected: w[0].0,
                    found: w[0].1 as u64,
                });
            }
        }

        // Every memory page: free (in a listed block), reserved, or in a well-formed allocated block.
        let n = self.zones.len();
        let (mut free_seen, mut alloc_seen, mut reserved_seen) = (vec![0u64; n], vec![0u64; n], vec![0u64; n]);
        let mut next_block = 0;
        // Contiguous memory, whatever the node: blocks may span two adjacent ranges of different nodes when a
        // policy linked both to one zone (span-extend), and merge there as they would in Linux.
        let mut spans: Vec<(u64, u64)> = Vec::new();
        for r in &mm.memblock.memory {
            match spans.last_mut() {
                Some(last) if last.1 == r.start_pfn => last.1 = r.end_pfn,
                _ => spans.push((r.start_pfn, r.end_pfn)),
            }
        }
        // Pages whose struct page init is still deferred are not the allocator's yet (their struct pages may be
        // unwritten): counted per zone, never read.
        let mut pending = mm.deferred.iter().peekable();
        let mut pending_seen = vec![0u64; n];
        for r in spans.iter().map(|&(start_pfn, end_pfn)| crate::zones::PfnRange { start_pfn, end_pfn }) {
            let mut pfn = r.start_pfn;
            while pfn < r.end_pfn {
                while pending.peek().is_some_and(|d| d.end_pfn <= pfn) {
                    pending.next();
                }
                if let Some(d) = pending.peek().filter(|d| d.start_pfn <= pfn) {
                    let end = d.end_pfn.min(r.end_pfn);
                    if let Some(c) = pending_seen.get_mut(d.nid as usize * MAX_NR_ZONES + d.zone.index()) {
                        *c += end - pfn;
                    }
                    pfn = end;
                    continue;
                }
                if !mm.sparse.pfn_is_online(pfn) && mm.sparse.pfn_valid(pfn) {
                    // Hot-added memory that is not online (or was offlined): not the allocator's; its memmap is
                    // poisoned on purpose. Skip to the next section.
                    pfn = section_nr_to_pfn(pfn_to_section_nr(pfn) + 1).min(r.end_pfn);
                    continue;
                }
                let Some(p) = mm.sparse.pfn_to_page(pfn) else {
                    return Err(self.cerr(CheckKind::NoZone, 0, pfn, 0, 0, 0));
                };
                let zi = zone_id_of_flags(p.flags);
                if p.is_poisoned() || zi >= n {
                    return Err(self.cerr(CheckKind::NoZone, 0, pfn, 0, 0, zi as u64));
                }
                if next_block < blocks.len() && blocks[next_block].0 < pfn {
                    // A block that starts in a hole or in the middle of another block.
                    let (b, o, bz) = blocks[next_block];
                    return Err(self.cerr(CheckKind::NotFreeMemory, bz, b, o, 0, 0));
                }
                if next_block < blocks.len() && blocks[next_block].0 == pfn {
                    let (b, o, bz) = blocks[next_block];
                    let end = b + (1 << o);
                    if end > r.end_pfn {
                        return Err(self.cerr(CheckKind::NotFreeMemory, bz, b, o, r.end_pfn, end));
                    }
                    for t in b..end {
                        let Some(tp) = mm.sparse.pfn_to_page(t) else {
                            return Err(self.cerr(CheckKind::NotFreeMemory, bz, t, o, 0, 0));
                        };
                        if tp.is_reserved() || zone_id_of_flags(tp.flags) != bz || tp.is_poisoned() {
                            return Err(self.cerr(CheckKind::NotFreeMemory, bz, t, o, 0, 0));
                        }
                        if t != b && (tp.has_type(PageType::BUDDY) || tp.refcount != 0) {
                            return Err(self.cerr(CheckKind::BadFreeTail, bz, t, o, 0, tp.refcount as u64));
                        }
                        if t == b && tp.refcount != 0 {
                            return Err(self.cerr(CheckKind::BadFreeHead, bz, t, o, 0, tp.refcount as u64));
                        }
                    }
                    free_seen[bz] += 1 << o;
                    next_block += 1;
                    pfn = end;
                    continue;
                }
                if p.is_reserved() {
                    reserved_seen[zi] += 1;
                    pfn += 1;
                    continue;
                }
                // An allocated block: head refcount 1 with its order, tails refcount 0, all memory of this zone.
                let o = p.private;
                if p.refcount != 1
                    || p.has_type(PageType::BUDDY)
                    || o > MAX_PAGE_ORDER as u64
                    || pfn & ((1 << o) - 1) != 0
                {
                    return Err(self.cerr(CheckKind::BadAllocatedBlock, zi, pfn, 0, 1, p.refcount as u64));
                }
                let end = pfn + (1 << o);
                if end > r.end_pfn {
                    return Err(self.cerr(CheckKind::BadAllocatedBlock, zi, pfn, o as u32, r.end_pfn, end));
                }
                for t in pfn + 1..end {
                    let ok = mm.sparse.pfn_to_page(t).is_some_and(|tp| {
                        !tp.is_poisoned()
                            && tp.refcount == 0
                            && !tp.has_type(PageType::BUDDY)
                            && !tp.is_reserved()
                            && zone_id_of_flags(tp.flags) == zi
                    });
                    if !ok {
                        return Err(self.cerr(CheckKind::BadAllocatedBlock, zi, t, o as u32, 0, 0));
                    }
                }
                alloc_seen[zi] += 1 << o;
                pfn = end;
            }
        }
        if next_block < blocks.len() {
            let (b, o, bz) = blocks[next_block];
            return Err(self.cerr(CheckKind::NotFreeMemory, bz, b, o, 0, 0));
        }
        // A policy that relinks memory pages (span-extend) moves pages between zones: then only the totals of
        // allocated + free + reserved and present can be compared.
        let exact = mm.policy.promise().memory_links_exact;
        let seen: u64 = (0..n).map(|zi| alloc_seen[zi] + free_seen[zi] + reserved_seen[zi] + pending_seen[zi]).sum();
        let present: u64 = self.zones.iter().map(|z| z.present_pages).sum();
        if seen != present {
            return Err(self.cerr(CheckKind::Present, usize::MAX, 0, 0, present, seen));
        }
        for (zi, z) in self.zones.iter().enumerate() {
            let (allocated, free) = (areas[zi].allocated_pages, areas[zi].free_pages);
            if alloc_seen[zi] != allocated {
                return Err(self.cerr(CheckKind::Allocated, zi, 0, 0, alloc_seen[zi], allocated));
            }
            if free_seen[zi] != free {
                return Err(self.cerr(CheckKind::FreePages, zi, 0, 0, free_seen[zi], free));
            }
            let total = alloc_seen[zi] + free_seen[zi] + reserved_seen[zi] + pending_seen[zi];
            if exact && total != z.present_pages {
                return Err(self.cerr(CheckKind::Present, zi, 0, 0, z.present_pages, total));
            }
            if allocated + free != z.managed_pages {
                return Err(self.cerr(CheckKind::Managed, zi, 0, 0, z.managed_pages, allocated + free));
            }
        }
        Ok(())
    }

    pub(super) fn cerr(
        &self,
        kind: CheckKind,
        zi: usize,
        pfn: u64,
        order: u32,
        expected: u64,
        found: u64,
    ) -> CheckError {
        let zone = self.zones.get(zi).map_or((u32::MAX, ZoneType::Dma), |z| (z.nid, z.zone_type));
        CheckError { kind, zone, pfn, order, expected, found }
    }
}
