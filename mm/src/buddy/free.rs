//! Freeing: `free_pages` (the checks that turn a bad call into a named error) and `__free_one_page` with buddy
//! merging, `page_is_buddy` and `buddy_merge_likely`.

use super::free_area::ZoneCx;
use super::{Allocator, FreeError};
use crate::consts::*;
use crate::page::PageType;
use crate::sparse::migratetype;
use crate::zonelock::ZonePages;

/// `migratetype_is_mergeable`: the three types that may merge with each other above pageblock_order.
#[inline]
pub(super) fn mergeable(mt: u64) -> bool {
    mt <= migratetype::RECLAIMABLE
}

impl<'m> Allocator<'m> {
    /// `free_pages`: gives back a block from [`Allocator::alloc_pages`]. A call that does not name a live
    /// allocation with its order is rejected with a named error and changes nothing. Locks the page's zone.
    pub fn free_pages(&self, pfn: u64, order: u32) -> Result<(), FreeError> {
        let zi = self.free_zone(pfn, order)?;
        // The buddy and the next one up are read under the lock (__free_one_page, buddy_merge_likely): start
        // loading them now.
        self.sparse.prefetch_buddies(pfn, order, (order + PREFETCH_ORDERS).min(MAX_PAGE_ORDER));
        let mut lz = self.lock_zone(zi);
        let mut cx = ZoneCx::new(self, zi, &mut lz.area, &mut lz.pages);
        let mt = cx.pageblock_mt(pfn);
        cx.free_checked(pfn, order, mt)
    }

    /// What a free can check before taking a lock: the order, the alignment, the `Mm`, a struct page, and the
    /// zone its flags word names (never written while the allocator is shared). Returns that zone's index.
    pub(super) fn free_zone(&self, pfn: u64, order: u32) -> Result<usize, FreeError> {
        if order > MAX_PAGE_ORDER {
            return Err(FreeError::BadOrder { order });
        }
        if pfn & ((1 << order) - 1) != 0 {
            return Err(FreeError::Unaligned { pfn, order });
        }
        if self.sparse.id() != self.buddy.sparse_id {
            return Err(FreeError::OtherMm);
        }
        if self.sparse.page_ptr(pfn).is_none() {
            return Err(FreeError::NoStructPage { pfn });
        }
        // The flags word (never written while the allocator is shared) names the zone whose lock covers the page.
        let Some(zi) = ZonePages::zone_id_unlocked(self.sparse, pfn) else { return Err(FreeError::Poisoned { pfn }) };
        if zi >= self.buddy.zones.len() {
            return Err(FreeError::NotManaged { pfn });
        }
        Ok(zi)
    }
}

impl ZoneCx<'_, '_, '_> {
    /// The locked part of `free_pages`: the block must be a live allocation of `order` (else a named error and
    /// nothing changes), then `free_pages_prepare` and `__free_one_page` with migratetype `mt`.
    pub(super) fn free_checked(&mut self, pfn: u64, order: u32, mt: u64) -> Result<(), FreeError> {
        let page = self.pages.link_mut(pfn).map_err(|pfn| FreeError::NoStructPage { pfn })?;
        if page.has_type(PageType::BUDDY) {
            return Err(FreeError::DoubleFree { pfn, free_order: page.private as u32 });
        }
        if page.is_reserved() {
            return Err(FreeError::Reserved { pfn });
        }
        if page.refcount != 1 {
            return Err(FreeError::NotAllocated { pfn });
        }
        if page.private != order as u64 {
            return Err(FreeError::WrongOrder { pfn, allocated: page.private as u32, given: order });
        }
        // free_pages_prepare + put_page_testzero.
        page.refcount = 0;
        page.private = 0;
        self.area.allocated_pages -= 1 << order;
        self.free_one_page(pfn, order, mt, false).map_err(|pfn| FreeError::Corrupted { pfn })
    }

    /// `__free_one_page`. See the module documentation.
    pub(super) fn free_one_page(&mut self, mut pfn: u64, mut order: u32, mt: u64, to_tail: bool) -> Result<(), u64> {
        let mut buddy_pfn = pfn;
        // Loop invariant: [pfn, pfn + 2^order) is free and off the lists; `order` < MAX_PAGE_ORDER in the body.
        while order < MAX_PAGE_ORDER {
            buddy_pfn = pfn ^ (1 << order);
            // page_is_buddy (a page of another zone is never ours to look at), and below pageblock_order the
            // buddy is taken off its list while it is at hand.
            let taken = match self.pages.get_mut(buddy_pfn) {
                Ok(b) if b.has_type(PageType::BUDDY) && b.private == order as u64 => {
                    if order < PAGEBLOCK_ORDER {
                        let links = (b.lru_next, b.lru_prev);
                        b.lru_next = buddy_pfn;
                        b.lru_prev = buddy_pfn;
                        b.private = 0;
                        b.clear_type(PageType::BUDDY);
                        Some(links)
                    } else {
                        None
                    }
                }
                _ => break,
            };
            match taken {
                Some((next, prev)) => {
                    self.unlink(next, prev)?;
                    self.area.nr_free[order as usize] -= 1;
                    self.area.free_pages -= 1 << order;
                }
                None => {
                    let buddy_mt = self.pageblock_mt(buddy_pfn);
                    if buddy_mt != mt {
                        if !mergeable(mt) || !mergeable(buddy_mt) {
                            break;
                        }
                        // Match the buddy's pageblock type so later splits land on the right lists.
                        if !self.set_pageblock_mt(buddy_pfn, mt, "__free_one_page") {
                            self.area.stats.vm_bugs += 1;
                            break;
                        }
                        self.area.stats.merge_type_changes += 1;
                    }
                    self.del_free(buddy_pfn, order)?;
                }
            }
            pfn &= buddy_pfn;
            order += 1;
        }
        let tail = to_tail || (order < MAX_PAGE_ORDER - 1 && self.buddy_merge_likely(pfn, buddy_pfn, order));
        self.add_free(pfn, order, mt, tail)
    }

    /// `page_is_buddy`: free, of this order, in this zone (a hole page or a page without memmap never is).
    #[inline(always)]
    pub(super) fn page_is_buddy(&self, buddy_pfn: u64, order: u32) -> bool {
        self.pages.get(buddy_pfn).is_some_and(|b| b.has_type(PageType::BUDDY) && b.private == order as u64)
    }

    /// `buddy_merge_likely`: the block's higher-order buddy is free, so it will likely merge once its own
    /// buddy comes back: put it at the tail so it is not handed out first.
    #[inline(always)]
    pub(super) fn buddy_merge_likely(&self, pfn: u64, buddy_pfn: u64, order: u32) -> bool {
        let higher = buddy_pfn & pfn;
        self.page_is_buddy(higher ^ (1 << (order + 1)), order + 1)
    }
}

/// How many orders of buddies `free_pages` prefetches before it takes the lock: a random free merges about once
/// on average, and every struct page read after the lock that misses the cache stalls the call.
pub(super) const PREFETCH_ORDERS: u32 = 4;
