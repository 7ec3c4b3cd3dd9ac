//! The buddy allocator's side of memory hotplug: a zone span that grows or shrinks, a range of onlined pages
//! handed over (`online_pages_range` -> `generic_online_page` -> `__free_pages_core`), and a range of free pages
//! taken back out (`__offline_isolated_pages`). The memory-model side (sections, spans, memmap) is
//! [`crate::hotplug`], which calls these in Linux's order.
//!
//! # Invariants
//! - [`Buddy::offline_range`] changes nothing unless every page of the range is free, in blocks that lie wholly
//!   inside the range: the check pass runs before the removal pass;
//! - after each call the allocator's own invariants ([`Buddy::check`]) hold, with the zone's span, present and
//!   managed counts following the range.

use super::alloc::build_zonelists;
use super::free_area::ZoneCx;
use super::{Allocator, Buddy, BuddyError};
use crate::model::Mm;
use crate::page::{zone_id_of_flags, PageType};
use crate::zones::{ZoneType, Zones};
use ::alloc::vec::Vec;
use core::fmt;

/// Why a range cannot be taken out of the buddy allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfflineError {
    /// A page of the range is allocated (this kernel does not migrate pages, so any allocated page is busy:
    /// Linux would try to migrate a movable one and fail on an unmovable one).
    Busy { pfn: u64, refcount: u32 },
    /// A free block starts before or ends after the range.
    BlockStraddles { pfn: u64, order: u32 },
    /// A page of the range has no struct page.
    NoStructPage { pfn: u64 },
    /// A pfn of the range is linked to no zone of this allocator.
    NoZone { pfn: u64 },
}

impl fmt::Display for OfflineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            OfflineError::Busy { pfn, refcount } => write!(
                f,
                "pfn {:#x} is allocated (refcount {}); no page migration here, so the range cannot go offline",
                pfn, refcount
            ),
            OfflineError::BlockStraddles { pfn, order } => {
                write!(f, "free block at pfn {:#x} of order {} straddles the range", pfn, order)
            }
            OfflineError::NoStructPage { pfn } => write!(f, "pfn {:#x} has no struct page", pfn),
            OfflineError::NoZone { pfn } => write!(f, "pfn {:#x} is linked to no zone of the allocator", pfn),
        }
    }
}

impl Buddy {
    fn zone_index(&self, nid: u32, zone: ZoneType) -> Option<usize> {
        self.zones.iter().position(|z| z.nid == nid && z.zone_type == zone)
    }

    /// `resize_zone_range` / `shrink_zone_span` as the allocator sees them: the zone's span becomes
    /// `[start_pfn, end_pfn)` (empty when equal) and its present count `present_pages`.
    pub fn set_zone_span(&mut self, nid: u32, zone: ZoneType, start_pfn: u64, end_pfn: u64, present_pages: u64) {
        if let Some(zi) = self.zone_index(nid, zone) {
            let z = &mut self.zones[zi];
            (z.start_pfn, z.end_pfn, z.present_pages) = (start_pfn, end_pfn.max(start_pfn), present_pages);
        }
    }

    /// `build_all_zonelists` after a zone became populated or empty (online / offline do it, as Linux's
    /// `online_pages` and `offline_pages` do when `populated_zone` changes).
    pub fn rebuild_zonelists(&mut self, zones: &Zones) {
        self.zonelists = build_zonelists(zones, &self.distance);
    }

    /// Hands the onlined pages `[start_pfn, end_pfn)` over (`online_pages_range`): like the boot hand-over, in
    /// max-order aligned chunks into the zone their links name, which must span them (the caller moved the range
    /// into the zone first). Returns the pages handed over.
    pub fn online_range(&mut self, mm: &mut Mm, start_pfn: u64, end_pfn: u64) -> Result<u64, BuddyError> {
        self.hand_over(mm, &[(start_pfn, end_pfn)])?;
        Ok(end_pfn - start_pfn)
    }

    /// `test_pages_isolated` + `__offline_isolated_pages`: every page of `[start_pfn, end_pfn)` must be free; then
    /// the free blocks leave their lists and the zones' managed counts drop. Returns the pages taken out.
    pub fn offline_range(&mut self, mm: &mut Mm, start_pfn: u64, end_pfn: u64) -> Result<u64, OfflineError> {
        // Pass 1: check, changing nothing.
        let mut blocks = Vec::new();
        let mut pfn = start_pfn;
        while pfn < end_pfn {
            let page = mm.sparse.pfn_to_page(pfn).ok_or(OfflineError::NoStructPage { pfn })?;
            if page.has_type(PageType::BUDDY) {
                let order = page.private as u32;
                if pfn + (1 << order) > end_pfn {
                    return Err(OfflineError::BlockStraddles { pfn, order });
                }
                let zi = zone_id_of_flags(page.flags);
                if zi >= self.zones.len() {
                    return Err(OfflineError::NoZone { pfn });
                }
                blocks.push((pfn, order, zi));
                pfn += 1 << order;
            } else if page.refcount != 0 {
                return Err(OfflineError::Busy { pfn, refcount: page.refcount as u32 });
            } else {
                // Refcount 0 but not a block head: the tail of a block that started before the range.
                let head = self.free_blocks(mm).into_iter().find(|b| b.pfn < pfn && pfn < b.pfn + (1 << b.order));
                return Err(match head {
                    Some(b) => OfflineError::BlockStraddles { pfn: b.pfn, order: b.order },
                    None => OfflineError::Busy { pfn, refcount: 0 },
                });
            }
        }
        // Pass 2: take the blocks out.
        {
            let al = Allocator::new(self, mm);
            for &(pfn, order, zi) in &blocks {
                let mut lz = al.lock_zone(zi);
                let mut cx = ZoneCx::new(&al, zi, &mut lz.area, &mut lz.pages);
                cx.del_free(pfn, order).map_err(|pfn| OfflineError::NoStructPage { pfn })?;
            }
        }
        let mut taken = 0;
        for (_, order, zi) in blocks {
            self.zones[zi].managed_pages -= 1 << order;
            taken += 1u64 << order;
        }
        Ok(taken)
    }
}
