//! Deferred struct pages reaching the allocator: the workers' pages once written ([`Buddy::free_deferred`],
//! Linux's `deferred_free_range`), and `deferred_grow_zone` ([`Buddy::deferred_grow_zone`]) for an allocation
//! that finds a zone empty while part of it is still deferred ([`Buddy::alloc_pages_growing`]).
//!
//! `deferred_grow_zone` (mm/page_alloc.c, 6.1; c9e97a1997fb) initializes and frees the node's deferred pages from
//! its `first_deferred_pfn` on, at least `ALIGN(1 << order, PAGES_PER_SECTION)` pages and up to a section
//! boundary, then moves `first_deferred_pfn` past them; the workers later start from there. Linux does it under
//! the node's resize lock; here the `&mut Mm` and `&mut Buddy` it takes are that lock.
//!
//! # Invariants
//! - a pfn leaves `Mm::deferred` only after its struct page is written, and reaches the free lists once;
//! - `first_deferred_pfn` of a node is section aligned, and no pending pfn of the node lies below it.

use ::alloc::vec::Vec;

use super::{AllocError, Allocator, Buddy, BuddyError};
use crate::consts::*;
use crate::model::Mm;
use crate::sparse::migratetype;
use crate::zones::ZoneType;

impl Buddy {
    /// Hands over `ranges` (pfns that were pending when the allocator was built, now written by the deferred
    /// workers: `Mm::deferred_done` ran). A pfn still pending is an error and nothing is handed over.
    pub fn free_deferred(&mut self, mm: &mut Mm, ranges: &[(u64, u64)]) -> Result<u64, BuddyError> {
        for &(a, b) in ranges {
            if let Some(r) = mm.deferred.iter().find(|r| r.start_pfn < b && a < r.end_pfn) {
                return Err(BuddyError::DeferredPending { pfn: r.start_pfn.max(a) });
            }
        }
        self.hand_over(mm, ranges)?;
        Ok(ranges.iter().map(|(a, b)| b - a).sum())
    }

    /// Pages of node `nid`'s zone `zone` still deferred.
    pub fn deferred_pages(mm: &Mm, nid: u32, zone: ZoneType) -> u64 {
        mm.deferred.iter().filter(|r| r.nid == nid && r.zone == zone).map(|r| r.end_pfn - r.start_pfn).sum()
    }

    /// `deferred_grow_zone`: initializes node `nid`'s deferred pages of `zone` in address order from its
    /// `first_deferred_pfn`, section by section, until at least `ALIGN(1 << order, PAGES_PER_SECTION)` pages are
    /// written and a section boundary is reached, hands them to this allocator and moves `first_deferred_pfn`
    /// past them (`None` once nothing of the node is pending). Returns the pages grown (0: nothing deferred).
    pub fn deferred_grow_zone(&mut self, mm: &mut Mm, nid: u32, zone: ZoneType, order: u32) -> Result<u64, BuddyError> {
        let need = (1u64 << order).div_ceil(PAGES_PER_SECTION) * PAGES_PER_SECTION;
        // Section-bounded pieces in address order; stop after the piece that meets the quota if the next pending
        // pfn lies in another section (Linux stops only along section boundaries).
        let mut pieces = mm
            .deferred
            .iter()
            .filter(|r| r.nid == nid && r.zone == zone)
            .flat_map(|r| {
                core::iter::successors(Some(r.start_pfn), move |&p| {
                    let next = section_nr_to_pfn(pfn_to_section_nr(p) + 1);
                    (next < r.end_pfn).then_some(next)
                })
                .map(move |p| (p, section_nr_to_pfn(pfn_to_section_nr(p) + 1).min(r.end_pfn)))
            })
            .peekable();
        let mut grown: Vec<(u64, u64)> = Vec::new();
        let mut done = 0;
        while let Some((s, e)) = pieces.next() {
            grown.push((s, e));
            done += e - s;
            let next_in_other_section =
                pieces.peek().map_or(true, |&(n, _)| pfn_to_section_nr(n) != pfn_to_section_nr(e - 1));
            if done >= need && next_in_other_section {
                break;
            }
        }
        if grown.is_empty() {
            return Ok(0);
        }
        {
            let d = mm.deferred_init();
            for &(s, e) in &grown {
                d.run_chunk(nid, s, e).map_err(BuddyError::Pageblock)?;
            }
        }
        // The grown pfns leave the pending list (they are a prefix of this node's and zone's pending pfns).
        let last = grown.last().map_or(0, |g| g.1);
        let mut rest = Vec::with_capacity(mm.deferred.len());
        for r in mm.deferred.drain(..) {
            if r.nid == nid && r.zone == zone && r.start_pfn < last {
                if r.end_pfn > last {
                    rest.push(crate::deferred::PendingRange { start_pfn: last, ..r });
                }
            } else {
                rest.push(r);
            }
        }
        mm.deferred = rest;
        let left = mm.deferred.iter().any(|r| r.nid == nid);
        if let Some(f) = mm.first_deferred_pfn.get_mut(nid as usize) {
            *f = left.then(|| last.div_ceil(PAGES_PER_SECTION) * PAGES_PER_SECTION);
        }
        self.hand_over(mm, &grown)?;
        Ok(done)
    }

    /// `alloc_pages` as `get_page_from_freelist` does it while deferred pages remain: zone by zone in the
    /// zonelist, a zone that has no block but has deferred pages grows ([`Buddy::deferred_grow_zone`]) and is
    /// tried again before the next zone. Needs the allocator exclusively (the resize lock); the shared
    /// [`Allocator`] never grows.
    pub fn alloc_pages_growing(
        &mut self,
        mm: &mut Mm,
        order: u32,
        highest_zone: ZoneType,
        preferred_nid: u32,
        mt: u64,
    ) -> Result<u64, AllocError> {
        let valid = order <= MAX_PAGE_ORDER && mt <= migratetype::HIGHATOMIC && mm.sparse.id() == self.sparse_id;
        let Some(zonelist) = self.zonelists.get(preferred_nid as usize).filter(|_| valid).cloned() else {
            // The ordinary path names what is wrong with the request.
            return self.alloc_pages(mm, order, highest_zone, preferred_nid, mt);
        };
        for zi in zonelist {
            let (nid, zone) = (self.zones[zi as usize].nid, self.zones[zi as usize].zone_type);
            if zone > highest_zone {
                continue;
            }
            loop {
                // SAFETY: one call (one zone lock) on this thread, then the value is dropped.
                let got = unsafe { Allocator::exclusive(self, mm) }.alloc_in_zone(zi as usize, order, mt)?;
                if let Some(pfn) = got {
                    return Ok(pfn);
                }
                if Buddy::deferred_pages(mm, nid, zone) == 0 {
                    break;
                }
                match self.deferred_grow_zone(mm, nid, zone, order) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => return Err(AllocError::Grow(e)),
                }
            }
        }
        // Nothing anywhere: the full checks and error of the ordinary path.
        self.alloc_pages(mm, order, highest_zone, preferred_nid, mt)
    }
}
