//! The buddy page allocator: per-zone free areas with migratetypes, lists threaded through the struct pages,
//! the boot-time hand-over of every free page (`memblock_free_all`), `alloc_pages` with a NUMA zonelist and
//! migratetype fallback stealing, and `free_pages` with buddy merging.
//!
//! ```text
//!  Buddy.zones[nid * 4 + zone]            (flat: one FreeZone per node and zone type, zone span kept)
//!     free_area[order 0..=10][migratetype 0..5]  = Buddy.heads[(zone * 11 + order) * 5 + mt]
//!
//!   head (LIST_HEAD_BIT | index)
//!     next ──► page A.lru_next ──► page B.lru_next ──► head        (pfns, not pointers)
//!     prev ◄── page A.lru_prev ◄── page B.lru_prev ◄── head
//!   page A: PageBuddy (page type PageType::BUDDY), private = order, refcount 0, the head of 2^order free pages
//!   tail pages of a free block: no page type, refcount 0
//!   allocated block: head refcount 1 and private = order (our record, see below), tails refcount 0
//! ```
//!
//! This module owns the allocator state (`Buddy`); the struct pages and the usemap stay in [`Sparse`](crate::sparse::Sparse), the zone
//! spans in [`Zones`](crate::zones::Zones), the pageblock checker in the [`Mm`] the allocator was built from. Every method takes that
//! same `Mm`. Each zone's free area, counters and stats sit behind that zone's own `spin::Mutex`, and a struct page
//! is written only under the lock of the zone it is linked to ([`crate::zonelock`], which holds the `unsafe`; the
//! one-call wrappers [`Buddy::alloc_pages`] and [`Buddy::free_pages`] keep the contract of its `exclusive` mode):
//! [`Buddy::shared`] gives an [`Allocator`] that several CPUs use at once; `alloc_pages` locks the zones of its
//! zonelist one at a time, `free_pages` the page's zone only.
//!
//! Files: `free_area` (one zone's lists and counters, list operations), `alloc` (allocation, zonelists),
//! `fallback` (migratetype stealing, `move_freepages_block`), `free` (freeing and merging), `handover` (boot),
//! `hotplug` (spans that grow and shrink), `check` (the invariants below), `errors`.
//!
//! The rules are Linux's mm/page_alloc.c (function names cited where each rule lives):
//! - **hand-over** (`memblock_free_all` → `__free_pages_memory` → `memblock_free_pages` → `__free_pages_core`):
//!   every memory page not reserved in memblock is freed into `page_zone(page)` (the zone its links name, which
//!   must span it), in max-order aligned chunks that never cross a zone boundary or a hole, with PG_reserved
//!   cleared and refcount 0 on every page (one pass over the struct pages, as Linux) and `managed_pages`
//!   counting what was handed over; chunks go to the tail of their lists (FPI_TO_TAIL, 7fef431be9c9) and merge
//!   through `__free_one_page`. Under `span-extend`, whose hole init may relink memory pages to another node,
//!   those pages go where their links say, as they would in Linux.
//!   Each chunk takes its pageblock's migratetype from the usemap (MOVABLE after memmap init; a pageblock whose
//!   first pfn is not memory keeps 0, UNMOVABLE, as in Linux).
//! - **allocation** (`get_page_from_freelist` over the zonelist, `__rmqueue`): the preferred node's zones from
//!   the highest allowed one down, then the other nodes by distance (ZONELIST_FALLBACK, `build_zonelists`);
//!   `__rmqueue_smallest` + `expand`; when the migratetype's lists are empty, `__rmqueue_fallback` with Linux's
//!   `fallbacks[]` table and `can_steal_fallback` (whole pageblock from order >= pageblock_order / 2, always for
//!   UNMOVABLE and RECLAIMABLE), claiming a pageblock when at least half of it is free (`steal_suitable_fallback`
//!   / `try_to_claim_block`). There are no watermarks, no lowmem_reserve, no per-cpu lists, no CMA and no
//!   highatomic reserves: a zone serves while it has a block of the order.
//! - **stealing a pageblock** (`move_freepages_block`): the block's free pages move to the new migratetype's
//!   lists and the pageblock migratetype is written through the *checked* `set_pfnblock_flags_mask` (call site
//!   `"move_freepages_block"`), at the first pfn of the range it may touch: so the `zone_spans_pfn` invariant is
//!   exercised by allocation traffic, and under `zeroed` a hole page at a pageblock start inside a zone's span is
//!   caught exactly as Andrea Arcangeli's kernel caught pfn 0x39800. The range stays inside the zone (Vlastimil
//!   Babka's 6e2b7044c199 and `pageblock_pfn_to_page`): a pageblock whose end lies outside the zone is skipped,
//!   one whose start lies outside is clamped to the zone start (Linux 4.x-6.9 clamp to the stolen page; the
//!   zone start covers the same pages and the free ones before it), and both are counted in [`BuddyStats`].
//!   Large blocks (>= pageblock_order) change every pageblock they cover (`change_pageblock_range`).
//! - **free** (`__free_one_page`): merge with the buddy `pfn ^ (1 << order)` while it is PageBuddy with the same
//!   order and the same zone id (`page_is_buddy`): never across a zone boundary, never with a hole (hole pages
//!   never carry PG_buddy); above pageblock_order a HIGHATOMIC or ISOLATE pageblock merges only with its own
//!   type; the result goes to the tail when its higher-order buddy is free (`buddy_merge_likely`).
//!
//! Departures, all for checkability: an allocated block's head keeps its order in `private` (Linux clears it;
//! compound pages keep theirs in the first tail), so that `free_pages` can reject a wrong order; a bad call
//! (double free, a pfn never allocated, a tail page, a wrong order, a reserved page, an out-of-range pfn) returns
//! a named error and changes nothing, where Linux would corrupt its lists or hit `bad_page`. The lists do not
//! follow the 6.10 "freelist hygiene" rule (list type == pageblock type): like Linux before 6.10, a free block's
//! list may differ from its pageblock's migratetype after a partial steal. Free pages on ISOLATE lists count as
//! free. A VM_BUG_ON of the pageblock check in `vm_debug=panic` mode is recorded in the `Mm`'s checker and the
//! step that needed the write (the claim, the merge) is not done; nothing panics.
//!
//! # Invariants (checked by [`Buddy::check`])
//! - for every zone: the pages on its lists == its free counter; `nr_free[order]` == blocks on the lists of that
//!   order; a list is non-empty iff its bit in `nonempty` is set;
//! - every free block is aligned to its order, inside its zone's span, all its pages are memory, not reserved
//!   and linked to the zone; its head is PageBuddy with `private == order`, its tails have no type, refcount 0;
//! - every other managed page is in exactly one allocated block; allocated + free + reserved == present and
//!   allocated + free == managed for every zone (under `span-extend`, which may relink memory pages to another
//!   node, present is compared in total only).

use ::alloc::vec::Vec;

use crate::consts::MAX_PAGE_ORDER;
use crate::model::Mm;
use crate::page::ZONES_WIDTH;
use crate::zonelock::{Shared, ZoneLocks};
use crate::zones::{ZoneType, MAX_NR_ZONES};

mod alloc;
mod check;
mod deferred;
mod errors;
mod fallback;
mod free;
mod free_area;
mod handover;
mod hotplug;
mod pcp;
mod pcp_list;
#[cfg(test)]
mod tests;

pub use check::{CheckError, CheckKind};
pub use errors::{AllocError, BuddyError, FreeError};
pub use free_area::FreeArea;
pub(crate) use free_area::ZoneLock;
pub use hotplug::OfflineError;
pub use pcp::{pcp_allowed_order, vm_stat_threshold, zone_batchsize, zone_highsize, PcpSet, PerCpuPages, NR_PCP_LISTS};

/// The allocator shared between CPUs: [`Buddy`] with the [`Mm`] it manages borrowed mutably for `'m`. Every
/// method takes `&self`; [`crate::zonelock`] says what each locks.
pub type Allocator<'m> = Shared<'m, Buddy>;

impl ZoneLocks for Buddy {
    type Area = FreeArea;
    #[inline(always)]
    fn zone_lock(&self, zone_id: usize) -> &spin::Mutex<FreeArea> {
        &self.areas[zone_id].0
    }
}

/// Orders 0..=MAX_PAGE_ORDER (NR_PAGE_ORDERS).
pub const NR_ORDERS: usize = MAX_PAGE_ORDER as usize + 1;
/// Migratetypes with free lists: UNMOVABLE, MOVABLE, RECLAIMABLE, HIGHATOMIC, ISOLATE.
pub const NR_MIGRATETYPES: usize = 5;
/// Node distance of a node to itself and to others when no distance matrix is given (LOCAL/REMOTE_DISTANCE).
pub const LOCAL_DISTANCE: u8 = 10;
pub const REMOTE_DISTANCE: u8 = 20;

/// A zone's index in [`Buddy`] is its `page_zone_id` ([`crate::page::zone_id_of_flags`]): `nid * 4 + zone`.
const _: () = assert!((1 << ZONES_WIDTH) == MAX_NR_ZONES);

/// Counts of the allocator's slow paths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuddyStats {
    /// Allocations served by `__rmqueue_fallback`.
    pub fallbacks: u64,
    /// `move_freepages_block` range preparations (`prep_move_freepages_block`).
    pub move_freepages_block: u64,
    /// ... whose pageblock start lay outside the zone and was clamped to the zone start.
    pub mfb_clamped: u64,
    /// ... whose pageblock end lay outside the zone: nothing moved.
    pub mfb_skipped: u64,
    /// Pfns of those pageblocks that lie outside the zone (left alone).
    pub mfb_skipped_pfns: u64,
    /// Pageblocks claimed through `move_freepages_block` (usemap written).
    pub mfb_claimed: u64,
    /// Free pages moved to another migratetype's lists.
    pub pages_moved: u64,
    /// Free pages of another zone met inside a pageblock's range (interleaved nodes) and left alone.
    pub foreign_pages: u64,
    /// Pageblocks changed by `change_pageblock_range`.
    pub pageblocks_changed: u64,
    /// Pageblock migratetypes matched on a merge above pageblock_order (`__free_one_page`).
    pub merge_type_changes: u64,
    /// Checked usemap writes refused in `vm_debug=panic` mode (the step was not done).
    pub vm_bugs: u64,
}

/// What never changes about a zone once the hand-over is done.
#[derive(Clone, Debug)]
pub(super) struct ZoneInfo {
    pub(super) nid: u32,
    pub(super) zone_type: ZoneType,
    pub(super) start_pfn: u64,
    pub(super) end_pfn: u64,
    pub(super) present_pages: u64,
    pub(super) managed_pages: u64,
}

/// One free block, for tests and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FreeBlock {
    pub pfn: u64,
    pub order: u32,
    pub nid: u32,
    pub zone: ZoneType,
    /// The list it is on.
    pub migratetype: u64,
}

/// Per-zone counters, for tests and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneCounts {
    pub nid: u32,
    pub zone: ZoneType,
    pub present_pages: u64,
    pub managed_pages: u64,
    pub free_pages: u64,
    pub allocated_pages: u64,
    pub nr_free: [u64; NR_ORDERS],
}

/// The allocator. See the module documentation; [`Allocator`] shares it between CPUs.
#[derive(Debug)]
pub struct Buddy {
    pub(super) zones: Vec<ZoneInfo>,
    /// Per zone (same index): its free area behind its lock.
    pub(crate) areas: Vec<ZoneLock>,
    /// Per node: zone indices, node-major (nearest node first), highest zone first within a node.
    pub(super) zonelists: Vec<Vec<u16>>,
    /// Row-major node distances.
    pub(super) distance: Vec<u8>,
    pub(super) nr_nodes: usize,
    /// The `Sparse` the allocator manages (see [`Sparse::id`]).
    pub(super) sparse_id: u64,
}

impl Buddy {
    /// An [`Allocator`] over this allocator and its `Mm` (which it borrows mutably).
    #[inline(always)]
    pub fn shared<'m>(&'m self, mm: &'m mut Mm) -> Allocator<'m> {
        Allocator::new(self, mm)
    }

    /// [`Allocator::alloc_pages`] with the `Mm` borrowed for this one call.
    #[inline]
    pub fn alloc_pages(
        &self,
        mm: &mut Mm,
        order: u32,
        highest_zone: ZoneType,
        preferred_nid: u32,
        mt: u64,
    ) -> Result<u64, AllocError> {
        // SAFETY: one call of `alloc_pages` (which locks the zones of the zonelist one at a time) on this thread,
        // then the value is dropped: `Shared::exclusive`'s contract.
        unsafe { Allocator::exclusive(self, mm) }.alloc_pages(order, highest_zone, preferred_nid, mt)
    }

    /// [`Allocator::free_pages`] with the `Mm` borrowed for this one call.
    #[inline]
    pub fn free_pages(&self, mm: &mut Mm, pfn: u64, order: u32) -> Result<(), FreeError> {
        // SAFETY: one call of `free_pages` (which locks the page's zone only) on this thread, then the value is
        // dropped: `Shared::exclusive`'s contract.
        unsafe { Allocator::exclusive(self, mm) }.free_pages(pfn, order)
    }

    /// The slow-path counts, summed over the zones.
    pub fn stats(&self) -> BuddyStats {
        let mut s = BuddyStats::default();
        for a in &self.areas {
            let z = a.lock().stats;
            s.fallbacks += z.fallbacks;
            s.move_freepages_block += z.move_freepages_block;
            s.mfb_clamped += z.mfb_clamped;
            s.mfb_skipped += z.mfb_skipped;
            s.mfb_skipped_pfns += z.mfb_skipped_pfns;
            s.mfb_claimed += z.mfb_claimed;
            s.pages_moved += z.pages_moved;
            s.foreign_pages += z.foreign_pages;
            s.pageblocks_changed += z.pageblocks_changed;
            s.merge_type_changes += z.merge_type_changes;
            s.vm_bugs += z.vm_bugs;
        }
        s
    }
}

impl Buddy {
    // ---- views and checks -----------------------------------------------------------------------------------

    /// The counters of zone `zone` of node `nid`.
    pub fn zone_counts(&self, nid: u32, zone: ZoneType) -> Option<ZoneCounts> {
        let zi = nid as usize * MAX_NR_ZONES + zone.index();
        let z = self.zones.get(zi)?;
        let a = self.areas[zi].lock();
        Some(ZoneCounts {
            nid: z.nid,
            zone: z.zone_type,
            present_pages: z.present_pages,
            managed_pages: z.managed_pages,
            free_pages: a.free_pages,
            allocated_pages: a.allocated_pages,
            nr_free: a.nr_free,
        })
    }

    /// The counters of every zone, node-major.
    pub fn all_zone_counts(&self) -> Vec<ZoneCounts> {
        self.zones.iter().filter_map(|z| self.zone_counts(z.nid, z.zone_type)).collect()
    }

    /// Free pages of all zones.
    pub fn total_free_pages(&self) -> u64 {
        self.areas.iter().map(|a| a.lock().free_pages).sum()
    }

    /// Pages handed over at boot, all zones.
    pub fn total_managed_pages(&self) -> u64 {
        self.zones.iter().map(|z| z.managed_pages).sum()
    }

    /// The zonelist of node `nid` as (node, zone) pairs, in allocation order.
    pub fn zonelist(&self, nid: u32) -> Vec<(u32, ZoneType)> {
        self.zonelists.get(nid as usize).map_or(Vec::new(), |zl| {
            zl.iter().map(|&zi| (self.zones[zi as usize].nid, self.zones[zi as usize].zone_type)).collect()
        })
    }

    /// The distance between two nodes.
    pub fn node_distance(&self, a: u32, b: u32) -> Option<u8> {
        let (a, b) = (a as usize, b as usize);
        (a < self.nr_nodes && b < self.nr_nodes).then(|| self.distance[a * self.nr_nodes + b])
    }
}
