//! Migratetype fallback: `__rmqueue_fallback` with Linux's `fallbacks[]` and `can_steal_fallback`, stealing
//! (`steal_suitable_fallback`), and `move_freepages_block` with its zone-clamped range and the checked usemap
//! write.

use super::free_area::{head_index, ZoneCx};
use crate::consts::*;
use crate::page::PageType;
use crate::sparse::migratetype;

/// Linux's `fallbacks[]` (mm/page_alloc.c): where an allocation of a migratetype steals from.
pub(super) const FALLBACKS: [[u64; 2]; 3] = [
    [migratetype::RECLAIMABLE, migratetype::MOVABLE],   // UNMOVABLE
    [migratetype::RECLAIMABLE, migratetype::UNMOVABLE], // MOVABLE
    [migratetype::UNMOVABLE, migratetype::MOVABLE],     // RECLAIMABLE
];

impl ZoneCx<'_, '_, '_> {
    /// `find_suitable_fallback` (only_stealable = false): the first fallback type with a block of `order`,
    /// and `can_steal_fallback`.
    pub(super) fn find_suitable_fallback(&self, order: u32, start_mt: u64) -> Option<(u64, bool)> {
        if self.area.nr_free[order as usize] == 0 {
            return None;
        }
        FALLBACKS[start_mt as usize]
            .iter()
            .copied()
            .find(|&f| self.area.nonempty[f as usize] & (1 << order) != 0)
            .map(|f| (f, can_steal_fallback(order, start_mt)))
    }

    /// `__rmqueue_fallback`: the largest block of a fallback type, or the smallest when a MOVABLE request may
    /// not steal the whole block; then `steal_suitable_fallback`.
    pub(super) fn rmqueue_fallback(&mut self, order: u32, start_mt: u64) -> Result<Option<u64>, u64> {
        let mut found = None;
        for current in (order..=MAX_PAGE_ORDER).rev() {
            let Some((fmt_, can_steal)) = self.find_suitable_fallback(current, start_mt) else { continue };
            if !can_steal && start_mt == migratetype::MOVABLE && current > order {
                // find_smallest: a block we cannot claim is better split from the smallest.
                found = (order..=MAX_PAGE_ORDER)
                    .find_map(|o| self.find_suitable_fallback(o, start_mt).map(|(f, s)| (o, f, s)));
            } else {
                found = Some((current, fmt_, can_steal));
            }
            break;
        }
        let Some((current, fallback_mt, can_steal)) = found else { return Ok(None) };
        let pfn = self.area.heads[head_index(current as usize, fallback_mt as usize)].next;
        self.steal_suitable_fallback(pfn, current, order, start_mt, fallback_mt, can_steal).map(Some)
    }

    /// `steal_suitable_fallback` / `try_to_claim_block`: take the whole range for blocks >= pageblock_order;
    /// claim the pageblock when allowed and at least half of it is free; else take just this block, its
    /// remainder staying with the fallback type.
    pub(super) fn steal_suitable_fallback(
        &mut self,
        pfn: u64,
        current: u32,
        order: u32,
        start_mt: u64,
        fallback_mt: u64,
        can_steal: bool,
    ) -> Result<u64, u64> {
        let block_mt = self.pageblock_mt(pfn);
        if block_mt != migratetype::HIGHATOMIC {
            if current >= PAGEBLOCK_ORDER {
                // change_pageblock_range: usemap first, so a refused write changes no list.
                let mut ok = true;
                for pb in 0..(1u64 << (current - PAGEBLOCK_ORDER)) {
                    if self.set_pageblock_mt(pfn + pb * PAGEBLOCK_NR_PAGES, start_mt, "change_pageblock_range") {
                        self.area.stats.pageblocks_changed += 1;
                    } else {
                        self.area.stats.vm_bugs += 1;
                        ok = false;
                    }
                }
                if ok {
                    self.del_free_as(pfn, current, Some(order))?;
                    self.expand(pfn, order, current, start_mt)?;
                    return Ok(pfn);
                }
            } else if can_steal {
                if let Some(prep) = self.prep_move_freepages_block(pfn)? {
                    // Claim the pageblock when at least half of it is free (Linux also counts allocated pages
                    // of a compatible mobility, which the model does not know).
                    if prep.free_pages >= 1 << (PAGEBLOCK_ORDER - 1) && self.move_freepages_block(prep, start_mt)? {
                        // Our block moved to start_mt's lists with the rest of the pageblock.
                        if let Some(p) = self.rmqueue_smallest(order, start_mt)? {
                            return Ok(p);
                        }
                    }
                }
            }
        }
        // single_page (page_del_and_expand): this block alone; its remainder stays with the fallback type.
        self.del_free_as(pfn, current, Some(order))?;
        self.expand(pfn, order, current, fallback_mt)?;
        Ok(pfn)
    }

    /// `prep_move_freepages_block`: the range of the pageblock of `pfn` that lies in the zone, and its free pages.
    pub(super) fn prep_move_freepages_block(&mut self, pfn: u64) -> Result<Option<Prep>, u64> {
        self.area.stats.move_freepages_block += 1;
        let z = &self.al.buddy.zones[self.zi];
        let (zs, ze) = (z.start_pfn, z.end_pfn);
        let mut start = pageblock_start_pfn(pfn);
        let end = pageblock_end_pfn(pfn); // exclusive
        if end > ze {
            // Linux: `if (!zone_spans_pfn(zone, end_pfn)) return 0`: moving part of it would leave the zone.
            self.area.stats.mfb_skipped += 1;
            self.area.stats.mfb_skipped_pfns += end - ze;
            return Ok(None);
        }
        if start < zs {
            // Linux 4.x-6.9: `if (!zone_spans_pfn(zone, start_pfn)) start_pfn = pfn`; we clamp to the zone start.
            self.area.stats.mfb_clamped += 1;
            self.area.stats.mfb_skipped_pfns += zs - start;
            start = zs;
        }
        let mut free = 0;
        let mut p = start;
        // Loop invariant: `p` is a pfn of [start, end) not inside a free block already counted. A page of another
        // zone (interleaved nodes) is not looked at beyond its flags: its zone's lock is not held.
        while p < end {
            match self.pages.get(p) {
                Some(page) if page.has_type(PageType::BUDDY) => {
                    let n = 1u64 << page.private.min(MAX_PAGE_ORDER as u64);
                    free += n;
                    p += n;
                }
                Some(_) => p += 1,
                None if self.al.sparse.page_ptr(p).is_none() => return Err(p),
                None => p += 1,
            }
        }
        Ok(Some(Prep { start, end, free_pages: free }))
    }

    /// `move_freepages_block`: every free block of the zone in `[prep.start, prep.end)` moves to `mt`'s lists and
    /// the pageblock takes `mt` through the checked `set_pfnblock_flags_mask` at `prep.start` (call site
    /// "move_freepages_block"). False if `vm_debug=panic` refused the write (nothing moved).
    pub(super) fn move_freepages_block(&mut self, prep: Prep, mt: u64) -> Result<bool, u64> {
        if !self.set_pageblock_mt(prep.start, mt, "move_freepages_block") {
            self.area.stats.vm_bugs += 1;
            return Ok(false);
        }
        self.area.stats.mfb_claimed += 1;
        let mut p = prep.start;
        while p < prep.end {
            let Some(page) = self.pages.get(p) else {
                if self.al.sparse.page_ptr(p).is_none() {
                    return Err(p);
                }
                // A page of another zone: its lock is not ours, so it is counted and left alone.
                self.area.stats.foreign_pages += 1;
                p += 1;
                continue;
            };
            if !page.has_type(PageType::BUDDY) {
                p += 1;
                continue;
            }
            let order = page.private.min(MAX_PAGE_ORDER as u64) as u32;
            self.move_free(p, order, mt)?;
            self.area.stats.pages_moved += 1 << order;
            p += 1 << order;
        }
        Ok(true)
    }
}

/// The part of a pageblock `move_freepages_block` may touch.
#[derive(Clone, Copy, Debug)]
pub(super) struct Prep {
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) free_pages: u64,
}

/// `can_steal_fallback`.
#[inline]
pub(super) fn can_steal_fallback(order: u32, start_mt: u64) -> bool {
    order >= PAGEBLOCK_ORDER
        || order >= PAGEBLOCK_ORDER / 2
        || start_mt == migratetype::RECLAIMABLE
        || start_mt == migratetype::UNMOVABLE
}
