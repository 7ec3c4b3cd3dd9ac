//! Allocation: `alloc_pages` over the zonelist, `__rmqueue`, `__rmqueue_smallest` with `expand`, and the
//! zonelists themselves (`build_zonelists`).

use super::free_area::{head_index, ZoneCx};
use super::{AllocError, Allocator};
use crate::consts::*;
use crate::sparse::migratetype;
use crate::zones::{ZoneType, Zones, MAX_NR_ZONES};
use ::alloc::vec::Vec;

impl<'m> Allocator<'m> {
    /// `alloc_pages`: a block of `2^order` pages from the first zone of `preferred_nid`'s zonelist, at or below
    /// `highest_zone`, that has one (stealing from another migratetype if needed). Returns its first pfn.
    /// Locks one zone at a time, in zonelist order.
    pub fn alloc_pages(
        &self,
        order: u32,
        highest_zone: ZoneType,
        preferred_nid: u32,
        mt: u64,
    ) -> Result<u64, AllocError> {
        if order > MAX_PAGE_ORDER {
            return Err(AllocError::BadOrder { order });
        }
        if mt > migratetype::HIGHATOMIC {
            return Err(AllocError::BadMigratetype { migratetype: mt });
        }
        let b = self.buddy;
        let Some(zonelist) = b.zonelists.get(preferred_nid as usize) else {
            return Err(AllocError::BadNode { nid: preferred_nid });
        };
        if self.sparse.id() != b.sparse_id {
            return Err(AllocError::OtherMm);
        }
        for &zi in zonelist {
            let zi = zi as usize;
            if b.zones[zi].zone_type > highest_zone {
                continue;
            }
            if let Some(pfn) = self.alloc_in_zone(zi, order, mt)? {
                return Ok(pfn);
            }
        }
        Err(AllocError::NoMemory { order, highest_zone, nid: preferred_nid })
    }

    /// One zone's try of `get_page_from_freelist` (`rmqueue` under the zone's lock): `None` when the zone has no
    /// block of `order` for `mt`, even by stealing.
    pub(super) fn alloc_in_zone(&self, zi: usize, order: u32, mt: u64) -> Result<Option<u64>, AllocError> {
        let mut lz = self.lock_zone(zi);
        let mut cx = ZoneCx::new(self, zi, &mut lz.area, &mut lz.pages);
        // The page comes back with post_alloc_hook done (refcount 1, order kept: see the module documentation).
        let pfn = cx.rmqueue(order, mt).map_err(|pfn| AllocError::Corrupted { pfn })?;
        if pfn.is_some() {
            cx.area.allocated_pages += 1 << order;
        }
        Ok(pfn)
    }

    /// The node and zone `pfn`'s struct page is linked to (`page_to_nid`, `page_zonenum`), if the allocator
    /// manages that zone; reads only the flags word, which is never written while the allocator is shared.
    pub fn zone_of(&self, pfn: u64) -> Option<(u32, ZoneType)> {
        let zi = crate::zonelock::ZonePages::zone_id_unlocked(self.sparse, pfn)?;
        self.buddy.zones.get(zi).map(|z| (z.nid, z.zone_type))
    }
}

impl ZoneCx<'_, '_, '_> {
    /// `__rmqueue`.
    #[inline]
    pub(super) fn rmqueue(&mut self, order: u32, mt: u64) -> Result<Option<u64>, u64> {
        if let Some(pfn) = self.rmqueue_smallest(order, mt)? {
            return Ok(Some(pfn));
        }
        if mt > migratetype::RECLAIMABLE {
            return Ok(None);
        }
        let r = self.rmqueue_fallback(order, mt)?;
        if r.is_some() {
            self.area.stats.fallbacks += 1;
        }
        Ok(r)
    }

    /// `__rmqueue_smallest` + `expand`.
    #[inline(always)]
    pub(super) fn rmqueue_smallest(&mut self, order: u32, mt: u64) -> Result<Option<u64>, u64> {
        let bits = self.area.nonempty[mt as usize] >> order;
        if bits == 0 {
            return Ok(None);
        }
        let current = order + bits.trailing_zeros();
        let pfn = self.area.heads[head_index(current as usize, mt as usize)].next;
        self.del_free_as(pfn, current, Some(order))?;
        self.expand(pfn, order, current, mt)?;
        Ok(Some(pfn))
    }

    /// `rmqueue_bulk`'s loop: up to `max` blocks of `order` for `mt`, each `__rmqueue` in turn, handed to `out`
    /// in allocation order; returns how many. Same result as `max` calls of [`ZoneCx::rmqueue`], struct page by
    /// struct page and list by list, in fewer steps: when the smallest block of `mt` has a higher order `c` and
    /// no list of `mt` of an order in `[order, c)` holds a block, those calls take that block's units in address
    /// order (each split puts its upper halves on those empty lists, and the lowest remaining unit is always the
    /// smallest block), so the units are handed out directly and what is left of the block goes on the lists as
    /// its binary decomposition: one block per order, as the splits would have left it.
    pub(super) fn rmqueue_run(&mut self, order: u32, mt: u64, max: u64, mut out: impl FnMut(u64)) -> Result<u64, u64> {
        let mut got = 0u64;
        while got < max {
            let bits = self.area.nonempty[mt as usize] >> order;
            if bits & 1 != 0 || bits == 0 {
                // A block of the order itself, or none of `mt` at all (stealing): one call as Linux makes it.
                match self.rmqueue(order, mt)? {
                    Some(pfn) => out(pfn),
                    None => break,
                }
                got += 1;
                continue;
            }
            let current = order + bits.trailing_zeros();
            let pfn = self.area.heads[head_index(current as usize, mt as usize)].next;
            self.del_free_as(pfn, current, Some(order))?;
            out(pfn);
            let units = 1u64 << (current - order);
            let take = units.min(max - got);
            let at = self.pages.anchor(pfn)?;
            for i in 1..take {
                let unit = pfn + (i << order);
                // In the section of `pfn` (a block never crosses one) and linked to this zone, as its block was.
                let p = self.pages.near_mut(at, unit).ok_or(unit)?;
                // What a split, then `del_free_as(.., Some(order))`, leaves on the unit's head page.
                debug_assert_eq!(p.mapcount, -1, "pfn {:#x}: a tail page of a free block with a type", unit);
                p.lru_next = unit;
                p.lru_prev = unit;
                p.private = order as u64;
                p.refcount = 1;
                out(unit);
            }
            // The rest of the block, `[pfn + take units, pfn + 2^current)`, lowest block first.
            let mut r = take << order;
            while r < 1 << current {
                let o = r.trailing_zeros();
                self.add_free(pfn + r, o, mt, false)?;
                r += 1 << o;
            }
            got += take;
        }
        Ok(got)
    }

    /// `expand`: the upper halves of a split block go back to the lists of `mt`.
    #[inline(always)]
    pub(super) fn expand(&mut self, pfn: u64, low: u32, mut high: u32, mt: u64) -> Result<(), u64> {
        while high > low {
            high -= 1;
            self.add_free(pfn + (1 << high), high, mt, false)?;
        }
        Ok(())
    }
}

/// `build_zonelists` (ZONELIST_FALLBACK, node order): for each node, the nodes by distance (ties by node id;
/// Linux also spreads ties by node load and penalizes nodes with CPUs), each node's populated zones from the
/// highest down (`build_zonerefs_node`).
pub(super) fn build_zonelists(zones: &Zones, distance: &[u8]) -> Vec<Vec<u16>> {
    let n = zones.nodes.len();
    (0..n)
        .map(|local| {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by_key(|&m| (m != local, distance[local * n + m], m));
            let mut zl = Vec::new();
            for m in order {
                for z in zones.nodes[m].zones.iter().rev() {
                    if z.populated() {
                        zl.push((m * MAX_NR_ZONES + z.zone_type.index()) as u16);
                    }
                }
            }
            zl
        })
        .collect()
}
