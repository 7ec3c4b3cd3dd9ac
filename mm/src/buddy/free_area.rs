//! One zone's free area (`struct free_area` of every order and migratetype, its counters and stats), the lock
//! that guards it, and the list operations on it (`__add_to_free_list`, `__del_page_from_free_list`,
//! `move_to_free_list`) through a [`ZoneCx`], a locked zone at work.

use super::{Allocator, BuddyStats, NR_MIGRATETYPES, NR_ORDERS};
use crate::page::{PageType, LIST_HEAD_BIT};
use crate::sparse::migratetype;
use crate::zonelock::ZonePages;
use spin::Mutex;

/// `_mapcount` of a free block's head: no type but PG_buddy.
pub(super) const BUDDY_MAPCOUNT: i32 = !PageType::BUDDY.bits() as i32;

/// Orders of one migratetype take 16 slots of a zone's heads, so a head index splits into its migratetype and its
/// order with a shift: `(mt << 4) | order`.
pub(super) const ORDER_SLOTS: usize = 16;
const _: () = assert!(NR_ORDERS <= ORDER_SLOTS);

#[inline(always)]
pub(super) const fn head_index(order: usize, mt: usize) -> usize {
    (mt * ORDER_SLOTS) | order
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ListHead {
    pub(super) next: u64,
    pub(super) prev: u64,
}

/// One zone's `free_area`, counters and slow-path stats: what the zone's lock protects (opaque outside the
/// allocator: [`crate::zonelock::Shared`] only locks it).
#[derive(Clone, Debug)]
pub struct FreeArea {
    /// The list heads, indexed by [`head_index`].
    pub(super) heads: [ListHead; NR_MIGRATETYPES * ORDER_SLOTS],
    /// Per migratetype: bit `order` set iff that list is non-empty.
    pub(super) nonempty: [u16; NR_MIGRATETYPES],
    pub(super) free_pages: u64,
    pub(super) allocated_pages: u64,
    /// Free blocks per order, all migratetypes.
    pub(super) nr_free: [u64; NR_ORDERS],
    pub(super) stats: BuddyStats,
}

impl FreeArea {
    pub(super) fn new() -> FreeArea {
        let mut heads = [ListHead { next: 0, prev: 0 }; NR_MIGRATETYPES * ORDER_SLOTS];
        for (i, h) in heads.iter_mut().enumerate() {
            let code = LIST_HEAD_BIT | i as u64;
            *h = ListHead { next: code, prev: code };
        }
        FreeArea {
            heads,
            nonempty: [0; NR_MIGRATETYPES],
            free_pages: 0,
            allocated_pages: 0,
            nr_free: [0; NR_ORDERS],
            stats: BuddyStats::default(),
        }
    }
}

/// A zone's lock on its own cache line, so that CPUs working in different zones do not share one.
#[repr(align(64))]
#[derive(Debug)]
pub(crate) struct ZoneLock(pub(crate) Mutex<FreeArea>);

impl core::ops::Deref for ZoneLock {
    type Target = Mutex<FreeArea>;
    fn deref(&self) -> &Mutex<FreeArea> {
        &self.0
    }
}

/// One locked zone at work: its free area, its struct pages, and what it reads of the `Mm`.
pub(super) struct ZoneCx<'a, 'g, 'm> {
    pub(super) area: &'a mut FreeArea,
    pub(super) pages: &'a mut ZonePages<'g>,
    /// The zone's index (its span is read on the slow path only).
    pub(super) zi: usize,
    pub(super) al: &'a Allocator<'m>,
}

impl<'a, 'g, 'm> ZoneCx<'a, 'g, 'm> {
    #[inline(always)]
    pub(super) fn new(al: &'a Allocator<'m>, zi: usize, area: &'a mut FreeArea, pages: &'a mut ZonePages<'g>) -> Self {
        ZoneCx { area, pages, zi, al }
    }

    #[inline(always)]
    pub(super) fn pageblock_mt(&self, pfn: u64) -> u64 {
        self.al.sparse.get_pfnblock_flags_mask(pfn, migratetype::MASK)
    }

    /// The checked `set_pageblock_migratetype`; false if `vm_debug=panic` refused it. Takes the checker's lock
    /// (a leaf lock) under this zone's lock.
    pub(super) fn set_pageblock_mt(&mut self, pfn: u64, mt: u64, site: &'static str) -> bool {
        let mut checker = self.al.checker.lock();
        checker.set_pfnblock_flags_mask(self.al.sparse, self.al.zones, pfn, mt, migratetype::MASK, site).is_ok()
    }

    // ---- lists ----------------------------------------------------------------------------------------------

    /// `__add_to_free_list` + `set_buddy_order` + `account_freepages`.
    #[inline(always)]
    pub(super) fn add_free(&mut self, pfn: u64, order: u32, mt: u64, tail: bool) -> Result<(), u64> {
        let idx = head_index(order as usize, mt as usize);
        let code = LIST_HEAD_BIT | idx as u64;
        let h = self.area.heads[idx];
        let (next, prev) = if tail { (code, h.prev) } else { (h.next, code) };
        {
            let p = self.pages.link_mut(pfn)?;
            // A page that joins the lists has no type (a free tail, a merged buddy, a freed head): `_mapcount` is
            // -1, so `__SetPageBuddy` is a plain store (no load of a cold struct page before the stores).
            debug_assert_eq!(p.mapcount, -1, "pfn {:#x} joins the free lists with a page type", pfn);
            p.lru_next = next;
            p.lru_prev = prev;
            p.private = order as u64;
            p.mapcount = BUDDY_MAPCOUNT;
        }
        if tail {
            if prev == code {
                self.area.heads[idx].next = pfn;
            } else {
                self.pages.link_mut(prev)?.lru_next = pfn;
            }
            self.area.heads[idx].prev = pfn;
        } else {
            if next == code {
                self.area.heads[idx].prev = pfn;
            } else {
                self.pages.link_mut(next)?.lru_prev = pfn;
            }
            self.area.heads[idx].next = pfn;
        }
        self.area.nonempty[mt as usize] |= 1 << order;
        self.area.nr_free[order as usize] += 1;
        self.area.free_pages += 1 << order;
        Ok(())
    }

    /// `__del_page_from_free_list`: unlink, clear PageBuddy and the order, account.
    #[inline]
    pub(super) fn del_free(&mut self, pfn: u64, order: u32) -> Result<(), u64> {
        self.del_free_as(pfn, order, None)
    }

    /// [`ZoneCx::del_free`], and with `Some(o)` also `post_alloc_hook` for an allocation of order `o` starting at
    /// `pfn` (refcount 1, order kept in `private`) while the page is at hand.
    #[inline(always)]
    pub(super) fn del_free_as(&mut self, pfn: u64, order: u32, alloc: Option<u32>) -> Result<(), u64> {
        let (next, prev) = {
            let p = self.pages.link_mut(pfn)?;
            let links = (p.lru_next, p.lru_prev);
            p.lru_next = pfn;
            p.lru_prev = pfn;
            p.clear_type(PageType::BUDDY);
            match alloc {
                Some(o) => {
                    p.private = o as u64;
                    p.refcount = 1;
                }
                None => p.private = 0,
            }
            links
        };
        self.unlink(next, prev)?;
        self.area.nr_free[order as usize] -= 1;
        self.area.free_pages -= 1 << order;
        Ok(())
    }

    /// Joins `prev` and `next` (pfns or list heads); clears the list's bit when it became empty.
    #[inline(always)]
    pub(super) fn unlink(&mut self, next: u64, prev: u64) -> Result<(), u64> {
        if next & LIST_HEAD_BIT != 0 {
            let i = head_of(next)?;
            self.area.heads[i].prev = prev;
        } else {
            self.pages.link_mut(next)?.lru_prev = prev;
        }
        if prev & LIST_HEAD_BIT != 0 {
            let i = head_of(prev)?;
            self.area.heads[i].next = next;
            if next == prev {
                self.area.nonempty[i / ORDER_SLOTS] &= !(1 << (i % ORDER_SLOTS));
            }
        } else {
            self.pages.link_mut(prev)?.lru_next = next;
        }
        Ok(())
    }

    /// `move_to_free_list`.
    pub(super) fn move_free(&mut self, pfn: u64, order: u32, mt: u64) -> Result<(), u64> {
        self.del_free(pfn, order)?;
        self.add_free(pfn, order, mt, false)
    }
}

/// A list head's index from its code.
#[inline(always)]
pub(super) fn head_of(code: u64) -> Result<usize, u64> {
    let i = (code & !LIST_HEAD_BIT) as usize;
    if i < NR_MIGRATETYPES * ORDER_SLOTS {
        Ok(i)
    } else {
        Err(code)
    }
}
