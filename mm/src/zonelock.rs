//! Per-zone locking of the buddy allocator: the one place that hands out `&mut Page` from a shared [`Sparse`].
//!
//! ```text
//!  Buddy.areas[zone id]: spin::Mutex<FreeArea>   (free lists, counters, stats of one zone)
//!        │ lock
//!        ▼
//!  ZonePages { sparse, zone id }  ──get_mut(pfn)──►  &mut Page   only if the page's flags link it to that zone
//!
//!  Shared<'m, L> = &L (the allocator, whose zone locks these are) + the Mm borrowed exclusively for 'm,
//!                  shared between CPUs (Send + Sync); mm::buddy::Allocator is Shared<'m, Buddy>
//! ```
//! A free block's struct pages, and the list links threaded through them, belong to the zone the pages are
//! linked to (`page_zone(page)`): the allocator writes a struct page only while it holds that zone's lock, and
//! only if the page's flags word names that zone. The flags word itself is never written while the allocator is
//! shared (memmap init, the hand-over and the walkers write it, all with `&mut Mm`), so reading it to find a
//! page's zone races with nothing, as Linux's `page_zone()` relies on.
//!
//! [`Shared`] is how several CPUs share the allocator: it borrows the `Mm` mutably for its lifetime, so nothing
//! outside the allocator can read or write a struct page meanwhile, and every access to a struct page goes through
//! a [`ZonePages`] of a locked zone. The pageblock checker (counters) sits behind its own lock, a leaf lock taken
//! under a zone lock and never the other way round.
//!
//! # Lock order
//! - `alloc_pages` locks the zones of the zonelist one at a time, in zonelist order, never two at once;
//! - `free_pages` locks the one zone the page is linked to;
//! - `Buddy::check` and the views lock every zone, in zone-id order, all at once (the documented exception:
//!   the check needs one consistent picture);
//! - the checker lock is taken (briefly) under a zone lock, never the other way round.

use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::consts::{PAGE_SHIFT, SECTION_SIZE_BITS};
use crate::page::{zone_id_of_flags, Page, PAGE_POISON_PATTERN};
use crate::sparse::Sparse;
use crate::usemap::PageblockChecker;
use crate::zones::Zones;

/// The struct pages of one zone, while its lock is held. See the module documentation.
pub(crate) struct ZonePages<'a> {
    sparse: &'a Sparse,
    zone_id: usize,
    /// The allocator runs one call on one thread with the `Mm` borrowed mutably (see [`Shared::exclusive`]):
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
    /// borrowed from an `Mm` held mutably by a [`Shared`] or by the caller. With `exclusive`, moreover, no other
    /// thread accesses a struct page of `sparse` during `'a` and no other `ZonePages` of `sparse` hands out a
    /// reference meanwhile (one call of [`Shared::exclusive`], which locks one zone at a time).
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

    /// Where `pfn`'s struct page lies, if it has one: an [`Anchor`] from which [`ZonePages::near_mut`] reaches
    /// the struct pages of its section without a lookup.
    #[inline(always)]
    pub(crate) fn anchor(&self, pfn: u64) -> Result<Anchor<'a>, u64> {
        match self.sparse.page_ptr(pfn) {
            Some(page) => Ok(Anchor { pfn, page, sparse: self.sparse }),
            None => Err(pfn),
        }
    }

    /// [`ZonePages::get_mut`] for a `pfn` found from an anchor: no lookup when `pfn` is in the anchor's section
    /// (the memmap of a section is one array, and a block of at most MAX_PAGE_ORDER never crosses a section: the
    /// pages of a block reached from its head). `None` if the page is not this zone's or has no struct page.
    #[inline(always)]
    pub(crate) fn near_mut(&mut self, at: Anchor<'a>, pfn: u64) -> Option<&mut Page> {
        if (pfn ^ at.pfn) >> (SECTION_SIZE_BITS - PAGE_SHIFT) != 0 || !core::ptr::eq(at.sparse, self.sparse) {
            return self.get_mut(pfn).ok();
        }
        let p = at.page.as_ptr().wrapping_offset(pfn.wrapping_sub(at.pfn) as i64 as isize);
        // SAFETY: `at.page` is the struct page of `at.pfn` in `self.sparse` (only `anchor` builds an Anchor), in
        // its section's memmap array, which holds the struct pages of the whole section (`page_ptr` finds one only
        // for a complete array), and `pfn` is in that section: `p` is `pfn`'s struct page. Its flags word is read
        // by value (never written while the allocator is shared, see `zone_id`).
        let flags = unsafe { core::ptr::addr_of!((*p).flags).read() };
        if flags == PAGE_POISON_PATTERN || zone_id_of_flags(flags) != self.zone_id {
            return None;
        }
        // SAFETY: as in `get_mut`: the page is linked to this zone, whose lock the creator holds for 'a, and
        // `&mut self` makes this the only reference handed out by this value.
        Some(unsafe { &mut *p })
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

/// A struct page's place in the memmap, found once by [`ZonePages::anchor`] (see [`ZonePages::near_mut`]).
#[derive(Clone, Copy)]
pub(crate) struct Anchor<'a> {
    pfn: u64,
    page: NonNull<Page>,
    sparse: &'a Sparse,
}

/// What a [`Shared`] locks: one lock per zone id, each protecting that zone's free area (the buddy allocator
/// implements it; this module knows nothing else about it).
pub trait ZoneLocks: Sync {
    /// What one zone's lock protects.
    type Area;
    /// The lock of zone `zone_id` (an index into the allocator's zones).
    fn zone_lock(&self, zone_id: usize) -> &spin::Mutex<Self::Area>;
}

/// An allocator `L` shared between CPUs, with the [`Mm`](crate::model::Mm) it manages borrowed mutably for
/// `'m` (`mm::buddy::Allocator` is `Shared<'m, Buddy>`). Every method takes `&self`; see the module documentation
/// for what each locks.
pub struct Shared<'m, L> {
    pub(crate) buddy: &'m L,
    pub(crate) sparse: &'m Sparse,
    pub(crate) zones: &'m Zones,
    pub(crate) checker: spin::Mutex<&'m mut PageblockChecker>,
    /// Built by [`Shared::exclusive`]: see there.
    exclusive: bool,
}

// SAFETY: a Shared touches the Sparse only through (1) section metadata and the lookup cache, which nothing
// writes during 'm (the Mm is borrowed mutably by the Shared's creator), (2) the usemap, whose words are
// atomics, and (3) struct pages, through ZonePages of locked zones only. The backing (the part of Sparse that is
// not Sync) is never used. Zones and memblock ranges are only read. The checker is behind a Mutex, and `L`'s
// mutable state is behind its per-zone Mutexes (`L: ZoneLocks`, which is Sync).
unsafe impl<L: ZoneLocks> Sync for Shared<'_, L> {}
// SAFETY: as above: nothing in a Shared is tied to the thread that created it.
unsafe impl<L: ZoneLocks> Send for Shared<'_, L> {}

impl<'m, L: ZoneLocks> Shared<'m, L> {
    /// Shares `buddy` and the `Mm` it was built from for `'m`.
    pub fn new(buddy: &'m L, mm: &'m mut crate::model::Mm) -> Shared<'m, L> {
        Shared {
            buddy,
            sparse: &mm.sparse,
            zones: &mm.zones,
            checker: spin::Mutex::new(&mut mm.checker),
            exclusive: false,
        }
    }

    /// A shared allocator for one call on this thread, with the `Mm` borrowed mutably for that call, so no other
    /// thread can touch a struct page meanwhile: list links are then written without re-reading the linked page's
    /// zone ([`ZonePages::link_mut`]).
    ///
    /// # Safety
    /// The caller makes one call on the returned value, on this thread, during which at most one zone is locked
    /// at a time (the buddy's `alloc_pages` and `free_pages` are such calls), and then drops it.
    #[inline(always)]
    pub(crate) unsafe fn exclusive(buddy: &'m L, mm: &'m mut crate::model::Mm) -> Shared<'m, L> {
        Shared { exclusive: true, ..Shared::new(buddy, mm) }
    }

    /// Locks zone `zone_id` (an index into the allocator's zones): its free area, with its struct pages.
    #[inline(always)]
    pub(crate) fn lock_zone(&self, zone_id: usize) -> LockedZone<'_, L::Area> {
        let area = self.buddy.zone_lock(zone_id).lock();
        // SAFETY: the guard of zone `zone_id`'s lock lives in the returned value next to the ZonePages and for
        // the same borrow, and the Mm is borrowed mutably by this Shared for 'm, so only ZonePages of locked
        // zones hand out references to its struct pages. `exclusive` is only set by `Shared::exclusive`, whose
        // contract is one call on this thread with one zone lock at a time.
        LockedZone { area, pages: unsafe { ZonePages::new(self.sparse, zone_id, self.exclusive) } }
    }
}

/// A locked zone: its free area and its struct pages.
pub(crate) struct LockedZone<'g, A> {
    pub(crate) area: spin::MutexGuard<'g, A>,
    pub(crate) pages: ZonePages<'g>,
}
