//! Per-zone locking of the buddy allocator: the one place that hands out `&mut Page` from a shared [`Sparse`].
//!
//! ```text
//!  Buddy.areas[zone id]: spin::Mutex<FreeArea>   (free lists, counters, stats of one zone)
//!        │ lock
//!        ▼
//!  ZonePages { sparse, zone id }  ──get_mut(pfn)──►  &mut Page   only if the page's flags link it to that zone
//!
//!  Allocator<'m> = &Buddy + the Mm borrowed exclusively for 'm, shared between CPUs (Send + Sync)
//! ```
//! A free block's struct pages, and the list links threaded through them, belong to the zone the pages are
//! linked to (`page_zone(page)`): the allocator writes a struct page only while it holds that zone's lock, and
//! only if the page's flags word names that zone. The flags word itself is never written while the allocator is
//! shared (memmap init, the hand-over and the walkers write it, all with `&mut Mm`), so reading it to find a
//! page's zone races with nothing, as Linux's `page_zone()` relies on.
//!
//! [`Allocator`] is how several CPUs share the allocator: it borrows the `Mm` mutably for its lifetime, so nothing
//! outside the allocator can read or write a struct page meanwhile, and every access to a struct page goes through
//! a [`ZonePages`] of a locked zone. The pageblock checker (counters) sits behind its own lock, a leaf lock taken
//! under a zone lock and never the other way round.
//!
//! # Lock order
//! - `alloc_pages` locks the zones of the zonelist one at a time, in zonelist order, never two at once;
//! - `free_pages` locks the one zone the page is linked to;
//! - [`Allocator::check`] and the views lock every zone, in zone-id order, all at once (the documented exception:
//!   the check needs one consistent picture);
//! - the checker lock is taken (briefly) under a zone lock, never the other way round.

use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::buddy::{Buddy, FreeArea};
use crate::page::{Page, PAGE_POISON_PATTERN, ZONES_PGOFF};
use crate::sparse::Sparse;
use crate::usemap::PageblockChecker;
use crate::zones::Zones;

/// `page_zone_id`: the NODE | ZONE bits of a flags word (contiguous, so the id is `nid * 4 + zone`).
#[inline(always)]
pub(crate) const fn zone_id_of_flags(flags: u64) -> usize {
    ((flags >> ZONES_PGOFF) & crate::buddy::ZONEID_MASK) as usize
}

/// The struct pages of one zone, while its lock is held. See the module documentation.
pub(crate) struct ZonePages<'a> {
    sparse: &'a Sparse,
    zone_id: usize,
    /// The allocator runs one call on one thread with the `Mm` borrowed mutably (see [`Allocator::exclusive`]):
    /// list links are written without re-reading the linked page's zone.
    exclusive: bool,
    /// Ties the value to the lock guard's borrow (it must not outlive the lock).
    _locked: PhantomData<&'a mut ()>,
}

impl<'a> ZonePages<'a> {
    /// # Safety
    /// For all of `'a`, the caller holds the lock of zone `zone_id` of the allocator that manages `sparse` (or has
    /// exclusive access to that allocator and to the `Mm` owning `sparse`), and no reference to a struct page of
    /// `sparse` is used during `'a` except those handed out by a `ZonePages` of a locked zone: i.e. `sparse` is
    /// borrowed from an `Mm` held mutably by an [`Allocator`] or by the caller. With `exclusive`, moreover, no other
    /// thread accesses a struct page of `sparse` during `'a` and no other `ZonePages` of `sparse` hands out a
    /// reference meanwhile (one call of [`Allocator::exclusive`], which locks one zone at a time).
    #[inline(always)]
    pub(crate) unsafe fn new(sparse: &'a Sparse, zone_id: usize, exclusive: bool) -> Self {
        ZonePages { sparse, zone_id, exclusive, _locked: PhantomData }
    }

    /// The zone id the flags of `pfn`'s struct page name (`None` without a struct page or when poisoned).
    #[inline(always)]
    pub(crate) fn zone_id(&self, pfn: u64) -> Option<usize> {
        let p = self.sparse.page_ptr(pfn)?;
        // SAFETY: `p` points to an initialized struct page of `sparse` (page_ptr); only its flags word is read, by
        // value and without forming a reference, and that word is not written while the allocator is shared (see
        // the module documentation), so this read races with no write.
        let flags = unsafe { core::ptr::addr_of!((*p.as_ptr()).flags).read() };
        (flags != PAGE_POISON_PATTERN).then_some(zone_id_of_flags(flags))
    }

    /// [`ZonePages::zone_id`] before any lock is taken (to find which zone's lock to take).
    #[inline(always)]
    pub(crate) fn zone_id_unlocked(sparse: &Sparse, pfn: u64) -> Option<usize> {
        // SAFETY: reading the flags word needs no lock (see `zone_id`), and no reference is handed out.
        unsafe { ZonePages::new(sparse, usize::MAX, false) }.zone_id(pfn)
    }

    #[inline(always)]
    fn own(&self, pfn: u64) -> Option<NonNull<Page>> {
        let p = self.sparse.page_ptr(pfn)?;
        (self.zone_id(pfn) == Some(self.zone_id)).then_some(p)
    }

    /// The struct page of `pfn` if it is linked to this zone.
    #[inline(always)]
    pub(crate) fn get(&self, pfn: u64) -> Option<&Page> {
        // SAFETY: the page is linked to this zone, whose lock the creator holds for 'a (`new`'s contract): no
        // one else writes it meanwhile; `&self` excludes a `&mut` from this same value.
        self.own(pfn).map(|p| unsafe { p.as_ref() })
    }

    /// The struct page of `pfn` for writing if it is linked to this zone, else `Err(pfn)`.
    #[inline(always)]
    pub(crate) fn get_mut(&mut self, pfn: u64) -> Result<&mut Page, u64> {
        match self.own(pfn) {
            // SAFETY: as in `get`; `&mut self` makes this the only reference handed out by this value, and
            // `new`'s contract excludes every reference not handed out by a ZonePages of a locked zone: another
            // zone's ZonePages never hands out this page, whose flags name this zone.
            Some(mut p) => Ok(unsafe { p.as_mut() }),
            None => Err(pfn),
        }
    }

    /// The struct page of `pfn` for writing a list link or a block's pages: a pfn that the zone's lists name, or
    /// a page of a free block of the zone. Shared: [`ZonePages::get_mut`] (the page's zone is checked). Exclusive:
    /// only its address is looked up; the lists and blocks of a zone hold only pages linked to it (the module
    /// invariant), and with no other thread on the memmap a page that broke it would only be a wrong write, not a
    /// race. Saves a load of the page before a store to it (a cache miss on a random neighbour). `Err(pfn)` if
    /// there is no struct page.
    #[inline(always)]
    pub(crate) fn link_mut(&mut self, pfn: u64) -> Result<&mut Page, u64> {
        if !self.exclusive {
            return self.get_mut(pfn);
        }
        match self.sparse.page_ptr(pfn) {
            // SAFETY: `page_ptr` points to an initialized struct page of `sparse`; `new`'s contract for an
            // exclusive ZonePages: no other thread accesses struct pages during 'a and no other ZonePages hands out
            // references, and `&mut self` makes this the only reference handed out by this value.
            Some(mut p) => Ok(unsafe { p.as_mut() }),
            None => Err(pfn),
        }
    }
}

/// The allocator shared between CPUs: [`Buddy`] with the [`Mm`](crate::model::Mm) it manages borrowed mutably
/// for `'m`. Every method takes `&self`; see the module documentation for what each locks.
pub struct Allocator<'m> {
    pub(crate) buddy: &'m Buddy,
    pub(crate) sparse: &'m Sparse,
    pub(crate) zones: &'m Zones,
    pub(crate) checker: spin::Mutex<&'m mut PageblockChecker>,
    /// Built by [`Allocator::exclusive`]: see there.
    exclusive: bool,
}

// SAFETY: an Allocator touches the Sparse only through (1) section metadata and the lookup cache, which nothing
// writes during 'm (the Mm is borrowed mutably by the Allocator's creator), (2) the usemap, whose words are
// atomics, and (3) struct pages, through ZonePages of locked zones only. The backing (the part of Sparse that is
// not Sync) is never used. Zones and memblock ranges are only read. The checker is behind a Mutex, and the
// Buddy's mutable state is behind its per-zone Mutexes.
unsafe impl Sync for Allocator<'_> {}
// SAFETY: as above: nothing in an Allocator is tied to the thread that created it.
unsafe impl Send for Allocator<'_> {}

impl<'m> Allocator<'m> {
    /// Shares `buddy` and the `Mm` it was built from for `'m`.
    pub fn new(buddy: &'m Buddy, mm: &'m mut crate::model::Mm) -> Allocator<'m> {
        Allocator {
            buddy,
            sparse: &mm.sparse,
            zones: &mm.zones,
            checker: spin::Mutex::new(&mut mm.checker),
            exclusive: false,
        }
    }

    /// An allocator for one call on this thread: `Buddy::alloc_pages` / `Buddy::free_pages`, which borrow the `Mm`
    /// mutably for the call, so no other thread can touch a struct page meanwhile. Private to this module; the only
    /// users are [`Allocator::alloc_exclusive`] and [`Allocator::free_exclusive`], which make one call of
    /// `alloc_pages` / `free_pages` (both hold one zone lock at a time) and drop it.
    #[inline(always)]
    fn exclusive(buddy: &'m Buddy, mm: &'m mut crate::model::Mm) -> Allocator<'m> {
        Allocator { exclusive: true, ..Allocator::new(buddy, mm) }
    }

    /// [`Allocator::alloc_pages`] on an [`Allocator::exclusive`].
    #[inline(always)]
    pub(crate) fn alloc_exclusive(
        buddy: &Buddy,
        mm: &mut crate::model::Mm,
        order: u32,
        highest_zone: crate::zones::ZoneType,
        preferred_nid: u32,
        mt: u64,
    ) -> Result<u64, crate::buddy::AllocError> {
        Allocator::exclusive(buddy, mm).alloc_pages(order, highest_zone, preferred_nid, mt)
    }

    /// [`Allocator::free_pages`] on an [`Allocator::exclusive`].
    #[inline(always)]
    pub(crate) fn free_exclusive(
        buddy: &Buddy,
        mm: &mut crate::model::Mm,
        pfn: u64,
        order: u32,
    ) -> Result<(), crate::buddy::FreeError> {
        Allocator::exclusive(buddy, mm).free_pages(pfn, order)
    }

    /// Locks zone `zone_id` (an index into the buddy's zones): its free area, with its struct pages.
    #[inline(always)]
    pub(crate) fn lock_zone(&self, zone_id: usize) -> LockedZone<'_> {
        let area = self.buddy.areas[zone_id].lock();
        // SAFETY: the guard of zone `zone_id`'s lock lives in the returned value next to the ZonePages and for
        // the same borrow, and the Mm is borrowed mutably by this Allocator for 'm, so only ZonePages of locked
        // zones hand out references to its struct pages. `exclusive` is only set by `Allocator::exclusive`, whose
        // one call runs on this thread with the Mm borrowed mutably and holds one zone lock at a time.
        LockedZone { area, pages: unsafe { ZonePages::new(self.sparse, zone_id, self.exclusive) } }
    }
}

/// A locked zone: its free area and its struct pages.
pub(crate) struct LockedZone<'g> {
    pub(crate) area: spin::MutexGuard<'g, FreeArea>,
    pub(crate) pages: ZonePages<'g>,
}
